// glibc-simple: batches of same-size blocks allocated, written, then freed, the first half in
// allocation order (FIFO) and the rest newest first (LIFO), for 25 to 1600 blocks a batch and
// sizes of 16, 32 and 64 bytes: the fast paths (per-thread caches, small bins) and how they
// cope once a batch outgrows them. Modelled on the GNU C Library's
// benchtests/bench-malloc-simple.c (2019, glibc commit 3904fd85) as mimalloc-bench (Daan
// Leijen, github.com/daanx/mimalloc-bench) runs it: the FIFO/LIFO halves, the written blocks
// and the three sizes are mimalloc-bench's; glibc frees FIFO and takes one size a run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/fixed_vector.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct glibc_simple_workload {
    static constexpr std::string_view name = "glibc-simple";
    static constexpr std::string_view summary =
        "batches of 25-1600 same-size blocks (16, 32, 64 B) freed half FIFO, half LIFO, by the "
        "allocating thread";
    static constexpr std::array<std::size_t, 3> sizes{16, 32, 64};
    static constexpr std::array<std::size_t, 4> batches{25, 100, 400, 1600};
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = false,
                                          .max_request = 64, .max_align = 16};

    struct params {
        /// Blocks allocated for each (size, batch) pair, in batch / blocks rounds. glibc uses
        /// 200,000 (later 5,000,000); mimalloc-bench 2,000,000, run four times per pair.
        std::uint64_t blocks_per_pair;

        static params for_scale(scale s) { return {.blocks_per_pair = pick(s, 16000, 2000000, 20000000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"blocks_per_pair", p.blocks_per_pair, "blocks allocated per (size, batch) pair, per thread"},
                {"sizes", sizes.size(), "block sizes, in turn: 16, 32, 64 bytes"},
                {"batch_min", batches.front(), "fewest blocks live in a batch (then 100, 400)"},
                {"batch_max", batches.back(), "most blocks live in a batch"}};
    }

    /// Operations: one per allocation and one per free. No random element: the published
    /// benchmark has none, so every seed gives the same stream.
    template <allocator A>
    static void run_thread(thread_context& ctx, no_shared_state&) {
        const params p = params::for_scale(ctx.config.size);
        A instance;
        tracked_heap<A> heap(instance, ctx.meter);
        fixed_vector<block_of<A>> batch(batches.back());

        ctx.start();
        for (const std::size_t size : sizes) {
            for (const std::size_t n : batches) {
                for (std::uint64_t round = 0; round < p.blocks_per_pair / n; ++round) {
                    for (std::size_t i = 0; i < n; ++i) batch.push_back(heap.make(size));
                    for (std::size_t i = 0; i < n / 2; ++i) heap.free(batch[i]);
                    for (std::size_t i = n; i-- > n / 2;) heap.free(batch[i]);
                    batch.clear();
                }
            }
        }
        ctx.add_stats(instance);
        ctx.stop();
    }
};

}  // namespace allocmeter
