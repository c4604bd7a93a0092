// sh8bench: MicroQuill's SmartHeap benchmark sh8bench (2005; in mimalloc-bench). sh6bench's
// buffer fed from a fixed histogram of sizes (8 B-165 KiB, most blocks 8-48 B), one entry per
// iteration, plus "foreign" blocks: equal-sized 8 B blocks that one thread allocates and
// other threads free. The original's main thread allocates them; here every worker does,
// for the others in turn, so that the workers alone do the timed work.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/handoff_ring.hpp"
#include "workloads/classic/shbench_ring.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct sh8bench_workload {
    static constexpr std::string_view name = "sh8bench";
    static constexpr std::string_view summary =
        "sh6bench's buffer fed a size histogram (8 B-165 KiB, 8-48 B most often), plus 8 B "
        "blocks freed by another thread";

    /// One histogram entry: `count` blocks of `size` bytes, allocated in one iteration.
    struct size_count {
        std::uint32_t size;
        std::uint32_t count;
    };
    /// The original's histogram, one entry per iteration in turn.
    static constexpr std::array<size_count, 12> histogram{{{8, 1000}, {16, 5000}, {48, 1000}, {72, 100},
                                                           {148, 100}, {200, 100}, {520, 10}, {1056, 5},
                                                           {4096, 3}, {9162, 1}, {34562, 1}, {168524, 1}}};
    static constexpr std::uint32_t foreign_size = 8;  ///< the original's: all equal, to collide

    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = true,
                                          .max_request = 168524, .max_align = 16};

    struct params {
        std::uint64_t iterations;      ///< histogram entries allocated, per thread
        std::uint64_t slots = 100000;  ///< the buffer: a thread's share of the original's 1,000,000 at 10 threads
        std::uint64_t foreign_per_iteration = 16;  ///< about mimalloc-bench's 10,000,000 over 700,000 iterations
        std::uint64_t ring_capacity = 256;         ///< foreign blocks in flight from one thread to another

        static params for_scale(scale s) { return {.iterations = pick(s, 960, 9600, 96000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"iterations", p.iterations, "histogram entries per thread, in turn (7,321 blocks per 12); no random numbers"},
                {"slots", p.slots, "blocks the buffer holds; a fifth of them survive each cycle"},
                {"foreign_per_iteration", p.foreign_per_iteration, "8 B blocks per iteration handed to the other threads in turn (threads > 1)"},
                {"ring_capacity", p.ring_capacity, "foreign blocks in flight from one thread to another"}};
    }

    /// One allocator instance shared by every thread, and a ring from each thread to each other.
    template <allocator A>
    struct shared_state {
        explicit shared_state(const workload_config& c) : shared_state(c, params::for_scale(c.size)) {}
        shared_state(const workload_config& c, const params& p) : rings(c.threads, p.ring_capacity) {}

        A heap;
        handoff_mesh<block_of<A>> rings;
        std::atomic<unsigned> senders_done{0};
    };

    /// Operations: one per allocation and one per free, a foreign block's free counted (as
    /// handed off) by the thread that allocated it.
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        run(ctx, shared, params::for_scale(ctx.config.size));
    }
    /// run_thread at explicit parameters, those shared_state was built with (tests run below
    /// quick scale).
    template <allocator A>
    static void run(thread_context& ctx, shared_state<A>& shared, const params& p) {
        const unsigned threads = ctx.config.threads;
        const unsigned self = ctx.index;
        tracked_heap<A> heap(shared.heap, ctx.meter);
        shbench_ring<A> ring(heap, p.slots);
        const auto drain = [&] { shared.rings.drain(self, [&](const block_of<A>& b) { heap.free_handed_over(b); }); };
        unsigned peer = 0;  // the next foreign block goes to the peer'th other thread

        ctx.start();
        for (std::uint64_t it = 0; it < p.iterations; ++it) {
            for (std::uint64_t i = 0; threads > 1 && i < p.foreign_per_iteration; ++i) {
                const block_of<A> b = heap.make(foreign_size);
                ctx.meter.handed_off(b.size, b.align);
                handoff_ring<block_of<A>>& out = shared.rings.ring(self, (self + 1 + peer) % threads);
                peer = (peer + 1) % (threads - 1);
                while (!out.try_push(b)) {
                    drain();
                    ctx.pause();
                }
            }
            drain();
            const size_count e = histogram[it % histogram.size()];
            for (std::uint32_t n = 0; n < e.count; ++n) ring.add(heap.make(e.size));
        }
        ring.release();
        shared.senders_done.fetch_add(1, std::memory_order_acq_rel);
        while (shared.senders_done.load(std::memory_order_acquire) < threads) {
            drain();
            ctx.pause();
        }
        drain();
        ctx.stop();
    }
};

}  // namespace allocmeter
