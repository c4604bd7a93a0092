// Focused tests for lockfree_pool_allocator: LIFO reuse, growth, size and alignment limits, stats,
// the tagged head's packing, a deterministic ABA interleaving that an untagged head gets wrong,
// and multi-threaded stress that catches a block handed to two threads at once.
#include "allocators/lockfree_pool_allocator.hpp"
#include "allocators/tests/test_helpers.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace allocmeter::test_helpers;

namespace {

using allocmeter::capabilities_consistent;
using allocmeter::lockfree_pool_allocator;
using allocmeter::detail::lockfree_block;
using allocmeter::detail::tagged_free_stack;

// Caps: thread-safe individual free of one size at the block's natural alignment, no reset.
static_assert(lockfree_pool_allocator<>::caps.fixed_size == 64 && lockfree_pool_allocator<>::caps.max_size == 64);
static_assert(lockfree_pool_allocator<>::caps.max_align == 64);
static_assert(lockfree_pool_allocator<24>::caps.max_align == 8);
static_assert(lockfree_pool_allocator<48>::caps.max_align == 16);
static_assert(lockfree_pool_allocator<8192>::caps.max_align == 4096);
static_assert(lockfree_pool_allocator<>::caps.thread_safe && lockfree_pool_allocator<>::caps.individual_free);
static_assert(!lockfree_pool_allocator<>::caps.reset);
static_assert(capabilities_consistent<lockfree_pool_allocator<24, 1>>());

// Freed blocks come back last-in first-out.
TEST(LockfreePoolAllocator, FreedBlocksAreReusedLifo) {
    lockfree_pool_allocator<32> a;
    expect_reused_lifo(a, 32, 8);
}

// The pool grows a chunk at a time; blocks are distinct, aligned, and keep their contents.
TEST(LockfreePoolAllocator, GrowsAcrossSeveralChunks) {
    lockfree_pool_allocator<64, 16> a;
    const std::size_t per_chunk = a.blocks_per_chunk();
    ASSERT_GE(per_chunk, 16u);
    EXPECT_EQ((per_chunk + 1) * 64, a.chunk_bytes());
    shadow_heap heap(a);  // checks each block aligned and apart from every other
    for (std::size_t i = 0; i < 3 * per_chunk + 1; ++i) ASSERT_TRUE(heap.allocate(64, 64)) << "block " << i;
    EXPECT_EQ(a.stats().chunks, 4u);
    EXPECT_EQ(a.stats().bytes_reserved, 4 * a.chunk_bytes());
    heap.verify_all();
}

// Sizes above BlockSize and alignments above the block's are refused without mapping anything.
TEST(LockfreePoolAllocator, RejectsOversizeAndOveraligned) {
    lockfree_pool_allocator<48> a;
    EXPECT_EQ(a.allocate(49, 1), nullptr);
    EXPECT_EQ(a.allocate(kMax, 1), nullptr);
    EXPECT_EQ(a.allocate(48, 32), nullptr);
    EXPECT_EQ(a.stats().chunks, 0u);
    void* p = a.allocate(48, 16);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(is_aligned(p, 16));
}

// Size 0 gets a block; every alignment up to 4096 is met by 4096-byte blocks.
TEST(LockfreePoolAllocator, ZeroSizeAndEveryAlignment) {
    lockfree_pool_allocator<4096, 4> a;
    shadow_heap heap(a);
    ASSERT_TRUE(heap.allocate(0, 1));
    for (std::size_t align = 1; align <= 4096; align *= 2) ASSERT_TRUE(heap.allocate(4096, align)) << "align " << align;
    heap.free_at(0);  // the zero-size block
    EXPECT_EQ(a.stats().blocks, 13u);
    heap.verify_all();
}

// stats count live blocks and requested bytes; nullptr frees change nothing.
TEST(LockfreePoolAllocator, StatsTrackLiveBlocks) {
    lockfree_pool_allocator<64> a;
    void* p10 = a.allocate(10, 1);
    void* p64 = a.allocate(64, 64);
    EXPECT_EQ(a.stats().bytes_requested, 74u);
    EXPECT_EQ(a.stats().blocks, 2u);
    EXPECT_EQ(a.stats().bytes_reserved, a.chunk_bytes());
    a.deallocate(nullptr, 64, 64);
    a.deallocate(p10, 10, 1);
    EXPECT_EQ(a.stats().bytes_requested, 64u);
    a.deallocate(p64, 64, 64);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
    EXPECT_EQ(a.stats().chunks, 1u);
}

// The head word round-trips block addresses and counts every push and pop in its tag.
TEST(TaggedFreeStack, PacksAddressAndCountsChanges) {
    alignas(8) lockfree_block blocks[3]{};
    tagged_free_stack s;
    EXPECT_EQ(s.peek().top(), nullptr);
    EXPECT_EQ(s.pop(), nullptr);
    s.push(&blocks[0]);
    s.push(&blocks[1]);
    EXPECT_EQ(s.peek().top(), &blocks[1]);
    EXPECT_EQ(s.peek().tag(), 2u);
    blocks[2].next = nullptr;
    s.push_chain(&blocks[2], &blocks[2]);
    EXPECT_EQ(s.pop(), &blocks[2]);
    EXPECT_EQ(s.pop(), &blocks[1]);
    EXPECT_EQ(s.pop(), &blocks[0]);
    EXPECT_EQ(s.pop(), nullptr);
    EXPECT_EQ(s.peek().tag(), 6u);
    EXPECT_TRUE(tagged_free_stack::representable(&blocks[0]));
    EXPECT_FALSE(tagged_free_stack::representable(reinterpret_cast<void*>(std::uintptr_t{1} << 48)));
}

// The ABA interleaving, played deterministically: thread A reads top X and its link Y, stalls;
// thread B pops X, pops Y (Y is now in use), pushes X back. The head holds X again. An untagged
// CAS "head == X ? Y" would succeed and put the in-use Y on top; the tagged CAS fails, retries
// from the fresh head, and Y is never handed out twice.
TEST(TaggedFreeStack, StaleCasFailsAfterAbaInterleaving) {
    alignas(8) lockfree_block x{}, y{}, z{};
    tagged_free_stack s;
    s.push(&z);
    s.push(&y);
    s.push(&x);  // stack: x, y, z

    tagged_free_stack::snapshot a_seen = s.peek();  // thread A: sees top x (link y), then stalls
    ASSERT_EQ(a_seen.top(), &x);

    EXPECT_EQ(s.pop(), &x);  // thread B
    EXPECT_EQ(s.pop(), &y);  // y now belongs to B
    s.push(&x);              // head is x again: same address, different tag

    lockfree_block* got = nullptr;
    EXPECT_FALSE(s.try_pop(a_seen, got)) << "the stale CAS must fail";
    EXPECT_EQ(a_seen.top(), &x);  // refreshed: x again, now linked to z
    while (!s.try_pop(a_seen, got)) {
    }
    EXPECT_EQ(got, &x);
    EXPECT_EQ(s.pop(), &z) << "y is in use and must not come back";
    EXPECT_EQ(s.pop(), nullptr);

    // The same interleaving on a bare pointer head: the stale CAS succeeds and installs y.
    std::atomic<lockfree_block*> bare{&x};
    x.next = &y;
    lockfree_block* seen = bare.load();
    lockfree_block* link = seen->next;                  // A reads x -> y and stalls
    bare.store(&y);  // B pops x
    bare.store(&z);  // B pops y
    x.next = &z;     // B pushes x back
    bare.store(&x);
    EXPECT_TRUE(bare.compare_exchange_strong(seen, link));
    EXPECT_EQ(bare.load(), &y) << "untagged: the in-use block y is on top again";
}

// Threads share the pool; each block is stamped with the holder's id and checked before it is
// freed, so a block handed to two threads at once shows up as a foreign stamp.
template <std::size_t Block>
void run_stress(int threads, int ops, std::size_t keep) {
    lockfree_pool_allocator<Block, 16> a;  // small chunks: threads race to grow as well
    std::mutex exchange_lock;
    std::vector<std::uint64_t*> exchange;  // blocks handed over, stamped by their last holder
    std::atomic<int> bad{0};
    const auto stamp = [](std::uint64_t* p, std::uint64_t id) {
        for (std::size_t k = 0; k < Block / 8; ++k) p[k] = id;
    };
    const auto stamped = [](const std::uint64_t* p, std::uint64_t id) {
        for (std::size_t k = 0; k < Block / 8; ++k)
            if (p[k] != id) return false;
        return true;
    };
    const auto worker = [&](int t) {
        const std::uint64_t me = 0x1000 + static_cast<std::uint64_t>(t);
        std::vector<std::uint64_t*> mine;
        std::uint64_t rng = 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(t + 1);
        for (int op = 0; op < ops; ++op) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            if (mine.size() < keep && rng % 3 != 0) {
                auto* p = static_cast<std::uint64_t*>(a.allocate(Block, 8));
                if (p == nullptr) {
                    ++bad;
                    continue;
                }
                stamp(p, me);
                mine.push_back(p);
            } else if (!mine.empty()) {
                const std::size_t i = rng % mine.size();
                std::uint64_t* p = mine[i];
                mine[i] = mine.back();
                mine.pop_back();
                if (!stamped(p, me)) ++bad;  // another thread wrote into a block we held
                if (rng % 4 == 0) {          // hand it over; free the oldest handed-over block instead
                    std::lock_guard lock(exchange_lock);
                    exchange.push_back(p);
                    if (exchange.size() < 8) continue;
                    p = exchange.front();
                    exchange.erase(exchange.begin());
                    if (p[0] < 0x1000 || p[0] >= 0x1000 + static_cast<std::uint64_t>(threads) || !stamped(p, p[0]))
                        ++bad;
                }
                a.deallocate(p, Block, 8);
            }
        }
        for (std::uint64_t* p : mine) {
            if (!stamped(p, me)) ++bad;
            a.deallocate(p, Block, 8);
        }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
    for (auto& th : pool) th.join();
    for (std::uint64_t* p : exchange) a.deallocate(p, Block, 8);
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(a.stats().blocks, 0u);
    EXPECT_EQ(a.stats().bytes_requested, 0u);
    // Every block is free again, exactly once: draining the stack yields distinct blocks.
    std::set<void*> drained;
    const std::size_t total = a.stats().chunks * a.blocks_per_chunk();
    for (std::size_t i = 0; i < total; ++i) drained.insert(a.allocate(Block, 8));
    EXPECT_EQ(drained.size(), total);
    EXPECT_EQ(a.stats().chunks * a.blocks_per_chunk(), total) << "draining must not have grown the pool";
}

// 4 threads, allocate/free pairs with a quarter of the frees done by another thread.
TEST(LockfreePoolAllocator, FourThreadStressWithCrossThreadFrees) { run_stress<64>(4, 200000, 48); }

// ABA pressure: few blocks per thread keep the same handful cycling through the head.
TEST(LockfreePoolAllocator, AbaPressureOnAHotHead) { run_stress<16>(4, 300000, 2); }

}  // namespace
