// Focused tests for stack_allocator: alignment with a header below each block, exact LIFO pops
// (padding included), markers, reset, bounds that must not wrap, stats, and the debug-build
// abort on a free that is not the newest live block.
#include "allocators/stack_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::stack_allocator;
using allocmeter::os::page_size;
using allocmeter::os::round_to_pages;

constexpr std::size_t kMiB = std::size_t{1} << 20;

static_assert(stack_allocator::caps.lifo_free_only && stack_allocator::caps.individual_free);
static_assert(stack_allocator::caps.reset && stack_allocator::caps.max_align == 4096);

// Every power-of-two alignment up to a page, and past it, yields an aligned, fully writable block.
TEST(StackAllocator, HonoursEveryAlignment) {
    stack_allocator a(8 * kMiB);
    shadow_heap heap(a);
    for (std::size_t align = 1; align <= (std::size_t{1} << 20); align *= 2) {
        ASSERT_TRUE(heap.allocate(1, 1));  // knock the top off alignment first
        ASSERT_TRUE(heap.allocate(align + 3, align)) << "align " << align;
    }
    heap.verify_all();
}

// A zero-size block is non-null, aligned, distinct from its neighbour, and pops like any other.
TEST(StackAllocator, ZeroSizeBlocksPop) {
    stack_allocator a(kMiB);
    void* p = a.allocate(0, 64);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(is_aligned(p, 64));
    void* q = a.allocate(0, 1);
    ASSERT_NE(q, nullptr);
    EXPECT_NE(p, q);
    EXPECT_EQ(a.stats().blocks, 2u);
    a.deallocate(q, 0, 1);
    a.deallocate(p, 0, 64);
    EXPECT_EQ(a.used(), 0u);
    EXPECT_EQ(a.stats().blocks, 0u);
}

// Freeing the top block restores the exact top, padding included, so the same address comes back.
TEST(StackAllocator, PopRestoresExactTop) {
    stack_allocator a(kMiB);
    ASSERT_NE(a.allocate(13, 1), nullptr);
    const std::size_t before = a.used();
    void* p = a.allocate(100, 512);  // forces padding above the header
    ASSERT_NE(p, nullptr);
    EXPECT_GE(a.used(), before + stack_allocator::header_size + 100);
    a.deallocate(p, 100, 512);
    EXPECT_EQ(a.used(), before);
    EXPECT_EQ(a.allocate(100, 512), p);
}

// Popping every block newest first brings the top back to zero and keeps the older contents.
TEST(StackAllocator, ReverseOrderFreesEverything) {
    stack_allocator a(4 * kMiB);
    shadow_heap heap(a);
    std::mt19937_64 rng(7);
    for (int i = 0; i < 2000; ++i) {
        const std::size_t size = rng() % 700;
        const std::size_t align = std::size_t{1} << (rng() % 8);
        ASSERT_TRUE(heap.allocate(size, align)) << "block " << i;
    }
    heap.free_all();
    EXPECT_EQ(a.used(), 0u);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
}

// Random pushes and pops in stack order never overlap: every live block keeps its pattern.
TEST(StackAllocator, RandomPushPopKeepsContents) {
    stack_allocator a(4 * kMiB);
    shadow_heap heap(a);
    std::mt19937_64 rng(99);
    const auto pick = [&rng] { return request{.size = rng() % 300, .align = 16}; };
    ASSERT_NO_FATAL_FAILURE(churn(heap, rng, 20000, pick, {.num = 2, .den = 5}));  // pops the newest
    heap.verify_all();
    heap.expect_stats_match();
}

// release(mark()) frees everything above the mark; nested markers unwind innermost first.
TEST(StackAllocator, MarkersReleaseEverythingAbove) {
    stack_allocator a(kMiB);
    void* base = a.allocate(40, 8);
    const auto outer = a.mark();
    void* p1 = a.allocate(10, 8);
    const auto inner = a.mark();
    void* p2 = a.allocate(20, 64);
    for (int i = 0; i < 50; ++i) ASSERT_NE(a.allocate(300, 16), nullptr);
    a.release(inner);
    EXPECT_EQ(a.used(), inner.top);
    EXPECT_EQ(a.stats().blocks, 2u);
    EXPECT_EQ(a.stats().bytes_requested, 50u);
    EXPECT_EQ(a.allocate(20, 64), p2);
    a.release(outer);
    EXPECT_EQ(a.stats().blocks, 1u);
    EXPECT_EQ(a.allocate(10, 8), p1);
    a.deallocate(p1, 10, 8);  // the marker restored the top block, so LIFO frees carry on
    a.deallocate(base, 40, 8);
    EXPECT_EQ(a.used(), 0u);
}

// reset frees everything at once: counters drop to zero and the first address comes back.
TEST(StackAllocator, ResetFreesEverything) {
    stack_allocator a(kMiB);
    void* first = a.allocate(100, 16);
    for (int i = 0; i < 100; ++i) ASSERT_NE(a.allocate(1000, 8), nullptr);
    const auto before = a.stats();
    a.reset();
    EXPECT_EQ(a.used(), 0u);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
    EXPECT_EQ(a.stats().bytes_reserved, before.bytes_reserved);  // pages stay mapped
    EXPECT_EQ(a.allocate(100, 16), first);
}

// A request past the capacity, near SIZE_MAX, or with an absurd alignment fails without wrapping.
TEST(StackAllocator, HugeRequestsDoNotWrap) {
    stack_allocator a(kMiB);
    EXPECT_EQ(a.allocate(kMiB, 1), nullptr);  // the header does not fit as well
    ASSERT_NE(a.allocate(24, 8), nullptr);
    const std::size_t used = a.used();
    expect_refused(a, {kMax, kMax - 1, kMax - 15, kMax - used, kMax / 2 + 1, kMiB}, {1, 16, 4096});
    EXPECT_EQ(a.allocate(1, std::size_t{1} << 63), nullptr);
    EXPECT_EQ(a.allocate(0, std::size_t{1} << 62), nullptr);
    EXPECT_EQ(a.used(), used);
    EXPECT_EQ(a.stats().blocks, 1u);
    void* last = a.allocate(kMiB - used - stack_allocator::header_size, 8);  // the exact fit
    ASSERT_NE(last, nullptr);
    EXPECT_EQ(a.used(), kMiB);
}

// A reservation that cannot be made leaves an empty allocator that serves nothing.
TEST(StackAllocator, FailedReservationServesNothing) {
    for (std::size_t capacity : {std::size_t{0}, kMax, kMax - page_size()}) {
        stack_allocator a(capacity);
        EXPECT_EQ(a.capacity(), 0u);
        EXPECT_EQ(a.allocate(0, 1), nullptr);
        EXPECT_EQ(a.stats().chunks, 0u);
    }
}

// Stats count live blocks and bytes; bytes_reserved is the page-rounded high-water top.
TEST(StackAllocator, StatsTrackLiveBlocksAndHighWater) {
    stack_allocator a(kMiB);
    EXPECT_EQ(a.stats().chunks, 1u);
    EXPECT_EQ(a.stats().bytes_reserved, 0u);
    void* p = a.allocate(10, 1);
    void* q = a.allocate(3 * page_size(), 64);
    EXPECT_EQ(a.stats().bytes_requested, 10 + 3 * page_size());
    EXPECT_EQ(a.stats().blocks, 2u);
    const std::uint64_t high = round_to_pages(a.used());
    EXPECT_EQ(a.stats().bytes_reserved, high);
    a.deallocate(q, 3 * page_size(), 64);
    EXPECT_EQ(a.stats().bytes_requested, 10u);
    EXPECT_EQ(a.stats().blocks, 1u);
    EXPECT_EQ(a.stats().bytes_reserved, high);  // the pages stay touched
    a.deallocate(p, 10, 1);
    EXPECT_EQ(a.stats().blocks, 0u);
}

// The default 1 GiB reservation is lazy: one small block accounts for one page.
TEST(StackAllocator, DefaultReservationIsLazy) {
    stack_allocator a;
    if (a.capacity() == 0) GTEST_SKIP() << "host refused a 1 GiB MAP_NORESERVE reservation";
    EXPECT_EQ(a.capacity(), std::size_t{1} << 30);
    ASSERT_NE(a.allocate(100, 16), nullptr);
    EXPECT_EQ(a.stats().bytes_reserved, page_size());
}

#ifndef NDEBUG
// In debug builds, freeing a block below the top aborts with the address and the expected top.
TEST(StackAllocatorDeathTest, FreeBelowTopAborts) {
    stack_allocator a(kMiB);
    void* older = a.allocate(32, 8);
    void* newer = a.allocate(32, 8);
    char expected[64];
    std::snprintf(expected, sizeof expected, "expected top %p", newer);
    EXPECT_DEATH(a.deallocate(older, 32, 8), "is not the newest live block.*" + std::string(expected));
}

// In debug builds, freeing the top block with a wrong size aborts and names both sizes.
TEST(StackAllocatorDeathTest, WrongSizeAborts) {
    stack_allocator a(kMiB);
    void* p = a.allocate(32, 8);
    EXPECT_DEATH(a.deallocate(p, 16, 8), "size 16.*has size 32");
}

// In debug builds, a block already popped (by free or by release) is no longer the top.
TEST(StackAllocatorDeathTest, FreeAfterReleaseAborts) {
    stack_allocator a(kMiB);
    const auto m = a.mark();
    void* p = a.allocate(32, 8);
    a.release(m);
    EXPECT_DEATH(a.deallocate(p, 32, 8), "is not the newest live block");
}
#endif

}  // namespace
