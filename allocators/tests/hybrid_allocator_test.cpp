// Focused tests for hybrid_allocator: routing at each size boundary and by alignment, every
// alignment in every part, pool reuse, arena frees deferred to reset, system blocks freed by
// deallocate, reset and destruction, huge requests, and stats as the sum of the parts.
#include "allocators/hybrid_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::allocator_stats;
using allocmeter::capabilities_consistent;
using allocmeter::hybrid_allocator;
using allocmeter::hybrid_route;

using hybrid = hybrid_allocator<>;  // pool up to 64 bytes, arena up to 1024

static_assert(hybrid::caps.individual_free && hybrid::caps.reset && !hybrid::caps.thread_safe);
static_assert(hybrid::caps.max_align == 4096 && !hybrid::caps.lifo_free_only);
static_assert(hybrid::caps.max_size == std::size_t{1} << 40);
static_assert(capabilities_consistent<hybrid_allocator<48, 4096>>());

// Which part's block count moved by one across a single allocation: 0 pool, 1 arena, 2 system.
template <class H>
int part_that_served(H& a, std::size_t size, std::size_t align, void** out) {
    const auto pool = a.pool().stats().blocks;
    const auto arena = a.arena().stats().blocks;
    const auto all = a.stats().blocks;
    *out = a.allocate(size, align);
    EXPECT_NE(*out, nullptr) << "size " << size << " align " << align;
    EXPECT_EQ(a.stats().blocks, all + 1);
    if (a.pool().stats().blocks == pool + 1) return 0;
    if (a.arena().stats().blocks == arena + 1) return 1;
    return 2;
}

// Sizes route pool / arena / system exactly at PoolSize, PoolSize + 1, ArenaMax, ArenaMax + 1.
TEST(HybridAllocator, RoutesBySizeAtEachBoundary) {
    static_assert(hybrid::route(0, 1) == hybrid_route::pool);
    static_assert(hybrid::route(64, 8) == hybrid_route::pool);
    static_assert(hybrid::route(65, 8) == hybrid_route::arena);
    static_assert(hybrid::route(1024, 8) == hybrid_route::arena);
    static_assert(hybrid::route(1025, 8) == hybrid_route::system);
    hybrid a;
    void* p;
    EXPECT_EQ(part_that_served(a, 64, 8, &p), 0);
    EXPECT_EQ(part_that_served(a, 65, 8, &p), 1);
    EXPECT_EQ(part_that_served(a, 1024, 8, &p), 1);
    EXPECT_EQ(part_that_served(a, 1025, 8, &p), 2);
    hybrid_allocator<128, 4096> b;
    EXPECT_EQ(part_that_served(b, 128, 16, &p), 0);
    EXPECT_EQ(part_that_served(b, 129, 16, &p), 1);
    EXPECT_EQ(part_that_served(b, 4096, 16, &p), 1);
    EXPECT_EQ(part_that_served(b, 4097, 16, &p), 2);
}

// Alignment beyond a part's limit moves a request on: past the pool's block alignment to the
// arena, past arena_max_align to the system.
TEST(HybridAllocator, RoutesByAlignment) {
    static_assert(hybrid::route(32, 64) == hybrid_route::pool);     // 64-byte blocks are 64-aligned
    static_assert(hybrid::route(32, 128) == hybrid_route::system);  // above arena_max_align too
    static_assert(hybrid::route(500, 64) == hybrid_route::arena);
    static_assert(hybrid::route(500, 128) == hybrid_route::system);
    static_assert(hybrid::route(8, 4096) == hybrid_route::system);
    using odd = hybrid_allocator<48>;  // 48-byte blocks are only 16-aligned
    static_assert(odd::route(32, 16) == hybrid_route::pool);
    static_assert(odd::route(32, 32) == hybrid_route::arena);
    odd a;
    void* p;
    EXPECT_EQ(part_that_served(a, 32, 16, &p), 0);
    EXPECT_EQ(part_that_served(a, 32, 32, &p), 1);
    EXPECT_TRUE(is_aligned(p, 32));
    EXPECT_EQ(part_that_served(a, 32, 128, &p), 2);
    EXPECT_TRUE(is_aligned(p, 128));
}

// Every alignment 1..4096 is honoured in every part, and each block frees back to its part.
TEST(HybridAllocator, HonoursEveryAlignmentInEveryPart) {
    hybrid a;
    shadow_heap heap(a);
    for (std::size_t size : {std::size_t{0}, std::size_t{40}, std::size_t{700}, std::size_t{5000}}) {
        for (std::size_t align = 1; align <= 4096; align *= 2) {
            ASSERT_TRUE(heap.allocate(size, align)) << "size " << size << " align " << align;
            heap.free_newest();
        }
    }
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
}

// A pool block is reusable at once; an arena block is not reused until reset.
TEST(HybridAllocator, PoolReusesAtOnceArenaAtReset) {
    hybrid a;
    void* small = a.allocate(48, 8);
    a.deallocate(small, 48, 8);
    EXPECT_EQ(a.allocate(48, 8), small);
    void* mid = a.allocate(500, 16);
    a.deallocate(mid, 500, 16);
    EXPECT_NE(a.allocate(500, 16), mid);
    a.reset();
    EXPECT_EQ(a.allocate(500, 16), mid);  // the arena starts over from its first chunk
}

// Arena frees that never meet a reset accumulate: requested bytes fall, reserved bytes do not.
TEST(HybridAllocator, ArenaFreesAccumulateUntilReset) {
    hybrid a;
    for (int i = 0; i < 1000; ++i) {
        void* p = a.allocate(1000, 8);
        ASSERT_NE(p, nullptr);
        a.deallocate(p, 1000, 8);
    }
    const allocator_stats s = a.stats();
    EXPECT_EQ(s.bytes_requested, 0u);
    EXPECT_EQ(s.blocks, 0u);
    EXPECT_GE(s.bytes_reserved, 1000u * 1000);  // all of it still held: the design's trade-off
    a.reset();
    EXPECT_EQ(a.stats().bytes_reserved, s.bytes_reserved);  // kept mapped for the next cycle
    EXPECT_NE(a.allocate(1000, 8), nullptr);
}

// System blocks are freed by deallocate, by reset and by destruction (LeakSanitizer checks).
TEST(HybridAllocator, SystemBlocksAreFreedEveryWay) {
    hybrid a;
    void* big = a.allocate(100000, 8);
    void* aligned = a.allocate(2000, 256);
    ASSERT_NE(big, nullptr);
    ASSERT_NE(aligned, nullptr);
    std::memset(big, 1, 100000);
    EXPECT_EQ(a.stats().chunks, 2u);
    a.deallocate(big, 100000, 8);
    EXPECT_EQ(a.stats().bytes_requested, 2000u);
    a.reset();  // frees `aligned`
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().chunks, 0u);
    void* survivor = a.allocate(1 << 20, 4096);  // left for the destructor
    ASSERT_NE(survivor, nullptr);
    std::memset(survivor, 2, 1 << 20);
    hybrid b;
    for (int i = 0; i < 10; ++i) ASSERT_NE(b.allocate(3000 + i, 64), nullptr);
}

// Size 0 comes from the pool and frees with size 0; huge sizes and alignments fail cleanly.
TEST(HybridAllocator, ZeroAndHugeRequests) {
    hybrid a;
    void* z = a.allocate(0, 1);
    ASSERT_NE(z, nullptr);
    a.deallocate(z, 0, 1);
    constexpr std::size_t kTiB = std::size_t{1} << 40;
    expect_refused(a, {kMax, kMax - 1, kMax - 64, kMax / 2, kMax / 4 + 1, kTiB + 1}, {1, 64, 4096});
    EXPECT_EQ(a.allocate(1, std::size_t{1} << 63), nullptr);
    EXPECT_EQ(a.allocate(0, std::size_t{1} << 62), nullptr);
    EXPECT_EQ(a.allocate(0, kTiB * 2), nullptr);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
}

// stats() is the sum of the parts; system bytes count as requested and as reserved.
TEST(HybridAllocator, StatsAreTheSumOfTheParts) {
    hybrid a;
    EXPECT_EQ(a.stats().bytes_reserved, 0u);
    void* p1 = a.allocate(10, 8);
    void* p2 = a.allocate(300, 8);
    void* p3 = a.allocate(5000, 8);
    const allocator_stats s = a.stats();
    const allocator_stats pool = a.pool().stats();
    const allocator_stats arena = a.arena().stats();
    EXPECT_EQ(s.bytes_requested, 10u + 300 + 5000);
    EXPECT_EQ(s.blocks, 3u);
    EXPECT_EQ(s.bytes_reserved, pool.bytes_reserved + arena.bytes_reserved + 5000);
    EXPECT_EQ(s.chunks, pool.chunks + arena.chunks + 1);
    a.deallocate(p3, 5000, 8);
    a.deallocate(p2, 300, 8);
    a.deallocate(p1, 10, 8);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_reserved, pool.bytes_reserved + arena.bytes_reserved);
}

// A small arena chunk is raised so that ArenaMax-sized requests still share chunks.
TEST(HybridAllocator, ArenaChunkFitsArenaMax) {
    hybrid_allocator<64, 32768> a(4096);
    EXPECT_GE(a.arena().oversize_threshold(), 32768u);
    for (int i = 0; i < 4; ++i) ASSERT_NE(a.allocate(32768, 64), nullptr);
    EXPECT_LE(a.arena().stats().chunks, 2u);
}

// Mixed sizes across all parts, freed in random order, never overlap while live.
TEST(HybridAllocator, MixedChurnKeepsContents) {
    hybrid a;
    shadow_heap heap(a);
    std::mt19937_64 rng(2024);
    const std::size_t sizes[] = {8, 24, 64, 65, 200, 1024, 1025, 4000, 20000};
    const auto pick = [&] {
        const std::size_t size = sizes[rng() % std::size(sizes)];
        return request{.size = size, .align = std::size_t{1} << (rng() % 8)};
    };
    for (int round = 0; round < 4; ++round) {
        ASSERT_NO_FATAL_FAILURE(churn(heap, rng, 5000, pick));
        heap.reset();  // a reset frees everything, whatever part served it
    }
    heap.expect_stats_match();
}

}  // namespace
