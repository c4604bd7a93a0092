// rptest: threads sharing one heap each churn a 1000-slot table in loops (free a scattered
// batch, then allocate a scattered batch over whatever the slots hold), sizes 8 B-16 KB with a
// linear falloff, every block written; every second loop a thread also allocates a batch for
// the next other thread in turn, which frees it: remote frees in bulk. Models Mattias Jansson's
// rpmalloc-benchmark (github.com/mjansson/rpmalloc-benchmark, 2017) as mimalloc-bench runs it
// ("rptest N 0 1 2 500 1000 100 8 16000": random sizes, linear falloff, cross rate 2).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/handoff_ring.hpp"
#include "workloads/classic/size_distributions.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct rptest_workload {
    static constexpr std::string_view name = "rptest";
    static constexpr std::string_view summary =
        "loops of scattered frees and allocations over 1000 slots (8 B-16 KB, linear falloff), "
        "written; every 2nd loop a batch freed by another thread";
    static constexpr std::size_t min_size = 8;
    static constexpr std::size_t max_size = 16000;
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = true,
                                          .max_request = max_size, .max_align = 16};

    struct params {
        std::uint64_t loops;                 ///< loops per thread (mimalloc-bench: 2 passes of 500)
        std::uint64_t slots = 1000;          ///< blocks a thread holds at most
        std::uint64_t op_count = 100;        ///< a loop allocates 30-99% and frees 24-79% of this
        std::uint64_t cross_rate = 2;        ///< every n-th loop hands a batch to another thread (threads > 1)
        std::uint64_t alloc_stride = 7;      ///< slot step of the allocation walk (coprime with slots)
        std::uint64_t free_stride = 11;      ///< slot step of the free walk (coprime with slots)
        std::uint64_t ring_capacity = 256;   ///< blocks in flight from one thread to another

        static params for_scale(scale s) { return {.loops = pick(s, 1000, 40000, 400000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"loops", p.loops, "loops per thread (scattered frees, then scattered allocations)"},
                {"slots", p.slots, "blocks a thread holds at most"},
                {"op_count", p.op_count, "a loop frees 0.8 x 30-99% and allocates 30-99% of this many"},
                {"cross_rate", p.cross_rate, "every n-th loop allocates a batch that another thread frees"},
                {"min_size", min_size, "smallest request (linear falloff to max_size)"},
                {"max_size", max_size, "largest request"},
                {"ring_capacity", p.ring_capacity, "blocks in flight from one thread to another"}};
    }

    /// One allocator instance shared by every thread, and a ring from each thread to each other.
    template <allocator A>
    struct shared_state {
        explicit shared_state(const workload_config& c) : rings(c.threads, params::for_scale(c.size).ring_capacity) {}

        A heap;
        handoff_mesh<block_of<A>> rings;
        std::atomic<unsigned> senders_done{0};
    };

    /// Frees every block the other threads have handed to thread `self`.
    template <allocator A>
    static void drain(shared_state<A>& shared, unsigned self, tracked_heap<A>& heap) noexcept {
        shared.rings.drain(self, [&](const block_of<A>& b) { heap.free_handed_over(b); });
    }

    /// Operations: one per allocation and one per free, counted by the deciding thread (a
    /// handed-off block's free is its allocating thread's operation). Every third small block
    /// asks for 8-byte alignment, as rptest mixes 8- and 16-byte aligned requests.
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        const params p = params::for_scale(ctx.config.size);
        const unsigned self = ctx.index, threads = shared.rings.threads();
        tracked_heap<A> heap(shared.heap, ctx.meter);
        std::vector<block_of<A>> slots(p.slots);  // value-initialised: p == nullptr, empty
        rng& r = ctx.random;
        std::uint64_t made = 0;
        const auto fresh = [&] {
            const std::size_t size = linear_falloff(r, min_size, max_size);
            return heap.make(size, size < 4096 && ++made % 3 == 0 ? 8 : 16);
        };
        std::uint64_t alloc_at = 0, free_at = 0;
        unsigned target = self;

        ctx.start();
        for (std::uint64_t loop = 0; loop < p.loops; ++loop) {
            const std::uint64_t frees = p.op_count * 8 * r.between(30, 99) / 1000;
            const std::uint64_t allocs = p.op_count * r.between(30, 99) / 100;
            for (std::uint64_t i = 0; i < frees; ++i, free_at = (free_at + p.free_stride) % p.slots) {
                if (slots[free_at].p == nullptr) continue;
                heap.free(slots[free_at]);
                slots[free_at].p = nullptr;
            }
            if (threads > 1) drain(shared, self, heap);
            for (std::uint64_t i = 0; i < allocs; ++i, alloc_at = (alloc_at + p.alloc_stride) % p.slots) {
                if (slots[alloc_at].p != nullptr) heap.free(slots[alloc_at]);
                slots[alloc_at] = fresh();
            }
            if (threads > 1 && loop % p.cross_rate == 0) {
                target = (target + 1) % threads == self ? (target + 2) % threads : (target + 1) % threads;
                handoff_ring<block_of<A>>& out = shared.rings.ring(self, target);
                for (std::uint64_t i = 0; i < allocs; ++i) {
                    const block_of<A> b = fresh();
                    ctx.meter.handed_off(b.size, b.align);
                    while (!out.try_push(b)) {
                        drain(shared, self, heap);
                        ctx.pause();
                    }
                }
            }
        }
        for (const auto& b : slots)
            if (b.p != nullptr) heap.free(b);
        shared.senders_done.fetch_add(1, std::memory_order_acq_rel);
        while (shared.senders_done.load(std::memory_order_acquire) < threads) {
            drain(shared, self, heap);
            ctx.pause();
        }
        drain(shared, self, heap);
        ctx.stop();
    }
};

}  // namespace allocmeter
