// Focused tests for pool_allocator: block alignment from BlockSize, rejection of what a block
// cannot hold, LIFO free-list reuse, growth across chunks, reset reusing chunks, and live stats.
#include "allocators/pool_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::allocator_stats;
using allocmeter::capabilities_consistent;
using allocmeter::pool_allocator;
using allocmeter::os::page_size;

// The declared alignment is the largest power of two dividing BlockSize, capped at 4096.
static_assert(pool_allocator<8>::caps.max_align == 8);
static_assert(pool_allocator<24>::caps.max_align == 8);
static_assert(pool_allocator<48>::caps.max_align == 16);
static_assert(pool_allocator<96>::caps.max_align == 32);
static_assert(pool_allocator<4096>::caps.max_align == 4096);
static_assert(pool_allocator<12288>::caps.max_align == 4096);
static_assert(pool_allocator<65536>::caps.max_align == 4096);
static_assert(pool_allocator<24>::caps.fixed_size == 24 && pool_allocator<24>::caps.max_size == 24);
static_assert(capabilities_consistent<pool_allocator<8>>());
static_assert(capabilities_consistent<pool_allocator<24, 1>>());
static_assert(capabilities_consistent<pool_allocator<12288>>());

// Blocks of a size with a small power-of-two factor are aligned as declared, in every chunk.
template <std::size_t N>
void check_block_alignment() {
    pool_allocator<N, 4> a;
    shadow_heap heap(a);
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(heap.allocate(N, a.caps.max_align)) << "block size " << N;
    heap.verify_all();
}

// Odd block sizes (24, 48, 96, 12288) get blocks at their declared alignment, fully writable.
TEST(PoolAllocator, BlocksHaveDeclaredAlignment) {
    check_block_alignment<24>();
    check_block_alignment<48>();
    check_block_alignment<96>();
    check_block_alignment<12288>();
}

// With 4096-byte blocks every alignment 1..4096 is served, aligned, and the whole block writable.
TEST(PoolAllocator, HonoursEveryAlignmentUpToBlockAlignment) {
    pool_allocator<4096> a;
    shadow_heap heap(a);
    for (std::size_t align = 1; align <= 4096; align *= 2) ASSERT_TRUE(heap.allocate(4096, align)) << "align " << align;
    heap.verify_all();
}

// A zero-size request gets a distinct block of its own and counts as a live block of 0 bytes.
TEST(PoolAllocator, ZeroSizeGetsABlock) {
    pool_allocator<64> a;
    void* p = a.allocate(0, 1);
    void* q = a.allocate(0, 64);
    ASSERT_NE(p, nullptr);
    ASSERT_NE(q, nullptr);
    EXPECT_NE(p, q);
    EXPECT_TRUE(is_aligned(q, 64));
    EXPECT_EQ(a.stats().blocks, 2u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
}

// A size above BlockSize or an alignment above the block alignment is refused, mapping nothing.
TEST(PoolAllocator, RejectsOversizeAndOveraligned) {
    pool_allocator<64> a;
    EXPECT_EQ(a.allocate(65, 1), nullptr);
    EXPECT_EQ(a.allocate(kMax, 1), nullptr);
    EXPECT_EQ(a.allocate(64, 128), nullptr);
    EXPECT_EQ(a.allocate(1, 4096), nullptr);
    EXPECT_EQ(pool_allocator<24>().allocate(8, 16), nullptr);
    expect_same(a.stats(), {});
    EXPECT_NE(a.allocate(64, 64), nullptr);  // the limits themselves are served
}

// Freed blocks come back last-in first-out, before any untouched block is carved.
TEST(PoolAllocator, FreedBlocksAreReusedLifo) {
    pool_allocator<32> a;
    expect_reused_lifo(a, 32, 8);
}

// The pool grows one chunk at a time; every block is distinct, aligned, and keeps its contents.
TEST(PoolAllocator, GrowsAcrossSeveralChunks) {
    pool_allocator<64, 16> a;
    const std::size_t per_chunk = a.blocks_per_chunk();
    ASSERT_GE(per_chunk, 16u);
    EXPECT_EQ(a.chunk_bytes() % page_size(), 0u);
    EXPECT_EQ((per_chunk + 1) * 64, a.chunk_bytes());  // the page-rounded tail is used too
    shadow_heap heap(a);  // checks each block aligned and apart from every other
    for (std::size_t i = 0; i < 5 * per_chunk + 1; ++i) ASSERT_TRUE(heap.allocate(64, 64)) << "block " << i;
    EXPECT_EQ(a.stats().chunks, 6u);
    EXPECT_EQ(a.stats().bytes_reserved, 6 * a.chunk_bytes());
    heap.verify_all();
}

// reset frees every block; the chunks are kept and carved again in order, same addresses first.
TEST(PoolAllocator, ResetReusesChunksInOrder) {
    pool_allocator<128, 8> a;
    const std::size_t n = 3 * a.blocks_per_chunk();
    std::vector<void*> before;
    for (std::size_t i = 0; i < n; ++i) before.push_back(a.allocate(100, 8));
    for (std::size_t i = 0; i < n; i += 3) a.deallocate(before[i], 100, 8);
    ASSERT_EQ(a.stats().chunks, 3u);
    a.reset();
    expect_same(a.stats(), {.bytes_requested = 0,
                            .bytes_reserved = 3 * a.chunk_bytes(),
                            .chunks = 3,
                            .blocks = 0});
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(a.allocate(100, 8), before[i]) << "block " << i;
    EXPECT_EQ(a.stats().chunks, 3u);
    ASSERT_NE(a.allocate(100, 8), nullptr);
    EXPECT_EQ(a.stats().chunks, 4u);
}

// stats count live blocks and live requested bytes: allocate adds, deallocate subtracts.
TEST(PoolAllocator, StatsTrackLiveBlocks) {
    pool_allocator<64> a;
    expect_same(a.stats(), {});
    void* p10 = a.allocate(10, 1);
    void* p20 = a.allocate(20, 4);
    void* p64 = a.allocate(64, 64);
    EXPECT_EQ(a.stats().bytes_requested, 94u);
    EXPECT_EQ(a.stats().blocks, 3u);
    EXPECT_EQ(a.stats().chunks, 1u);
    EXPECT_EQ(a.stats().bytes_reserved, a.chunk_bytes());
    a.deallocate(p20, 20, 4);
    EXPECT_EQ(a.stats().bytes_requested, 74u);
    EXPECT_EQ(a.stats().blocks, 2u);
    a.deallocate(p10, 10, 1);
    a.deallocate(p64, 64, 64);
    expect_same(a.stats(), {.bytes_requested = 0,
                            .bytes_reserved = a.chunk_bytes(),
                            .chunks = 1,
                            .blocks = 0});
}

// Freeing nullptr, as with free(), changes nothing.
TEST(PoolAllocator, DeallocateNullIsNoop) {
    pool_allocator<16> a;
    void* p = a.allocate(16, 8);
    a.deallocate(nullptr, 16, 8);
    EXPECT_EQ(a.stats().blocks, 1u);
    EXPECT_NE(a.allocate(16, 8), p);
}

// Under random allocate/free churn live blocks never overlap: each keeps its pattern until freed.
TEST(PoolAllocator, BlocksDoNotOverlapUnderChurn) {
    constexpr std::size_t kBlock = 48;
    pool_allocator<kBlock, 32> a;
    shadow_heap heap(a);
    std::mt19937_64 rng(1234);
    const auto pick = [&rng] {  // the whole block is the caller's, not just `size`
        return request{.size = rng() % (kBlock + 1), .align = 16, .filled = kBlock};
    };
    ASSERT_NO_FATAL_FAILURE(churn(heap, rng, 20000, pick, {.num = 2, .den = 5}));
    heap.verify_all();
    heap.expect_stats_match();
}

}  // namespace
