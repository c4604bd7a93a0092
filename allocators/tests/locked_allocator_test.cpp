// Focused tests for locked<A>: capabilities forwarded with thread_safe set, reset and stats
// present exactly when A has them, plain forwarding, and multi-threaded stress with blocks freed
// by threads other than their allocator (meant to run under -fsanitize=thread as well).
#include "allocators/locked_allocator.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "allocators/arena_allocator.hpp"
#include "allocators/bump_allocator.hpp"
#include "allocators/pool_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

namespace {

using allocmeter::allocator_stats;
using allocmeter::arena_allocator;
using allocmeter::bump_allocator;
using allocmeter::capabilities;
using allocmeter::capabilities_consistent;
using allocmeter::locked;
using allocmeter::pool_allocator;
using allocmeter::reports_stats;
using allocmeter::resettable;

constexpr std::size_t kMiB = std::size_t{1} << 20;

// A minimal allocator with neither reset() nor stats(), to check that locked adds neither.
class plain_pool {
public:
    static constexpr capabilities caps{.individual_free = true, .max_size = 32, .max_align = 32};
    void* allocate(std::size_t size, std::size_t align) noexcept { return pool_.allocate(size, align); }
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        pool_.deallocate(p, size, align);
    }

private:
    pool_allocator<32> pool_;
};

using locked_pool = locked<pool_allocator<64>>;

// Capabilities are A's with thread_safe set; reset and stats follow A; consistency holds.
static_assert(locked_pool::caps.thread_safe && !pool_allocator<64>::caps.thread_safe);
static_assert(locked_pool::caps.individual_free && locked_pool::caps.reset);
static_assert(locked_pool::caps.fixed_size == 64 && locked_pool::caps.max_size == 64);
static_assert(locked_pool::caps.max_align == 64);
static_assert(resettable<locked_pool> && reports_stats<locked_pool>);
static_assert(!resettable<locked<plain_pool>> && !reports_stats<locked<plain_pool>>);
static_assert(!locked<plain_pool>::caps.reset && locked<plain_pool>::caps.thread_safe);
static_assert(capabilities_consistent<locked_pool>());
static_assert(capabilities_consistent<locked<plain_pool>>());
static_assert(capabilities_consistent<locked<bump_allocator>>());
static_assert(locked<bump_allocator>::caps.max_align == 4096 && !locked<bump_allocator>::caps.individual_free);

// Constructor arguments reach the owned allocator.
TEST(LockedAllocator, ForwardsConstructorArguments) {
    locked<bump_allocator> a(kMiB);
    EXPECT_EQ(a.unlocked().capacity(), kMiB);
    locked<arena_allocator> b(256 * 1024);
    EXPECT_EQ(b.unlocked().chunk_size(), 256u * 1024);
}

// allocate, deallocate, stats and reset behave exactly as A's do, from one thread.
TEST(LockedAllocator, ForwardsEveryCall) {
    locked_pool a;
    void* p = a.allocate(40, 8);
    void* q = a.allocate(64, 64);
    ASSERT_NE(p, nullptr);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(a.allocate(65, 8), nullptr);  // A's limits still apply
    EXPECT_EQ(a.stats().blocks, 2u);
    EXPECT_EQ(a.stats().bytes_requested, 104u);
    a.deallocate(q, 64, 64);
    EXPECT_EQ(a.allocate(64, 64), q);  // the pool's LIFO reuse shows through
    a.reset();
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
    EXPECT_EQ(a.stats().chunks, a.unlocked().stats().chunks);
}

// An allocator without reset or stats still allocates and frees through the lock.
TEST(LockedAllocator, WrapsAllocatorWithoutResetOrStats) {
    locked<plain_pool> a;
    void* p = a.allocate(32, 32);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x5A, 32);
    a.deallocate(p, 32, 32);
    EXPECT_EQ(a.allocate(32, 32), p);
}

// Four threads allocate from one pool, then each frees and checks the blocks another thread
// allocated; live blocks never alias, and the pool ends with nothing live.
TEST(LockedAllocator, FourThreadStressWithCrossThreadFrees) {
    constexpr int kThreads = 4;
    constexpr int kRounds = 150;
    constexpr int kBlocksPerRound = 256;
    locked_pool pool;
    std::vector<std::vector<std::uint64_t*>> handoff(kThreads);
    std::barrier sync(kThreads);
    std::atomic<int> corrupt{0};
    auto worker = [&](int id) {
        const int victim = (id + 1) % kThreads;
        for (int round = 0; round < kRounds; ++round) {
            auto& mine = handoff[id];
            for (int i = 0; i < kBlocksPerRound; ++i) {
                auto* b = static_cast<std::uint64_t*>(pool.allocate(64, 8));
                if (b == nullptr) {
                    corrupt.fetch_add(1);
                    continue;
                }
                const std::uint64_t tag = (std::uint64_t(id) << 48) | (std::uint64_t(round) << 16) | i;
                for (int w = 0; w < 8; ++w) b[w] = tag;
                mine.push_back(b);
                // Interleave some same-thread churn so frees and allocations race in the pool.
                if (i % 8 == 0) pool.deallocate(pool.allocate(17, 1), 17, 1);
            }
            sync.arrive_and_wait();  // every outbox is full
            for (std::uint64_t* b : handoff[victim]) {
                for (int w = 1; w < 8; ++w)
                    if (b[w] != b[0]) corrupt.fetch_add(1);
                if (b[0] >> 48 != std::uint64_t(victim)) corrupt.fetch_add(1);
                pool.deallocate(b, 64, 8);
            }
            handoff[victim].clear();
            sync.arrive_and_wait();  // every outbox is empty again
        }
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
    for (auto& t : threads) t.join();
    EXPECT_EQ(corrupt.load(), 0);
    const allocator_stats s = pool.stats();
    EXPECT_EQ(s.blocks, 0u);
    EXPECT_EQ(s.bytes_requested, 0u);
    // Freed blocks are reused before new ones are carved, so the pool never holds more chunks
    // than the most blocks ever live at once (every outbox full, plus one churn block each) need.
    const std::size_t most_live = kThreads * kBlocksPerRound + kThreads;
    EXPECT_LE(s.chunks, most_live / pool.unlocked().blocks_per_chunk() + 1);
}

// Threads racing on one bump allocator get disjoint, aligned blocks that keep their contents.
TEST(LockedAllocator, ConcurrentBlocksDoNotOverlap) {
    constexpr int kThreads = 4;
    constexpr int kPerThread = 5000;
    locked<bump_allocator> bump(64 * kMiB);
    struct block { unsigned char* p; std::size_t size; std::size_t align; unsigned char tag; };
    std::vector<std::vector<block>> blocks(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&bump, &mine = blocks[t], t] {
            std::mt19937 rng(t);
            for (int i = 0; i < kPerThread; ++i) {
                const std::size_t size = rng() % 500;
                const std::size_t align = std::size_t{1} << (rng() % 7);
                auto* p = static_cast<unsigned char*>(bump.allocate(size, align));
                if (p == nullptr || reinterpret_cast<std::uintptr_t>(p) % align != 0) return;
                const auto tag = static_cast<unsigned char>(t * 50 + i % 50 + 1);
                std::memset(p, tag, size);
                mine.push_back({p, size, align, tag});
            }
        });
    }
    for (auto& t : threads) t.join();
    allocmeter::test_helpers::shadow_heap heap(bump);  // checks each block aligned, intact, apart
    for (const auto& mine : blocks) {
        ASSERT_EQ(mine.size(), std::size_t{kPerThread});
        for (const block& b : mine) heap.adopt(b.p, b.size, b.align, b.tag);
    }
    EXPECT_EQ(bump.stats().blocks, std::uint64_t{kThreads} * kPerThread);
}

// Threads allocate from one arena while another reads stats and a final reset frees it all.
TEST(LockedAllocator, ConcurrentStatsAndReset) {
    constexpr int kThreads = 4;
    constexpr int kPerThread = 20000;
    locked<arena_allocator> arena;
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> torn{0};
    std::thread reader([&] {
        std::uint64_t last_blocks = 0;
        while (!done.load(std::memory_order_acquire)) {
            const allocator_stats s = arena.stats();
            if (s.blocks < last_blocks || s.bytes_requested != 24 * s.blocks) torn.fetch_add(1);
            last_blocks = s.blocks;
        }
    });
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
        writers.emplace_back([&arena, t] {
            for (int i = 0; i < kPerThread; ++i) {
                auto* p = static_cast<unsigned char*>(arena.allocate(24, 8));
                if (p != nullptr) std::memset(p, t + 1, 24);
            }
        });
    }
    for (auto& w : writers) w.join();
    done.store(true, std::memory_order_release);
    reader.join();
    EXPECT_EQ(torn.load(), 0u);
    EXPECT_EQ(arena.stats().blocks, std::uint64_t{kThreads} * kPerThread);
    arena.reset();
    EXPECT_EQ(arena.stats().blocks, 0u);
    EXPECT_NE(arena.allocate(24, 8), nullptr);
}

}  // namespace
