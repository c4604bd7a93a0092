// malloc-large and realloc-growth: each workload's defining property, seen by the observing
// allocator (what was allocated, resized and freed, and when), plus determinism across
// allocators, a verified run with block tags, and a run at two threads.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "allocators/malloc_allocator.hpp"
#include "allocators/segregated_allocator.hpp"
#include "workloads/block_tag.hpp"
#include "workloads/classic/malloc_large_workload.hpp"
#include "workloads/classic/realloc_growth_workload.hpp"
#include "workloads/tests/observing_allocator.hpp"
#include "workloads/workload.hpp"

using namespace allocmeter;
using test_support::observation;
using test_support::observer;
using test_support::observing_allocator;

namespace {

const workload_config quick1{scale::quick, 7, 1};
const workload_config quick2{scale::quick, 7, 2};

/// The observing allocator, and before each block is handed out a mark on every page (and
/// its last byte) that differs from what touch() writes there; at the free it counts the
/// marks still in place, pages the workload never wrote. It also keeps the blocks live per
/// thread (each thread frees its own here), and their peak over all threads.
class page_marking_allocator {
public:
    static constexpr capabilities caps = observing_allocator::caps;
    inline static std::atomic<std::uint64_t> pages{0}, unwritten{0}, thread_peak_live{0};

    static void reset() { pages = unwritten = thread_peak_live = 0; }

    void* allocate(std::size_t size, std::size_t align) noexcept {
        void* p = inner_.allocate(size, align);
        if (p == nullptr) return p;
        visit(p, size, [&](volatile unsigned char& b) { b = mark(size); });
        const std::uint64_t now = ++live_;
        for (std::uint64_t seen = thread_peak_live; now > seen && !thread_peak_live.compare_exchange_weak(seen, now);) {}
        return p;
    }
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        visit(p, size, [&](volatile unsigned char& b) {
            pages.fetch_add(1, std::memory_order_relaxed);
            if (b == mark(size)) unwritten.fetch_add(1, std::memory_order_relaxed);
        });
        --live_;
        inner_.deallocate(p, size, align);
    }

private:
    // touch(p, size, size) writes the low byte of the size; the mark is never that byte.
    static unsigned char mark(std::size_t size) noexcept { return static_cast<unsigned char>(size ^ 0x5a); }
    template <class F>
    static void visit(void* p, std::size_t size, F f) noexcept {
        auto* bytes = static_cast<volatile unsigned char*>(p);
        for (std::size_t off = 0; off < size; off += 4096) f(bytes[off]);
        f(bytes[size - 1]);
    }
    inline static thread_local std::uint64_t live_ = 0;
    observing_allocator inner_;
};

/// The observing allocator, and the history of every block: its sizes from the allocation
/// through each realloc, recorded at the free as one chain. A thread's live chains are its own
/// (each thread here frees what it allocated), so only the free takes a lock.
class growth_log_allocator {
public:
    static constexpr capabilities caps = observing_allocator::caps;

    /// Every freed block's sizes, in order.
    static std::vector<std::vector<std::size_t>>& chains() {
        static std::vector<std::vector<std::size_t>> c;
        return c;
    }
    static void reset() {
        std::lock_guard lock(mutex_);
        chains().clear();
    }

    void* allocate(std::size_t size, std::size_t align) noexcept {
        void* p = inner_.allocate(size, align);
        if (p != nullptr) live_[p] = {size};
        return p;
    }
    void* reallocate(void* p, std::size_t old_size, std::size_t new_size, std::size_t align) noexcept {
        void* q = inner_.reallocate(p, old_size, new_size, align);
        if (q == nullptr) return q;
        auto node = live_.extract(p);
        node.mapped().push_back(new_size);
        node.key() = q;
        live_.insert(std::move(node));
        return q;
    }
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        auto node = live_.extract(p);
        {
            std::lock_guard lock(mutex_);
            chains().push_back(std::move(node.mapped()));
        }
        inner_.deallocate(p, size, align);
    }

private:
    inline static std::mutex mutex_;
    inline static thread_local std::unordered_map<void*, std::vector<std::size_t>> live_;
    observing_allocator inner_;
};

using large = malloc_large_workload;
using growth = realloc_growth_workload;

/// What a buffer's chain of sizes shows it was.
enum class chain_kind { never_grew, shrunk_only, doubling, half_again, appending, neither };

/// Classifies a chain: growth steps that all follow one geometric rule (x2, or +1/2, capped at
/// max_bytes), else all small appends (1 B to append_max, the last one cut to the length); a
/// vector's chain may end in one shrink (shrunk_only: a vector whose first capacity held it).
chain_kind classify(const std::vector<std::size_t>& c, const growth::params& p, bool& shrunk) {
    shrunk = false;
    std::size_t steps = c.size() - 1;
    if (steps == 0) return chain_kind::never_grew;
    const auto all = [&](auto rule) {
        for (std::size_t i = 1; i <= steps; ++i)
            if (!rule(c[i - 1], c[i])) return false;
        return true;
    };
    const bool ends_shrunk = c[steps] < c[steps - 1];
    if (ends_shrunk && steps == 1) return shrunk = true, chain_kind::shrunk_only;
    if (ends_shrunk) --steps;
    const auto doubles = [](std::size_t a, std::size_t b) { return b == std::min(a * 2, growth::max_bytes); };
    const auto half_again = [](std::size_t a, std::size_t b) { return b == std::min(a + a / 2, growth::max_bytes); };
    // A shrink to fit lands above the capacity before the last growth (else that one would have held it).
    const bool shrink_fits = !ends_shrunk || c[steps + 1] > c[steps - 1];
    if (shrink_fits && all(doubles)) return shrunk = ends_shrunk, chain_kind::doubling;
    if (shrink_fits && all(half_again)) return shrunk = ends_shrunk, chain_kind::half_again;
    if (ends_shrunk) return chain_kind::neither;
    if (all([&](std::size_t a, std::size_t b) { return b > a && b - a <= p.append_max; })) return chain_kind::appending;
    return chain_kind::neither;
}

}  // namespace

// At two threads, each with its own slots: every block is 5-25 MiB with every page written;
// each step replaces a random slot's block, the new one made before the old one is freed, so
// a thread has at most slots + 1 live, a bound that bites because quick scale takes more steps
// (6) than that (5); each thread frees its own blocks, all by the end.
TEST(MallocLarge, LargeBlocksFewLiveEveryPageWritten) {
    const auto p = large::params::for_scale(scale::quick);
    ASSERT_GT(p.replacements, p.buffers + 1) << "quick scale must overfill the slots for the bound to bite";
    observer::instance().reset();
    page_marking_allocator::reset();
    const workload_result r = run_workload<large, page_marking_allocator>(quick2);
    const observation o = observer::instance().seen();

    EXPECT_EQ(o.threads_allocating, 2u);
    EXPECT_EQ(o.allocations, 2 * p.replacements);
    EXPECT_EQ(o.sizes_between(large::min_bytes, large::max_bytes), o.allocations);
    // Uniform over 5-25 MiB: all 12 draws in one half of the range has probability 2^-11.
    EXPECT_LT(o.sizes.begin()->first, std::size_t{15} << 20);
    EXPECT_GT(o.sizes.rbegin()->first, std::size_t{15} << 20);
    EXPECT_LE(page_marking_allocator::thread_peak_live.load(), p.buffers + 1);
    EXPECT_GE(page_marking_allocator::thread_peak_live.load(), 2u);
    EXPECT_LE(o.peak_live, 2 * (p.buffers + 1));
    EXPECT_EQ(o.frees, o.allocations);
    EXPECT_EQ(o.remote_frees, 0u);
    EXPECT_EQ(o.live, 0u);
    EXPECT_EQ(o.reallocs, 0u);
    EXPECT_EQ(r.ops, o.allocations + o.frees);
    // Pages: at least 5 MiB / 4 KiB marks per block, and touch() wrote every one.
    EXPECT_GE(page_marking_allocator::pages.load(), o.allocations * (large::min_bytes / 4096));
    EXPECT_EQ(page_marking_allocator::unwritten.load(), 0u);
}

// One seed: the same stream on malloc and on a verified segregated (large blocks on their own
// mappings, every block's tag checked when it dies); another seed differs.
TEST(MallocLarge, DeterministicAcrossAllocatorsAndVerified) {
    const auto m = run_workload<large, malloc_allocator>(quick1);
    const auto v = run_workload<large, verified<segregated_allocator<>>>(quick1);
    EXPECT_EQ(m.ops, 2 * large::params::for_scale(scale::quick).replacements);
    EXPECT_EQ(m.checksum, v.checksum);
    EXPECT_EQ(m.ops, v.ops);
    EXPECT_EQ(m.peak_live_bytes, v.peak_live_bytes);
    EXPECT_NE(m.checksum, (run_workload<large, segregated_allocator<>>({scale::quick, 8, 1}).checksum));
}

// At two threads, each growing its own buffers: buffers grow by realloc, each by one rule,
// vectors x2 or x1.5 (capped at max_bytes), a quarter of them shrunk to fit, strings by appends
// of at most append_max. Both kinds are common, final sizes run from under 4 KiB to the cap,
// and reallocs far outnumber allocations. The same run repeats on another allocator.
TEST(ReallocGrowth, GeometricAndAdditiveGrowthByRealloc) {
    const auto p = growth::params::for_scale(scale::quick);
    observer::instance().reset();
    growth_log_allocator::reset();
    const workload_result r = run_workload<growth, growth_log_allocator>(quick2);
    const observation o = observer::instance().seen();

    EXPECT_EQ(o.threads_allocating, 2u);
    EXPECT_EQ(o.allocations, 2 * (p.buffers + p.growing));  // each completed buffer's successor, and the first ones
    EXPECT_EQ(o.frees, o.allocations);
    EXPECT_EQ(o.remote_frees, 0u);
    EXPECT_EQ(o.live, 0u);
    EXPECT_EQ(r.ops, o.allocations + o.reallocs + o.frees);
    EXPECT_EQ(o.sizes_between(growth::max_bytes + 1, SIZE_MAX), 0u);
    EXPECT_GT(o.sizes_between(growth::max_bytes, growth::max_bytes), 0u);  // some vector reached the cap
    const workload_result again = run_workload<growth, verified<segregated_allocator<>>>(quick2);
    EXPECT_EQ(again.checksum, r.checksum);
    EXPECT_EQ(again.ops, r.ops);

    const auto& chains = growth_log_allocator::chains();
    ASSERT_EQ(chains.size(), o.allocations);
    std::uint64_t kinds[6] = {}, shrunk = 0, steps = 0, small_final = 0, large_final = 0, string_over = 0;
    for (const auto& c : chains) {
        bool s = false;
        const chain_kind k = classify(c, p, s);
        ++kinds[static_cast<int>(k)];
        shrunk += s;
        steps += c.size() - 1;
        small_final += c.back() < 4096;
        large_final += c.back() > growth::max_bytes / 4;
        string_over += k == chain_kind::appending && c.back() > p.string_max_bytes;
    }
    const std::uint64_t doubling = kinds[static_cast<int>(chain_kind::doubling)];
    const std::uint64_t half_again = kinds[static_cast<int>(chain_kind::half_again)];
    const std::uint64_t appending = kinds[static_cast<int>(chain_kind::appending)];
    const std::uint64_t vectors = doubling + half_again + kinds[static_cast<int>(chain_kind::shrunk_only)];
    const std::uint64_t grew = vectors + appending;
    EXPECT_EQ(kinds[static_cast<int>(chain_kind::neither)], 0u);
    EXPECT_EQ(steps, o.reallocs);
    EXPECT_EQ(string_over, 0u);
    // Half the buffers are vectors, half of those x2: with ~400 buffers (two threads) the
    // standard deviation of a share is 2.5 points (3.5 for the x2 share of ~200 vectors), so
    // 15 points either side is four standard deviations or more.
    EXPECT_NEAR(static_cast<double>(vectors) / static_cast<double>(grew), 0.5, 0.15);
    EXPECT_NEAR(static_cast<double>(doubling) / static_cast<double>(doubling + half_again), 0.5, 0.15);
    // A quarter of the vectors shrink to fit (one whose capacity equals its length cannot);
    // over ~200 vectors the standard deviation is about 3 points.
    EXPECT_NEAR(static_cast<double>(shrunk) / static_cast<double>(vectors), 0.25, 0.12);
    EXPECT_GT(small_final, chains.size() / 10);
    EXPECT_GT(large_final, 0u);  // above 1/4 of the cap
    // A string takes about 45 appends (mean length ~8 KiB, mean append ~180 B), a vector about
    // 9 growths: some 27 reallocs a buffer, which 10 leaves room under.
    EXPECT_GT(o.reallocs, 10 * o.allocations);
}

// One seed: the same stream on malloc (its realloc) and on a verified segregated (allocate,
// copy, free, each block's tag checked); another seed differs.
TEST(ReallocGrowth, DeterministicAcrossAllocatorsAndVerified) {
    const auto m = run_workload<growth, malloc_allocator>(quick1);
    const auto v = run_workload<growth, verified<segregated_allocator<>>>(quick1);
    EXPECT_EQ(m.checksum, v.checksum);
    EXPECT_EQ(m.ops, v.ops);
    EXPECT_EQ(m.peak_live_bytes, v.peak_live_bytes);
    EXPECT_NE(m.checksum, (run_workload<growth, segregated_allocator<>>({scale::quick, 8, 1}).checksum));
}
