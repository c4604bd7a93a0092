// The shared conformance suite, as a typed GoogleTest: every allocator and wrapper is run
// through the same checks, with the shadow model (test_helpers.hpp) that records each live
// block, proves no two overlap, and verifies that each block's contents survive every other
// operation. conformance_test.cpp instantiates it over the list of allocators.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <memory>

#include "allocators/adapter.hpp"
#include "allocators/tests/test_helpers.hpp"
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

using test_helpers::shadow_heap;

template <class A>
class conformance : public ::testing::Test {
protected:
    std::unique_ptr<A> a = std::make_unique<A>();
    shadow_heap<A> heap{*a};

    /// Releases every live block the way this allocator can: frees (newest first), or reset.
    void release_everything() {
        if constexpr (A::caps.individual_free) {
            heap.free_all();
        } else if constexpr (A::caps.reset) {
            heap.reset();
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
            this->heap.reset();
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
            if constexpr (A::caps.reset) this->heap.reset();
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

/// Threaded stress for thread-safe allocators (test_helpers::cross_thread_stress): each thread
/// allocates, fills, verifies, and frees its own blocks and blocks other threads handed over.
template <class A>
class threaded_conformance : public ::testing::Test {};

TYPED_TEST_SUITE_P(threaded_conformance);

// 4 threads share one instance; a quarter of the blocks are freed by another thread.
TYPED_TEST_P(threaded_conformance, CrossThreadStress) {
    using A = TypeParam;
    A a;
    const auto pick = [](rng& r) { return r.log_uniform(1, largest_request<A>(8192)); };
    EXPECT_EQ(test_helpers::cross_thread_stress(a, {}, pick, [] {}), 0u);
}

REGISTER_TYPED_TEST_SUITE_P(threaded_conformance, CrossThreadStress);

}  // namespace allocmeter::conformance
