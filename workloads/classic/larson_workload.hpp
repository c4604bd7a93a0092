// larson: Larson and Krishnan's server simulation ("Memory allocation for long-running server
// applications", ISMM 1998; in Hoard's and mimalloc-bench's suites). A thread replaces random
// blocks of an array (sizes uniform), then ends, and a new thread takes the array over: every
// block alive at the hand-over is freed by a thread that did not allocate it, after that
// thread has ended (the paper's "bleeding" of objects between threads).
#pragma once

#include <cstdint>
#include <string_view>
#include <thread>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/fixed_vector.hpp"
#include "workloads/rng.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct larson_workload {
    static constexpr std::string_view name = "larson";
    static constexpr std::string_view summary =
        "threads replace random blocks (8-1000 B, uniform) and hand their arrays to a newly "
        "started thread: blocks freed by another thread after theirs has ended";
    static constexpr std::uint64_t min_size = 8;
    static constexpr std::uint64_t max_size = 1000;
    // At one thread the generations still free each other's blocks, but one after another
    // (each joined before the next starts), so any allocator can serve it.
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = true,
                                          .max_request = max_size, .max_align = 16};

    struct params {
        std::uint64_t generations;           ///< threads that hold each worker's array in turn
        std::uint64_t slots = 1000;          ///< blocks in each array (the paper's 1,000)
        std::uint64_t replacements = 50000;  ///< per generation; 1,000 of 50,000 frees remote is the paper's 2% bleeding

        static params for_scale(scale s) { return {.generations = pick(s, 8, 80, 800)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"generations", p.generations, "threads started one after another per worker, each inheriting the array"},
                {"slots", p.slots, "blocks (8-1000 B, uniform) in each worker's array"},
                {"replacements", p.replacements, "random slots freed and refilled by each generation"}};
    }

    /// One allocator instance shared by every thread.
    template <allocator A>
    struct shared_state {
        explicit shared_state(const workload_config&) noexcept {}
        A heap;
    };

    /// Each generation runs on a thread this worker starts and joins, as the original's threads
    /// start their successors: a rotation among live workers would move blocks between threads
    /// but never end one, and a thread's end (its caches given back, its blocks orphaned) is
    /// half of what larson stresses. The first generation fills the array and the worker frees
    /// the last one's blocks, so every block freed remotely has outlived its thread. Starting a
    /// thread is timed, as in the original: about 70 us beside a generation's 5 ms on glibc
    /// malloc on a 2-core VM.
    /// Operations: one per allocation and one per free, on the worker's meter and random
    /// stream, which the generations use in turn (the join orders them).
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        run(ctx, shared, params::for_scale(ctx.config.size));
    }
    /// run_thread at explicit parameters (tests run below quick scale).
    template <allocator A>
    static void run(thread_context& ctx, shared_state<A>& shared, const params& p) {
        tracked_heap<A> heap(shared.heap, ctx.meter);
        fixed_vector<block_of<A>> blocks(p.slots);
        rng& r = ctx.random;
        const auto fresh = [&] { return heap.make(r.between(min_size, max_size)); };
        const auto generation = [&] {
            while (blocks.size() < p.slots) blocks.push_back(fresh());
            for (std::uint64_t i = 0; i < p.replacements; ++i) {
                block_of<A>& victim = blocks[r.below(p.slots)];
                heap.free(victim);
                victim = fresh();
            }
        };

        ctx.start();
        for (std::uint64_t g = 0; g < p.generations; ++g) std::thread(generation).join();
        for (const auto& b : blocks) heap.free(b);
        ctx.stop();
    }
};

}  // namespace allocmeter
