// The harness row's do-nothing allocator: every block of a thread starts at that thread's
// scratch (aligned as asked, as large as asked), nothing is freed, the scratch of a thread that
// grew or ended stays usable; and the registry runs it on every workload with the same
// operations as malloc, in plain runners only.
#include "harness/cell/do_nothing_allocator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>

#include "harness/cell/registry.hpp"
#include "harness/results/record.hpp"

using namespace allocmeter;

namespace {

bool aligned_to(const void* p, std::size_t align) { return reinterpret_cast<std::uintptr_t>(p) % align == 0; }

}  // namespace

// Every power-of-two alignment up to caps.max_align is honoured, and the block is writable to its end.
TEST(DoNothingAllocator, HonoursEveryAlignment) {
    do_nothing_allocator a;
    for (std::size_t align = 1; align <= do_nothing_allocator::caps.max_align; align *= 2) {
        void* p = a.allocate(100, align);
        ASSERT_NE(p, nullptr) << align;
        EXPECT_TRUE(aligned_to(p, align)) << align;
        std::memset(p, 0x5a, 100);
        a.deallocate(p, 100, align);
    }
}

// Blocks alias: a thread's blocks all start at its scratch, and a free changes nothing.
TEST(DoNothingAllocator, BlocksOfAThreadShareTheScratch) {
    do_nothing_allocator a;
    void* first = a.allocate(64, 16);
    void* second = a.allocate(32, 8);
    EXPECT_EQ(first, second);
    a.deallocate(first, 64, 16);
    EXPECT_EQ(a.allocate(16, 16), first);
}

// Size 0 gets a usable pointer, as malloc(0) does (a trace may ask for it).
TEST(DoNothingAllocator, ZeroSizeIsNotNull) {
    do_nothing_allocator a;
    EXPECT_NE(a.allocate(0, 1), nullptr);
}

// A block larger than the scratch grows it (64 MiB here, written at both ends); the old
// scratch stays mapped, since its blocks may still be written.
TEST(DoNothingAllocator, LargeBlockGrowsTheScratchAndKeepsTheOld) {
    do_nothing_allocator a;
    auto* small = static_cast<unsigned char*>(a.allocate(4096, 16));
    ASSERT_NE(small, nullptr);
    constexpr std::size_t large = std::size_t{64} << 20;
    auto* big = static_cast<unsigned char*>(a.allocate(large, 4096));
    ASSERT_NE(big, nullptr);
    EXPECT_GE(do_nothing_allocator::scratch_bytes(), large);
    big[0] = 1;
    big[large - 1] = 2;
    small[0] = 3;  // the old scratch: still mapped
    small[4095] = 4;
    EXPECT_EQ(small[0] + small[4095], 7);
    // Smaller blocks now come from the new scratch.
    EXPECT_EQ(a.allocate(16, 16), big);
}

// A request the address space cannot hold is refused with nullptr, not a crash.
TEST(DoNothingAllocator, ImpossibleSizeIsNull) {
    do_nothing_allocator a;
    EXPECT_EQ(a.allocate(SIZE_MAX, 16), nullptr);
    EXPECT_EQ(a.allocate(SIZE_MAX - 4096, 16), nullptr);
    EXPECT_NE(a.allocate(16, 16), nullptr);  // and the scratch still serves
}

// Thread safety is trivial: each thread has a scratch of its own; a block of a thread that has
// ended can still be written and freed by another (a trace's cross-thread free).
TEST(DoNothingAllocator, EachThreadHasItsOwnScratch) {
    do_nothing_allocator shared;
    void* here = shared.allocate(256, 16);
    void* there = nullptr;
    std::thread([&] {
        there = shared.allocate(256, 16);
        std::memset(there, 1, 256);
    }).join();
    ASSERT_NE(there, nullptr);
    EXPECT_NE(there, here);
    std::memset(there, 2, 256);  // the ended thread's scratch is still mapped
    shared.deallocate(there, 256, 16);
}

// Its capabilities let it run every workload at any thread count and every trace.
TEST(DoNothingAllocator, CanServeEveryWorkload) {
    for (const workload_info& w : workloads())
        for (const unsigned threads : {1u, 2u, 64u})
            EXPECT_EQ(skip_reason(do_nothing_allocator::caps, w.needs, threads), "") << w.name << " t" << threads;
    EXPECT_NE(find_trace_runner(harness_allocator_name), nullptr);
}

// The registry knows it as `harness`, with plain runners only: no --verify runner (its blocks
// overlap, which the tags would report) and no callgrind boundary runner.
TEST(DoNothingAllocator, RegisteredAsHarnessWithPlainRunnersOnly) {
    EXPECT_EQ(harness_allocator().name, harness_allocator_name);
    EXPECT_FALSE(harness_allocator().summary.empty());
    for (const workload_info& w : workloads()) {
        EXPECT_NE(find_runner(harness_allocator_name, w.name), nullptr) << w.name;
        EXPECT_EQ(find_runner(harness_allocator_name, w.name, runner_kind::verified), nullptr) << w.name;
        EXPECT_EQ(find_runner(harness_allocator_name, w.name, runner_kind::boundary), nullptr) << w.name;
    }
    EXPECT_EQ(find_trace_runner(harness_allocator_name, runner_kind::verified), nullptr);
    EXPECT_EQ(find_trace_runner(harness_allocator_name, runner_kind::boundary), nullptr);
}

// Aliasing blocks change nothing in what the workloads do: on every workload, on 1 and 2
// threads, the same operations (count and checksum) as on malloc.
TEST(DoNothingAllocator, SameOperationsAsMallocOnEveryWorkload) {
    for (const workload_info& w : workloads())
        for (const unsigned threads : {1u, 2u}) {
            const workload_config config{scale::quick, 3, threads, 64};
            const workload_result on_malloc = find_runner(malloc_runner_name, w.name)(config, nullptr);
            const workload_result on_harness = find_runner(harness_allocator_name, w.name)(config, nullptr);
            EXPECT_GT(on_harness.ops, 0u) << w.name;
            EXPECT_EQ(on_harness.ops, on_malloc.ops) << w.name << " t" << threads;
            EXPECT_EQ(on_harness.checksum, on_malloc.checksum) << w.name << " t" << threads;
        }
}
