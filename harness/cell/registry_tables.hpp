// The registry's tables, shared by the translation units that fill them (registry.cpp: plain
// and verified runners; registry_boundary.cpp: run --measure callgrind's runners, which take
// long to compile and so build beside the others). Internal to harness/cell.
#pragma once

#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "allocators/malloc_allocator.hpp"
#include "harness/cell/callgrind_boundary.hpp"
#include "harness/cell/reference_allocators.hpp"
#include "harness/cell/registry.hpp"
#include "workloads/block_tag.hpp"
#include "workloads/churn_workload.hpp"
#include "workloads/classic/alloc_test_workload.hpp"
#include "workloads/classic/cache_scratch_workload.hpp"
#include "workloads/classic/cache_thrash_workload.hpp"
#include "workloads/classic/glibc_simple_workload.hpp"
#include "workloads/classic/glibc_thread_workload.hpp"
#include "workloads/classic/larson_workload.hpp"
#include "workloads/classic/malloc_large_workload.hpp"
#include "workloads/classic/mstress_workload.hpp"
#include "workloads/classic/realloc_growth_workload.hpp"
#include "workloads/classic/rptest_workload.hpp"
#include "workloads/classic/sh6bench_workload.hpp"
#include "workloads/classic/sh8bench_workload.hpp"
#include "workloads/classic/xmalloc_workload.hpp"
#include "workloads/frame_workload.hpp"
#include "workloads/parser_workload.hpp"
#include "workloads/request_workload.hpp"

namespace allocmeter::registry_detail {

/// The seed workloads: run's default set (group "seed").
using seed_workload_types = std::tuple<frame_workload, request_workload, parser_workload, churn_workload>;
/// The classic allocator benchmarks (workloads/classic/, group "classic"): their runners are
/// instantiated in translation units of their own (registry_classic.cpp,
/// registry_boundary_classic.cpp), compiled beside the seed ones.
using classic_workload_types =
    std::tuple<larson_workload, xmalloc_workload, cache_scratch_workload, cache_thrash_workload, mstress_workload,
               glibc_simple_workload, glibc_thread_workload, sh6bench_workload, sh8bench_workload, alloc_test_workload,
               rptest_workload, malloc_large_workload, realloc_growth_workload>;

struct runner_entry {
    std::string_view allocator;
    std::string_view workload;
    runner_kind kind;
    cell_runner run;
};

struct trace_runner_entry {
    std::string_view allocator;
    runner_kind kind;
    trace_runner run;
};

struct tables {
    std::vector<runner_entry> runners;
    std::vector<trace_runner_entry> trace_runners;
};

/// The allocator type a runner of kind K runs for A.
template <runner_kind K, class A>
struct wrapped {
    using type = A;
};
template <class A>
struct wrapped<runner_kind::verified, A> {
    using type = verified<A>;
};
template <class A>
struct wrapped<runner_kind::boundary, A> {
    using type = callgrind_boundary<A>;
};

/// Every trace frees objects one by one, in any order.
inline constexpr workload_needs trace_needs{.individual_free = true};

template <allocator A>
trace_run run_trace(const trace::replay_view& plan, trace::touch_policy touch, timed_region* region,
                    std::uint64_t latency_every) {
    A heap;
    trace_run r;
    r.replay = trace::replay<A>(plan, heap, touch, region, latency_every);
    if constexpr (reports_stats<A>) r.stats = heap.stats();
    return r;
}

/// A pair that cannot run even on one thread is not instantiated; the matrix skips it with
/// skip_reason() before looking for a runner. Workloads: a tuple of workload types; the trace
/// runner comes with the seed workloads' runners.
template <runner_kind K, allocator A, class Workloads = seed_workload_types>
void add_runners(tables& t, std::string_view allocator_name) {
    static_assert(capabilities_consistent<A>());
    using W_A = typename wrapped<K, A>::type;
    std::apply(
        [&](auto... w) {
            [[maybe_unused]] const auto add = [&]<class W>(W) {
                if constexpr (first_missing(A::caps, W::needs, 1) == missing_capability::none)
                    t.runners.push_back({allocator_name, W::name, K, &run_workload<W, W_A>});
            };
            (add(w), ...);
        },
        Workloads{});
    if constexpr (std::is_same_v<Workloads, seed_workload_types> &&
                  first_missing(A::caps, trace_needs, 1) == missing_capability::none)
        t.trace_runners.push_back({allocator_name, K, &run_trace<W_A>});
}

/// The runners of kind K of these workloads for malloc and every reference allocator.
template <runner_kind K, class Workloads = seed_workload_types>
void add_kind(tables& t) {
    add_runners<K, malloc_allocator, Workloads>(t, malloc_runner_name);
    std::apply(
        [&](const auto&... r) { (add_runners<K, typename std::decay_t<decltype(r)>::type, Workloads>(t, r.name), ...); },
        reference_types);
}

/// registry_classic.cpp: the classic workloads' plain runners (the harness row's too) and
/// verified ones.
void add_classic_runners(tables& t);
/// registry_boundary.cpp: add_kind<runner_kind::boundary> of the seed workloads.
void add_boundary_runners(tables& t);
/// registry_boundary_classic.cpp: the same for the classic workloads.
void add_classic_boundary_runners(tables& t);

}  // namespace allocmeter::registry_detail
