// cache-scratch: passive false sharing. One thread allocates a small object for every thread
// (neighbours, likely in one cache line) and hands them out; each thread frees the one it got,
// then allocates, writes many times and frees objects of its own. An allocator that gives a
// freed object back to the thread that freed it lets every thread write into that one line.
// From Berger, McKinley, Blumofe, Wilson, "Hoard: A Scalable Memory Allocator for
// Multithreaded Applications", ASPLOS 2000 ("passive-false"); the Hoard suite's cache-scratch.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/classic/cache_thrash_workload.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct cache_scratch_workload {
    static constexpr std::string_view name = "cache-scratch";
    static constexpr std::string_view summary =
        "passive false sharing: thread 0 hands each thread an 8 B object to free, then each thread "
        "allocates, writes many times and frees its own";
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = true,
                                          .max_request = cache_thrash_workload::object_size, .max_align = 16};

    /// The same counts as cache-thrash (the suite gives both the same parameters).
    using params = cache_thrash_workload::params;

    static std::vector<workload_param> describe(scale s) {
        std::vector<workload_param> d = cache_thrash_workload::describe(s);
        d.insert(d.begin(), {"handed_out", 1, "objects thread 0 allocates for each thread, which that thread frees first"});
        return d;
    }

    /// One allocator instance for all threads, and the objects thread 0 hands out.
    template <allocator A>
    struct shared_state {
        explicit shared_state(const workload_config& c) : handed(c.threads == 0 ? 1 : c.threads) {}
        A heap;
        std::vector<block_of<A>> handed;    ///< handed[i]: thread i's object
        std::atomic<unsigned> published{0};  ///< handed[0 .. published) are ready
    };

    /// Operations: thread 0 counts the allocation of every handed-out object and, for the ones
    /// another thread frees, the hand-off (that thread's free is no operation of its own); then
    /// each thread counts its own objects' allocations and frees.
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        const params p = params::for_scale(ctx.config.size);
        const unsigned me = ctx.index;
        tracked_heap<A> heap(shared.heap, ctx.meter);

        ctx.start();
        if (me == 0) {
            // Allocated back to back, as the suite's main thread does, so that an allocator
            // packing small objects puts several threads' objects in one cache line.
            for (unsigned i = 0; i < shared.handed.size(); ++i) {
                shared.handed[i] = heap.make(cache_thrash_workload::object_size);
                if (i != 0) ctx.meter.handed_off(cache_thrash_workload::object_size, shared.handed[i].align);
                shared.published.store(i + 1, std::memory_order_release);
            }
        }
        while (shared.published.load(std::memory_order_acquire) <= me) ctx.pause();
        if (me == 0)
            heap.free(shared.handed[0]);
        else
            heap.free_handed_over(shared.handed[me]);
        cache_thrash_workload::write_objects(heap, p);
        ctx.stop();
    }
};

}  // namespace allocmeter
