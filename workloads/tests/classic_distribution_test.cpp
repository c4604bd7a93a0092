// glibc-simple, glibc-thread, alloc-test and rptest: each one's defining property, checked from
// what an allocator saw (batch free order; the inverse-square and halving size laws; rptest's
// size law, written blocks and remote frees), and each one deterministic for a seed on malloc
// and on reference allocators, verified included.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "allocators/malloc_allocator.hpp"
#include "allocators/segregated_allocator.hpp"
#include "allocators/thread_cache_allocator.hpp"
#include "workloads/block_tag.hpp"
#include "workloads/classic/alloc_test_workload.hpp"
#include "workloads/classic/glibc_simple_workload.hpp"
#include "workloads/classic/glibc_thread_workload.hpp"
#include "workloads/classic/rptest_workload.hpp"
#include "workloads/classic/size_distributions.hpp"
#include "workloads/tests/observing_allocator.hpp"
#include "workloads/workload.hpp"

using namespace allocmeter;
using test_support::observation;
using test_support::observer;
using test_support::observing_allocator;

namespace {

const workload_config quick1{scale::quick, 7, 1, 0};
const workload_config quick2{scale::quick, 7, 2, 0};

/// Runs W on the observing allocator and returns what it saw.
template <class W>
observation observe(const workload_config& c) {
    observer::instance().reset();
    run_workload<W, observing_allocator>(c);
    return observer::instance().seen();
}

/// Allocations with a size in [lo, hi) as a share of all allocations.
double share(const observation& o, std::size_t lo, std::size_t hi) {
    return static_cast<double>(o.sizes_between(lo, hi - 1)) / static_cast<double>(o.allocations);
}

/// Four standard deviations of a share p estimated from n independent draws: the tolerance of
/// every distribution check here (a false failure about once in 16,000 checks).
double four_sigma(double p, double n) { return 4 * std::sqrt(p * (1 - p) / n); }

/// malloc that numbers its blocks in order of allocation (in a header before each) and logs
/// every allocation and free by number, for one thread: enough to see a batch's free order.
class numbering_allocator {
public:
    static constexpr capabilities caps{.individual_free = true, .reset = false, .thread_safe = false, .max_align = 16};
    struct event {
        bool alloc;
        std::uint32_t serial;
        std::uint32_t size;
    };
    static inline std::vector<event> log;

    void* allocate(std::size_t size, std::size_t) noexcept {
        auto* h = static_cast<std::uint64_t*>(std::malloc(size + 16));
        *h = next_++;
        log.push_back({true, static_cast<std::uint32_t>(*h), static_cast<std::uint32_t>(size)});
        return h + 2;
    }
    void deallocate(void* p, std::size_t size, std::size_t) noexcept {
        auto* h = static_cast<std::uint64_t*>(p) - 2;
        log.push_back({false, static_cast<std::uint32_t>(*h), static_cast<std::uint32_t>(size)});
        std::free(h);
    }

private:
    std::uint64_t next_ = 0;
};

/// What census_allocator counted.
struct census_counts {
    std::atomic<std::uint64_t> allocations{0}, frees{0}, remote_frees{0}, unwritten{0}, align8{0};
    std::atomic<std::uint64_t> size_sum{0}, above{0}, min_size{~std::uint64_t{0}}, max_size{0};
    std::uint64_t above_from = 0;  ///< sizes above this are counted in `above`
};

/// malloc that counts what a multithreaded test needs without a lock (the observer's one
/// mutex would serialise the threads): sizes and alignments asked for, frees by a thread other
/// than the allocating one (named in a header before each block), and blocks never written:
/// each new block is filled with a byte the workload never writes there (the complement of the
/// size's low byte, which touch() writes) and checked at its free, first and last byte.
class census_allocator {
public:
    static constexpr capabilities caps{.individual_free = true, .reset = false, .thread_safe = true, .max_align = 16};
    using counts = census_counts;
    static inline counts seen;
    static void reset(std::uint64_t above_from) {
        seen.allocations = seen.frees = seen.remote_frees = seen.unwritten = seen.align8 = 0;
        seen.size_sum = seen.above = seen.max_size = 0;
        seen.min_size = ~std::uint64_t{0};
        seen.above_from = above_from;
    }

    void* allocate(std::size_t size, std::size_t align) noexcept {
        auto* h = static_cast<std::uint32_t*>(std::malloc(size + 16));
        h[0] = me();
        std::memset(h + 4, poison(size), size);
        seen.allocations.fetch_add(1, std::memory_order_relaxed);
        seen.size_sum.fetch_add(size, std::memory_order_relaxed);
        if (size > seen.above_from) seen.above.fetch_add(1, std::memory_order_relaxed);
        if (align == 8) seen.align8.fetch_add(1, std::memory_order_relaxed);
        for (std::uint64_t m = seen.min_size.load(); size < m && !seen.min_size.compare_exchange_weak(m, size);) {
        }
        for (std::uint64_t m = seen.max_size.load(); size > m && !seen.max_size.compare_exchange_weak(m, size);) {
        }
        return h + 4;
    }
    void deallocate(void* p, std::size_t size, std::size_t) noexcept {
        auto* h = static_cast<std::uint32_t*>(p) - 4;
        const auto* b = static_cast<const unsigned char*>(p);
        seen.frees.fetch_add(1, std::memory_order_relaxed);
        if (h[0] != me()) seen.remote_frees.fetch_add(1, std::memory_order_relaxed);
        if (b[0] == poison(size) || b[size - 1] == poison(size)) seen.unwritten.fetch_add(1, std::memory_order_relaxed);
        std::free(h);
    }

private:
    static unsigned char poison(std::size_t size) { return static_cast<unsigned char>(~size); }
    static std::uint32_t me() {
        static std::atomic<std::uint32_t> next{1};
        thread_local const std::uint32_t id = next.fetch_add(1);
        return id;
    }
};

template <class W>
class classic_workloads : public ::testing::Test {};
using classic_types = ::testing::Types<glibc_simple_workload, glibc_thread_workload, alloc_test_workload, rptest_workload>;
TYPED_TEST_SUITE(classic_workloads, classic_types);

}  // namespace

// ---- glibc-simple ----

// The allocator sees batches of n same-size blocks, n in {25, 100, 400, 1600}, each freed
// first half oldest first, then the rest newest first; sizes 16, 32, 64 in equal numbers.
TEST(GlibcSimple, BatchesFreedHalfFifoHalfLifo) {
    numbering_allocator::log.clear();
    run_workload<glibc_simple_workload, numbering_allocator>(quick1);
    const auto& log = numbering_allocator::log;
    std::map<std::size_t, std::uint64_t> batches_by_length, blocks_by_size;
    std::uint64_t misordered = 0, mixed_sizes = 0;
    for (std::size_t i = 0; i < log.size();) {
        std::size_t n = 0;
        while (i + n < log.size() && log[i + n].alloc) ++n;
        ASSERT_GT(n, 0u) << "a free before any allocation of its batch, event " << i;
        ASSERT_LE(i + 2 * n, log.size());
        const std::uint32_t first = log[i].serial;
        for (std::size_t k = 0; k < n; ++k) {
            // Free k is block k for the first half, then block n - 1 - (k - n/2).
            const std::size_t expect = k < n / 2 ? k : n - 1 - (k - n / 2);
            if (log[i + n + k].alloc || log[i + n + k].serial != first + expect) ++misordered;
            if (log[i + k].size != log[i].size) ++mixed_sizes;
        }
        ++batches_by_length[n];
        blocks_by_size[log[i].size] += n;
        i += 2 * n;
    }
    EXPECT_EQ(misordered, 0u);
    EXPECT_EQ(mixed_sizes, 0u);
    const auto p = glibc_simple_workload::params::for_scale(scale::quick);
    for (const std::size_t n : glibc_simple_workload::batches)
        EXPECT_EQ(batches_by_length[n], 3 * (p.blocks_per_pair / n)) << n;
    EXPECT_EQ(batches_by_length.size(), 4u);
    for (const std::size_t size : glibc_simple_workload::sizes) EXPECT_EQ(blocks_by_size[size], blocks_by_size[16]) << size;
    EXPECT_EQ(blocks_by_size.size(), 3u);
}

// ---- glibc-thread ----

// Sizes follow glibc's inverse-square law over 4 B-32 KiB: each power-of-two band from [4, 8)
// to [128, 256) takes its predicted share (1/2, 1/4, ...), and sizes under 64 B about 93.8%.
// The sizes come from an 8000-entry table used in turn, so the tolerance is four standard
// deviations of a share estimated from 8000 draws.
TEST(GlibcThread, SizesFollowTheInverseSquareLaw) {
    const observation o = observe<glibc_thread_workload>(quick1);
    const double lo = glibc_thread_workload::min_size, hi = glibc_thread_workload::max_size;
    const double n = static_cast<double>(glibc_thread_workload::params::for_scale(scale::quick).size_table);
    for (std::size_t a = 4; a <= 128; a *= 2) {
        const double expected = inverse_square_share(lo, hi, a, 2 * a);
        EXPECT_NEAR(share(o, a, 2 * a), expected, four_sigma(expected, n)) << "[" << a << ", " << 2 * a << ")";
    }
    const double below_64 = inverse_square_share(lo, hi, 4, 64);
    EXPECT_NEAR(below_64, 0.9376, 0.0001);
    EXPECT_NEAR(share(o, 4, 64), below_64, four_sigma(below_64, n));
    EXPECT_GE(o.sizes.begin()->first, 4u);
    EXPECT_LE(o.sizes.rbegin()->first, 32768u);
    EXPECT_GT(o.sizes.rbegin()->first, 4096u);  // the tail is there: P(>4 KiB) over 8000 draws ~ 99.9%
    EXPECT_EQ(o.remote_frees, 0u);
    EXPECT_EQ(o.live, 0u);
    EXPECT_LE(o.peak_live, 1024u);  // the working set bounds the live blocks
}

// The law itself, from many draws: halving per doubling, a log-uniform draw would not.
TEST(SizeDistributions, InverseSquareHalvesPerDoubling) {
    rng r(3);
    constexpr int draws = 400000;
    std::map<int, int> band;
    for (int i = 0; i < draws; ++i) {
        const std::size_t s = inverse_square(r, 4, 32768);
        ASSERT_GE(s, 4u);
        ASSERT_LE(s, 32768u);
        ++band[std::bit_width(s) - 1];
    }
    for (int b = 2; b <= 9; ++b) {
        const double expected = inverse_square_share(4, 32768, std::ldexp(1.0, b), std::ldexp(1.0, b + 1));
        EXPECT_NEAR(band[b] / double{draws}, expected, four_sigma(expected, draws)) << b;
    }
}

// ---- alloc-test ----

// alloc-test's sizes: (4, 8] takes half, each doubling half the one below, (512, 1024] as
// much as (256, 512]; nothing outside 5 B-1 KiB. The observer saw hundreds of thousands of
// independent draws, so four standard deviations of each share is the tolerance.
TEST(AllocTest, SizesHalvePerDoubling) {
    const observation o = observe<alloc_test_workload>(quick1);
    const double n = static_cast<double>(o.allocations);
    ASSERT_GT(n, 100000);
    for (unsigned b = 0; b < alloc_test_workload::size_bands; ++b) {
        const std::size_t lo = std::size_t{4} << b;
        const double expected = std::ldexp(1.0, -static_cast<int>(b == alloc_test_workload::size_bands - 1 ? b : b + 1));
        EXPECT_NEAR(share(o, lo + 1, 2 * lo + 1), expected, four_sigma(expected, n)) << "(" << lo << ", " << 2 * lo << "]";
    }
    EXPECT_EQ(o.sizes.begin()->first, 5u);
    EXPECT_EQ(o.sizes.rbegin()->first, 1024u);
    EXPECT_EQ(o.remote_frees, 0u);
    EXPECT_EQ(o.live, 0u);
    // Half the 2^18 slots filled first, then toggles: the live count stays near half.
    EXPECT_NEAR(static_cast<double>(o.peak_live), 131072, 3000);
}

// The slot law: 80/20 six times over. The hottest group (0.0064% of the slots) takes 26.2% of
// the picks, the coldest (26.2% of the slots) 0.0064%; four standard deviations over 10^6 picks.
TEST(AllocTest, SlotsArePickedParetoHot) {
    const std::uint64_t slots = 1 << 18;
    const pareto_slots picker(slots);
    rng r(5);
    constexpr int picks = 1000000;
    std::vector<int> per_group(pareto_slots::groups, 0);
    for (int i = 0; i < picks; ++i) {
        const std::uint64_t s = picker.pick(r);
        ASSERT_LT(s, slots);
        unsigned g = 0;
        while (s >= picker.group_start(g + 1)) ++g;
        ++per_group[g];
    }
    const double binomial[pareto_slots::groups] = {0.262144, 0.393216, 0.24576, 0.08192, 0.01536, 0.001536, 0.000064};
    for (unsigned g = 0; g < pareto_slots::groups; ++g) {
        EXPECT_NEAR(per_group[g] / double{picks}, binomial[g], four_sigma(binomial[g], picks) + 1e-5) << g;
        const double span = static_cast<double>(picker.group_start(g + 1) - picker.group_start(g)) / slots;
        EXPECT_NEAR(span, binomial[pareto_slots::groups - 1 - g], 1e-4) << g;
    }
}

// ---- rptest ----

// At two threads: sizes in 8 B-16 KB with the linear-falloff mean (lo + range/6) and about 5.7%
// above the midpoint; a third of the small blocks asking 8-byte alignment; a third of all frees
// remote (every second loop hands over a batch as large as the loop's own allocations); every
// block written (first and last byte) before whichever thread frees it.
TEST(Rptest, SizesWrittenBlocksAndRemoteFrees) {
    const double lo = rptest_workload::min_size, range = rptest_workload::max_size - lo;
    census_allocator::reset(static_cast<std::uint64_t>(lo + range / 2));
    run_workload<rptest_workload, census_allocator>(quick2);
    const census_allocator::counts& o = census_allocator::seen;
    const double n = static_cast<double>(o.allocations.load());
    ASSERT_GT(n, 100000);
    // The size's standard deviation is range/6 (E[U^2] E[T^2] = 1/18), so 4 sigma of the mean is 4 range/(6 sqrt n).
    EXPECT_NEAR(static_cast<double>(o.size_sum.load()) / n, lo + range / 6, 4 * range / 6 / std::sqrt(n));
    // P(U T <= x) = x^2 - 2x ln x for U uniform and T of density 2(1 - t) on [0, 1].
    const auto below = [](double x) { return x * x - 2 * x * std::log(x); };
    const double upper_half = 1 - below(0.5);  // about 0.057
    EXPECT_NEAR(static_cast<double>(o.above.load()) / n, upper_half, four_sigma(upper_half, n));
    EXPECT_GE(o.min_size.load(), 8u);
    EXPECT_LE(o.max_size.load(), 16000u);
    EXPECT_GT(o.max_size.load(), 12000u);  // P(> 12000) ~ 0.6%: absent from 10^5 draws with odds ~ e^-600
    // Every third block under 4 KiB asks for 8-byte alignment; P(size < 4096) is about 0.76.
    const double small = below((4096 - lo) / range);
    EXPECT_NEAR(static_cast<double>(o.align8.load()) / n, small / 3, four_sigma(small / 3, n));
    // Loops draw their batch sizes independently (30-99 blocks, standard deviation 20 around
    // 64.5); over 2 x 1000 loops the remote share's standard deviation is about 0.0016, so
    // +-0.01 is six of them.
    EXPECT_NEAR(static_cast<double>(o.remote_frees.load()) / static_cast<double>(o.frees.load()), 1.0 / 3, 0.01);
    EXPECT_EQ(o.frees.load(), o.allocations.load());
    EXPECT_EQ(o.unwritten.load(), 0u);

    // At one thread nothing is handed over.
    census_allocator::reset(16000);
    run_workload<rptest_workload, census_allocator>(quick1);
    EXPECT_GT(census_allocator::seen.frees.load(), 0u);
    EXPECT_EQ(census_allocator::seen.remote_frees.load(), 0u);
}

// ---- all four ----

// One seed, one stream: the same checksum, count and peak on malloc and, verified (every block
// tagged and checked at its death), on the segregated reference allocator; another seed gives
// another stream, except for glibc-simple, which has no random element (as published).
TYPED_TEST(classic_workloads, SameSeedSameStreamOnEveryAllocator) {
    const auto a = run_workload<TypeParam, malloc_allocator>(quick1);
    const auto s = run_workload<TypeParam, verified<segregated_allocator<>>>(quick1);
    EXPECT_GT(a.ops, 0u);
    EXPECT_GT(a.peak_live_bytes, 0);
    EXPECT_EQ(a.checksum, s.checksum);
    EXPECT_EQ(a.ops, s.ops);
    EXPECT_EQ(a.peak_live_bytes, s.peak_live_bytes);
    const auto c = run_workload<TypeParam, malloc_allocator>({scale::quick, 8, 1, 0});
    if constexpr (std::is_same_v<TypeParam, glibc_simple_workload>)
        EXPECT_EQ(a.checksum, c.checksum);
    else
        EXPECT_NE(a.checksum, c.checksum);
}

// At two threads the summed stream is the same on malloc and on the thread-safe
// thread_cache_allocator; rptest, whose blocks cross threads, runs verified on malloc.
TYPED_TEST(classic_workloads, TwoThreadsSameStream) {
    using on_malloc = std::conditional_t<TypeParam::needs.cross_thread_free, verified<malloc_allocator>, malloc_allocator>;
    const auto a = run_workload<TypeParam, on_malloc>(quick2);
    const auto b = run_workload<TypeParam, thread_cache_allocator>(quick2);
    EXPECT_EQ(a.checksum, b.checksum);
    EXPECT_EQ(a.ops, b.ops);
}
