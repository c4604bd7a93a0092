// tracked_heap::resize: a realloc through the allocator's own reallocate where it has one
// (malloc's), else allocate, copy and free; the kept bytes survive, the gained ones are
// written, and the meter counts one operation with the new size live. Also checks the
// observing allocator that the workload tests use.
#include <gtest/gtest.h>

#include <cstring>

#include "allocators/malloc_allocator.hpp"
#include "allocators/segregated_allocator.hpp"
#include "workloads/block_tag.hpp"
#include "workloads/tests/observing_allocator.hpp"
#include "workloads/tracked_heap.hpp"

using namespace allocmeter;

namespace {

template <class A>
void grows_and_keeps_its_bytes() {
    A a;
    op_meter meter(nullptr);
    tracked_heap<A> heap(a, meter);
    auto b = heap.make(100);
    if constexpr (!is_verified<A>) std::memset(b.p, 0x5a, 100);
    heap.resize(b, 5000);
    EXPECT_EQ(b.size, 5000u);
    EXPECT_EQ(meter.ops(), 2u);
    EXPECT_EQ(meter.peak_live(), 5000);
    if constexpr (!is_verified<A>) {
        const auto* bytes = static_cast<const unsigned char*>(b.p);
        for (int i = 0; i < 100; ++i) ASSERT_EQ(bytes[i], 0x5a) << i;
    }
    heap.resize(b, 40);
    EXPECT_EQ(b.size, 40u);
    heap.free(b);
    EXPECT_EQ(meter.ops(), 4u);
}

}  // namespace

TEST(Resize, ThroughReallocate) { grows_and_keeps_its_bytes<malloc_allocator>(); }
TEST(Resize, ThroughAllocateCopyFree) { grows_and_keeps_its_bytes<segregated_allocator<>>(); }
TEST(Resize, VerifiedRetagsTheBlock) { grows_and_keeps_its_bytes<verified<segregated_allocator<>>>(); }

// The observer sees one realloc (not an allocation and a free), the sizes, and a remote free.
TEST(Resize, ObserverCountsReallocsAndRemoteFrees) {
    test_support::observer::instance().reset();
    test_support::observing_allocator a;
    op_meter meter(nullptr);
    tracked_heap<test_support::observing_allocator> heap(a, meter);
    auto b = heap.make(64);
    heap.resize(b, 128);
    auto c = heap.make(32);
    std::thread([&] { heap.free_handed_over(c); }).join();
    heap.free(b);
    const test_support::observation o = test_support::observer::instance().seen();
    EXPECT_EQ(o.allocations, 2u);
    EXPECT_EQ(o.reallocs, 1u);
    EXPECT_EQ(o.moved_reallocs, 1u);
    EXPECT_EQ(o.frees, 2u);
    EXPECT_EQ(o.remote_frees, 1u);
    EXPECT_EQ(o.sizes_between(64, 128), 2u);
    EXPECT_EQ(o.live, 0u);
    EXPECT_EQ(o.peak_live_bytes, 160u);
    EXPECT_EQ(o.threads_allocating, 1u);
}

// A block freed after the thread that allocated it ended counts as outlived.
TEST(Resize, ObserverSeesBlocksOutliveTheirThread) {
    test_support::observer::instance().reset();
    test_support::observing_allocator a;
    void* p = nullptr;
    std::thread([&] { p = a.allocate(48, 16); }).join();
    a.deallocate(p, 48, 16);
    const test_support::observation o = test_support::observer::instance().seen();
    EXPECT_EQ(o.outlived, 1u);
    EXPECT_EQ(o.remote_frees, 1u);
}
