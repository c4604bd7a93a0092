// The classic benchmarks larson, xmalloc, sh6bench and sh8bench: each keeps its defining
// property as the allocator sees it (observing_allocator: which thread allocated and freed each
// block, the sizes), repeats its operation stream for a seed on every allocator, runs at 2 and
// 3 threads, and passes the block tags of a verified run at quick scale. The observer takes a
// lock and updates maps on every call (several microseconds under ASan), so all but the
// verified runs use small parameter sets.
#include <gtest/gtest.h>

#include <cstdint>
#include <unordered_map>

#include "allocators/locked_allocator.hpp"
#include "allocators/malloc_allocator.hpp"
#include "allocators/segregated_allocator.hpp"
#include "allocators/thread_cache_allocator.hpp"
#include "workloads/block_tag.hpp"
#include "workloads/classic/larson_workload.hpp"
#include "workloads/classic/sh6bench_workload.hpp"
#include "workloads/classic/sh8bench_workload.hpp"
#include "workloads/classic/xmalloc_workload.hpp"
#include "workloads/tests/observing_allocator.hpp"
#include "workloads/workload.hpp"

using namespace allocmeter;
using test_support::observation;
using test_support::observer;
using test_support::observing_allocator;

namespace {

constexpr std::uint64_t seed = 11;

workload_config quick(unsigned threads, std::uint64_t s = seed) { return {scale::quick, s, threads}; }

// The workloads at small parameter sets, each still long enough for its property: larson's
// 2,000 replacements of 100 slots miss a slot with probability 100 e^-20.
struct small_larson : larson_workload {
    static constexpr params small{.generations = 3, .slots = 100, .replacements = 2000};
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        run(ctx, shared, small);
    }
};
struct small_xmalloc : xmalloc_workload {
    static constexpr params small{.batches = 6, .batch_size = 2048, .batches_in_flight = 2};
    template <allocator A>
    struct shared_state : xmalloc_workload::shared_state<A> {
        explicit shared_state(const workload_config& c) : xmalloc_workload::shared_state<A>(c, small) {}
    };
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        run(ctx, shared, small);
    }
};
struct small_sh6bench : sh6bench_workload {
    static constexpr params small{.passes = 3};
    template <allocator A>
    static void run_thread(thread_context& ctx, no_shared_state& none) {
        run<A>(ctx, none, small);
    }
};
struct small_sh8bench : sh8bench_workload {
    static constexpr params small{.iterations = 24, .slots = 2000};
    template <allocator A>
    struct shared_state : sh8bench_workload::shared_state<A> {
        explicit shared_state(const workload_config& c) : sh8bench_workload::shared_state<A>(c, small) {}
    };
    template <allocator A>
    static void run_thread(thread_context& ctx, shared_state<A>& shared) {
        run(ctx, shared, small);
    }
};

/// Runs W on allocator A (the observing allocator unless named) and returns what it saw.
template <class W, class A = observing_allocator>
observation observe(unsigned threads) {
    observer::instance().reset();
    run_workload<W, A>(quick(threads));
    return observer::instance().seen();
}

/// The observing allocator, also noting whether each free follows the previous one in
/// allocation order (a younger block) or goes against it (an older one). One thread only.
class order_recorder {
public:
    static constexpr capabilities caps = observing_allocator::caps;

    struct counts {
        std::uint64_t younger = 0;  ///< frees of a block allocated after the one freed before it
        std::uint64_t older = 0;    ///< frees of a block allocated before it
    };
    static counts& seen() {
        static counts c;
        return c;
    }
    static void reset() {
        seen() = {};
        state() = {};
    }

    void* allocate(std::size_t size, std::size_t align) noexcept {
        void* p = inner_.allocate(size, align);
        state().serials[p] = ++state().allocated;
        return p;
    }
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        const auto it = state().serials.find(p);
        const std::uint64_t serial = it->second;
        state().serials.erase(it);
        if (state().last_freed != 0) ++(serial > state().last_freed ? seen().younger : seen().older);
        state().last_freed = serial;
        inner_.deallocate(p, size, align);
    }

private:
    struct record {
        std::unordered_map<const void*, std::uint64_t> serials;  // live block -> allocation number
        std::uint64_t allocated = 0;
        std::uint64_t last_freed = 0;
    };
    static record& state() {
        static record r;
        return r;
    }
    observing_allocator inner_;
};

/// Same seed, same stream on allocators A and B at `threads`: checksum, operations, and (on
/// one thread; several fold theirs into a shared total in batches) the peak.
template <class W, class A, class B>
void same_stream(unsigned threads) {
    SCOPED_TRACE(threads);
    const workload_result a = run_workload<W, A>(quick(threads));
    const workload_result b = run_workload<W, B>(quick(threads));
    EXPECT_EQ(a.checksum, b.checksum);
    EXPECT_EQ(a.ops, b.ops);
    EXPECT_GT(a.ops, 0u);
    if (threads == 1) {
        EXPECT_EQ(a.peak_live_bytes, b.peak_live_bytes);
    }
}

/// The stream at another seed: differs where W draws random numbers, else is the same.
template <class W>
bool seed_changes_stream(unsigned threads) {
    return run_workload<W, malloc_allocator>(quick(threads)).checksum !=
           run_workload<W, malloc_allocator>(quick(threads, seed + 1)).checksum;
}

}  // namespace

// larson: every generation is a thread of its own, and each block alive when a generation
// hands its array on is freed by a later thread, after its own has ended.
TEST(Larson, BlocksOutliveTheThreadThatAllocatedThem) {
    const auto p = small_larson::small;
    for (unsigned threads : {1u, 2u}) {
        SCOPED_TRACE(threads);
        const observation o = observe<small_larson>(threads);
        EXPECT_EQ(o.threads_allocating, threads * p.generations);
        EXPECT_EQ(o.allocations, threads * (p.slots + p.generations * p.replacements));
        EXPECT_EQ(o.frees, o.allocations);
        // Every slot is replaced in every generation, so each hand-over (the last one, to
        // the worker, included) passes exactly `slots` blocks on.
        EXPECT_EQ(o.remote_frees, threads * p.generations * p.slots);
        EXPECT_EQ(o.outlived, o.remote_frees);
        // Uniform sizes: about half in the lower half of 8-1000 B (4% is over 5 sigma).
        ASSERT_FALSE(o.sizes.empty());
        EXPECT_GE(o.sizes.begin()->first, 8u);
        EXPECT_LE(o.sizes.rbegin()->first, 1000u);
        EXPECT_NEAR(static_cast<double>(o.sizes_between(8, 503)) / o.allocations, 0.5, 0.04);
    }
}

TEST(Larson, SameSeedSameStream) {
    same_stream<small_larson, malloc_allocator, segregated_allocator<>>(1);
    same_stream<small_larson, malloc_allocator, thread_cache_allocator>(2);
    same_stream<small_larson, thread_cache_allocator, locked<segregated_allocator<>>>(3);
    EXPECT_TRUE(seed_changes_stream<small_larson>(1));
}

// At quick scale; each generation's thread cache is given back at its thread's exit.
TEST(Larson, VerifiedRunKeepsEveryTag) {
    const auto p = larson_workload::params::for_scale(scale::quick);
    EXPECT_EQ((run_workload<larson_workload, verified<thread_cache_allocator>>(quick(2)).ops),
              2 * 2 * (p.slots + p.generations * p.replacements));
}

// xmalloc: from two threads on, every block is freed by a thread that never allocates, and
// only the producers allocate; alone, the one thread frees its own batches.
TEST(Xmalloc, EveryFreeIsRemote) {
    const auto p = small_xmalloc::small;
    for (unsigned threads : {2u, 3u}) {
        SCOPED_TRACE(threads);
        const unsigned producers = (threads + 1) / 2;
        const observation o = observe<small_xmalloc>(threads);
        EXPECT_EQ(o.allocations, producers * p.batches * p.batch_size);
        EXPECT_EQ(o.frees, o.allocations);
        EXPECT_EQ(o.remote_frees, o.frees);
        EXPECT_EQ(o.threads_allocating, producers);
    }
    const observation alone = observe<small_xmalloc>(1);
    EXPECT_EQ(alone.frees, p.batches * p.batch_size);
    EXPECT_EQ(alone.remote_frees, 0u);
}

// The sizes are the original's 17, drawn uniformly: each within 15% of a 17th (over 4 sigma
// at 12,288 draws).
TEST(Xmalloc, SeventeenSizesUniform) {
    const observation o = observe<small_xmalloc>(1);
    EXPECT_EQ(o.sizes.size(), xmalloc_workload::sizes.size());
    for (const std::uint32_t size : xmalloc_workload::sizes) {
        SCOPED_TRACE(size);
        const auto it = o.sizes.find(size);
        ASSERT_NE(it, o.sizes.end());
        EXPECT_NEAR(static_cast<double>(it->second) * 17 / o.allocations, 1.0, 0.15);
    }
}

TEST(Xmalloc, SameSeedSameStream) {
    same_stream<small_xmalloc, malloc_allocator, segregated_allocator<>>(1);
    same_stream<small_xmalloc, malloc_allocator, thread_cache_allocator>(2);
    same_stream<small_xmalloc, thread_cache_allocator, locked<segregated_allocator<>>>(3);
    EXPECT_TRUE(seed_changes_stream<small_xmalloc>(2));
}

// At quick scale, three threads: worker 1 consumes two producers' batches.
TEST(Xmalloc, VerifiedRunKeepsEveryTag) {
    const auto p = xmalloc_workload::params::for_scale(scale::quick);
    EXPECT_EQ((run_workload<xmalloc_workload, verified<thread_cache_allocator>>(quick(3)).ops),
              2 * 2 * p.batches * p.batch_size);
}

// sh6bench: each pass allocates the original's schedule (19,300 blocks of 1-709 B, 18,750 of
// them under 100 B), and the buffer frees blocks both ways: in allocation order below the
// kept window, against it above (about half each, as the window walks the buffer in fifths).
TEST(Sh6bench, SizeScheduleAndBothFreeOrders) {
    const auto p = small_sh6bench::small;
    order_recorder::reset();
    const observation o = observe<small_sh6bench, order_recorder>(1);
    EXPECT_EQ(o.allocations, 19300 * p.passes);
    EXPECT_EQ(o.frees, o.allocations);
    EXPECT_EQ(o.sizes_between(1, 99), 18750 * p.passes);
    EXPECT_EQ(o.sizes.at(1), 3750 * p.passes);
    EXPECT_EQ(o.sizes.begin()->first, 1u);
    EXPECT_EQ(o.sizes.rbegin()->first, 709u);
    const order_recorder::counts order = order_recorder::seen();
    const double steps = static_cast<double>(order.younger + order.older);
    EXPECT_NEAR(order.younger / steps, 0.5, 0.1);
    EXPECT_NEAR(order.older / steps, 0.5, 0.1);
}

// sh6bench draws no random numbers (nor does the original): the seed leaves its stream alone.
TEST(Sh6bench, SameSeedSameStream) {
    same_stream<small_sh6bench, malloc_allocator, segregated_allocator<>>(1);
    same_stream<small_sh6bench, malloc_allocator, thread_cache_allocator>(2);
    same_stream<small_sh6bench, segregated_allocator<>, thread_cache_allocator>(3);
    EXPECT_FALSE(seed_changes_stream<small_sh6bench>(1));
}

TEST(Sh6bench, VerifiedRunKeepsEveryTag) {
    const auto p = sh6bench_workload::params::for_scale(scale::quick);
    EXPECT_EQ((run_workload<sh6bench_workload, verified<segregated_allocator<>>>(quick(1)).ops), 2 * 19300 * p.passes);
}

// sh8bench: the histogram's counts exactly (its 12 entries in turn), and from two threads on
// the foreign 8 B blocks, every one freed by another thread and nothing else freed remotely.
TEST(Sh8bench, HistogramAndForeignFrees) {
    const auto p = small_sh8bench::small;
    ASSERT_EQ(p.iterations % 12, 0u);
    const std::uint64_t rounds = p.iterations / 12;
    for (unsigned threads : {1u, 3u}) {
        SCOPED_TRACE(threads);
        const std::uint64_t foreign = threads > 1 ? threads * p.iterations * p.foreign_per_iteration : 0;
        const observation o = observe<small_sh8bench>(threads);
        EXPECT_EQ(o.sizes.size(), 12u);
        EXPECT_EQ(o.sizes.at(8), threads * rounds * 1000 + foreign);
        EXPECT_EQ(o.sizes.at(16), threads * rounds * 5000);
        EXPECT_EQ(o.sizes.at(4096), threads * rounds * 3);
        EXPECT_EQ(o.sizes.at(168524), threads * rounds);
        EXPECT_EQ(o.allocations, threads * rounds * 7321 + foreign);
        EXPECT_EQ(o.frees, o.allocations);
        EXPECT_EQ(o.remote_frees, foreign);
    }
}

// sh8bench draws no random numbers either: foreign blocks go to the other threads in turn.
TEST(Sh8bench, SameSeedSameStream) {
    same_stream<small_sh8bench, malloc_allocator, segregated_allocator<>>(1);
    same_stream<small_sh8bench, malloc_allocator, thread_cache_allocator>(2);
    same_stream<small_sh8bench, thread_cache_allocator, locked<segregated_allocator<>>>(3);
    EXPECT_FALSE(seed_changes_stream<small_sh8bench>(2));
}

TEST(Sh8bench, VerifiedRunKeepsEveryTag) {
    const auto p = sh8bench_workload::params::for_scale(scale::quick);
    const std::uint64_t per_thread = p.iterations / 12 * 7321 + p.iterations * p.foreign_per_iteration;
    EXPECT_EQ((run_workload<sh8bench_workload, verified<thread_cache_allocator>>(quick(2)).ops), 2 * 2 * per_thread);
}
