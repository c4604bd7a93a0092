// Focused tests for arena_allocator: alignment, zero size, the oversize threshold and dedicated
// chunks, growth, reset and rollback keeping normal chunks as spares, trim, and stats.
#include "allocators/arena_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::allocator_stats;
using allocmeter::arena_allocator;
using allocmeter::os::page_size;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = kKiB * kKiB;

// Alignments past the oversize threshold (64 KiB, 1 MiB) are served from a dedicated chunk.
TEST(ArenaAllocator, HonoursAlignmentPastThreshold) {
    arena_allocator a(64 * kKiB);
    shadow_heap heap(a);
    for (std::size_t align : {std::size_t{1} << 16, std::size_t{1} << 20}) {
        ASSERT_TRUE(heap.allocate(1, 1));  // knock the bump pointer off alignment first
        ASSERT_TRUE(heap.allocate(100, align)) << "align " << align;
    }
    heap.verify_all();
}

// A zero-size request is served with an aligned non-null pointer, even before any chunk exists.
TEST(ArenaAllocator, ZeroSizeBeforeFirstChunk) {
    arena_allocator a;
    void* p = a.allocate(0, 1);
    EXPECT_NE(p, nullptr);
    void* q = a.allocate(0, 256);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(is_aligned(q, 256));
    EXPECT_EQ(a.stats().blocks, 2u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
    EXPECT_EQ(a.stats().chunks, 1u);
}

// The chunk size is rounded up to whole pages (at least one) and the threshold is a quarter of it.
TEST(ArenaAllocator, ChunkSizeRoundedToPages) {
    EXPECT_EQ(arena_allocator(0).chunk_size(), page_size());
    EXPECT_EQ(arena_allocator(1).chunk_size(), page_size());
    EXPECT_EQ(arena_allocator(page_size() + 1).chunk_size(), 2 * page_size());
    arena_allocator a(64 * kKiB);
    EXPECT_EQ(a.chunk_size(), 64 * kKiB);
    EXPECT_EQ(a.oversize_threshold(), 16 * kKiB);
    EXPECT_EQ(a.stats().chunks, 0u);  // nothing mapped before the first allocation
}

// A request at the threshold stays in the current chunk; one byte more gets its own chunk and
// leaves the current chunk's tail to the next small request.
TEST(ArenaAllocator, ThresholdSplitsInChunkFromDedicated) {
    arena_allocator a(64 * kKiB);
    const std::size_t t = a.oversize_threshold();
    auto* at = static_cast<std::byte*>(a.allocate(t, 16));
    ASSERT_NE(at, nullptr);
    EXPECT_EQ(a.stats().chunks, 1u);
    void* over = a.allocate(t + 1, 16);
    ASSERT_NE(over, nullptr);
    std::memset(over, 0x33, t + 1);
    EXPECT_EQ(a.stats().chunks, 2u);
    EXPECT_EQ(a.allocate(16, 16), at + t);
}

// A request larger than a whole chunk gets a dedicated chunk that is writable end to end.
TEST(ArenaAllocator, OversizeRequestGetsOwnChunk) {
    arena_allocator a(64 * kKiB);
    auto* small = static_cast<std::byte*>(a.allocate(64, 8));
    ASSERT_NE(small, nullptr);
    const std::size_t big = kMiB + 123;
    void* p = a.allocate(big, 64);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(is_aligned(p, 64));
    std::memset(p, 0x5A, big);
    EXPECT_TRUE(holds(p, big, 0x5A));
    EXPECT_EQ(a.stats().chunks, 2u);
    EXPECT_GE(a.stats().bytes_reserved, 64 * kKiB + big);
    EXPECT_EQ(a.stats().bytes_requested, 64 + big);
    EXPECT_EQ(a.allocate(8, 8), small + 64);  // the current chunk was not abandoned
}

// Many oversize requests each get their own chunk and keep their contents; reset keeps only
// max_oversize_spares of them mapped, and trim unmaps those.
TEST(ArenaAllocator, ManyOversizeRequests) {
    arena_allocator a(64 * kKiB);
    shadow_heap heap(a);
    for (std::size_t i = 0; i < 100; ++i) ASSERT_TRUE(heap.allocate(200 * kKiB + i * 37, 16)) << "block " << i;
    EXPECT_EQ(a.stats().chunks, 100u);
    EXPECT_EQ(a.stats().blocks, 100u);
    heap.reset();
    EXPECT_EQ(a.stats().chunks, arena_allocator::max_oversize_spares);
    EXPECT_EQ(a.stats().blocks, 0u);
    a.trim();
    expect_same(a.stats(), {});
}

// After reset an oversize request reuses a kept chunk that fits (first fit), mapping nothing new.
TEST(ArenaAllocator, OversizeSpareIsReused) {
    arena_allocator a(64 * kKiB);
    void* big = a.allocate(300 * kKiB, 16);
    ASSERT_NE(big, nullptr);
    a.reset();
    const auto kept = a.stats();
    EXPECT_EQ(kept.chunks, 1u);
    EXPECT_EQ(a.allocate(200 * kKiB, 16), big);  // smaller fits the kept chunk
    EXPECT_EQ(a.stats().chunks, 1u);
    void* other = a.allocate(400 * kKiB, 16);     // larger than any spare: a new mapping
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(a.stats().chunks, 2u);
    std::memset(other, 0x11, 400 * kKiB);
}

// Sizes near SIZE_MAX, sizes no OS can map, and huge alignments fail and change nothing.
TEST(ArenaAllocator, HugeRequestsFailCleanly) {
    arena_allocator a;
    ASSERT_NE(a.allocate(32, 8), nullptr);
    const auto before = a.stats();
    expect_refused(a, {kMax, kMax - 1, kMax - 4096, kMax / 2, std::size_t{1} << 50}, {1, 4096, std::size_t{1} << 20});
    EXPECT_EQ(a.allocate(1, std::size_t{1} << 63), nullptr);
    expect_same(a.stats(), before);
}

// When the current chunk is full a new one is mapped, and earlier blocks keep their contents.
TEST(ArenaAllocator, GrowsIntoNewChunks) {
    arena_allocator a(64 * kKiB);
    shadow_heap heap(a);
    while (a.stats().chunks < 3) ASSERT_TRUE(heap.allocate(1000, 8));
    EXPECT_EQ(a.stats().bytes_reserved, 3 * 64 * kKiB);
    EXPECT_EQ(heap.blocks().size(), 2 * ((64 * kKiB - 16) / 1000) + 1);  // 16: the chunk header
    heap.verify_all();
}

// reset unmaps oversize chunks, keeps normal ones as spares, and reuses the first chunk first.
TEST(ArenaAllocator, ResetKeepsNormalChunksAsSpares) {
    arena_allocator a(64 * kKiB);
    void* first = a.allocate(100, 16);
    for (int i = 0; i < 200; ++i) ASSERT_NE(a.allocate(1000, 8), nullptr);
    const std::uint64_t normal_chunks = a.stats().chunks;
    ASSERT_GE(normal_chunks, 3u);
    ASSERT_NE(a.allocate(kMiB, 8), nullptr);
    const auto held = a.stats();
    a.reset();
    expect_same(a.stats(), {.bytes_requested = 0, .bytes_reserved = held.bytes_reserved,
                            .chunks = normal_chunks + 1, .blocks = 0});  // + the oversize spare
    EXPECT_EQ(a.allocate(100, 16), first);
    for (int i = 0; i < 200; ++i) ASSERT_NE(a.allocate(1000, 8), nullptr);  // regrows into the spares
    EXPECT_EQ(a.stats().chunks, normal_chunks + 1);
}

// trim unmaps the spares that reset left, and the arena still works afterwards.
TEST(ArenaAllocator, TrimReturnsSpares) {
    arena_allocator a(64 * kKiB);
    for (int i = 0; i < 200; ++i) ASSERT_NE(a.allocate(1000, 8), nullptr);
    a.reset();
    a.trim();
    expect_same(a.stats(), {});
    void* p = a.allocate(64, 16);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x5a, 64);
}

// rollback releases the chunks taken after the mark (spares until trim) and restores its address and stats.
TEST(ArenaAllocator, RollbackRestoresAddressStatsAndChunks) {
    arena_allocator a(64 * kKiB);
    ASSERT_NE(a.allocate(5000, 8), nullptr);
    ASSERT_NE(a.allocate(kMiB, 8), nullptr);
    const auto cp = a.mark();
    const auto at_mark = a.stats();
    void* p = a.allocate(40, 8);
    for (int i = 0; i < 300; ++i) ASSERT_NE(a.allocate(1000, 8), nullptr);
    for (int i = 0; i < 3; ++i) ASSERT_NE(a.allocate(100 * kKiB, 8), nullptr);
    EXPECT_GT(a.stats().chunks, at_mark.chunks + 3);
    a.rollback(cp);
    EXPECT_EQ(a.stats().bytes_requested, at_mark.bytes_requested);
    EXPECT_EQ(a.stats().blocks, at_mark.blocks);
    EXPECT_GT(a.stats().chunks, at_mark.chunks);  // the later normal chunks, now spares
    a.trim();
    expect_same(a.stats(), at_mark);
    EXPECT_EQ(a.allocate(40, 8), p);
}

// A mark taken before the first chunk rolls back to an empty arena that still works.
TEST(ArenaAllocator, RollbackToBeforeFirstChunk) {
    arena_allocator a;
    const auto cp = a.mark();
    for (int i = 0; i < 100; ++i) ASSERT_NE(a.allocate(3000, 16), nullptr);
    ASSERT_NE(a.allocate(kMiB, 16), nullptr);
    a.rollback(cp);
    a.trim();
    expect_same(a.stats(), {});
    void* p = a.allocate(64, 64);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x44, 64);
}

// Nested marks unwind innermost first, each restoring its own position and counters.
TEST(ArenaAllocator, NestedCheckpoints) {
    arena_allocator a(64 * kKiB);
    const auto outer = a.mark();
    ASSERT_NE(a.allocate(10, 8), nullptr);
    const auto at_outer_block = a.stats();
    const auto inner = a.mark();
    void* p2 = a.allocate(20, 64);
    for (int i = 0; i < 100; ++i) ASSERT_NE(a.allocate(2000, 8), nullptr);
    a.rollback(inner);
    EXPECT_EQ(a.stats().bytes_requested, at_outer_block.bytes_requested);
    EXPECT_EQ(a.stats().blocks, at_outer_block.blocks);
    EXPECT_GE(a.stats().chunks, at_outer_block.chunks);  // later chunks kept as spares
    EXPECT_EQ(a.allocate(20, 64), p2);
    a.rollback(outer);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
    EXPECT_NE(a.allocate(10, 8), nullptr);  // in a spare chunk kept by the rollback
}

// Randomly sized and aligned blocks, some oversize, never overlap: each keeps its byte pattern.
TEST(ArenaAllocator, BlocksDoNotOverlap) {
    arena_allocator a(64 * kKiB);
    shadow_heap heap(a);
    std::mt19937_64 rng(7);
    for (int i = 0; i < 3000; ++i) {
        const std::size_t size = rng() % 8 == 0 ? rng() % (40 * kKiB) : rng() % 700;
        const std::size_t align = std::size_t{1} << (rng() % 13);
        ASSERT_TRUE(heap.allocate(size, align)) << "block " << i;
    }
    heap.verify_all();
}

// deallocate is a no-op: a freed block is not handed out again, and the counters keep it.
TEST(ArenaAllocator, DeallocateDoesNotReuse) {
    arena_allocator a;
    expect_deallocate_is_noop(a);
}

// stats: bytes_requested and blocks sum what was handed out; bytes_reserved sums held chunks.
TEST(ArenaAllocator, StatsAreConsistent) {
    arena_allocator a(64 * kKiB);
    expect_same(a.stats(), {});
    std::uint64_t requested = 0;
    for (std::size_t i = 0; i < 500; ++i) {
        const std::size_t size = 1 + i % 900;
        ASSERT_NE(a.allocate(size, 8), nullptr);
        requested += size;
    }
    auto s = a.stats();
    EXPECT_EQ(s.bytes_requested, requested);
    EXPECT_EQ(s.blocks, 500u);
    EXPECT_EQ(s.bytes_reserved, s.chunks * 64 * kKiB);  // normal chunks only so far
    EXPECT_GE(s.bytes_reserved, requested);
    ASSERT_NE(a.allocate(100 * kKiB, 8), nullptr);
    EXPECT_EQ(a.stats().chunks, s.chunks + 1);
    const std::uint64_t grown = a.stats().bytes_reserved - s.bytes_reserved;
    EXPECT_EQ(grown % page_size(), 0u);
    EXPECT_GT(grown, 100 * kKiB);  // the block plus its header, page-rounded
    EXPECT_LE(grown, 100 * kKiB + 2 * page_size());
}

}  // namespace
