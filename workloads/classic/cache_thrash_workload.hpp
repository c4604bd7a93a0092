// cache-thrash: active false sharing. Each thread allocates one small object, writes it many
// times and frees it, over and over; if the allocator hands two threads' objects from one cache
// line, every write of one thread invalidates the other's copy and the writes slow down. From
// Berger, McKinley, Blumofe, Wilson, "Hoard: A Scalable Memory Allocator for Multithreaded
// Applications", ASPLOS 2000 ("active-false"); parameters from the Hoard suite's
// benchmarks/README (github.com/emeryberger/Hoard).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct cache_thrash_workload {
    static constexpr std::string_view name = "cache-thrash";
    static constexpr std::string_view summary =
        "active false sharing: each thread allocates an 8 B object, writes it many times and frees "
        "it itself, over and over";
    /// Bytes per object: the README's sample runs use 8 (mimalloc-bench's, 1). A multiple of
    /// the word, so a repetition writes the object in whole-word stores.
    static constexpr std::size_t object_size = 8;
    static_assert(object_size % sizeof(std::uint64_t) == 0);

    // Nothing is freed by another thread: an allocator that is not thread-safe runs it with one
    // instance per thread (see run_thread), so no cell is skipped for thread safety.
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = false,
                                          .max_request = object_size, .max_align = 16};

    struct params {
        std::uint64_t iterations;              ///< objects each thread allocates, writes and frees, one at a time
        std::uint64_t repetitions = 1000000;   ///< times each object is written whole (the README's count)

        // mimalloc-bench runs 1,000 objects of 2,000,000 writes, the README 100 of 1,000,000.
        // Both divide the writes among the threads (fixed total work); here each thread does
        // the whole count, as every allocmeter workload fixes work per thread, so a scalable
        // allocator keeps wall time flat as threads are added and one that false-shares does not.
        static params for_scale(scale s) { return {.iterations = pick(s, 40, 1000, 10000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"iterations", p.iterations, "objects per thread, each allocated, written, then freed by that thread"},
                {"object_size", object_size, "bytes per object (alignment 16)"},
                {"repetitions", p.repetitions, "times each object is written whole before its free (per thread, not divided)"}};
    }

    /// One allocator instance for all threads where A is thread-safe: false sharing between
    /// threads can only come from an allocator they share.
    template <allocator A>
    struct shared_state {
        explicit shared_state(const workload_config&) {}
        A heap;
    };

    /// Writes an object whole `repetitions` times: volatile stores, so none is dropped or
    /// merged, and each needs the object's cache line in this core's cache. Out of line and not
    /// a template: every cell runs this one copy of the loop that is the workload's timed work,
    /// so no allocator's cell gets a differently placed (faster or slower) loop.
    [[gnu::noinline]] static void write_repeatedly(void* object, std::uint64_t repetitions) noexcept {
        auto* words = static_cast<volatile std::uint64_t*>(object);
        for (std::uint64_t w = 0; w < repetitions; ++w)
            for (std::size_t k = 0; k < object_size / sizeof(std::uint64_t); ++k) words[k] = w + k;
    }

    /// `iterations` objects in turn: each allocated, written whole p.repetitions times, then
    /// freed (two operations). Under verify the workload writes into no block: each object's
    /// tag is checked once instead, where a million checks would find nothing its free does
    /// not. cache-scratch runs the same loop after its hand-out.
    template <allocator A>
    static void write_objects(tracked_heap<A>& heap, const params& p) {
        for (std::uint64_t i = 0; i < p.iterations; ++i) {
            const block_of<A> b = heap.make(object_size);
            if constexpr (tracked_heap<A>::verifying)
                heap.write(b, i);
            else
                write_repeatedly(b.p, p.repetitions);
            heap.free(b);
        }
    }

    /// Operations: one per allocation and one per free, all on the allocating thread. The
    /// stream has no random draws (fixed size and counts), so it is the same for every seed.
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        const params p = params::for_scale(ctx.config.size);
        // A non-thread-safe allocator gets one instance per thread, as a program would use it:
        // private heaps, which cannot put two threads' objects in one line.
        std::optional<A> own;
        A& instance = A::caps.thread_safe ? shared.heap : own.emplace();
        tracked_heap<A> heap(instance, ctx.meter);

        ctx.start();
        write_objects(heap, p);
        if (own) ctx.add_stats(*own);
        ctx.stop();
    }
};

}  // namespace allocmeter
