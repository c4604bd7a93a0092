// The shared conformance suite, as a typed GoogleTest: every allocator and wrapper is run
// through the same checks, with a shadow model that records each live block, proves no two
// overlap, and verifies that each block's contents survive every other operation.
// conformance_test.cpp instantiates it over the list of allocators.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/rng.hpp"

namespace allocmeter::conformance {

/// Largest size the suite asks of an allocator: its max_size, capped to keep tests quick.
template <allocator A>
constexpr std::size_t largest_request(std::size_t cap = 1 << 20) {
    return std::min<std::size_t>(A::caps.max_size, cap);
}

/// Largest alignment the suite asks: max_align, capped at 4096.
template <allocator A>
constexpr std::size_t largest_align() {
    return std::min<std::size_t>(A::caps.max_align, 4096);
}

/// True when blocks can be freed in any order.
template <allocator A>
constexpr bool frees_any_order() {
    return A::caps.individual_free && !A::caps.lifo_free_only;
}

/// The shadow model: every live block with its fill byte. Overlap is checked on each
/// allocation; contents are checked on each free and on demand.
template <allocator A>
class shadow_heap {
public:
    struct live_block {
        void* p;
        std::size_t size;
        std::size_t align;
        unsigned char fill;
    };

    explicit shadow_heap(A& a) : a_(a) {}

    /// Allocates, checks alignment and overlap, fills; returns false when the allocator said no.
    bool allocate(std::size_t size, std::size_t align) {
        void* p = a_.allocate(size, align);
        if (p == nullptr) return false;
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << "size " << size << " align " << align;
        check_no_overlap(p, size);
        const auto fill = static_cast<unsigned char>(1 + next_fill_++ % 251);
        std::memset(p, fill, size);
        if (size != 0) by_address_[reinterpret_cast<std::uintptr_t>(p)] = size;
        blocks_.push_back({p, size, align, fill});
        return true;
    }

    /// Verifies and frees block i; blocks stay in allocation order, so index 0 is the
    /// oldest and the last index the newest.
    void free_at(std::size_t i) {
        const live_block b = blocks_[i];
        verify(b);
        if (b.size != 0) by_address_.erase(reinterpret_cast<std::uintptr_t>(b.p));
        a_.deallocate(b.p, b.size, b.align);
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
    }

    /// Frees the newest block (for LIFO-only allocators).
    void free_newest() { free_at(blocks_.size() - 1); }

    /// Every live block still holds its fill.
    void verify_all() const {
        for (const auto& b : blocks_) verify(b);
    }

    /// Forgets every block (after the allocator's reset()).
    void forget_all() {
        blocks_.clear();
        by_address_.clear();
    }

    std::vector<live_block>& blocks() { return blocks_; }

private:
    static void verify(const live_block& b) {
        const auto* bytes = static_cast<const unsigned char*>(b.p);
        for (std::size_t i = 0; i < b.size; ++i) {
            if (bytes[i] != b.fill) {
                ADD_FAILURE() << "block " << b.p << " (" << b.size << " B) changed at byte " << i;
                return;
            }
        }
    }

    void check_no_overlap(void* p, std::size_t size) const {
        if (size == 0) return;
        const auto start = reinterpret_cast<std::uintptr_t>(p);
        auto next = by_address_.lower_bound(start);
        if (next != by_address_.end()) {
            EXPECT_GE(next->first, start + size) << "new block " << p << " overlaps a live block";
        }
        if (next != by_address_.begin()) {
            const auto prev = std::prev(next);
            EXPECT_LE(prev->first + prev->second, start) << "new block " << p << " overlaps a live block";
        }
    }

    A& a_;
    std::vector<live_block> blocks_;
    std::map<std::uintptr_t, std::size_t> by_address_;
    unsigned next_fill_ = 0;
};

template <class A>
class conformance : public ::testing::Test {
protected:
    std::unique_ptr<A> a = std::make_unique<A>();
    shadow_heap<A> heap{*a};

    /// Releases every live block the way this allocator can: frees (newest first), or reset.
    void release_everything() {
        if constexpr (A::caps.individual_free) {
            while (!heap.blocks().empty()) heap.free_newest();
        } else if constexpr (A::caps.reset) {
            heap.verify_all();
            a->reset();
            heap.forget_all();
        }
    }
};

TYPED_TEST_SUITE_P(conformance);

// Every power-of-two alignment from 1 to 4096 (or max_align) gives aligned, writable blocks.
TYPED_TEST_P(conformance, AlignmentsOneTo4096) {
    using A = TypeParam;
    for (std::size_t align = 1; align <= largest_align<A>(); align *= 2)
        for (std::size_t size : {std::size_t{1}, std::size_t{24}, align, align + 8})
            if (size <= largest_request<A>()) {
                EXPECT_TRUE(this->heap.allocate(size, align)) << size << "/" << align;
            }
    this->heap.verify_all();
    this->release_everything();
}

// Size 0 gives a non-null, aligned pointer that can be given back.
TYPED_TEST_P(conformance, SizeZero) {
    using A = TypeParam;
    EXPECT_TRUE(this->heap.allocate(0, 1));
    EXPECT_TRUE(this->heap.allocate(0, 16));
    EXPECT_TRUE(this->heap.allocate(8, 8));
    EXPECT_TRUE(this->heap.allocate(0, std::min<std::size_t>(64, largest_align<A>())));
    this->release_everything();
}

// Sizes just below, at and above every power of two (class and chunk boundaries) up to 1 MiB.
TYPED_TEST_P(conformance, SizesAcrossBoundaries) {
    using A = TypeParam;
    for (std::size_t p = 8; p <= largest_request<A>(); p *= 2)
        for (std::size_t size : {p - 1, p, p + 1, p + p / 2})
            if (size <= largest_request<A>()) {
                EXPECT_TRUE(this->heap.allocate(size, 8)) << size;
            }
    this->heap.verify_all();
    this->release_everything();
}

// Requests above max_size and absurd sizes return nullptr and leave the allocator working.
TYPED_TEST_P(conformance, OversizeReturnsNull) {
    using A = TypeParam;
    if constexpr (A::caps.max_size != SIZE_MAX) {
        EXPECT_EQ(this->a->allocate(A::caps.max_size + 1, 8), nullptr);
    }
    volatile std::size_t huge = SIZE_MAX;  // volatile: the compiler must not see the absurd size
    EXPECT_EQ(this->a->allocate(huge, 8), nullptr);
    EXPECT_EQ(this->a->allocate(huge - 4096, 16), nullptr);
    EXPECT_TRUE(this->heap.allocate(64 <= largest_request<A>() ? 64 : 8, 8));
    this->release_everything();
}

// Blocks freed newest first (LIFO), oldest first (FIFO) and in random order; then reused.
TYPED_TEST_P(conformance, FreeOrders) {
    using A = TypeParam;
    if constexpr (!A::caps.individual_free) GTEST_SKIP() << "no individual free";
    rng r(42);
    for (int order = 0; order < 3; ++order) {
        if (order > 0 && A::caps.lifo_free_only) break;
        for (int i = 0; i < 300; ++i) ASSERT_TRUE(this->heap.allocate(r.log_uniform(1, largest_request<A>(4096)), 8));
        auto& blocks = this->heap.blocks();
        while (!blocks.empty()) {
            this->heap.free_at(order == 0 ? blocks.size() - 1 : order == 1 ? 0 : r.below(blocks.size()));
            if (blocks.size() % 32 == 0) this->heap.verify_all();
        }
    }
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(this->heap.allocate(48 <= largest_request<A>() ? 48 : 8, 16));
    this->release_everything();
}

// reset() releases everything; the allocator then serves again and reports no live blocks.
TYPED_TEST_P(conformance, ResetReleasesEverything) {
    using A = TypeParam;
    if constexpr (!A::caps.reset) {
        GTEST_SKIP() << "no reset";
    } else {
        for (int round = 0; round < 3; ++round) {
            for (int i = 0; i < 500; ++i)
                ASSERT_TRUE(this->heap.allocate(std::min<std::size_t>(16 + i % 200, largest_request<A>()), 16));
            this->heap.verify_all();
            this->a->reset();
            this->heap.forget_all();
            if constexpr (reports_stats<A>) {
                EXPECT_EQ(this->a->stats().blocks, 0u);
            }
        }
        EXPECT_TRUE(this->heap.allocate(std::min<std::size_t>(100, largest_request<A>()), 16));
        this->release_everything();
    }
}

// Seeded random operations (allocate, free in any permitted order, sometimes reset), with
// every block's contents and non-overlap checked throughout.
TYPED_TEST_P(conformance, RandomOperations) {
    using A = TypeParam;
    rng r(2024);
    const std::size_t max_live = 2000;
    for (int op = 0; op < 40000; ++op) {
        auto& blocks = this->heap.blocks();
        const bool can_free = A::caps.individual_free && !blocks.empty();
        if (can_free && (blocks.size() >= max_live || r.one_in(2))) {
            this->heap.free_at(A::caps.lifo_free_only ? blocks.size() - 1 : r.below(blocks.size()));
        } else if (A::caps.reset && (blocks.size() >= max_live || r.one_in(5000))) {
            this->heap.verify_all();
            if constexpr (A::caps.reset) this->a->reset();
            this->heap.forget_all();
        } else {
            const std::size_t align = std::size_t{1} << r.below(std::bit_width(largest_align<A>()));
            ASSERT_TRUE(this->heap.allocate(r.log_uniform(1, largest_request<A>(64 * 1024)), align));
        }
        if (op % 4096 == 0) this->heap.verify_all();
    }
    this->heap.verify_all();
    this->release_everything();
}

// The allocator's own counters agree with what was requested.
TYPED_TEST_P(conformance, StatsCountRequests) {
    using A = TypeParam;
    if constexpr (!reports_stats<A>) {
        GTEST_SKIP() << "no stats";
    } else {
        const allocator_stats before = this->a->stats();
        std::uint64_t requested = 0;
        for (int i = 0; i < 100; ++i) {
            const std::size_t size = std::min<std::size_t>(16 + i, largest_request<A>());
            ASSERT_TRUE(this->heap.allocate(size, 8));
            requested += size;
        }
        const allocator_stats s = this->a->stats();
        EXPECT_EQ(s.bytes_requested - before.bytes_requested, requested);
        EXPECT_EQ(s.blocks - before.blocks, 100u);
        EXPECT_GE(s.bytes_reserved, s.bytes_requested);
        EXPECT_GE(s.chunks, 1u);
        if constexpr (frees_any_order<A>()) {
            this->release_everything();
            EXPECT_EQ(this->a->stats().blocks, before.blocks);
            EXPECT_EQ(this->a->stats().bytes_requested, before.bytes_requested);
        }
        this->release_everything();
    }
}

REGISTER_TYPED_TEST_SUITE_P(conformance, AlignmentsOneTo4096, SizeZero, SizesAcrossBoundaries, OversizeReturnsNull,
                            FreeOrders, ResetReleasesEverything, RandomOperations, StatsCountRequests);

/// Threaded stress for thread-safe allocators: each thread allocates, fills, verifies, and
/// frees its own blocks and blocks other threads handed over (cross-thread frees).
template <class A>
class threaded_conformance : public ::testing::Test {};

TYPED_TEST_SUITE_P(threaded_conformance);

// 4 threads share one instance; a quarter of the blocks are freed by another thread.
TYPED_TEST_P(threaded_conformance, CrossThreadStress) {
    using A = TypeParam;
    static_assert(A::caps.thread_safe);
    A a;
    constexpr unsigned threads = 4;
    struct handed {
        void* p;
        std::size_t size;
        unsigned char fill;
    };
    std::mutex exchange_lock;
    std::vector<handed> exchange;
    std::atomic<unsigned> failures{0};
    const auto worker = [&](unsigned t) {
        rng r(7, t);
        std::vector<handed> mine;
        for (int op = 0; op < 20000; ++op) {
            if (mine.size() < 64 && !r.one_in(3)) {
                const std::size_t size = r.log_uniform(1, largest_request<A>(8192));
                void* p = a.allocate(size, 16);
                if (p == nullptr) {
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
                    if (exchange.size() < 8) continue;
                    b = exchange.front();
                    exchange.erase(exchange.begin());
                }
                const auto* bytes = static_cast<const unsigned char*>(b.p);
                for (std::size_t k = 0; k < b.size; ++k)
                    if (bytes[k] != b.fill) {
                        ++failures;
                        break;
                    }
                a.deallocate(b.p, b.size, 16);
            }
        }
        for (const handed& b : mine) a.deallocate(b.p, b.size, 16);
    };
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker, t);
    for (auto& th : pool) th.join();
    for (const handed& b : exchange) a.deallocate(b.p, b.size, 16);
    EXPECT_EQ(failures.load(), 0u);
}

REGISTER_TYPED_TEST_SUITE_P(threaded_conformance, CrossThreadStress);

}  // namespace allocmeter::conformance
