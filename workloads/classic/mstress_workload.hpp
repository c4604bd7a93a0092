// mstress: rounds of short-lived threads. In each round every thread allocates power-of-two
// sizes (mostly 8-512 B, a few up to 5 MiB), frees some at once, keeps some to the round's end,
// grows a pointer array by realloc, and swaps blocks with a shared array of slots whose blocks
// outlive the round, to be freed or swapped again by another round's threads. From mimalloc's
// test/test-stress.c (Leijen, 2019), run as mstress by mimalloc-bench (github.com/daanx/mimalloc-bench).
//
// The suite creates fresh threads each round and lets them race for the slots (atomic
// exchanges), so which block a thread gets depends on timing. Here worker w runs each round on a
// fresh std::thread (joined before the next round), with w's meter and random stream, and
// touches only the slots of lane (w + round) mod threads: a round's swaps are the same on every
// run, and each lane passes to another worker in the next round (a barrier between rounds).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/fixed_vector.hpp"
#include "workloads/rng.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct mstress_workload {
    static constexpr std::string_view name = "mstress";
    static constexpr std::string_view summary =
        "rounds of fresh threads: power-of-two sizes (8-512 B, 1% up to 5 MiB), reallocs, blocks left in "
        "shared slots for later rounds' threads to free";
    static constexpr std::size_t word = 8;                  ///< the suite sizes objects in pointer-sized words
    static constexpr std::size_t max_object = 64 * word * 10000;  ///< a kept object of 64 words, scaled as giant
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = true,
                                          .max_request = max_object, .max_align = 16};

    struct params {
        std::uint64_t rounds;                  ///< rounds, each on fresh threads (the suite's ITER)
        std::uint64_t load = 50;               ///< the suite's SCALE: a thread allocates 100 x load x (1 + its index mod 8) objects a round
        std::uint64_t transfers = 1000;        ///< shared slots (at least one per thread)
        std::uint64_t free_percent = 66;       ///< steps that free a random earlier object
        std::uint64_t swap_percent = 25;       ///< steps that swap an earlier object with a slot
        std::uint64_t sweep_percent = 50;      ///< slots freed between rounds (all after the last)
        std::uint64_t array_step = 1000;       ///< entries the pointer array grows by (realloc)

        // The suite grows its array by 100,000 entries, more than a thread allocates in a round
        // at load 50 (5,000 to 40,000), so its one realloc is of a null pointer: a malloc. A
        // step of 1,000 keeps the pattern (a pointer array grown by realloc as the round goes)
        // with growth that happens. mimalloc-bench runs `mstress P 50 25`: 25 rounds of P
        // threads. A one-thread round takes about 1 ms on malloc (0.73-0.93 s for 800 on a
        // shared 2-core VM), so the default scale runs 800; quick, 6, keeps the tests short.
        static params for_scale(scale s) { return {.rounds = pick(s, 6, 800, 8000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"rounds", p.rounds, "rounds; each worker runs each round on a new thread"},
                {"load", p.load, "a thread allocates 100 x load x (1 + index mod 8) objects a round, half as many kept"},
                {"transfers", p.transfers, "shared slots whose blocks outlive the round"},
                {"free_percent", p.free_percent, "% of steps that free a random earlier object"},
                {"swap_percent", p.swap_percent, "% of steps that swap an earlier object with a slot of the thread's lane"},
                {"sweep_percent", p.sweep_percent, "% of a lane's slots freed after a round (all after the last)"},
                {"array_step", p.array_step, "entries the per-thread pointer array grows by, through realloc"}};
    }

    /// One allocator instance, the slots, and the barrier between rounds.
    template <allocator A>
    struct shared_state {
        explicit shared_state(const workload_config& c)
            : slots(std::max<std::size_t>({params::for_scale(c.size).transfers, c.threads, 1})) {}
        A heap;
        std::vector<block_of<A>> slots;       ///< p == nullptr: empty
        std::atomic<std::uint64_t> arrived{0};  ///< workers done with a round, all rounds so far
    };

    /// Words (of 8 B) in a new object, 1 to 2^(shifts-1), times 100 for 1% of objects (of
    /// which 10% take 1000 and 1% 10000 instead): the suite's size law.
    static std::size_t object_bytes(rng& r, unsigned shifts) noexcept {
        std::size_t words = std::size_t{1} << r.below(shifts);
        if (r.below(100) == 0) words *= r.below(100) == 0 ? 10000 : r.below(10) == 0 ? 1000 : 100;
        return words * word;
    }

    /// The records of a round's objects: those it allocates (and may free or swap) and those
    /// it keeps to its end. Sized before the timed region.
    template <allocator A>
    struct round_tables {
        explicit round_tables(std::uint64_t most) : data(most), kept(most / 2) {}
        fixed_vector<block_of<A>> data;  ///< p == nullptr: freed, or swapped for an empty slot
        fixed_vector<block_of<A>> kept;
    };

    /// One round of worker `w` (on a thread of its own): allocate `allocs` objects and keep
    /// allocs/2 more, freeing and swapping as it goes, then free everything it holds. The
    /// suite's two pointer arrays are allocated here too, at their sizes, the data array grown
    /// by realloc; the workload's own records stay in `t` (a verified block holds its tag).
    template <allocator A>
    static void round(tracked_heap<A>& heap, rng& r, const params& p, round_tables<A>& t,
                      std::vector<block_of<A>>& slots, std::size_t lane, std::size_t lanes, std::uint64_t allocs) {
        std::uint64_t keep = allocs / 2;
        const block_of<A> kept_array = heap.make(keep * word);
        block_of<A> data_array{};
        std::uint64_t capacity = 0;
        const std::size_t lane_slots = (slots.size() - lane + lanes - 1) / lanes;

        while (allocs > 0 || keep > 0) {
            if (keep == 0 || (allocs > 0 && r.below(2) == 0)) {
                --allocs;
                if (t.data.size() == capacity) {
                    capacity += p.array_step;
                    if (capacity == p.array_step)
                        data_array = heap.make(capacity * word);
                    else
                        heap.resize(data_array, capacity * word);
                }
                t.data.push_back(heap.make(object_bytes(r, 5)));
            } else {
                t.kept.push_back(heap.make(object_bytes(r, 7)));
                --keep;
            }
            if (r.below(100) < p.free_percent && !t.data.empty()) {
                block_of<A>& victim = t.data[r.below(t.data.size())];
                if (victim.p != nullptr) heap.free(victim);
                victim.p = nullptr;
            }
            if (r.below(100) < p.swap_percent && !t.data.empty()) {
                block_of<A>& mine = t.data[r.below(t.data.size())];
                std::swap(mine, slots[lane + lanes * r.below(lane_slots)]);
            }
        }
        for (const auto& b : t.kept) heap.free(b);
        for (const auto& b : t.data)
            if (b.p != nullptr) heap.free(b);
        heap.free(kept_array);
        heap.free(data_array);
        t.kept.clear();
        t.data.clear();
    }

    /// Operations: one per allocation, free and realloc, each on the worker whose stream
    /// decides it (a block left in a slot is freed by whichever worker's stream reaches it).
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        const params p = params::for_scale(ctx.config.size);
        const unsigned threads = std::max(1u, ctx.config.threads);
        const std::uint64_t allocs = 100 * p.load * (ctx.index % 8 + 1);
        tracked_heap<A> heap(shared.heap, ctx.meter);
        round_tables<A> tables(allocs);
        rng& r = ctx.random;

        ctx.start();
        for (std::uint64_t n = 0; n < p.rounds; ++n) {
            const std::size_t lane = (ctx.index + n) % threads;
            std::thread([&] { round(heap, r, p, tables, shared.slots, lane, threads, allocs); }).join();
            // Between rounds, as the suite's main thread does: about half of this round's lane
            // freed here, by a thread that allocated none of it.
            const bool last = n + 1 == p.rounds;
            for (std::size_t i = lane; i < shared.slots.size(); i += threads) {
                block_of<A>& b = shared.slots[i];
                if ((r.below(100) < p.sweep_percent || last) && b.p != nullptr) {
                    heap.free(b);
                    b.p = nullptr;
                }
            }
            if (last) break;
            // Lane (w + n) passes to worker w - 1 next round: wait until every worker is done with this one.
            shared.arrived.fetch_add(1, std::memory_order_acq_rel);
            while (shared.arrived.load(std::memory_order_acquire) < threads * (n + 1)) ctx.pause();
        }
        ctx.stop();
    }
};

}  // namespace allocmeter
