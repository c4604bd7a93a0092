// Focused tests for bump_allocator: every alignment, zero size, bounds checks that must not
// wrap, reset and checkpoint semantics, non-overlap, and the stats it reports.
#include "allocators/bump_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::bump_allocator;
using allocmeter::os::page_size;
using allocmeter::os::round_to_pages;

constexpr std::size_t kMiB = std::size_t{1} << 20;

// Alignments past the page size (64 KiB, 1 MiB) are honoured when the padding fits.
TEST(BumpAllocator, HonoursAlignmentPastPage) {
    bump_allocator a(8 * kMiB);
    shadow_heap heap(a);
    for (std::size_t align : {std::size_t{1} << 16, std::size_t{1} << 20}) {
        ASSERT_TRUE(heap.allocate(1, 1));  // knock the offset off alignment first
        ASSERT_TRUE(heap.allocate(100, align)) << "align " << align;
    }
    heap.verify_all();
}

// A zero-size request returns an aligned, non-null pointer and consumes only its padding.
TEST(BumpAllocator, ZeroSizeReturnsAlignedPointer) {
    bump_allocator a(kMiB);
    ASSERT_NE(a.allocate(3, 1), nullptr);
    void* p = a.allocate(0, 64);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(is_aligned(p, 64));
    const std::size_t used = a.used();
    EXPECT_EQ(a.allocate(0, 1), p);  // need not be unique: nothing was consumed
    EXPECT_EQ(a.used(), used);
    EXPECT_EQ(a.stats().blocks, 3u);
    EXPECT_EQ(a.stats().bytes_requested, 3u);
}

// A request larger than the capacity fails; an exact fit succeeds and then nothing more fits.
TEST(BumpAllocator, RequestBeyondCapacityFails) {
    bump_allocator a(kMiB);
    ASSERT_EQ(a.capacity(), kMiB);
    EXPECT_EQ(a.allocate(kMiB + 1, 1), nullptr);
    EXPECT_EQ(a.used(), 0u);
    void* p = a.allocate(kMiB, 1);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x11, kMiB);
    EXPECT_EQ(a.allocate(1, 1), nullptr);
    EXPECT_EQ(a.used(), kMiB);
}

// Sizes near SIZE_MAX and huge alignments fail instead of wrapping past the end.
TEST(BumpAllocator, HugeRequestsDoNotWrap) {
    bump_allocator a(kMiB);
    ASSERT_NE(a.allocate(24, 8), nullptr);
    const auto before = a.stats();
    const std::size_t used = a.used();
    expect_refused(a, {kMax, kMax - 1, kMax - 15, kMax - used, kMax - used + 1, kMax / 2 + 1}, {1, 16, 4096});
    EXPECT_EQ(a.allocate(1, std::size_t{1} << 63), nullptr);
    EXPECT_EQ(a.allocate(0, std::size_t{1} << 62), nullptr);  // user addresses are below 2^47
    EXPECT_EQ(a.used(), used);
    EXPECT_EQ(a.stats().blocks, before.blocks);
    EXPECT_EQ(a.stats().bytes_requested, before.bytes_requested);
}

// The capacity is rounded up to whole pages, all of them usable.
TEST(BumpAllocator, CapacityRoundedToPages) {
    bump_allocator a(1);
    ASSERT_EQ(a.capacity(), page_size());
    void* p = a.allocate(page_size(), 1);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x22, page_size());
}

// A reservation that cannot be made leaves an empty allocator that serves nothing, not even size 0.
TEST(BumpAllocator, FailedReservationServesNothing) {
    for (std::size_t capacity : {std::size_t{0}, kMax, kMax - page_size()}) {
        bump_allocator a(capacity);
        EXPECT_EQ(a.capacity(), 0u) << "capacity " << capacity;
        EXPECT_EQ(a.allocate(0, 1), nullptr);
        EXPECT_EQ(a.allocate(8, 8), nullptr);
        EXPECT_EQ(a.stats().chunks, 0u);
        EXPECT_EQ(a.stats().blocks, 0u);
    }
}

// The default 16 GiB reservation is lazy: one small block accounts for one page, not the region.
TEST(BumpAllocator, DefaultReservationIsLazy) {
    bump_allocator a;
    if (a.capacity() == 0) GTEST_SKIP() << "host refused a 16 GiB MAP_NORESERVE reservation";
    EXPECT_EQ(a.capacity(), std::size_t{16} << 30);
    ASSERT_NE(a.allocate(100, 16), nullptr);
    EXPECT_EQ(a.stats().bytes_reserved, page_size());
    EXPECT_EQ(a.stats().chunks, 1u);
}

// deallocate is a no-op: a freed block is not handed out again until reset or rollback.
TEST(BumpAllocator, DeallocateDoesNotReuse) {
    bump_allocator a(kMiB);
    expect_deallocate_is_noop(a);
}

// reset rewinds to the start: the first allocation after it gets the first address again.
TEST(BumpAllocator, ResetReusesMemory) {
    bump_allocator a(kMiB);
    void* first = a.allocate(100, 16);
    for (int i = 0; i < 100; ++i) ASSERT_NE(a.allocate(1000, 8), nullptr);
    const auto before = a.stats();
    EXPECT_EQ(before.blocks, 101u);
    EXPECT_EQ(before.bytes_requested, 100'100u);
    a.reset();
    const auto after = a.stats();
    EXPECT_EQ(after.blocks, 0u);
    EXPECT_EQ(after.bytes_requested, 0u);
    EXPECT_EQ(after.bytes_reserved, before.bytes_reserved);  // pages stay mapped
    EXPECT_EQ(a.used(), 0u);
    EXPECT_EQ(a.allocate(100, 16), first);
}

// rollback restores the address and the counters captured by mark().
TEST(BumpAllocator, RollbackRestoresAddressAndStats) {
    bump_allocator a(kMiB);
    ASSERT_NE(a.allocate(40, 8), nullptr);
    const auto cp = a.mark();
    const auto at_mark = a.stats();
    void* p = a.allocate(200, 32);
    for (int i = 0; i < 50; ++i) ASSERT_NE(a.allocate(300, 16), nullptr);
    a.rollback(cp);
    EXPECT_EQ(a.stats().blocks, at_mark.blocks);
    EXPECT_EQ(a.stats().bytes_requested, at_mark.bytes_requested);
    EXPECT_EQ(a.used(), cp.offset);
    EXPECT_EQ(a.allocate(200, 32), p);
}

// Nested marks unwind innermost first, each restoring its own position and counters.
TEST(BumpAllocator, NestedCheckpoints) {
    bump_allocator a(kMiB);
    const auto outer = a.mark();
    void* p1 = a.allocate(10, 8);
    const auto inner = a.mark();
    void* p2 = a.allocate(20, 64);
    ASSERT_NE(a.allocate(5000, 8), nullptr);
    a.rollback(inner);
    EXPECT_EQ(a.stats().blocks, 1u);
    EXPECT_EQ(a.stats().bytes_requested, 10u);
    EXPECT_EQ(a.allocate(20, 64), p2);
    a.rollback(outer);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.used(), 0u);
    EXPECT_EQ(a.allocate(10, 8), p1);
}

// Randomly sized and aligned blocks, size 0 among them, never overlap: each keeps its byte pattern to the end.
TEST(BumpAllocator, BlocksDoNotOverlap) {
    bump_allocator a(16 * kMiB);
    shadow_heap heap(a);
    std::mt19937_64 rng(42);
    for (int i = 0; i < 4000; ++i) {
        const std::size_t size = rng() % 600;
        const std::size_t align = std::size_t{1} << (rng() % 9);
        ASSERT_TRUE(heap.allocate(size, align)) << "block " << i;
    }
    heap.verify_all();
}

// bytes_requested sums the sizes; bytes_reserved is the page-rounded high-water offset, kept
// across rollback and reset because those pages stay touched.
TEST(BumpAllocator, StatsTrackRequestsAndHighWater) {
    bump_allocator a(kMiB);
    EXPECT_EQ(a.stats().bytes_reserved, 0u);
    EXPECT_EQ(a.stats().chunks, 1u);
    ASSERT_NE(a.allocate(10, 1), nullptr);
    ASSERT_NE(a.allocate(20, 8), nullptr);
    ASSERT_NE(a.allocate(3000, 64), nullptr);
    EXPECT_EQ(a.stats().bytes_requested, 3030u);
    EXPECT_EQ(a.stats().blocks, 3u);
    EXPECT_EQ(a.stats().bytes_reserved, round_to_pages(a.used()));
    const auto cp = a.mark();
    ASSERT_NE(a.allocate(3 * page_size(), 1), nullptr);
    const std::uint64_t high = round_to_pages(a.used());
    EXPECT_EQ(a.stats().bytes_reserved, high);
    a.rollback(cp);
    EXPECT_EQ(a.stats().bytes_requested, 3030u);
    EXPECT_EQ(a.stats().bytes_reserved, high);
    a.reset();
    EXPECT_EQ(a.stats().bytes_reserved, high);
    ASSERT_NE(a.allocate(10 * page_size(), 1), nullptr);
    EXPECT_EQ(a.stats().bytes_reserved, 10 * page_size());
}

}  // namespace
