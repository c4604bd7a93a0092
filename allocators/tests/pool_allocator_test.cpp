// Focused tests for pool_allocator: block alignment from BlockSize, rejection of what a block
// cannot hold, LIFO free-list reuse, growth across chunks, reset reusing chunks, and live stats.
#include "allocators/pool_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <set>
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
    for (int i = 0; i < 200; ++i) {
        void* p = a.allocate(N, a.caps.max_align);
        ASSERT_NE(p, nullptr);
        EXPECT_TRUE(is_aligned(p, a.caps.max_align)) << "block size " << N;
        std::memset(p, 0x77, N);
    }
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
    for (std::size_t align = 1; align <= 4096; align *= 2) {
        void* p = a.allocate(4096, align);
        ASSERT_NE(p, nullptr) << "align " << align;
        EXPECT_TRUE(is_aligned(p, align)) << "align " << align;
        std::memset(p, 0xAB, 4096);
    }
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
    void* x = a.allocate(32, 8);
    void* y = a.allocate(32, 8);
    void* z = a.allocate(32, 8);
    a.deallocate(y, 32, 8);
    a.deallocate(z, 32, 8);
    EXPECT_EQ(a.allocate(32, 8), z);
    EXPECT_EQ(a.allocate(32, 8), y);
    void* fresh = a.allocate(32, 8);
    EXPECT_NE(fresh, x);
    EXPECT_NE(fresh, y);
    EXPECT_NE(fresh, z);
}

// The pool grows one chunk at a time; every block is distinct, aligned, and keeps its contents.
TEST(PoolAllocator, GrowsAcrossSeveralChunks) {
    pool_allocator<64, 16> a;
    const std::size_t per_chunk = a.blocks_per_chunk();
    ASSERT_GE(per_chunk, 16u);
    EXPECT_EQ(a.chunk_bytes() % page_size(), 0u);
    EXPECT_EQ((per_chunk + 1) * 64, a.chunk_bytes());  // the page-rounded tail is used too
    std::vector<unsigned char*> blocks;
    for (std::size_t i = 0; i < 5 * per_chunk + 1; ++i) {
        auto* p = static_cast<unsigned char*>(a.allocate(64, 64));
        ASSERT_NE(p, nullptr);
        ASSERT_TRUE(is_aligned(p, 64));
        std::memset(p, static_cast<int>(1 + i % 251), 64);
        blocks.push_back(p);
    }
    EXPECT_EQ(a.stats().chunks, 6u);
    EXPECT_EQ(a.stats().bytes_reserved, 6 * a.chunk_bytes());
    EXPECT_EQ(std::set<unsigned char*>(blocks.begin(), blocks.end()).size(), blocks.size());
    for (std::size_t i = 0; i < blocks.size(); ++i)
        EXPECT_TRUE(holds(blocks[i], 64, static_cast<unsigned char>(1 + i % 251)));
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
    std::mt19937_64 rng(1234);
    struct block { unsigned char* p; std::size_t size; unsigned char tag; };
    std::vector<block> live;
    std::uint64_t live_bytes = 0;
    for (int i = 0; i < 20000; ++i) {
        if (!live.empty() && rng() % 5 < 2) {
            const std::size_t k = rng() % live.size();
            const block b = live[k];
            ASSERT_TRUE(holds(b.p, kBlock, b.tag)) << "op " << i;
            a.deallocate(b.p, b.size, 16);
            live_bytes -= b.size;
            live[k] = live.back();
            live.pop_back();
        } else {
            const std::size_t size = rng() % (kBlock + 1);
            auto* p = static_cast<unsigned char*>(a.allocate(size, 16));
            ASSERT_NE(p, nullptr);
            ASSERT_TRUE(is_aligned(p, 16));
            const auto tag = static_cast<unsigned char>(1 + i % 251);
            std::memset(p, tag, kBlock);  // the whole block is the caller's, not just `size`
            live.push_back({p, size, tag});
            live_bytes += size;
        }
    }
    for (const block& b : live) EXPECT_TRUE(holds(b.p, kBlock, b.tag));
    EXPECT_EQ(a.stats().blocks, live.size());
    EXPECT_EQ(a.stats().bytes_requested, live_bytes);
}

}  // namespace
