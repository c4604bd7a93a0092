// Focused tests for segregated_allocator: the size-class table at every boundary, objects of a
// class sharing a span, LIFO reuse, large mappings, the empty-span policy (retain, purge, unmap),
// alignment up to 4096, reset, stats, and a seeded churn with overlap and content checks.
#include "allocators/segregated_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <vector>

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::allocator_stats;
using allocmeter::capabilities_consistent;
using allocmeter::segregated_allocator;
using allocmeter::os::page_size;
using seg = segregated_allocator<>;

std::uintptr_t span_base(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) & ~(seg::span_bytes - 1);
}

static_assert(seg::class_count == 40);
static_assert(seg::class_size(0) == 16 && seg::class_size(7) == 128 && seg::class_size(8) == 160);
static_assert(seg::class_size(seg::class_count - 1) == seg::max_small_size);
static_assert(seg::size_class(0) == 0 && seg::size_class(129) == 8 && seg::size_class(32768) == 39);
static_assert(seg::class_align(2) == 16 && seg::class_align(11) == 256 && seg::class_align(39) == 4096);
static_assert(capabilities_consistent<seg>());
static_assert(capabilities_consistent<segregated_allocator<64 * 1024, 128 * 1024>>());

// Every class maps back to itself at its size N, and N + 1 falls in the next class; the spacing is
// 16 bytes to 128, then four classes per doubling.
TEST(SegregatedAllocator, ClassMappingExactAtEveryBoundary) {
    EXPECT_EQ(seg::size_class(1), 0u);
    std::size_t previous = 0;
    for (std::size_t c = 0; c < seg::class_count; ++c) {
        const std::size_t n = seg::class_size(c);
        EXPECT_EQ(seg::size_class(n), c) << "size " << n;
        EXPECT_EQ(seg::size_class(previous + 1), c) << "size " << previous + 1;
        if (c + 1 < seg::class_count) {
            EXPECT_EQ(seg::size_class(n + 1), c + 1) << "size " << n + 1;
        }
        const std::size_t step = n <= 128 ? 16 : std::bit_floor(n - 1) / 4;
        EXPECT_EQ(n - previous, step) << "class " << c;
        previous = n;
    }
    for (std::size_t size = 1; size <= seg::max_small_size; ++size) {  // exhaustive: smallest class that fits
        const std::size_t c = seg::size_class(size);
        ASSERT_GE(seg::class_size(c), size);
        ASSERT_TRUE(c == 0 || seg::class_size(c - 1) < size) << size;
    }
}

// Objects of one class are carved consecutively from one span (found by masking) until it is full;
// another class takes a span of its own.
TEST(SegregatedAllocator, ObjectsOfAClassShareASpan) {
    seg a;
    const std::size_t per_span = seg::span_bytes / 160;
    std::vector<char*> objects;
    for (std::size_t i = 0; i < per_span; ++i) objects.push_back(static_cast<char*>(a.allocate(150, 8)));
    for (std::size_t i = 0; i < per_span; ++i) {
        ASSERT_EQ(span_base(objects[i]), span_base(objects[0])) << i;
        ASSERT_EQ(objects[i], objects[0] + 160 * i) << i;
    }
    void* next = a.allocate(150, 8);
    EXPECT_NE(span_base(next), span_base(objects[0]));
    void* other = a.allocate(64, 8);
    EXPECT_NE(span_base(other), span_base(objects[0]));
    EXPECT_NE(span_base(other), span_base(next));
    EXPECT_EQ(a.stats().chunks, 1u);  // three spans, one segment
}

// A freed object is the next one handed out for its class, last in first out.
TEST(SegregatedAllocator, FreedObjectReusedLifo) {
    seg a;
    expect_reused_lifo(a, {{{40, 8}, {48, 8}, {33, 8}}}, {{{48, 16}, {35, 1}, {48, 8}}});  // all of class 48
    // An object freed into a full span that had left its class list is reused next, too.
    seg b;
    std::vector<void*> first_span;
    for (std::size_t i = 0; i < seg::span_bytes / 1024; ++i) first_span.push_back(b.allocate(1000, 8));
    void* second_span = b.allocate(1000, 8);
    ASSERT_NE(span_base(second_span), span_base(first_span[0]));
    b.deallocate(first_span[5], 1000, 8);
    EXPECT_EQ(b.allocate(1000, 8), first_span[5]);
}

// Sizes above 32 KiB get a mapping each (one chunk, page multiples), unmapped on free; 32 KiB
// itself is a class.
TEST(SegregatedAllocator, LargeSizesMapAndAreKeptForReuse) {
    seg a;
    void* small = a.allocate(seg::max_small_size, 4096);
    ASSERT_NE(small, nullptr);
    const allocator_stats base = a.stats();
    EXPECT_EQ(base.chunks, 1u);
    for (std::size_t size : {seg::max_small_size + 1, std::size_t{100000}, std::size_t{1} << 20}) {
        auto* p = static_cast<unsigned char*>(a.allocate(size, 4096));
        ASSERT_NE(p, nullptr) << size;
        EXPECT_TRUE(is_aligned(p, page_size()));
        std::memset(p, 0x5A, size);
        const allocator_stats s = a.stats();
        EXPECT_EQ(s.chunks, base.chunks + 1);
        const std::uint64_t mapped = s.bytes_reserved - base.bytes_reserved;
        EXPECT_EQ(mapped % page_size(), 0u);
        EXPECT_GE(mapped, size);
        EXPECT_LE(mapped, size + size / 4 + 2 * page_size());  // a large-mapping class: at most 25% more
        EXPECT_EQ(s.bytes_requested, base.bytes_requested + size);
        a.deallocate(p, size, 4096);
        EXPECT_EQ(a.stats().chunks, base.chunks + 1);         // kept for reuse, still held
        EXPECT_EQ(a.allocate(size, 4096), p);                  // and reused by the same size
        a.deallocate(p, size, 4096);
        a.trim();                                              // trim unmaps kept mappings
        expect_same(a.stats(), base);
    }
}

// Policy: an emptied span is retained dirty up to the cap, beyond it purged and given back to its
// segment (reused from there), and a segment with no span in use is unmapped by trim().
TEST(SegregatedAllocator, EmptySpansRetainedThenReturned) {
    seg a(/*retained_spans=*/1);
    constexpr std::size_t size = seg::max_small_size;  // two objects per span
    std::vector<void*> o;
    for (int i = 0; i < 6; ++i) o.push_back(a.allocate(size, 8));
    const std::set<std::uintptr_t> spans{span_base(o[0]), span_base(o[2]), span_base(o[4])};
    ASSERT_EQ(spans.size(), 3u);
    ASSERT_EQ(span_base(o[1]), span_base(o[0]));
    a.deallocate(o[0], size, 8);
    a.deallocate(o[1], size, 8);  // first span empty: retained
    EXPECT_EQ(a.retained_spans(), 1u);
    a.deallocate(o[2], size, 8);
    a.deallocate(o[3], size, 8);  // second span retained, over the cap: the oldest is purged
    EXPECT_EQ(a.retained_spans(), 1u);
    EXPECT_EQ(a.stats().chunks, 1u);
    EXPECT_EQ(a.allocate(size, 8), o[2]);  // the retained span serves first
    EXPECT_EQ(a.retained_spans(), 0u);
    EXPECT_EQ(a.allocate(size, 8), o[3]);
    EXPECT_EQ(a.allocate(size, 8), o[0]);  // then the purged one, from its segment
    for (void* p : {o[0], o[2], o[3], o[4], o[5]}) a.deallocate(p, size, 8);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().chunks, 1u);  // the class keeps its one span with room
    a.trim();
    expect_same(a.stats(), {});
    EXPECT_NE(a.allocate(size, 8), nullptr);
    EXPECT_EQ(a.stats().chunks, 1u);
}

// Policy: retained spans that sit idle through a whole window of `decay` span acquisitions are
// purged (eagerly here, so their bytes read as zero) and handed back; ones being taken stay.
TEST(SegregatedAllocator, IdleRetainedSpanDecays) {
    using one_per_span = segregated_allocator<32 * 1024, 1024 * 1024>;  // a 32 KiB object fills a span
    constexpr std::size_t size = one_per_span::max_small_size;
    constexpr std::size_t decay = 4;
    one_per_span a(/*max_retained_spans=*/100, decay, allocmeter::os::purge_mode::eager);
    std::vector<unsigned char*> p;
    for (int i = 0; i < 4; ++i) p.push_back(static_cast<unsigned char*>(a.allocate(size, 8)));
    std::memset(p[0] + 8, 0xAB, size - 8);
    for (int i = 0; i < 3; ++i) a.deallocate(p[i], size, 8);  // p[0]'s span is the oldest retained
    ASSERT_EQ(a.retained_spans(), 3u);
    // Each cycle takes one retained span (the first takes two) and retires one: p[0]'s stays idle
    // at the bottom and is purged at the end of the first full window.
    std::size_t cycle = 1;
    for (; cycle <= 3 * decay && a.retained_spans() == 2u + (cycle == 1); ++cycle) {
        ASSERT_TRUE(holds(p[0] + 8, size - 8, 0xAB)) << "cycle " << cycle;
        void* u = a.allocate(size, 8);
        void* v = a.allocate(size, 8);
        a.deallocate(u, size, 8);
        a.deallocate(v, size, 8);
    }
    EXPECT_GT(cycle, decay);  // not before a whole window has passed
    EXPECT_LE(cycle, 2 * decay + 1);
    EXPECT_EQ(a.retained_spans(), 1u);
    EXPECT_TRUE(holds(p[0] + 8, size - 8, 0));
    EXPECT_EQ(a.stats().chunks, 1u);
    std::set<void*> next;  // the listed span, the retained one, then the segment's lowest free span
    for (int i = 0; i < 3; ++i) next.insert(a.allocate(size, 8));
    EXPECT_EQ(next.count(p[0]), 1u);
}

// A batch freed and allocated again every cycle reuses its retained spans: nothing is mapped,
// purged or unmapped after the first cycle.
TEST(SegregatedAllocator, BatchCyclesReuseRetainedSpans) {
    seg a;
    constexpr std::size_t size = 20000, batch = 300;  // 100 spans of three objects
    std::vector<void*> first, again;
    for (std::size_t i = 0; i < batch; ++i) first.push_back(a.allocate(size, 8));
    const allocator_stats mapped = a.stats();
    for (int cycle = 0; cycle < 5; ++cycle) {
        for (void* q : first) a.deallocate(q, size, 8);
        EXPECT_EQ(a.retained_spans(), batch / 3 - 1);  // one stays with its class
        again.clear();
        for (std::size_t i = 0; i < batch; ++i) again.push_back(a.allocate(size, 8));
        EXPECT_EQ(std::set<void*>(again.begin(), again.end()), std::set<void*>(first.begin(), first.end()));
        expect_same(a.stats(), mapped);
    }
}

// An allocate/free pair of one class at a span boundary keeps reusing the same span.
TEST(SegregatedAllocator, SoleEmptySpanStaysWithItsClass) {
    seg a(/*retained_spans=*/0);
    void* p = a.allocate(24, 8);
    for (int i = 0; i < 100; ++i) {
        a.deallocate(p, 24, 8);
        ASSERT_EQ(a.allocate(24, 8), p);
    }
    EXPECT_EQ(a.stats().chunks, 1u);
}

// Every class is aligned to its natural alignment; every alignment 1..4096 works for small and
// large sizes, an over-aligned small request uses the smallest class that is a multiple of align.
TEST(SegregatedAllocator, AlignmentUpTo4096) {
    seg a;
    for (std::size_t c = 0; c < seg::class_count; ++c)
        for (int i = 0; i < 3; ++i)
            EXPECT_TRUE(is_aligned(a.allocate(seg::class_size(c), seg::class_align(c)), seg::class_align(c)));
    shadow_heap heap(a);
    for (std::size_t align = 1; align <= 4096; align *= 2)
        for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{24}, align, align + 8,
                                 std::size_t{5000}, std::size_t{40000}})
            ASSERT_TRUE(heap.allocate(size, align)) << size << "/" << align;
    heap.verify_all();
    seg b;
    char* p = static_cast<char*>(b.allocate(24, 64));
    EXPECT_EQ(static_cast<char*>(b.allocate(24, 64)), p + 64);  // class 64, not 32
    char* q = static_cast<char*>(b.allocate(100, 4096));
    EXPECT_EQ(static_cast<char*>(b.allocate(100, 4096)), q + 4096);  // class 4096
    EXPECT_EQ(a.allocate(16, 8192), nullptr);
    EXPECT_EQ(a.allocate(40000, 8192), nullptr);
}

// Size 0 gets a usable block; absurd sizes return nullptr without mapping anything.
TEST(SegregatedAllocator, ZeroSizeAndHugeSizes) {
    seg a;
    EXPECT_EQ(a.allocate(kMax, 8), nullptr);
    EXPECT_EQ(a.allocate(kMax - 4096, 16), nullptr);
    EXPECT_EQ(a.allocate(kMax / 2 + 1, 8), nullptr);
    expect_same(a.stats(), {});
    void* p = a.allocate(0, 1);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(a.stats().blocks, 1u);
    a.deallocate(p, 0, 1);
    a.deallocate(nullptr, 16, 8);
    EXPECT_EQ(a.stats().blocks, 0u);
}

// reset frees every block: large mappings are kept for reuse, segments stay and serve the same load
// again without a new mapping; trim() after reset unmaps them all.
TEST(SegregatedAllocator, ResetFreesEverything) {
    seg a;
    const auto load = [&a] {
        for (int i = 0; i < 3000; ++i) ASSERT_NE(a.allocate(16 + (i * 37) % 3000, 16), nullptr);
    };
    load();
    ASSERT_NE(a.allocate(200000, 64), nullptr);
    const std::uint64_t segments = a.stats().chunks - 1;
    const std::uint64_t large = a.stats().bytes_reserved - segments * seg::segment_bytes;
    a.reset();
    expect_same(a.stats(), {.bytes_requested = 0,
                            .bytes_reserved = segments * seg::segment_bytes + large,
                            .chunks = segments + 1,  // the large mapping, kept for reuse
                            .blocks = 0});
    EXPECT_TRUE(is_aligned(a.allocate(3000, 8), seg::span_bytes));  // a span carved anew
    load();
    EXPECT_EQ(a.stats().chunks, segments + 1);
    a.reset();
    a.trim();
    expect_same(a.stats(), {});
    EXPECT_NE(a.allocate(1, 1), nullptr);
}

// stats: live blocks and requested bytes follow allocate and deallocate; segments are reserved.
TEST(SegregatedAllocator, StatsTrackLiveBlocks) {
    seg a;
    expect_same(a.stats(), {});
    void* p10 = a.allocate(10, 1);
    void* p300 = a.allocate(300, 16);
    void* p_large = a.allocate(50000, 8);
    const std::uint64_t large = a.stats().bytes_reserved - seg::segment_bytes;
    expect_same(a.stats(), {.bytes_requested = 50310,
                            .bytes_reserved = seg::segment_bytes + large,
                            .chunks = 2,
                            .blocks = 3});
    a.deallocate(p300, 300, 16);
    a.deallocate(p_large, 50000, 8);  // its mapping is kept for reuse, still held
    expect_same(a.stats(),
                {.bytes_requested = 10, .bytes_reserved = seg::segment_bytes + large, .chunks = 2, .blocks = 1});
    a.deallocate(p10, 10, 1);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
}

// Seeded churn over all classes and some large sizes: live blocks never overlap, keep their
// contents, stats stay exact, and freeing everything then trim() returns every mapping.
TEST(SegregatedAllocator, ChurnKeepsBlocksIntactAndReturnsMemory) {
    seg a(2, 64, allocmeter::os::purge_mode::eager);
    shadow_heap heap(a);
    std::mt19937_64 rng(99);
    const auto pick = [&rng] {
        const std::size_t size = rng() % 64 == 0 ? 32768 + rng() % 100000 : (std::size_t{1} << rng() % 15) + rng() % 600;
        return request{.size = size, .align = std::size_t{1} << rng() % 13};
    };
    ASSERT_NO_FATAL_FAILURE(churn(heap, rng, 30000, pick, {.max_live = 3001}));
    heap.verify_all();
    heap.expect_stats_match();
    heap.free_all();
    a.trim();
    expect_same(a.stats(), {});
}

}  // namespace
