// Instantiates run_workload<W, A> for every workload W and allocator type A, once, again on
// verified<A> for run --verify (block_tag.hpp), and (registry_boundary.cpp) on
// callgrind_boundary<A> for run --measure callgrind; the same for trace replays. The seed
// workloads here, the classic ones in registry_classic.cpp and registry_boundary_classic.cpp. The harness
// row's do-nothing allocator gets the plain runners alone.
#include "harness/cell/registry.hpp"

#include "harness/cell/do_nothing_allocator.hpp"
#include "harness/cell/registry_tables.hpp"
#include "harness/results/record.hpp"

namespace allocmeter {

namespace {

using namespace registry_detail;

const tables& all_tables() {
    static const tables t = [] {
        tables t;
        add_kind<runner_kind::plain>(t);
        add_runners<runner_kind::plain, do_nothing_allocator>(t, harness_allocator_name);
        add_kind<runner_kind::verified>(t);
#if !ALLOCMETER_NO_CLASSIC_RUNNERS
        add_classic_runners(t);
#endif
#if !ALLOCMETER_NO_BOUNDARY_RUNNERS
        add_boundary_runners(t);
        add_classic_boundary_runners(t);
#endif
        return t;
    }();
    return t;
}

}  // namespace

const std::vector<workload_info>& workloads() {
    static const std::vector<workload_info> table = [] {
        std::vector<workload_info> t;
        const auto add = [&]<class... W>([[maybe_unused]] std::string_view group, std::tuple<W...>) {
            (t.push_back({W::name, W::summary, W::needs, &W::describe, group}), ...);
        };
        add(seed_workload_group, seed_workload_types{});
#if !ALLOCMETER_NO_CLASSIC_RUNNERS  // a sanitizer build (harness/CMakeLists.txt)
        add(classic_workload_group, classic_workload_types{});
#endif
        return t;
    }();
    return table;
}

const std::vector<reference_info>& reference_allocators() {
    static const std::vector<reference_info> table = std::apply(
        [](const auto&... r) {
            return std::vector<reference_info>{{r.name, r.summary, std::decay_t<decltype(r)>::type::caps}...};
        },
        reference_types);
    return table;
}

reference_info harness_allocator() {
    return {harness_allocator_name,
            "do-nothing allocator: each thread's blocks all start at its own scratch memory, free does nothing; "
            "added to every run --measure time as the harness's own cost (net figures)",
            do_nothing_allocator::caps};
}

cell_runner find_runner(std::string_view allocator_type, std::string_view workload, runner_kind kind) {
    for (const runner_entry& e : all_tables().runners)
        if (e.allocator == allocator_type && e.workload == workload && e.kind == kind) return e.run;
    return nullptr;
}

trace_runner find_trace_runner(std::string_view allocator_type, runner_kind kind) {
    for (const trace_runner_entry& e : all_tables().trace_runners)
        if (e.allocator == allocator_type && e.kind == kind) return e.run;
    return nullptr;
}

const workload_info* find_workload(std::string_view name) {
    for (const workload_info& w : workloads())
        if (w.name == name) return &w;
    return nullptr;
}

}  // namespace allocmeter
