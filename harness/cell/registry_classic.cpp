// The classic workloads' plain and verified runners (and the harness row's), in a translation
// unit of their own, compiled beside the seed workloads' (registry.cpp).
#include "harness/cell/do_nothing_allocator.hpp"
#include "harness/cell/registry_tables.hpp"
#include "harness/results/record.hpp"

namespace allocmeter::registry_detail {

void add_classic_runners(tables& t) {
    add_kind<runner_kind::plain, classic_workload_types>(t);
    add_runners<runner_kind::plain, do_nothing_allocator, classic_workload_types>(t, harness_allocator_name);
    add_kind<runner_kind::verified, classic_workload_types>(t);
}

}  // namespace allocmeter::registry_detail
