// churn: N threads share one allocator instance; each keeps a working set that it replaces
// at random (sizes 16 B to 32 KiB, skewed small), and hands a set share of its victims to
// the next thread, which frees them: the cross-thread free that per-thread caches must handle.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/fixed_vector.hpp"
#include "workloads/handoff_ring.hpp"
#include "workloads/op_meter.hpp"
#include "workloads/rng.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct churn_workload {
    static constexpr std::string_view name = "churn";
    static constexpr std::string_view summary =
        "threads randomly replace a working set (16 B-32 KiB, skewed small), a share freed by "
        "another thread";
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = true,
                                          .max_request = 32 * 1024, .max_align = 16};

    struct params {
        std::uint64_t iterations;            ///< replacements per thread (two operations each)
        std::uint64_t working_set = 1000;    ///< blocks each thread keeps live
        std::uint64_t remote_percent = 25;   ///< victims freed by the next thread (threads > 1)
        std::uint64_t ring_capacity = 1024;  ///< blocks in flight between two threads

        static params for_scale(scale s) { return {.iterations = pick(s, 150000, 1000000, 10000000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"iterations", p.iterations, "replacements per thread (a free and an allocation)"},
                {"working_set", p.working_set, "blocks (16 B-32 KiB, log-uniform) each thread keeps live"},
                {"remote_percent", p.remote_percent, "% of victims freed by the next thread (when threads > 1)"},
                {"ring_capacity", p.ring_capacity, "blocks in flight from one thread to the next"}};
    }

    /// One allocator instance shared by every thread, and one inbox per thread.
    template <allocator A>
    struct shared_state {
        explicit shared_state(const workload_config& c) {
            for (unsigned i = 0; i < c.threads; ++i)
                inboxes.push_back(std::make_unique<handoff_ring<block_of<A>>>(params::for_scale(c.size).ring_capacity));
        }
        A heap;
        std::vector<std::unique_ptr<handoff_ring<block_of<A>>>> inboxes;
        std::atomic<unsigned> senders_done{0};
    };

    /// Frees every block waiting in this thread's inbox.
    template <allocator A>
    static void drain(handoff_ring<block_of<A>>& inbox, tracked_heap<A>& heap) noexcept {
        for (block_of<A> b; inbox.try_pop(b);) heap.free_handed_over(b);
    }

    /// Operations: one per allocation and one per free, counted by the thread that decides
    /// it (a handed-off block is freed by the next thread but counted by its owner).
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        const params p = params::for_scale(ctx.config.size);
        const unsigned threads = ctx.config.threads;
        const bool remote = threads > 1;
        handoff_ring<block_of<A>>& inbox = *shared.inboxes[ctx.index];
        handoff_ring<block_of<A>>& next = *shared.inboxes[(ctx.index + 1) % threads];
        tracked_heap<A> heap(shared.heap, ctx.meter);
        fixed_vector<block_of<A>> working(p.working_set);
        rng& r = ctx.random;
        const auto fresh = [&] { return heap.make(r.log_uniform(16, 32 * 1024)); };

        ctx.start();
        for (std::uint64_t i = 0; i < p.working_set; ++i) working.push_back(fresh());
        for (std::uint64_t it = 0; it < p.iterations; ++it) {
            auto& victim = working[r.below(p.working_set)];
            if (remote && r.below(100) < p.remote_percent) {
                ctx.meter.handed_off(victim.size, victim.align);
                while (!next.try_push(victim)) {
                    drain(inbox, heap);
                    ctx.pause();
                }
            } else {
                heap.free(victim);
            }
            victim = fresh();
            if (remote) drain(inbox, heap);
        }
        for (const auto& b : working) heap.free(b);
        shared.senders_done.fetch_add(1, std::memory_order_acq_rel);
        while (shared.senders_done.load(std::memory_order_acquire) < threads) {
            drain(inbox, heap);
            ctx.pause();
        }
        drain(inbox, heap);
        ctx.stop();
    }
};

}  // namespace allocmeter
