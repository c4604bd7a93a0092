// alloc-test: each thread owns a table of slots, half filled at the start; each step picks a
// slot with an 80/20 Pareto law applied six times over (a few hot slots take most steps) and
// frees its block if it holds one, else allocates one of 5 B-1 KiB, each power-of-two band
// half as likely as the one below; blocks are written when made and read before freed. Models
// OLogN Technologies' alloc-test ("Testing Memory Allocators: ptmalloc2 vs tcmalloc vs hoard vs
// jemalloc While Trying to Simulate Real-World Loads", ithare.com, 2018; in mimalloc-bench).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/classic/size_distributions.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

/// alloc-test's slot law: 80/20 applied six times. Group g (0..6) is chosen with probability
/// C(6,g) 0.2^g 0.8^(6-g) and spans the share of slots that group 6-g is chosen with, so the
/// hottest 0.0064% of slots take 26% of the picks and the coldest 26% of slots take 0.0064%.
class pareto_slots {
public:
    static constexpr unsigned groups = 7;

    /// `slots` >= 64, so every group holds a slot.
    explicit pareto_slots(std::uint64_t slots) {
        double share[groups];
        double choose = 1;  // C(6, g)
        for (unsigned g = 0; g < groups; ++g) {
            share[g] = choose * pow_int(0.2, g) * pow_int(0.8, groups - 1 - g);
            choose = choose * (groups - 1 - g) / (g + 1);
        }
        double cumulative = 0;
        start_[0] = 0;
        for (unsigned g = 0; g < groups; ++g) {
            cumulative += share[g];
            threshold_[g] = g + 1 == groups ? ~std::uint64_t{0} : static_cast<std::uint64_t>(cumulative * 0x1.0p32);
            const auto span = static_cast<std::uint64_t>(static_cast<double>(slots) * share[groups - 1 - g]);
            start_[g + 1] = g + 1 == groups ? slots : start_[g] + (span == 0 ? 1 : span);
        }
    }

    /// A slot in [0, slots): the high half of one draw picks the group, the low half the slot in it.
    std::uint64_t pick(rng& r) const noexcept {
        const std::uint64_t x = r.next();
        unsigned g = 0;
        while ((x >> 32) >= threshold_[g]) ++g;
        return start_[g] + (((x & 0xffffffffULL) * (start_[g + 1] - start_[g])) >> 32);
    }

    /// The first slot of group g (g = groups: the slot count).
    std::uint64_t group_start(unsigned g) const noexcept { return start_[g]; }

private:
    static constexpr double pow_int(double b, unsigned e) noexcept {
        double v = 1;
        while (e-- > 0) v *= b;
        return v;
    }
    std::uint64_t threshold_[groups];  // the group is the first whose threshold exceeds the high half
    std::uint64_t start_[groups + 1];
};

struct alloc_test_workload {
    static constexpr std::string_view name = "alloc-test";
    static constexpr std::string_view summary =
        "Pareto-hot slots toggled (free if held, else allocate 5 B-1 KiB, halving per size doubling), "
        "blocks written and read, freed by the allocating thread";
    static constexpr unsigned size_bands = 8;  // (4, 8] .. (512, 1024]
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = false,
                                          .max_request = 1024, .max_align = 16};

    struct params {
        std::uint64_t steps;                  ///< slot toggles per thread (one operation each)
        std::uint64_t total_slots = 1 << 18;  ///< slots over all threads, split evenly (as alloc-test)

        static params for_scale(scale s) { return {.steps = pick(s, 200000, 8000000, 80000000)}; }
        /// Each thread's share of the slots (at least 64).
        std::uint64_t slots_per_thread(unsigned threads) const noexcept {
            const std::uint64_t n = total_slots / (threads == 0 ? 1 : threads);
            return n < 64 ? 64 : n;
        }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"steps", p.steps, "slot toggles per thread: free the block there, or allocate one"},
                {"total_slots", p.total_slots, "slots over all threads (each thread's share half filled first)"},
                {"size_bands", size_bands, "power-of-two size bands (4, 8] .. (512, 1024], each half the one below"},
                {"pareto_levels", 6, "80/20 applied six times over to pick a slot"}};
    }

    /// Operations: one per allocation and one per free. The setup fill is timed with the
    /// steps (alloc-test reports both), and so is the final free of what is left.
    template <allocator A>
    static void run_thread(thread_context& ctx, no_shared_state&) {
        const params p = params::for_scale(ctx.config.size);
        const std::uint64_t n = p.slots_per_thread(ctx.config.threads);
        const pareto_slots picker(n);
        A instance;
        tracked_heap<A> heap(instance, ctx.meter);
        std::vector<block_of<A>> slots(n);  // value-initialised: p == nullptr, empty
        rng& r = ctx.random;

        ctx.start();
        std::uint64_t coin = 0;
        for (std::uint64_t i = 0; i < n; ++i) {
            if (i % 64 == 0) coin = r.next();
            if ((coin >> (i % 64)) & 1) slots[i] = heap.make(halving_bands(r, size_bands));
        }
        for (std::uint64_t step = 0; step < p.steps; ++step) {
            block_of<A>& slot = slots[picker.pick(r)];
            if (slot.p != nullptr) {
                heap.write(slot, step);
                heap.free(slot);
                slot.p = nullptr;
            } else {
                slot = heap.make(halving_bands(r, size_bands));
            }
        }
        for (const auto& b : slots)
            if (b.p != nullptr) heap.free(b);
        ctx.add_stats(instance);
        ctx.stop();
    }
};

}  // namespace allocmeter
