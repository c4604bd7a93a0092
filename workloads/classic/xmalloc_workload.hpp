// xmalloc: Lever and Boreham's producer-consumer test ("malloc() Performance in a
// Multithreaded Linux Environment", USENIX 2000 FREENIX; xmalloc-test in mimalloc-bench).
// Producer threads only allocate, filling batches of blocks of 17 sizes (8 B-2 KiB); consumer
// threads only free whole batches: every free is remote, the case thread caches handle worst.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/rng.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

/// Batches of blocks from one producer to its consumer, at most `depth` in flight: the
/// producer fills batch k in place and publishes it; the consumer frees it and releases the
/// space. Sized before the timed region.
template <class B>
class batch_channel {
public:
    batch_channel(std::size_t batch_size, std::size_t depth)
        : blocks_(new B[batch_size * depth]), batch_size_(batch_size), depth_(depth) {}

    /// The storage of batch k.
    B* batch(std::uint64_t k) noexcept { return blocks_.get() + (k % depth_) * batch_size_; }
    /// Producer: whether batch k's storage is free (its predecessor `depth` back was freed).
    bool has_room_for(std::uint64_t k) const noexcept { return k - released_.load(std::memory_order_acquire) < depth_; }
    /// Producer: batches 0..k are filled.
    void publish(std::uint64_t k) noexcept { published_.store(k + 1, std::memory_order_release); }
    /// Consumer: whether batch k is filled.
    bool is_published(std::uint64_t k) const noexcept { return k < published_.load(std::memory_order_acquire); }
    /// Consumer: batch k is freed; its storage may be filled again.
    void release(std::uint64_t k) noexcept { released_.store(k + 1, std::memory_order_release); }

private:
    std::unique_ptr<B[]> blocks_;
    std::size_t batch_size_;
    std::size_t depth_;
    alignas(64) std::atomic<std::uint64_t> published_{0};
    alignas(64) std::atomic<std::uint64_t> released_{0};
};

struct xmalloc_workload {
    static constexpr std::string_view name = "xmalloc";
    static constexpr std::string_view summary =
        "producer threads allocate batches of blocks (17 sizes, 8 B-2 KiB) that consumer "
        "threads free: every free remote";
    /// The original's size table, drawn uniformly.
    static constexpr std::array<std::uint32_t, 17> sizes{8,   12,  16,  24,  32,  48,   64,   96,  128,
                                                         192, 256, 384, 512, 768, 1024, 1536, 2048};
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = true,
                                          .max_request = 2048, .max_align = 16};

    struct params {
        std::uint64_t batches;                ///< batches each producer fills
        std::uint64_t batch_size = 4096;      ///< blocks in a batch (the original's)
        std::uint64_t batches_in_flight = 8;  ///< filled batches a producer may run ahead of its consumer

        static params for_scale(scale s) { return {.batches = pick(s, 50, 500, 5000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"batches", p.batches, "batches each producer allocates (alone, a thread frees its own; else even workers produce, odd ones free)"},
                {"batch_size", p.batch_size, "blocks in a batch, each of one of 17 sizes, 8 B-2 KiB, drawn uniformly"},
                {"batches_in_flight", p.batches_in_flight, "filled batches a producer may have waiting for its consumer"}};
    }

    /// Roles, fixed by the worker's index so that no timing decides who frees what. One
    /// worker plays both (it frees its own batches, no free is remote); from two on, even
    /// workers produce and odd ones consume, producer 2k for worker 2k+1. At an odd count
    /// the last worker is a producer too, and worker 1 consumes its batches besides.
    struct roles {
        unsigned threads;
        bool alone() const noexcept { return threads <= 1; }
        bool produces(unsigned worker) const noexcept { return worker % 2 == 0; }
        unsigned producers() const noexcept { return alone() ? 1 : (threads + 1) / 2; }
        unsigned consumer_of(unsigned producer) const noexcept { return 2 * producer + 1 < threads ? 2 * producer + 1 : 1; }
    };

    /// One allocator instance shared by every thread, and a channel per producer.
    template <allocator A>
    struct shared_state {
        explicit shared_state(const workload_config& c) : shared_state(c, params::for_scale(c.size)) {}
        shared_state(const workload_config& c, const params& p) {
            for (unsigned k = 0; k < roles{c.threads}.producers(); ++k)
                channels.push_back(std::make_unique<batch_channel<block_of<A>>>(p.batch_size, p.batches_in_flight));
        }
        A heap;
        std::vector<std::unique_ptr<batch_channel<block_of<A>>>> channels;
    };

    /// Operations: a producer counts each allocation and each block it hands over (its
    /// consumer frees it uncounted); alone, each allocation and each free.
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        run(ctx, shared, params::for_scale(ctx.config.size));
    }
    /// run_thread at explicit parameters, those shared_state was built with (tests run below
    /// quick scale).
    template <allocator A>
    static void run(thread_context& ctx, shared_state<A>& shared, const params& p) {
        const roles role{ctx.config.threads};
        tracked_heap<A> heap(shared.heap, ctx.meter);
        ctx.start();
        if (role.produces(ctx.index))
            produce(ctx, heap, *shared.channels[ctx.index / 2], p, role.alone());
        else
            consume(ctx, heap, shared, p, role);
        ctx.stop();
    }

private:
    template <allocator A>
    static void produce(thread_context& ctx, tracked_heap<A>& heap, batch_channel<block_of<A>>& out, const params& p,
                        bool alone) {
        rng& r = ctx.random;
        for (std::uint64_t k = 0; k < p.batches; ++k) {
            while (!alone && !out.has_room_for(k)) ctx.pause();
            block_of<A>* batch = out.batch(k);
            for (std::uint64_t i = 0; i < p.batch_size; ++i) batch[i] = heap.make(sizes[r.below(sizes.size())]);
            if (alone) {
                for (std::uint64_t i = 0; i < p.batch_size; ++i) heap.free(batch[i]);
            } else {
                for (std::uint64_t i = 0; i < p.batch_size; ++i) ctx.meter.handed_off(batch[i].size, batch[i].align);
                out.publish(k);
            }
        }
    }

    /// Frees the batches of this worker's producers (one, or two for worker 1 at an odd
    /// count) in the order they come, each producer's in its own order.
    template <allocator A>
    static void consume(thread_context& ctx, tracked_heap<A>& heap, shared_state<A>& shared, const params& p,
                        const roles& role) {
        struct source {
            batch_channel<block_of<A>>* channel;
            std::uint64_t next = 0;
        };
        std::array<source, 2> from{};
        std::size_t count = 0;
        for (unsigned k = 0; k < role.producers(); ++k)
            if (role.consumer_of(k) == ctx.index) from[count++].channel = shared.channels[k].get();
        for (std::uint64_t left = count * p.batches; left != 0;) {
            bool freed = false;
            for (std::size_t s = 0; s < count; ++s) {
                source& f = from[s];
                if (f.next == p.batches || !f.channel->is_published(f.next)) continue;
                const block_of<A>* batch = f.channel->batch(f.next);
                for (std::uint64_t i = 0; i < p.batch_size; ++i) heap.free_handed_over(batch[i]);
                f.channel->release(f.next++);
                --left;
                freed = true;
            }
            if (!freed) ctx.pause();
        }
    }
};

}  // namespace allocmeter
