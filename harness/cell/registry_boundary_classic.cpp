// run --measure callgrind's runners for the classic workloads, in a translation unit of their
// own (registry_boundary.cpp has the seed workloads').
#include "harness/cell/registry_tables.hpp"

namespace allocmeter::registry_detail {

void add_classic_boundary_runners(tables& t) { add_kind<runner_kind::boundary, classic_workload_types>(t); }

}  // namespace allocmeter::registry_detail
