// run --measure callgrind's runners (callgrind_boundary.hpp), in a translation unit of their
// own: a third of the registry's instantiations, compiled beside the other two.
#include "harness/cell/registry_tables.hpp"

namespace allocmeter::registry_detail {

void add_boundary_runners(tables& t) { add_kind<runner_kind::boundary>(t); }

}  // namespace allocmeter::registry_detail
