// What the allocator tests share: small checks (alignment, a block's fill, stats equality), the
// shadow heap that records every live block and proves blocks aligned, disjoint and intact, a
// seeded churn over it, and the cross-thread stress. conformance.hpp and the per-family tests
// both use them, so each check is written once.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/rng.hpp"

namespace allocmeter::test_helpers {

/// The largest size_t, for oversize and wrap-around cases.
inline constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

/// True when p is a multiple of align.
inline bool is_aligned(const void* p, std::size_t align) {
    return reinterpret_cast<std::uintptr_t>(p) % align == 0;
}

/// True when all n bytes at p equal tag.
inline bool holds(const void* p, std::size_t n, unsigned char tag) {
    const auto* b = static_cast<const unsigned char*>(p);
    return n == 0 || (b[0] == tag && std::memcmp(b, b + 1, n - 1) == 0);
}

/// Expects every counter of got to equal want's.
inline void expect_same(const allocator_stats& got, const allocator_stats& want) {
    EXPECT_EQ(got.bytes_requested, want.bytes_requested);
    EXPECT_EQ(got.bytes_reserved, want.bytes_reserved);
    EXPECT_EQ(got.chunks, want.chunks);
    EXPECT_EQ(got.blocks, want.blocks);
}

/// Expects a.allocate(size, align) to return nullptr for every size with every alignment.
template <allocator A>
void expect_refused(A& a, std::initializer_list<std::size_t> sizes, std::initializer_list<std::size_t> aligns) {
    for (std::size_t size : sizes)
        for (std::size_t align : aligns) {
            EXPECT_EQ(a.allocate(size, align), nullptr) << "size " << size << " align " << align;
        }
}

/// One request: a size and an alignment, and for a churn how many bytes the test writes.
struct request {
    std::size_t size;
    std::size_t align;
    std::size_t filled = 0;  ///< bytes written and checked, when more than size (a pool's whole block)
};

/// Allocates x, y, z with `first` (requests of one size class), frees y then z, and expects
/// `then` to get z, then y back (last in, first out), then a block that is none of the three.
template <allocator A>
void expect_reused_lifo(A& a, const std::array<request, 3>& first, const std::array<request, 3>& then) {
    void* x = a.allocate(first[0].size, first[0].align);
    void* y = a.allocate(first[1].size, first[1].align);
    void* z = a.allocate(first[2].size, first[2].align);
    a.deallocate(y, first[1].size, first[1].align);
    a.deallocate(z, first[2].size, first[2].align);
    EXPECT_EQ(a.allocate(then[0].size, then[0].align), z);
    EXPECT_EQ(a.allocate(then[1].size, then[1].align), y);
    void* fresh = a.allocate(then[2].size, then[2].align);
    EXPECT_NE(fresh, x);
    EXPECT_NE(fresh, y);
    EXPECT_NE(fresh, z);
}

/// expect_reused_lifo with every request the same.
template <allocator A>
void expect_reused_lifo(A& a, std::size_t size, std::size_t align) {
    const request r{size, align};
    expect_reused_lifo(a, {r, r, r}, {r, r, r});
}

/// For an allocator without individual free: deallocate changes nothing, so a freed block is not
/// handed out again and the counters still count it.
template <allocator A>
    requires reports_stats<A>
void expect_deallocate_is_noop(A& a) {
    const allocator_stats before = a.stats();
    void* p = a.allocate(64, 8);
    a.deallocate(p, 64, 8);
    EXPECT_NE(a.allocate(64, 8), p);
    EXPECT_EQ(a.stats().blocks, before.blocks + 2);
    EXPECT_EQ(a.stats().bytes_requested, before.bytes_requested + 128);
}

/// The shadow model: every live block with its fill byte. Alignment and overlap are checked on
/// each allocation (a zero-size block may share an address with a neighbour, never lie inside
/// one); contents are checked on each free and on demand.
template <allocator A>
class shadow_heap {
public:
    struct live_block {
        void* p;
        std::size_t size;    ///< what was requested and is passed back to deallocate
        std::size_t align;
        std::size_t filled;  ///< bytes the test writes and checks: size, or more (a pool's whole block)
        unsigned char fill;
    };

    /// `fill` 0 gives each block the next of 251 fill bytes in turn; another value gives every
    /// block that byte, so heaps over different instances tell their blocks apart.
    explicit shadow_heap(A& a, unsigned char fill = 0) : a_(a), fixed_fill_(fill) {}

    /// Allocates, checks alignment and overlap, fills `filled` bytes (at least size); returns
    /// false when the allocator said no.
    bool allocate(std::size_t size, std::size_t align, std::size_t filled = 0) {
        void* p = a_.allocate(size, align);
        if (p == nullptr) return false;
        const auto fill = fixed_fill_ != 0 ? fixed_fill_ : static_cast<unsigned char>(1 + next_fill_++ % 251);
        const live_block b{p, size, align, std::max(size, filled), fill};
        check_placement(b);
        std::memset(p, b.fill, b.filled);
        insert(b);
        return true;
    }

    /// Records a block the test allocated and filled itself (on other threads, say): checks its
    /// alignment, its overlap with every recorded block, and that it holds `fill`.
    void adopt(void* p, std::size_t size, std::size_t align, unsigned char fill) {
        const live_block b{p, size, align, size, fill};
        verify(b);
        check_placement(b);
        insert(b);
    }

    /// Verifies and frees block i; blocks stay in allocation order, so index 0 is the
    /// oldest and the last index the newest.
    void free_at(std::size_t i) {
        const live_block b = blocks_[i];
        verify(b);
        forget(b);
        a_.deallocate(b.p, b.size, b.align);
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
    }

    /// Frees the newest block (for LIFO-only allocators).
    void free_newest() { free_at(blocks_.size() - 1); }

    /// Verifies and frees every live block, newest first (valid for LIFO-only allocators too).
    void free_all() {
        while (!blocks_.empty()) free_newest();
    }

    /// Verifies every live block, resets the allocator, and forgets the blocks it released.
    void reset()
        requires resettable<A>
    {
        verify_all();
        a_.reset();
        forget_all();
    }

    /// Every live block still holds its fill.
    void verify_all() const {
        for (const auto& b : blocks_) verify(b);
    }

    /// Forgets every block (after the allocator's reset()).
    void forget_all() {
        blocks_.clear();
        by_address_.clear();
        zero_sized_.clear();
    }

    /// The sum of the live blocks' requested sizes.
    std::uint64_t requested_bytes() const {
        std::uint64_t sum = 0;
        for (const auto& b : blocks_) sum += b.size;
        return sum;
    }

    /// Expects the allocator's live counters to be the shadow's: a block and its size per live block.
    void expect_stats_match() const
        requires reports_stats<A>
    {
        EXPECT_EQ(a_.stats().blocks, blocks_.size());
        EXPECT_EQ(a_.stats().bytes_requested, requested_bytes());
    }

    std::vector<live_block>& blocks() { return blocks_; }

private:
    static void verify(const live_block& b) {
        const auto* bytes = static_cast<const unsigned char*>(b.p);
        for (std::size_t i = 0; i < b.filled; ++i) {
            if (bytes[i] != b.fill) {
                ADD_FAILURE() << "block " << b.p << " (" << b.size << " B) changed at byte " << i;
                return;
            }
        }
    }

    void check_placement(const live_block& b) const {
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.p) % b.align, 0u) << "size " << b.size << " align " << b.align;
        check_no_overlap(b.p, b.filled);
    }

    void insert(const live_block& b) {
        const auto start = reinterpret_cast<std::uintptr_t>(b.p);
        if (b.filled != 0) {
            by_address_[start] = b.filled;
        } else {
            zero_sized_.insert(start);
        }
        blocks_.push_back(b);
    }

    void forget(const live_block& b) {
        const auto start = reinterpret_cast<std::uintptr_t>(b.p);
        if (b.filled != 0) {
            by_address_.erase(start);
        } else {
            zero_sized_.erase(zero_sized_.find(start));
        }
    }

    void check_no_overlap(void* p, std::size_t size) const {
        const auto start = reinterpret_cast<std::uintptr_t>(p);
        auto next = by_address_.lower_bound(start);
        if (size != 0) {
            if (next != by_address_.end()) {
                EXPECT_GE(next->first, start + size) << "new block " << p << " overlaps a live block";
            }
            const auto inner = zero_sized_.upper_bound(start);
            if (inner != zero_sized_.end()) {
                EXPECT_GE(*inner, start + size) << "new block " << p << " holds a live zero-size block";
            }
        }
        if (next != by_address_.begin()) {
            const auto prev = std::prev(next);
            EXPECT_LE(prev->first + prev->second, start) << "new block " << p << " overlaps a live block";
        }
    }

    A& a_;
    std::vector<live_block> blocks_;
    std::map<std::uintptr_t, std::size_t> by_address_;  ///< start -> filled bytes, blocks of 1 B or more
    std::multiset<std::uintptr_t> zero_sized_;           ///< the zero-size blocks' addresses
    unsigned char fixed_fill_;
    unsigned next_fill_ = 0;
};

/// How often a churn frees: with probability num/den a step, and always once max_live blocks live.
struct free_rate {
    unsigned num = 1;
    unsigned den = 2;
    std::size_t max_live = kMax;
};

/// Seeded churn through the shadow heap: `ops` steps, each freeing a live block (a random one
/// drawn from rng, or the newest for a LIFO-only allocator) at `rate`, else allocating pick(),
/// which must succeed. Every free verifies the block's contents first.
template <allocator A, class Rng, class Pick>
void churn(shadow_heap<A>& heap, Rng& rng, int ops, Pick pick, free_rate rate = {}) {
    auto& live = heap.blocks();
    for (int op = 0; op < ops; ++op) {
        if (!live.empty() && (live.size() >= rate.max_live || rng() % rate.den < rate.num)) {
            heap.free_at(A::caps.lifo_free_only ? live.size() - 1 : rng() % live.size());
        } else {
            const request r = pick();
            ASSERT_TRUE(heap.allocate(r.size, r.align, r.filled))
                << "op " << op << ": size " << r.size << " align " << r.align;
        }
    }
}

/// The shape of a cross-thread stress.
struct stress_shape {
    unsigned threads = 4;
    int ops = 20000;              ///< per thread
    std::size_t keep = 64;        ///< a thread allocates while it holds fewer blocks
    std::size_t handed_over = 8;  ///< how many handed-over blocks wait before one is freed
};

/// Threads share one instance; each allocates (align 16), fills, and frees its own blocks, and a
/// quarter of them go through an exchange and are freed by another thread. Every block is checked
/// for alignment and for its fill before it is freed. `pick(rng&)` draws a size from the thread's
/// stream (seed 7, stream = thread); `joined()` runs after the threads are joined, before the
/// blocks left in the exchange are freed. Returns the number of failures (refused allocations,
/// misaligned or overwritten blocks).
template <allocator A, class Pick, class Joined>
unsigned cross_thread_stress(A& a, stress_shape shape, Pick pick, Joined joined) {
    static_assert(A::caps.thread_safe);
    constexpr std::size_t align = 16;
    struct handed {
        void* p;
        std::size_t size;
        unsigned char fill;
    };
    std::mutex exchange_lock;
    std::vector<handed> exchange;
    std::atomic<unsigned> failures{0};
    const auto check_and_free = [&](const handed& b) {
        if (!holds(b.p, b.size, b.fill)) ++failures;
        a.deallocate(b.p, b.size, align);
    };
    const auto worker = [&](unsigned t) {
        rng r(7, t);
        std::vector<handed> mine;
        for (int op = 0; op < shape.ops; ++op) {
            if (mine.size() < shape.keep && !r.one_in(3)) {
                const std::size_t size = pick(r);
                void* p = a.allocate(size, align);
                if (p == nullptr || !is_aligned(p, align)) {
                    ++failures;
                    continue;
                }
                const auto fill = static_cast<unsigned char>(1 + (t * 61 + op) % 251);
                std::memset(p, fill, size);
                mine.push_back({p, size, fill});
            } else if (!mine.empty()) {
                const std::size_t i = r.below(mine.size());
                handed b = mine[i];
                mine[i] = mine.back();
                mine.pop_back();
                if (r.one_in(4)) {
                    std::lock_guard lock(exchange_lock);
                    exchange.push_back(b);
                    if (exchange.size() < shape.handed_over) continue;
                    b = exchange.front();
                    exchange.erase(exchange.begin());
                }
                check_and_free(b);
            }
        }
        for (const handed& b : mine) check_and_free(b);
    };
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < shape.threads; ++t) pool.emplace_back(worker, t);
    for (auto& th : pool) th.join();
    joined();
    for (const handed& b : exchange) check_and_free(b);
    return failures.load();
}

}  // namespace allocmeter::test_helpers
