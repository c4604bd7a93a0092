// Focused tests for thread_cache_allocator: size classes, cache hits, batch refill and return,
// remote frees, caches given back at thread exit, many instances (alive together, created and
// destroyed with threads, destroyed under a live thread), a 4-thread stress, and large objects.
#include "allocators/thread_cache_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <semaphore>
#include <set>
#include <thread>
#include <vector>

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::thread_cache_allocator;
using allocmeter::thread_cache_config;
using tca = thread_cache_allocator;

// Every size 0..32 KiB maps to the smallest class that holds it, with at most 25% waste above
// 128 B; with an alignment, the class's objects are aligned enough and still hold the size.
TEST(ThreadCacheAllocator, SizeClassesAreTightAndAligned) {
    for (unsigned c = 1; c < tca::classes; ++c) ASSERT_GT(tca::class_size(c), tca::class_size(c - 1));
    for (std::size_t size = 0; size <= tca::max_small; ++size) {
        const unsigned c = tca::size_class(size);
        ASSERT_LT(c, tca::classes);
        ASSERT_GE(tca::class_size(c), size);
        if (c > 0) {
            ASSERT_LT(tca::class_size(c - 1), size) << size;
        }
        if (size > 128) {
            ASSERT_LE(tca::class_size(c) * 4, size * 5) << size;
        }
    }
    for (std::size_t align = 1; align <= 4096; align *= 2)
        for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{48}, align - 1, align + 16, std::size_t{20000}}) {
            const unsigned c = tca::size_class(size, align);
            ASSERT_LT(c, tca::classes);
            EXPECT_GE(tca::class_size(c), size);
            EXPECT_EQ(tca::class_size(c) % align, 0u) << size << "/" << align;
        }
}

// The first allocation misses and fetches one batch (carved fresh); the rest of that batch
// is served from the cache with no further central traffic; a freed object comes back first.
TEST(ThreadCacheAllocator, MissFetchesABatchThenHits) {
    tca a;
    const std::uint32_t batch = a.batch_objects(64);
    ASSERT_GE(batch, 2u);
    void* first = a.allocate(64, 16);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(a.counters(64).batches_fetched, 1u);
    EXPECT_EQ(a.counters(64).objects_carved, batch);
    EXPECT_EQ(a.cached_objects(64), batch - 1);
    std::vector<void*> got{first};
    for (std::uint32_t i = 1; i < batch; ++i) got.push_back(a.allocate(50, 16));  // same class
    EXPECT_EQ(a.counters(64).batches_fetched, 1u) << "hits must not touch central";
    EXPECT_EQ(a.cached_objects(64), 0u);
    got.push_back(a.allocate(64, 16));
    EXPECT_EQ(a.counters(64).batches_fetched, 2u);
    EXPECT_EQ(std::set<void*>(got.begin(), got.end()).size(), got.size());
    a.deallocate(got[3], 64, 16);
    EXPECT_EQ(a.allocate(64, 16), got[3]);
    for (void* p : got) a.deallocate(p, 64, 16);
    EXPECT_EQ(a.stats().blocks, 0u);
}

// Freeing past two batches sends one batch back to central; central then refills from it.
TEST(ThreadCacheAllocator, OverflowReturnsABatchToCentral) {
    tca a;
    const std::uint32_t b = a.batch_objects(256);
    std::vector<void*> objs;
    for (std::uint32_t i = 0; i < 3 * b; ++i) objs.push_back(a.allocate(256, 16));
    ASSERT_EQ(a.cached_objects(256), 0u);
    for (std::uint32_t i = 0; i < 2 * b; ++i) a.deallocate(objs[i], 256, 16);
    EXPECT_EQ(a.counters(256).batches_returned, 0u);
    EXPECT_EQ(a.cached_objects(256), 2 * b);
    a.deallocate(objs[2 * b], 256, 16);
    EXPECT_EQ(a.counters(256).batches_returned, 1u);
    EXPECT_EQ(a.counters(256).free_objects, b);
    EXPECT_EQ(a.cached_objects(256), b + 1);
    for (std::uint32_t i = 2 * b + 1; i < 3 * b; ++i) a.deallocate(objs[i], 256, 16);
    EXPECT_EQ(a.counters(256).batches_returned, 1u);
    for (std::uint32_t i = 0; i < 3 * b; ++i) ASSERT_NE(a.allocate(256, 16), nullptr);
    const auto c = a.counters(256);
    EXPECT_EQ(c.free_objects, 0u);
    EXPECT_EQ(c.objects_carved, 3 * b) << "the returned batch is reused before carving";
}

// An object freed by another thread goes to that thread's cache; when it exits, its cache
// goes to central, and the allocating thread reuses those objects without carving new ones.
TEST(ThreadCacheAllocator, RemoteFreesAndThreadExitReturnCaches) {
    tca a;
    constexpr std::size_t kSize = 1000, kCount = 100;
    std::vector<void*> objs;
    for (std::size_t i = 0; i < kCount; ++i) objs.push_back(a.allocate(kSize, 16));
    const auto before = a.counters(kSize);
    std::thread([&] {
        for (void* p : objs) a.deallocate(p, kSize, 16);
        EXPECT_GT(a.cached_objects(kSize), 0u);  // this thread's cache holds the remote frees
        EXPECT_EQ(a.thread_caches(), 2u);
    }).join();
    EXPECT_EQ(a.thread_caches(), 1u);
    const auto after = a.counters(kSize);
    EXPECT_EQ(after.free_objects, before.free_objects + kCount) << "every object freed over there is in central";
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
    const std::size_t mine = a.cached_objects(kSize);
    for (std::size_t i = 0; i < kCount + mine; ++i) ASSERT_NE(a.allocate(kSize, 16), nullptr);
    EXPECT_EQ(a.counters(kSize).objects_carved, before.objects_carved) << "nothing new was carved";
}

// stats() is exact across threads: blocks and bytes follow allocations wherever they are freed.
TEST(ThreadCacheAllocator, StatsAreExactAcrossThreads) {
    tca a;
    std::vector<void*> objs;
    for (int i = 0; i < 50; ++i) objs.push_back(a.allocate(40, 8));
    std::thread t([&] {
        for (int i = 0; i < 20; ++i) a.deallocate(objs[i], 40, 8);
        void* p = a.allocate(3000, 16);
        EXPECT_EQ(a.stats().blocks, 31u);
        EXPECT_EQ(a.stats().bytes_requested, 30 * 40 + 3000u);
        a.deallocate(p, 3000, 16);
    });
    t.join();
    EXPECT_EQ(a.stats().blocks, 30u);
    EXPECT_EQ(a.stats().bytes_requested, 30 * 40u);
    for (int i = 20; i < 50; ++i) a.deallocate(objs[i], 40, 8);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
    EXPECT_GE(a.stats().chunks, 2u);  // a segment and a metadata slab
}

// One thread uses 40 instances at once, more than its table holds: entries are evicted (their
// caches given back) and re-registered, and every instance keeps its objects intact.
TEST(ThreadCacheAllocator, ManyInstancesAliveAtOnce) {
    constexpr int kInstances = 40;
    std::vector<std::unique_ptr<tca>> heaps;
    for (int i = 0; i < kInstances; ++i) heaps.push_back(std::make_unique<tca>());
    std::set<std::uint64_t> ids;
    for (auto& h : heaps) ids.insert(h->id());
    EXPECT_EQ(ids.size(), heaps.size());
    std::vector<shadow_heap<tca>> live;  // instance i fills with i + 1: a block shared across instances shows
    for (int i = 0; i < kInstances; ++i) live.emplace_back(*heaps[i], static_cast<unsigned char>(i + 1));
    for (int round = 0; round < 3; ++round)
        for (int i = 0; i < kInstances; ++i)
            for (std::size_t k = 0; k < 20; ++k) {
                ASSERT_TRUE(live[i].allocate(24 + k * 40, 8));
                if (k % 3 == 0) {  // free an older one, so the caches hold objects when evicted
                    live[i].free_at(live[i].blocks().size() / 2);
                }
            }
    for (int i = 0; i < kInstances; ++i) {
        SCOPED_TRACE(testing::Message() << "instance " << i);
        live[i].expect_stats_match();
        EXPECT_LE(heaps[i]->thread_caches(), 1u);
        live[i].free_all();
        EXPECT_EQ(heaps[i]->stats().blocks, 0u);
    }
}

// Instances are created and destroyed one after another, each used by a fresh thread and by
// two long-lived threads that outlive all of them: each instance dies while those two still
// hold caches for it, and their later exit must skip it.
TEST(ThreadCacheAllocator, InstancesComeAndGoUnderThreads) {
    constexpr int kRounds = 30;
    std::barrier sync(3);  // main and the two long-lived threads, twice a round
    tca* current = nullptr;
    std::atomic<int> failures{0};
    const auto use = [&failures](tca& a, std::size_t step) {
        std::vector<void*> mine;
        for (std::size_t k = 0; k < 64; ++k) mine.push_back(a.allocate(k * step, 16));
        for (std::size_t k = 0; k < 64; ++k) {
            if (mine[k] == nullptr) ++failures;
            a.deallocate(mine[k], k * step, 16);
        }
    };
    const auto long_lived = [&](std::size_t step) {
        for (int r = 0; r < kRounds; ++r) {
            sync.arrive_and_wait();  // the round's instance is ready
            use(*current, step);
            sync.arrive_and_wait();  // done with it; main destroys it
        }
        sync.arrive_and_wait();  // outlive the last instance too
    };
    std::thread t0(long_lived, 16), t1(long_lived, 500);
    for (int r = 0; r < kRounds; ++r) {
        auto a = std::make_unique<tca>();
        current = a.get();
        sync.arrive_and_wait();
        std::thread([&] { use(*a, 300); }).join();
        use(*a, 40);
        sync.arrive_and_wait();
        EXPECT_EQ(a->stats().blocks, 0u);
        EXPECT_EQ(a->thread_caches(), 3u) << "main and the two long-lived threads hold caches";
        a.reset();  // destroyed while t0 and t1 hold caches for it
    }
    sync.arrive_and_wait();
    t0.join();
    t1.join();
    EXPECT_EQ(failures.load(), 0);
}

// An instance dies while a thread that used it lives on; a new instance is built at the very
// same address. The thread must not mistake the new one for the old (ids differ), gets a fresh
// cache, and exits cleanly, giving its cache back only to the live instance.
TEST(ThreadCacheAllocator, InstanceDestroyedUnderALiveThread) {
    alignas(tca) std::byte storage[sizeof(tca)];
    auto* old_heap = new (storage) tca();
    const std::uint64_t old_id = old_heap->id();
    std::binary_semaphore used(0), destroyed(0), done(0), checked(0);
    tca* heap = old_heap;
    std::thread t([&] {
        void* p = heap->allocate(100, 16);
        heap->deallocate(p, 100, 16);  // the cache for the old instance holds p
        used.release();
        destroyed.acquire();
        EXPECT_EQ(heap->cached_objects(100), 0u) << "no cache for the new instance yet";
        void* q = heap->allocate(100, 16);
        ASSERT_NE(q, nullptr);
        std::memset(q, 0x42, 100);
        EXPECT_TRUE(holds(q, 100, 0x42));
        heap->deallocate(q, 100, 16);
        EXPECT_GT(heap->cached_objects(100), 0u);
        done.release();
        checked.acquire();  // stay alive until main has looked
    });
    used.acquire();
    old_heap->~tca();
    auto* new_heap = new (storage) tca();
    ASSERT_EQ(static_cast<void*>(new_heap), static_cast<void*>(old_heap));
    EXPECT_NE(new_heap->id(), old_id);
    heap = new_heap;
    destroyed.release();
    done.acquire();
    EXPECT_EQ(new_heap->thread_caches(), 1u);
    checked.release();
    t.join();
    EXPECT_EQ(new_heap->thread_caches(), 0u);
    EXPECT_GT(new_heap->counters(100).free_objects, 0u) << "the exiting thread's cache came back";
    EXPECT_EQ(new_heap->stats().blocks, 0u);
    new_heap->~tca();
}

// A thread_local destroyed after the thread's exit hook (it was built before the thread first
// used the allocator) still allocates and frees: those calls bypass the caches.
TEST(ThreadCacheAllocator, CallsAfterTheExitHookBypassCaches) {
    tca a;
    struct late_user {
        tca* heap = nullptr;
        void* block = nullptr;
        ~late_user() {
            if (heap == nullptr) return;
            heap->deallocate(block, 64, 16);
            void* p = heap->allocate(64, 16);
            heap->deallocate(p, 64, 16);
        }
    };
    std::thread([&] {
        thread_local late_user user;  // constructed first, so destroyed after the exit hook
        user.heap = &a;
        user.block = a.allocate(64, 16);
    }).join();
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
    EXPECT_EQ(a.thread_caches(), 0u);
}

// Four threads share one instance, sizes from 1 B to 10 KiB and a few past 32 KiB, a quarter
// of the frees done by another thread; every block is stamped and checked before it is freed.
TEST(ThreadCacheAllocator, FourThreadStressWithCrossThreadFrees) {
    tca a;
    const auto pick = [](allocmeter::rng& r) {
        const std::size_t size = std::size_t{1} << r.below(14);  // 1 B .. 8 KiB
        return size + r.below(size / 4 + 1) + (r.one_in(128) ? 30000 : 0);
    };
    const auto joined = [&a] { EXPECT_EQ(a.thread_caches(), 0u) << "every worker gave its cache back at exit"; };
    EXPECT_EQ(cross_thread_stress(a, {.ops = 40000, .keep = 200, .handed_over = 16}, pick, joined), 0u);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
}

// Above 32 KiB each block is a mapping of its own (one chunk each, kept for reuse after the free),
// page-aligned, and absurd sizes or alignments are refused.
TEST(ThreadCacheAllocator, LargeObjectsAreMappedDirectly) {
    tca a;
    const auto base = a.stats();
    void* p = a.allocate(tca::max_small + 1, 16);
    void* q = a.allocate(1 << 20, 4096);
    ASSERT_NE(p, nullptr);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(is_aligned(p, 4096));
    EXPECT_TRUE(is_aligned(q, 4096));
    std::memset(p, 1, tca::max_small + 1);
    std::memset(q, 2, 1 << 20);
    EXPECT_EQ(a.stats().chunks, base.chunks + 2);
    EXPECT_GE(a.stats().bytes_reserved, base.bytes_reserved + (1 << 20) + tca::max_small);
    EXPECT_EQ(a.stats().bytes_requested, base.bytes_requested + (1 << 20) + tca::max_small + 1);
    EXPECT_TRUE(holds(p, tca::max_small + 1, 1));
    a.deallocate(p, tca::max_small + 1, 16);
    EXPECT_TRUE(holds(q, 1 << 20, 2));
    a.deallocate(q, 1 << 20, 4096);
    EXPECT_EQ(a.stats().chunks, base.chunks + 2);  // both mappings kept for reuse
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.allocate(1 << 20, 4096), q);        // the same size reuses its mapping
    a.deallocate(q, 1 << 20, 4096);
    volatile std::size_t huge = std::numeric_limits<std::size_t>::max();
    EXPECT_EQ(a.allocate(huge, 8), nullptr);
    EXPECT_EQ(a.allocate(huge - 4096, 8), nullptr);
    EXPECT_EQ(a.allocate(64, 8192), nullptr);
    void* leaked = a.allocate(100000, 8);  // still live when the instance dies: unmapped with it
    EXPECT_NE(leaked, nullptr);
}

// Size 0 and every alignment up to 4096 are served from classes, aligned, and freed with the
// same (size, align); a small config (tiny batches) behaves the same.
TEST(ThreadCacheAllocator, ZeroSizeAndAlignedRequests) {
    tca a(thread_cache_config{.max_batch = 2, .batch_bytes = 4096, .segment_bytes = 1 << 20});
    EXPECT_EQ(a.batch_objects(16), 2u);
    shadow_heap heap(a);
    for (std::size_t align = 1; align <= 4096; align *= 2)
        for (std::size_t size : {std::size_t{0}, std::size_t{1}, align, 3 * align / 2 + 1}) {
            ASSERT_TRUE(heap.allocate(size, align)) << size << "/" << align;
            a.deallocate(a.allocate(size, align), size, align);
        }
    heap.free_all();
    EXPECT_EQ(a.stats().blocks, 0u);
}

}  // namespace
