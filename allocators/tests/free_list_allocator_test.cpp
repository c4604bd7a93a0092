// Focused tests for free_list_allocator (first and best fit): splitting, coalescing with either
// or both neighbours, the two placement policies choosing differently, aligned blocks freed back
// whole, growth across chunks, large requests, the one-empty-chunk rule, reset, and stats.
#include "allocators/free_list_allocator.hpp"
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
using allocmeter::best_fit_allocator;
using allocmeter::first_fit_allocator;

// The request that occupies a block of exactly `block` bytes (header and footer take 16).
constexpr std::size_t request_for(std::size_t block) { return block - 16; }

static_assert(first_fit_allocator::block_bytes(0) == 32);
static_assert(first_fit_allocator::block_bytes(16) == 32);
static_assert(first_fit_allocator::block_bytes(17) == 48);
static_assert(first_fit_allocator::block_bytes(100) == 128);
static_assert(first_fit_allocator::block_bytes(request_for(512)) == 512);
static_assert(first_fit_allocator::caps.individual_free && first_fit_allocator::caps.reset);
static_assert(best_fit_allocator::caps.max_align == 4096 && !best_fit_allocator::caps.thread_safe);

template <class A>
class FreeListAllocator : public ::testing::Test {};
using Policies = ::testing::Types<first_fit_allocator, best_fit_allocator>;
TYPED_TEST_SUITE(FreeListAllocator, Policies);

// Consecutive allocations are split off the front of the chunk's free block, back to back.
TYPED_TEST(FreeListAllocator, SplitsFromTheFreeBlock) {
    TypeParam a;
    auto* p = static_cast<std::byte*>(a.allocate(100, 8));
    auto* q = static_cast<std::byte*>(a.allocate(100, 8));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(q, p + 128);
    EXPECT_TRUE(is_aligned(p, 16));
    EXPECT_EQ(a.free_blocks(), 1u);
    EXPECT_EQ(a.free_bytes(), a.chunk_capacity() - 256);
}

// A remainder below the minimum block (32) is not split off: the caller gets the whole block.
TYPED_TEST(FreeListAllocator, SmallRemainderStaysInTheBlock) {
    TypeParam a;
    void* x = a.allocate(request_for(128), 8);
    ASSERT_NE(a.allocate(8, 8), nullptr);  // keeps x from merging with the chunk's tail
    a.deallocate(x, request_for(128), 8);
    ASSERT_EQ(a.free_blocks(), 2u);
    const std::size_t free_before = a.free_bytes();
    EXPECT_EQ(a.allocate(request_for(112), 8), x);  // 128 - 112 = 16: too small to stand alone
    EXPECT_EQ(a.free_blocks(), 1u);
    EXPECT_EQ(free_before - a.free_bytes(), 128u);
}

// Three 128-byte blocks A B C, then a guard: freeing them in various orders merges them.
template <class A>
struct three_blocks {
    A a;
    void* x = a.allocate(request_for(128), 8);
    void* y = a.allocate(request_for(128), 8);
    void* z = a.allocate(request_for(128), 8);
    void* guard = a.allocate(8, 8);
    void free(void* p) { a.deallocate(p, request_for(128), 8); }
};

// Freeing B then A merges A with its free next neighbour into one 256-byte block at A.
TYPED_TEST(FreeListAllocator, CoalescesWithNext) {
    three_blocks<TypeParam> t;
    t.free(t.y);
    t.free(t.x);
    EXPECT_EQ(t.a.free_blocks(), 2u);  // A+B, and the chunk's tail
    EXPECT_EQ(t.a.allocate(request_for(256), 8), t.x);
}

// Freeing A then B merges B into its free previous neighbour.
TYPED_TEST(FreeListAllocator, CoalescesWithPrevious) {
    three_blocks<TypeParam> t;
    t.free(t.x);
    t.free(t.y);
    EXPECT_EQ(t.a.free_blocks(), 2u);
    EXPECT_EQ(t.a.allocate(request_for(256), 8), t.x);
}

// Freeing B between free A and free C merges all three; freeing the guard empties the chunk.
TYPED_TEST(FreeListAllocator, CoalescesWithBothNeighbours) {
    three_blocks<TypeParam> t;
    t.free(t.x);
    t.free(t.z);
    EXPECT_EQ(t.a.free_blocks(), 3u);
    t.free(t.y);
    EXPECT_EQ(t.a.free_blocks(), 2u);
    void* all = t.a.allocate(request_for(384), 8);
    EXPECT_EQ(all, t.x);
    t.a.deallocate(all, request_for(384), 8);
    t.a.deallocate(t.guard, 8, 8);
    EXPECT_EQ(t.a.free_blocks(), 1u);
    EXPECT_EQ(t.a.free_bytes(), t.a.chunk_capacity());
    EXPECT_EQ(t.a.stats().chunks, 1u);  // the empty chunk is kept for reuse
}

// Free list [big 512, small 64, tail]: first fit takes the big block, best fit the exact one.
TYPED_TEST(FreeListAllocator, PoliciesChooseDifferentBlocks) {
    TypeParam a;
    void* big = a.allocate(request_for(512), 8);
    ASSERT_NE(a.allocate(8, 8), nullptr);
    void* small = a.allocate(request_for(64), 8);
    ASSERT_NE(a.allocate(8, 8), nullptr);
    a.deallocate(small, request_for(64), 8);
    a.deallocate(big, request_for(512), 8);  // LIFO: big is now at the head of the list
    void* p = a.allocate(request_for(64), 8);
    if constexpr (TypeParam::policy == allocmeter::fit_policy::first_fit)
        EXPECT_EQ(p, big);
    else
        EXPECT_EQ(p, small);
}

// Every alignment 32..4096 is met by splitting off a leading fragment; freeing the block merges
// fragment, block and tail back into one free block.
TYPED_TEST(FreeListAllocator, AlignedBlocksFreeBackWhole) {
    TypeParam a;
    ASSERT_NE(a.allocate(40, 8), nullptr);  // so the free block starts at an odd offset
    const std::size_t free_before = a.free_bytes();
    for (std::size_t align = 1; align <= 4096; align *= 2) {
        void* p = a.allocate(24, align);
        ASSERT_NE(p, nullptr) << "align " << align;
        EXPECT_TRUE(is_aligned(p, align)) << "align " << align;
        std::memset(p, 0x5A, 24);
        a.deallocate(p, 24, align);
        EXPECT_EQ(a.free_blocks(), 1u) << "align " << align;
        EXPECT_EQ(a.free_bytes(), free_before) << "align " << align;
    }
    EXPECT_EQ(a.stats().chunks, 1u);
}

// Small chunks fill up and new ones are mapped; blocks are distinct and keep their contents;
// freeing everything leaves one empty chunk mapped.
TYPED_TEST(FreeListAllocator, GrowsToMultipleChunks) {
    TypeParam a(4096);
    ASSERT_EQ(a.chunk_size(), 4096u);
    shadow_heap heap(a);  // checks each block apart from every other
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(heap.allocate(200, 16)) << "block " << i;
    EXPECT_GE(a.stats().chunks, 200u / (4048 / 224));
    EXPECT_EQ(a.stats().bytes_reserved, a.stats().chunks * 4096);
    heap.free_all();
    expect_same(a.stats(), {.bytes_requested = 0, .bytes_reserved = 4096, .chunks = 1, .blocks = 0});
    EXPECT_EQ(a.free_blocks(), 1u);
}

// A request above a chunk gets a chunk sized for it; of two empty large chunks one is unmapped,
// and the kept one serves the next large request without a new mapping.
TYPED_TEST(FreeListAllocator, LargeBlockGetsItsOwnChunk) {
    TypeParam a;
    const std::size_t big = std::size_t{4} << 20;
    auto* p = static_cast<unsigned char*>(a.allocate(big, 64));
    auto* q = static_cast<unsigned char*>(a.allocate(big, 4096));
    ASSERT_NE(p, nullptr);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(is_aligned(q, 4096));
    std::memset(p, 0x11, big);
    std::memset(q, 0x22, big);
    EXPECT_TRUE(holds(p, big, 0x11));
    EXPECT_EQ(a.stats().chunks, 2u);
    EXPECT_GT(a.stats().bytes_reserved, 2 * big);
    a.deallocate(p, big, 64);
    EXPECT_EQ(a.stats().chunks, 2u);  // the first empty chunk stays
    a.deallocate(q, big, 4096);
    EXPECT_EQ(a.stats().chunks, 1u);  // the second does not
    const std::uint64_t reserved = a.stats().bytes_reserved;
    EXPECT_NE(a.allocate(big / 2, 8), nullptr);
    EXPECT_EQ(a.stats().chunks, 1u);
    EXPECT_EQ(a.stats().bytes_reserved, reserved);
}

// With a large and a normal chunk both empty, the normal (smaller) one is the one kept.
TYPED_TEST(FreeListAllocator, KeepsTheSmallerEmptyChunk) {
    TypeParam a;
    void* normal = a.allocate(64, 8);
    void* large = a.allocate(std::size_t{2} << 20, 8);
    a.deallocate(large, std::size_t{2} << 20, 8);
    a.deallocate(normal, 64, 8);
    expect_same(a.stats(), {.bytes_requested = 0,
                            .bytes_reserved = a.chunk_size(),
                            .chunks = 1,
                            .blocks = 0});
    EXPECT_EQ(a.free_bytes(), a.chunk_capacity());
}

// reset frees everything: each chunk stays mapped as one free block, and serves again.
TYPED_TEST(FreeListAllocator, ResetLeavesOneFreeBlockPerChunk) {
    TypeParam a(8192);
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(a.allocate(100 + 7 * i, 32));
    for (std::size_t i = 0; i < blocks.size(); i += 3) a.deallocate(blocks[i], 100 + 7 * i, 32);
    const std::uint64_t chunks = a.stats().chunks;
    ASSERT_GT(chunks, 2u);
    a.reset();
    expect_same(a.stats(), {.bytes_requested = 0,
                            .bytes_reserved = chunks * 8192,
                            .chunks = chunks,
                            .blocks = 0});
    EXPECT_EQ(a.free_blocks(), chunks);
    EXPECT_EQ(a.free_bytes(), chunks * a.chunk_capacity());
    for (int i = 0; i < 100; ++i) ASSERT_NE(a.allocate(100 + 7 * i, 32), nullptr);
    EXPECT_EQ(a.stats().chunks, chunks);  // the same workload fits the same chunks
}

// stats track live requested bytes and blocks exactly; a chunk is mapped on first use only.
TYPED_TEST(FreeListAllocator, StatsTrackLiveBlocks) {
    TypeParam a;
    expect_same(a.stats(), {});
    void* p = a.allocate(10, 1);
    void* q = a.allocate(0, 4096);
    void* r = a.allocate(1000, 64);
    ASSERT_NE(q, nullptr);
    expect_same(a.stats(), {.bytes_requested = 1010,
                            .bytes_reserved = a.chunk_size(),
                            .chunks = 1,
                            .blocks = 3});
    a.deallocate(q, 0, 4096);
    a.deallocate(p, 10, 1);
    EXPECT_EQ(a.stats().bytes_requested, 1000u);
    EXPECT_EQ(a.stats().blocks, 1u);
    a.deallocate(r, 1000, 64);
    a.deallocate(nullptr, 5, 8);  // ignored, as with free()
    expect_same(a.stats(), {.bytes_requested = 0,
                            .bytes_reserved = a.chunk_size(),
                            .chunks = 1,
                            .blocks = 0});
}

// Alignment above 4096 and sizes near SIZE_MAX are refused without mapping anything.
TYPED_TEST(FreeListAllocator, RejectsOveralignedAndHuge) {
    TypeParam a;
    EXPECT_EQ(a.allocate(8, 8192), nullptr);
    EXPECT_EQ(a.allocate(kMax, 1), nullptr);
    EXPECT_EQ(a.allocate(kMax - 4096, 4096), nullptr);
    EXPECT_EQ(a.allocate(kMax / 2, 16), nullptr);
    expect_same(a.stats(), {});
}

// Random sizes and alignments under churn: blocks never overlap, and once all are freed a
// single empty chunk remains as one free block.
TYPED_TEST(FreeListAllocator, ChurnKeepsContentsAndCoalescesFully) {
    TypeParam a(64 * 1024);
    shadow_heap heap(a);
    std::mt19937_64 rng(42);
    const auto pick = [&rng] {
        const std::size_t size = rng() % 16 == 0 ? 70000 + rng() % 50000 : rng() % 2000;
        return request{.size = size, .align = std::size_t{1} << (rng() % 9)};
    };
    ASSERT_NO_FATAL_FAILURE(churn(heap, rng, 20000, pick));
    heap.expect_stats_match();
    heap.free_all();
    EXPECT_EQ(a.stats().chunks, 1u);
    EXPECT_EQ(a.free_blocks(), 1u);
    EXPECT_EQ(a.stats().blocks, 0u);
}

}  // namespace
