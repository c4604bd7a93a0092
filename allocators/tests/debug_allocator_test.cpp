// Focused tests for debug<A>: the capabilities it derives from A, fill and poison patterns,
// every detection (double free, invalid free, size and alignment mismatch, overflow, underflow)
// as a death test, the leak report, reset, and stats, over a bump_allocator (no individual free)
// and a pool_allocator<256> (individual free).
#include "allocators/debug_allocator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "allocators/arena_allocator.hpp"
#include "allocators/bump_allocator.hpp"
#include "allocators/pool_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::arena_allocator;
using allocmeter::bump_allocator;
using allocmeter::capabilities_consistent;
using allocmeter::debug;
using allocmeter::pool_allocator;
using allocmeter::resettable;

constexpr std::size_t kMiB = std::size_t{1} << 20;

using debug_bump = debug<bump_allocator>;
using debug_pool = debug<pool_allocator<256>>;

std::string address(const void* p) {
    char text[32];
    std::snprintf(text, sizeof text, "%p", p);
    return text;
}

// Capabilities are A's: max_size less the overhead; max_align kept when A's blocks have room.
static_assert(debug_bump::caps.max_align == 4096 && debug_bump::caps.reset);
static_assert(!debug_bump::caps.individual_free && !debug_bump::caps.thread_safe);
static_assert(debug_bump::caps.max_size == kMax - 4096 - 16);
static_assert(debug_pool::caps.individual_free && debug_pool::caps.reset);
static_assert(debug_pool::caps.max_align == 128);  // 256 + 16 would not fit a 256-byte block
static_assert(debug_pool::caps.max_size == 256 - 128 - 16 && debug_pool::caps.fixed_size == 112);
static_assert(capabilities_consistent<debug_bump>() && capabilities_consistent<debug_pool>());
static_assert(capabilities_consistent<debug<arena_allocator>>() && resettable<debug<arena_allocator>>);

// Every alignment up to 4096 gives an aligned block, filled with the fresh pattern, between guards.
TEST(DebugAllocator, AlignsAndFillsFreshBlocks) {
    debug_bump a(16 * kMiB);
    for (std::size_t align = 1; align <= 4096; align *= 2) {
        for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{100}}) {
            auto* p = static_cast<unsigned char*>(a.allocate(size, align));
            ASSERT_NE(p, nullptr) << "align " << align;
            EXPECT_TRUE(is_aligned(p, align)) << "align " << align;
            EXPECT_TRUE(holds(p, size, debug_bump::fresh_fill));
            EXPECT_TRUE(holds(p + size, debug_bump::guard_size, debug_bump::guard_fill));
            EXPECT_TRUE(holds(p - debug_bump::guard_size, debug_bump::guard_size, debug_bump::guard_fill));
            a.deallocate(p, size, align);
        }
    }
    EXPECT_EQ(a.live_blocks(), 0u);
}

// A freed block is poisoned; over a bump allocator the poison stays, as nothing reuses it.
TEST(DebugAllocator, PoisonsFreedBlocks) {
    debug_bump a(kMiB);
    auto* p = static_cast<unsigned char*>(a.allocate(200, 16));
    std::memset(p, 0x11, 200);
    a.deallocate(p, 200, 16);
    EXPECT_TRUE(holds(p, 200, debug_bump::freed_fill));
    ASSERT_NE(a.allocate(8, 8), nullptr);
    EXPECT_TRUE(holds(p, 200, debug_bump::freed_fill));
    debug_pool b;
    auto* q = static_cast<unsigned char*>(b.allocate(100, 8));
    std::memset(q, 0x22, 100);
    b.deallocate(q, 100, 8);
    EXPECT_TRUE(holds(q, 100, debug_pool::freed_fill));  // the pool's link sits in the header
}

// Over a pool, a freed block goes back to the pool and is handed out again, freshly filled.
TEST(DebugAllocator, PoolReusesFreedBlocks) {
    debug_pool a;
    auto* p = static_cast<unsigned char*>(a.allocate(112, 128));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(is_aligned(p, 128));
    EXPECT_EQ(a.allocate(113, 8), nullptr);  // past caps.max_size
    EXPECT_EQ(a.allocate(8, 256), nullptr);  // past caps.max_align
    a.deallocate(p, 112, 128);
    EXPECT_EQ(a.inner().stats().blocks, 0u);
    auto* q = static_cast<unsigned char*>(a.allocate(50, 8));
    EXPECT_EQ(q, p - 128 + 64);  // same pool block, header now at its start
    EXPECT_TRUE(holds(q, 50, debug_pool::fresh_fill));
    a.deallocate(q, 50, 8);
}

// Huge sizes and alignments fail without wrapping and leave nothing live.
TEST(DebugAllocator, HugeRequestsFail) {
    debug_bump a(kMiB);
    for (std::size_t size : {kMax, kMax - 1, kMax - 4112, kMax - 4111, kMiB})
        EXPECT_EQ(a.allocate(size, 8), nullptr) << "size " << size;
    EXPECT_EQ(a.allocate(8, std::size_t{1} << 63), nullptr);
    EXPECT_EQ(a.live_blocks(), 0u);
    EXPECT_EQ(a.inner().used(), 0u);
}

// stats: the caller's live bytes and blocks, exact even over a bump allocator; A's mappings.
TEST(DebugAllocator, StatsCountCallerBytes) {
    debug_bump a(kMiB);
    void* p = a.allocate(10, 8);
    void* q = a.allocate(30, 64);
    EXPECT_EQ(a.stats().bytes_requested, 40u);
    EXPECT_EQ(a.stats().blocks, 2u);
    EXPECT_EQ(a.stats().bytes_reserved, a.inner().stats().bytes_reserved);
    EXPECT_EQ(a.stats().chunks, 1u);
    a.deallocate(p, 10, 8);
    EXPECT_EQ(a.stats().bytes_requested, 30u);
    EXPECT_EQ(a.stats().blocks, 1u);
    EXPECT_EQ(a.inner().stats().blocks, 2u);  // bump itself never sees a block go
    a.deallocate(q, 30, 64);
    EXPECT_EQ(a.stats().blocks, 0u);
}

// reset poisons and forgets every live block, resets A, and leaves nothing to report.
TEST(DebugAllocator, ResetForgetsLiveBlocks) {
    auto* a = new debug_pool;
    auto* p = static_cast<unsigned char*>(a->allocate(64, 8));
    ASSERT_NE(a->allocate(32, 8), nullptr);
    a->reset();
    EXPECT_EQ(a->live_blocks(), 0u);
    EXPECT_EQ(a->stats().bytes_requested, 0u);
    EXPECT_TRUE(holds(p, 64, debug_pool::freed_fill));
    ASSERT_NE(a->allocate(16, 8), nullptr);
    a->reset();
    testing::internal::CaptureStderr();
    delete a;
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

// Destroying a pool wrapper with live blocks prints count, bytes, and the newest blocks.
TEST(DebugAllocator, LeakReportAtDestruction) {
    std::vector<void*> blocks;
    testing::internal::CaptureStderr();
    {
        debug_pool a;
        for (std::size_t i = 0; i < 10; ++i) blocks.push_back(a.allocate(10 + i, 8));
        a.deallocate(blocks[3], 13, 8);
    }
    const std::string report = testing::internal::GetCapturedStderr();
    EXPECT_NE(report.find("leak report: 9 blocks (132 bytes) still live"), std::string::npos) << report;
    EXPECT_NE(report.find(address(blocks[9]) + ": size 19, align 8"), std::string::npos) << report;
    EXPECT_EQ(report.find(address(blocks[3]) + ":"), std::string::npos) << report;  // freed
    EXPECT_EQ(report.find(address(blocks[0]) + ":"), std::string::npos) << report;  // past 8 listed
    EXPECT_NE(report.find("... and 1 more"), std::string::npos) << report;
}

// Over a bump allocator destruction is the bulk release: no report, unless asked for.
TEST(DebugAllocator, BumpWrapperReportsOnlyOnRequest) {
    testing::internal::CaptureStderr();
    {
        debug_bump a(kMiB);
        void* p = a.allocate(24, 8);
        EXPECT_EQ(a.report_leaks(), 1u);
        a.deallocate(p, 24, 8);
        EXPECT_EQ(a.report_leaks(), 0u);
        ASSERT_NE(a.allocate(48, 8), nullptr);
    }
    const std::string report = testing::internal::GetCapturedStderr();
    EXPECT_NE(report.find("leak report: 1 blocks (24 bytes)"), std::string::npos) << report;
    EXPECT_EQ(report.find("48 bytes"), std::string::npos) << report;
}

// Random churn with random frees keeps every live block intact and the counters exact.
TEST(DebugAllocator, ChurnKeepsGuardsIntact) {
    debug_pool a;
    shadow_heap heap(a);  // every free checks the block, then deallocate aborts if a neighbour hit the guards
    std::mt19937_64 rng(5);
    ASSERT_NO_FATAL_FAILURE(churn(heap, rng, 20000, [&rng] { return request{.size = rng() % 113, .align = 16}; }));
    EXPECT_EQ(a.live_blocks(), heap.blocks().size());
    heap.reset();
}

// Freeing a block twice names the pointer and says it was already freed.
TEST(DebugAllocatorDeathTest, DoubleFree) {
    debug_bump a(kMiB);
    void* p = a.allocate(40, 8);
    a.deallocate(p, 40, 8);
    EXPECT_DEATH(a.deallocate(p, 40, 8), "double free of " + address(p) + " \\(size 40, align 8\\)");
    debug_pool b;  // before the pool hands the block out again, the header still says freed
    void* q = b.allocate(40, 8);
    b.deallocate(q, 40, 8);
    EXPECT_DEATH(b.deallocate(q, 40, 8), "double free of " + address(q));
}

// A pointer this allocator never returned fails the header magic check.
TEST(DebugAllocatorDeathTest, InvalidFree) {
    debug_bump a(kMiB);
    auto* p = static_cast<unsigned char*>(a.allocate(256, 16));
    EXPECT_DEATH(a.deallocate(p + 128, 16, 16),
                 "invalid free of " + address(p + 128) + ": header magic is 0x[0-9a-f]+, expected");
    EXPECT_DEATH(a.deallocate(p + 3, 16, 1), "invalid free of " + address(p + 3) + ": misaligned");
    debug_bump other(kMiB);
    void* q = other.allocate(8, 8);
    EXPECT_DEATH(a.deallocate(q, 8, 8), "belongs to debug allocator " + address(&other));
}

// Freeing with a size or alignment other than the allocation's names both values.
TEST(DebugAllocatorDeathTest, SizeAndAlignmentMismatch) {
    debug_pool a;
    void* p = a.allocate(24, 16);
    EXPECT_DEATH(a.deallocate(p, 32, 16),
                 "size mismatch freeing " + address(p) + ": deallocate passes size 32, .*allocated with size 24");
    EXPECT_DEATH(a.deallocate(p, 24, 8),
                 "alignment mismatch freeing " + address(p) + ": deallocate passes align 8, .*allocated with align 16");
    a.deallocate(p, 24, 16);  // the right size and alignment pass
}

// Writing past the end or before the start is caught at free, with the offset and the byte.
TEST(DebugAllocatorDeathTest, OverflowAndUnderflow) {
    debug_bump a(kMiB);
    auto* p = static_cast<unsigned char*>(a.allocate(20, 8));
    p[21] = 0x41;
    EXPECT_DEATH(a.deallocate(p, 20, 8),
                 "buffer overflow past " + address(p) + " \\(size 20\\): guard byte at offset 21 is 0x41, expected 0xfd");
    auto* q = static_cast<unsigned char*>(a.allocate(20, 8));
    q[-1] = 0x00;
    EXPECT_DEATH(a.deallocate(q, 20, 8),
                 "buffer underflow before " + address(q) + " \\(size 20\\): guard byte at offset -1 is 0x00");
}

}  // namespace
