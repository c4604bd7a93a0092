// Focused tests for buddy_allocator: power-of-two rounding, splitting down and coalescing back to
// a whole arena, XOR-related buddy addresses, merging only with a same-order buddy, internal
// fragmentation in the counters, growth to a second arena, the max_size boundary, and reset.
#include "allocators/buddy_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::allocator_stats;
using allocmeter::buddy_allocator;
using allocmeter::capabilities_consistent;

constexpr std::size_t kArena = 64 * 1024;
using small_buddy = buddy_allocator<kArena>;  // small arenas make exhaustion cheap to reach

std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// Requests round up to a power of two, at least the 32-byte minimum and at least the alignment.
static_assert(small_buddy::block_bytes(0, 1) == 32);
static_assert(small_buddy::block_bytes(32, 8) == 32);
static_assert(small_buddy::block_bytes(33, 8) == 64);
static_assert(small_buddy::block_bytes(100, 16) == 128);
static_assert(small_buddy::block_bytes(4096, 1) == 4096);
static_assert(small_buddy::block_bytes(4097, 1) == 8192);
static_assert(small_buddy::block_bytes(8, 4096) == 4096);
static_assert(buddy_allocator<>::caps.max_size == (std::size_t{16} << 20));
static_assert(buddy_allocator<>::caps.max_align == (std::size_t{16} << 20));
static_assert(small_buddy::caps.max_size == kArena && small_buddy::caps.individual_free);
static_assert(capabilities_consistent<small_buddy>());
static_assert(capabilities_consistent<buddy_allocator<4096, 16>>());

// Each block is a power of two, aligned to its own size, and the whole of it is writable.
TEST(BuddyAllocator, RoundsToNaturallyAlignedPowersOfTwo) {
    small_buddy a;
    for (std::size_t size : {1u, 31u, 33u, 100u, 1000u, 5000u}) {
        const std::size_t block = small_buddy::block_bytes(size, 1);
        const std::uint64_t before = a.bytes_in_blocks();
        void* p = a.allocate(size, 1);
        ASSERT_NE(p, nullptr) << "size " << size;
        EXPECT_EQ(a.bytes_in_blocks() - before, block) << "size " << size;
        EXPECT_EQ(addr(p) % block, 0u) << "size " << size;
        std::memset(p, 0x3C, block);
    }
}

// One minimum block splits the arena into one free block per order; freeing it coalesces back
// into a single arena-sized block, which allocate then hands out whole.
TEST(BuddyAllocator, SplitThenFullCoalesce) {
    small_buddy a;
    void* p = a.allocate(1, 1);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(addr(p) % kArena, 0u);  // the lowest half is kept at every split
    for (std::size_t bytes = 32; bytes < kArena; bytes *= 2)
        EXPECT_EQ(a.free_blocks_of_size(bytes), 1u) << "size " << bytes;
    EXPECT_EQ(a.free_blocks_of_size(kArena), 0u);
    a.deallocate(p, 1, 1);
    for (std::size_t bytes = 32; bytes < kArena; bytes *= 2)
        EXPECT_EQ(a.free_blocks_of_size(bytes), 0u) << "size " << bytes;
    EXPECT_EQ(a.free_blocks_of_size(kArena), 1u);
    EXPECT_EQ(a.allocate(kArena, 1), p);
    EXPECT_EQ(a.stats().chunks, 1u);
}

// The two halves of a split are buddies: their addresses differ exactly in the block-size bit.
TEST(BuddyAllocator, BuddyAddressesAreXorRelated) {
    small_buddy a;
    for (std::size_t bytes = 32; bytes <= kArena / 2; bytes *= 2) {
        void* lo = a.allocate(bytes, 1);
        void* hi = a.allocate(bytes, 1);
        ASSERT_NE(lo, nullptr);
        ASSERT_NE(hi, nullptr);
        EXPECT_EQ(addr(lo) ^ bytes, addr(hi)) << "size " << bytes;
        a.deallocate(lo, bytes, 1);
        a.deallocate(hi, bytes, 1);
        EXPECT_EQ(a.free_blocks_of_size(kArena), 1u) << "size " << bytes;
    }
}

// A free block merges only with a buddy of its own order: one split further down stays apart.
TEST(BuddyAllocator, MergesOnlyWithAWholeBuddy) {
    small_buddy a;
    void* x = a.allocate(64, 1);  // [0, 64)
    void* y = a.allocate(32, 1);  // [64, 96): x's buddy is now split
    ASSERT_EQ(addr(y), addr(x) + 64);
    const std::size_t free_128 = a.free_blocks_of_size(128);  // [128, 256) from the first split
    a.deallocate(x, 64, 1);
    EXPECT_EQ(a.free_blocks_of_size(64), 1u);  // x alone: no [0, 128) was formed
    EXPECT_EQ(a.free_blocks_of_size(128), free_128);
    a.deallocate(y, 32, 1);  // now [64, 128) re-forms and the whole chain merges
    EXPECT_EQ(a.free_blocks_of_size(kArena), 1u);
    EXPECT_EQ(a.free_blocks_of_size(64), 0u);
}

// The rounding shows as bytes_in_blocks above bytes_requested: 33 B costs a 64-byte block.
TEST(BuddyAllocator, InternalFragmentationIsVisible) {
    small_buddy a;
    void* p = a.allocate(33, 8);
    void* q = a.allocate(1025, 8);
    void* r = a.allocate(10, 4096);
    EXPECT_EQ(a.stats().bytes_requested, 33u + 1025u + 10u);
    EXPECT_EQ(a.bytes_in_blocks(), 64u + 2048u + 4096u);
    a.deallocate(q, 1025, 8);
    EXPECT_EQ(a.stats().bytes_requested, 43u);
    EXPECT_EQ(a.bytes_in_blocks(), 64u + 4096u);
    a.deallocate(p, 33, 8);
    a.deallocate(r, 10, 4096);
    EXPECT_EQ(a.bytes_in_blocks(), 0u);
}

// Exhausting an arena maps a second; when both empty, only one stays mapped.
TEST(BuddyAllocator, AddsASecondArenaOnExhaustion) {
    small_buddy a;
    void* first = a.allocate(kArena / 2, 1);
    void* second = a.allocate(kArena / 2, 1);
    expect_same(a.stats(), {.bytes_requested = kArena,
                            .bytes_reserved = a.mapping_bytes(),
                            .chunks = 1,
                            .blocks = 2});
    void* third = a.allocate(1, 1);
    ASSERT_NE(third, nullptr);
    EXPECT_EQ(a.stats().chunks, 2u);
    EXPECT_EQ(a.stats().bytes_reserved, 2 * a.mapping_bytes());
    EXPECT_NE(addr(third) & ~(kArena - 1), addr(first) & ~(kArena - 1));
    a.deallocate(third, 1, 1);  // the new arena is empty, and the only empty one: kept
    EXPECT_EQ(a.stats().chunks, 2u);
    a.deallocate(first, kArena / 2, 1);
    a.deallocate(second, kArena / 2, 1);  // a second empty arena: unmapped
    EXPECT_EQ(a.stats().chunks, 1u);
    EXPECT_EQ(a.free_blocks_of_size(kArena), 1u);
}

// Exactly the arena size (and alignment) is served; one byte more, or anything huge, is not.
TEST(BuddyAllocator, MaxSizeBoundary) {
    small_buddy a;
    EXPECT_EQ(a.allocate(kArena + 1, 1), nullptr);
    EXPECT_EQ(a.allocate(kMax, 1), nullptr);
    EXPECT_EQ(a.allocate(kMax - 31, 32), nullptr);
    EXPECT_EQ(a.allocate(1, kArena * 2), nullptr);
    expect_same(a.stats(), {});
    void* whole = a.allocate(kArena, 1);
    ASSERT_NE(whole, nullptr);
    std::memset(whole, 0x7E, kArena);
    void* aligned = a.allocate(1, kArena);
    ASSERT_NE(aligned, nullptr);
    EXPECT_EQ(addr(aligned) % kArena, 0u);
    EXPECT_EQ(a.stats().chunks, 2u);
    EXPECT_TRUE(holds(whole, kArena, 0x7E));
}

// reset frees every block; every arena stays mapped as one whole free block and serves again.
TEST(BuddyAllocator, ResetRestoresWholeArenas) {
    small_buddy a;
    std::vector<void*> blocks;
    for (int i = 0; i < 40; ++i) blocks.push_back(a.allocate(3000, 8));  // 4096-byte blocks
    a.deallocate(blocks[3], 3000, 8);
    a.deallocate(blocks[20], 3000, 8);
    ASSERT_EQ(a.stats().chunks, 3u);
    a.reset();
    expect_same(a.stats(), {.bytes_requested = 0,
                            .bytes_reserved = 3 * a.mapping_bytes(),
                            .chunks = 3,
                            .blocks = 0});
    EXPECT_EQ(a.bytes_in_blocks(), 0u);
    EXPECT_EQ(a.free_blocks_of_size(kArena), 3u);
    for (std::size_t bytes = 32; bytes < kArena; bytes *= 2) EXPECT_EQ(a.free_blocks_of_size(bytes), 0u);
    for (int i = 0; i < 3; ++i) ASSERT_NE(a.allocate(kArena, 1), nullptr);
    EXPECT_EQ(a.stats().chunks, 3u);
    // Stale free bits would let a freed block merge with a live buddy; freeing must still work.
    a.reset();
    void* p = a.allocate(32, 1);
    void* q = a.allocate(32, 1);
    a.deallocate(p, 32, 1);
    EXPECT_EQ(a.free_blocks_of_size(32), 1u);
    a.deallocate(q, 32, 1);  // whole again, but two empty arenas are already kept: unmapped
    EXPECT_EQ(a.free_blocks_of_size(kArena), 2u);
    EXPECT_EQ(a.stats().chunks, 2u);
}

// stats count live requested bytes and blocks; size 0 gets a minimum block of its own.
TEST(BuddyAllocator, StatsTrackLiveBlocks) {
    buddy_allocator<> a;
    expect_same(a.stats(), {});
    void* z = a.allocate(0, 1);
    void* p = a.allocate(100, 64);
    ASSERT_NE(z, nullptr);
    EXPECT_NE(z, p);
    expect_same(a.stats(), {.bytes_requested = 100,
                            .bytes_reserved = a.mapping_bytes(),
                            .chunks = 1,
                            .blocks = 2});
    EXPECT_GE(a.mapping_bytes(), buddy_allocator<>::arena_bytes);
    a.deallocate(z, 0, 1);
    a.deallocate(nullptr, 8, 8);  // ignored, as with free()
    a.deallocate(p, 100, 64);
    expect_same(a.stats(), {.bytes_requested = 0,
                            .bytes_reserved = a.mapping_bytes(),
                            .chunks = 1,
                            .blocks = 0});
}

// Random sizes and alignments under churn: blocks keep their contents, and freeing everything
// coalesces back to one whole arena.
TEST(BuddyAllocator, ChurnKeepsContentsAndCoalescesFully) {
    buddy_allocator<256 * 1024> a;
    shadow_heap heap(a);
    std::mt19937_64 rng(7);
    const auto pick = [&rng] {
        const std::size_t size = rng() % 8 == 0 ? rng() % 70000 : rng() % 600;
        return request{.size = size, .align = std::size_t{1} << (rng() % 13)};
    };
    ASSERT_NO_FATAL_FAILURE(churn(heap, rng, 20000, pick));
    EXPECT_EQ(a.stats().blocks, heap.blocks().size());
    heap.free_all();
    EXPECT_EQ(a.stats().chunks, 1u);
    EXPECT_EQ(a.free_blocks_of_size(256 * 1024), 1u);
    EXPECT_EQ(a.bytes_in_blocks(), 0u);
}

}  // namespace
