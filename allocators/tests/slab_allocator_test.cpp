// Focused tests for slab_allocator: cache classes at every boundary, slabs moving between the
// partial, full and empty lists, colouring of successive slabs, the empty-slab cap, LIFO reuse,
// alignment up to 4096, reset, stats, and a seeded churn with overlap and content checks.
#include "allocators/slab_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::allocator_stats;
using allocmeter::capabilities_consistent;
using allocmeter::slab_allocator;

void expect_counts(const slab_allocator& a, std::size_t size, std::size_t partial, std::size_t full,
                   std::size_t empty) {
    const auto c = a.slab_counts(size);
    EXPECT_EQ(c.partial, partial) << "partial slabs";
    EXPECT_EQ(c.full, full) << "full slabs";
    EXPECT_EQ(c.empty, empty) << "empty slabs";
}

static_assert(slab_allocator::class_count == 17);
static_assert(slab_allocator::caps.max_size == 4096 && slab_allocator::caps.max_align == 4096);
static_assert(capabilities_consistent<slab_allocator>());

// The caches are 16, 24, 32, 48, ... 3072, 4096: size N maps to its cache, N + 1 to the next one.
TEST(SlabAllocator, ClassMappingExactAtEveryBoundary) {
    const std::size_t expected[] = {16,  24,  32,  48,   64,   96,   128,  192, 256,
                                    384, 512, 768, 1024, 1536, 2048, 3072, 4096};
    EXPECT_EQ(slab_allocator::size_class(0), 0u);
    for (std::size_t c = 0; c < slab_allocator::class_count; ++c) {
        const std::size_t n = expected[c];
        EXPECT_EQ(slab_allocator::class_size(c), n);
        EXPECT_EQ(slab_allocator::size_class(n), c) << "size " << n;
        if (c + 1 < slab_allocator::class_count) {
            EXPECT_EQ(slab_allocator::size_class(n + 1), c + 1) << "size " << n + 1;
        }
    }
    for (std::size_t size = 1; size <= 4096; ++size) {  // exhaustive: smallest cache that fits
        const std::size_t c = slab_allocator::size_class(size);
        ASSERT_GE(slab_allocator::class_size(c), size);
        ASSERT_TRUE(c == 0 || slab_allocator::class_size(c - 1) < size) << size;
    }
}

// A slab is partial while some objects are free, full when all are in use, empty when none are;
// allocation prefers a partial slab, then an empty one, and only then maps a new one.
TEST(SlabAllocator, SlabsMoveBetweenPartialFullAndEmpty) {
    slab_allocator a;
    constexpr std::size_t size = 100;  // cache 128
    const std::size_t n = a.objects_per_slab(size);
    ASSERT_GE(n, slab_allocator::min_objects_per_slab);
    std::vector<void*> first;
    first.push_back(a.allocate(size, 8));
    expect_counts(a, size, 1, 0, 0);
    while (first.size() < n) first.push_back(a.allocate(size, 8));
    expect_counts(a, size, 0, 1, 0);
    void* second = a.allocate(size, 8);
    expect_counts(a, size, 1, 1, 0);
    a.deallocate(first.back(), size, 8);
    first.pop_back();
    expect_counts(a, size, 2, 0, 0);
    for (void* p : first) a.deallocate(p, size, 8);
    expect_counts(a, size, 1, 0, 1);
    EXPECT_EQ(a.stats().chunks, 2u);
    for (std::size_t i = 1; i < n; ++i) ASSERT_NE(a.allocate(size, 8), nullptr);  // fills the partial one
    expect_counts(a, size, 0, 1, 1);
    ASSERT_NE(a.allocate(size, 8), nullptr);  // the empty slab is taken, nothing mapped
    expect_counts(a, size, 1, 1, 0);
    EXPECT_EQ(a.stats().chunks, 2u);
    (void)second;
    expect_counts(a, 2000, 0, 0, 0);  // other caches are untouched
}

// Successive slabs of a cache start their first object one colour step apart (mod the slab size),
// cycling back to the first offset after colours() slabs.
TEST(SlabAllocator, ColouringShiftsSuccessiveSlabs) {
    for (std::size_t size : {std::size_t{16}, std::size_t{100}, std::size_t{3000}, std::size_t{4096}}) {
        slab_allocator a;
        const std::size_t n = a.objects_per_slab(size);
        const std::size_t colours = a.colours(size);
        ASSERT_GE(colours, 2u) << size;
        std::vector<std::uintptr_t> offsets;
        for (std::size_t slab = 0; slab <= colours; ++slab)
            for (std::size_t i = 0; i < n; ++i) {
                auto p = reinterpret_cast<std::uintptr_t>(a.allocate(size, 1));
                if (i == 0) offsets.push_back(p % a.slab_bytes(size));
            }
        for (std::size_t slab = 1; slab < colours; ++slab) {
            EXPECT_NE(offsets[slab], offsets[0]) << size;
            EXPECT_EQ(offsets[slab] - offsets[slab - 1], a.colour_step(size)) << size;
        }
        EXPECT_EQ(offsets[colours], offsets[0]) << size;
        EXPECT_EQ(a.colour_step(size) % slab_allocator::cache_line, 0u);
        EXPECT_EQ(a.stats().chunks, colours + 1);
    }
}

// Emptied slabs beyond the per-cache cap are unmapped at once; reap() unmaps the rest.
TEST(SlabAllocator, EmptySlabCapReturnsSlabsToOs) {
    slab_allocator a(/*max_empty_slabs=*/1);
    constexpr std::size_t size = 512;
    const std::size_t n = a.objects_per_slab(size);
    std::vector<void*> objects;
    for (std::size_t i = 0; i < 3 * n; ++i) objects.push_back(a.allocate(size, 8));
    expect_counts(a, size, 0, 3, 0);
    EXPECT_EQ(a.stats().chunks, 3u);
    for (void* p : objects) a.deallocate(p, size, 8);
    expect_counts(a, size, 0, 0, 1);
    expect_same(a.stats(), {.bytes_requested = 0, .bytes_reserved = a.slab_bytes(size), .chunks = 1, .blocks = 0});
    a.reap();
    expect_counts(a, size, 0, 0, 0);
    expect_same(a.stats(), {});
    slab_allocator none(0);
    none.deallocate(none.allocate(size, 8), size, 8);
    expect_same(none.stats(), {});
}

// A freed object is the next one handed out by its cache, last in first out, also when its slab
// was full.
TEST(SlabAllocator, FreedObjectReusedLifo) {
    slab_allocator a;
    expect_reused_lifo(a, {{{40, 8}, {48, 8}, {33, 8}}}, {{{48, 16}, {35, 1}, {48, 8}}});  // all of class 48
    std::vector<void*> first_slab;
    for (std::size_t i = 0; i < a.objects_per_slab(1000); ++i) first_slab.push_back(a.allocate(1000, 8));
    ASSERT_NE(a.allocate(1000, 8), nullptr);  // second slab
    a.deallocate(first_slab[3], 1000, 8);
    EXPECT_EQ(a.allocate(1000, 8), first_slab[3]);
}

// Objects have their cache's natural alignment; every alignment 1..4096 is served by moving to a
// cache aligned enough; above 4096 bytes or 4096 alignment, nullptr.
TEST(SlabAllocator, AlignmentUpTo4096) {
    slab_allocator a;
    for (std::size_t c = 0; c < slab_allocator::class_count; ++c)
        for (int i = 0; i < 40; ++i) {
            void* p = a.allocate(slab_allocator::class_size(c), slab_allocator::class_align(c));
            ASSERT_TRUE(is_aligned(p, slab_allocator::class_align(c))) << "cache " << c;
        }
    shadow_heap heap(a);
    for (std::size_t align = 1; align <= 4096; align *= 2)
        for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{24}, align, std::min<std::size_t>(align + 8, 4096)}) {
            ASSERT_TRUE(heap.allocate(size, align)) << size << "/" << align;
            heap.free_newest();
        }
    slab_allocator b;
    auto* p = static_cast<char*>(b.allocate(24, 64));
    EXPECT_EQ(static_cast<char*>(b.allocate(24, 64)), p + 64);  // cache 64, not 24
    EXPECT_EQ(b.slab_counts(64).partial, 1u);
    b.deallocate(p, 24, 64);
    EXPECT_EQ(b.allocate(64, 1), p);  // the same cache took it back
    EXPECT_EQ(b.allocate(8, 8192), nullptr);
}

// Sizes above the largest cache and absurd sizes return nullptr and map nothing; size 0 is served.
TEST(SlabAllocator, RejectsAboveMaxSize) {
    slab_allocator a;
    EXPECT_EQ(a.allocate(4097, 8), nullptr);
    EXPECT_EQ(a.allocate(kMax, 8), nullptr);
    EXPECT_EQ(a.allocate(kMax - 4096, 16), nullptr);
    expect_same(a.stats(), {});
    void* p = a.allocate(0, 1);
    ASSERT_NE(p, nullptr);
    a.deallocate(p, 0, 1);
    a.deallocate(nullptr, 16, 8);
    EXPECT_EQ(a.stats().blocks, 0u);
}

// reset moves every slab to its cache's empty list (keeping all mapped, past the cap); the same
// load then runs without mapping, and reap() unmaps everything.
TEST(SlabAllocator, ResetEmptiesEverySlab) {
    slab_allocator a(1);
    const auto load = [&a] {
        for (int i = 0; i < 4000; ++i) ASSERT_NE(a.allocate(1 + (i * 53) % 4096, 8), nullptr);
    };
    load();
    const allocator_stats before = a.stats();
    const auto counts = a.slab_counts(128);
    a.reset();
    expect_same(a.stats(), {.bytes_requested = 0, .bytes_reserved = before.bytes_reserved, .chunks = before.chunks, .blocks = 0});
    expect_counts(a, 128, 0, 0, counts.partial + counts.full);
    load();
    EXPECT_EQ(a.stats().chunks, before.chunks);
    EXPECT_EQ(a.stats().bytes_requested, before.bytes_requested);
    a.reset();
    a.reap();
    expect_same(a.stats(), {});
}

// stats: live requested bytes and objects follow allocate and deallocate; each slab is a chunk.
TEST(SlabAllocator, StatsTrackLiveBlocks) {
    slab_allocator a;
    void* p10 = a.allocate(10, 1);
    void* p300 = a.allocate(300, 16);
    void* p4096 = a.allocate(4096, 4096);
    expect_same(a.stats(), {.bytes_requested = 4406,
                            .bytes_reserved = a.slab_bytes(10) + a.slab_bytes(300) + a.slab_bytes(4096),
                            .chunks = 3,
                            .blocks = 3});
    a.deallocate(p300, 300, 16);
    a.deallocate(p4096, 4096, 4096);
    EXPECT_EQ(a.stats().bytes_requested, 10u);
    EXPECT_EQ(a.stats().blocks, 1u);
    EXPECT_EQ(a.stats().chunks, 3u);  // emptied slabs are kept (under the cap)
    a.deallocate(p10, 10, 1);
    a.reap();
    expect_same(a.stats(), {});
}

// Seeded churn over every cache and alignment: live objects never overlap and keep their contents,
// stats stay exact, and once all is freed each cache holds at most the cap of empty slabs.
TEST(SlabAllocator, ChurnKeepsObjectsIntact) {
    slab_allocator a;
    shadow_heap heap(a);
    std::mt19937_64 rng(7);
    const auto pick = [&rng] {
        const std::size_t size = std::min<std::size_t>(4096, (std::size_t{1} << rng() % 12) + rng() % 300);
        return request{.size = size, .align = std::size_t{1} << rng() % 13};
    };
    ASSERT_NO_FATAL_FAILURE(churn(heap, rng, 30000, pick, {.max_live = 3001}));
    heap.verify_all();
    heap.expect_stats_match();
    heap.free_all();
    for (std::size_t c = 0; c < slab_allocator::class_count; ++c) {
        const auto counts = a.slab_counts(slab_allocator::class_size(c));
        EXPECT_EQ(counts.partial + counts.full, 0u);
        EXPECT_LE(counts.empty, 16u);
    }
    expect_same(a.stats(), {.bytes_requested = 0, .bytes_reserved = a.stats().bytes_reserved, .chunks = a.stats().chunks, .blocks = 0});
}

}  // namespace
