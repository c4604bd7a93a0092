// Instantiates run_workload<W, A> for every workload W and allocator type A, once, and again
// on verified<A> for run --verify (block_tag.hpp); the same for trace replays.
#include "harness/cell/registry.hpp"

#include <tuple>

#include "allocators/malloc_allocator.hpp"
#include "harness/cell/reference_allocators.hpp"
#include "workloads/block_tag.hpp"
#include "workloads/churn_workload.hpp"
#include "workloads/frame_workload.hpp"
#include "workloads/parser_workload.hpp"
#include "workloads/request_workload.hpp"

namespace allocmeter {

namespace {

using workload_types = std::tuple<frame_workload, request_workload, parser_workload, churn_workload>;

struct runner_entry {
    std::string_view allocator;
    std::string_view workload;
    bool verify;
    cell_runner run;
};

struct trace_runner_entry {
    std::string_view allocator;
    bool verify;
    trace_runner run;
};

/// Every trace frees objects one by one, in any order.
constexpr workload_needs trace_needs{.individual_free = true};

template <allocator A>
trace_run run_trace(const trace::replay_view& plan, trace::touch_policy touch, timed_region* region,
                    std::uint64_t latency_every) {
    A heap;
    trace_run r;
    r.replay = trace::replay<A>(plan, heap, touch, region, latency_every);
    if constexpr (reports_stats<A>) r.stats = heap.stats();
    return r;
}

template <allocator A>
void add_trace_runner(std::vector<trace_runner_entry>& out, std::string_view allocator_name) {
    if constexpr (first_missing(A::caps, trace_needs, 1) == missing_capability::none) {
        out.push_back({allocator_name, false, &run_trace<A>});
        out.push_back({allocator_name, true, &run_trace<verified<A>>});
    }
}

/// A pair that cannot run even on one thread is not instantiated; the matrix skips it with
/// skip_reason() before looking for a runner.
template <class W, allocator A>
void add_runner(std::vector<runner_entry>& out, std::string_view allocator_name) {
    if constexpr (first_missing(A::caps, W::needs, 1) == missing_capability::none) {
        out.push_back({allocator_name, W::name, false, &run_workload<W, A>});
        out.push_back({allocator_name, W::name, true, &run_workload<W, verified<A>>});
    }
}

template <allocator A>
void add_runners(std::vector<runner_entry>& out, std::string_view allocator_name) {
    static_assert(capabilities_consistent<A>());
    std::apply([&](auto... w) { (add_runner<decltype(w), A>(out, allocator_name), ...); }, workload_types{});
}

const std::vector<runner_entry>& runners() {
    static const std::vector<runner_entry> table = [] {
        std::vector<runner_entry> t;
        add_runners<malloc_allocator>(t, malloc_runner_name);
        std::apply([&](const auto&... r) { (add_runners<typename std::decay_t<decltype(r)>::type>(t, r.name), ...); },
                   reference_types);
        return t;
    }();
    return table;
}

const std::vector<trace_runner_entry>& trace_runners() {
    static const std::vector<trace_runner_entry> table = [] {
        std::vector<trace_runner_entry> t;
        add_trace_runner<malloc_allocator>(t, malloc_runner_name);
        std::apply(
            [&](const auto&... r) { (add_trace_runner<typename std::decay_t<decltype(r)>::type>(t, r.name), ...); },
            reference_types);
        return t;
    }();
    return table;
}

}  // namespace

const std::vector<workload_info>& workloads() {
    static const std::vector<workload_info> table = std::apply(
        [](auto... w) {
            return std::vector<workload_info>{{decltype(w)::name, decltype(w)::summary, decltype(w)::needs, &decltype(w)::describe}...};
        },
        workload_types{});
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

cell_runner find_runner(std::string_view allocator_type, std::string_view workload, bool verify) {
    for (const runner_entry& e : runners())
        if (e.allocator == allocator_type && e.workload == workload && e.verify == verify) return e.run;
    return nullptr;
}

trace_runner find_trace_runner(std::string_view allocator_type, bool verify) {
    for (const trace_runner_entry& e : trace_runners())
        if (e.allocator == allocator_type && e.verify == verify) return e.run;
    return nullptr;
}

const workload_info* find_workload(std::string_view name) {
    for (const workload_info& w : workloads())
        if (w.name == name) return &w;
    return nullptr;
}

}  // namespace allocmeter
