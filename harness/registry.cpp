// Instantiates run_workload<W, A> for every workload W and allocator type A, once.
#include "harness/registry.hpp"

#include <tuple>

#include "allocators/arena_allocator.hpp"
#include "allocators/bump_allocator.hpp"
#include "allocators/malloc_allocator.hpp"
#include "allocators/pool_allocator.hpp"
#include "workloads/churn_workload.hpp"
#include "workloads/frame_workload.hpp"
#include "workloads/parser_workload.hpp"
#include "workloads/request_workload.hpp"

namespace allocmeter {

namespace {

/// A reference allocator type with its registry name and one-line summary.
template <allocator A>
struct named {
    using type = A;
    std::string_view name;
    std::string_view summary;
};

/// The pool in the matrix serves blocks up to 256 B: the small-object workloads fit it.
using matrix_pool = pool_allocator<256>;

/// The arena in the matrix takes 256 KiB chunks, so 64 KiB request bodies stay in a chunk
/// (above a quarter chunk a request gets a dedicated mapping).
struct matrix_arena : arena_allocator {
    matrix_arena() noexcept : arena_allocator(256 * 1024) {}
};

const auto reference_types = std::make_tuple(
    named<bump_allocator>{"bump", "pointer bump in one reserved region; reset and checkpoints, no free"},
    named<matrix_arena>{"arena", "256 KiB chunks from mmap, reused after reset; oversize requests in their own chunk"},
    named<matrix_pool>{"pool", "256-byte blocks on an intrusive free list, grown by 64 KiB chunks"});

using workload_types = std::tuple<frame_workload, request_workload, parser_workload, churn_workload>;

struct runner_entry {
    std::string_view allocator;
    std::string_view workload;
    cell_runner run;
};

/// A pair that can never run (the workload frees one by one, the allocator cannot) is not
/// instantiated; the matrix skips it with skip_reason() before looking for a runner.
template <class W, allocator A>
void add_runner(std::vector<runner_entry>& out, std::string_view allocator_name) {
    if constexpr (!W::needs.individual_free || (A::caps.individual_free && !A::caps.lifo_free_only))
        out.push_back({allocator_name, W::name, &run_workload<W, A>});
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

cell_runner find_runner(std::string_view allocator_type, std::string_view workload) {
    for (const runner_entry& e : runners())
        if (e.allocator == allocator_type && e.workload == workload) return e.run;
    return nullptr;
}

const workload_info* find_workload(std::string_view name) {
    for (const workload_info& w : workloads())
        if (w.name == name) return &w;
    return nullptr;
}

}  // namespace allocmeter
