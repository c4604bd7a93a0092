// lockfree_pool_allocator: fixed-size blocks shared by many threads through a Treiber stack whose
// head packs a block address and a modification tag into one 64-bit word, so that a plain CAS is
// ABA-safe and lock-free on every 64-bit target; growth maps a chunk under a small mutex.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>

#include "allocators/adapter.hpp"
#include "allocators/intrusive_list.hpp"
#include "allocators/os_pages.hpp"
#include "allocators/pool_allocator.hpp"  // detail::pool_default_blocks, pool_chunk_layout: the same chunks

// The one read that races by design (see tagged_free_stack::try_pop) is kept out of
// ThreadSanitizer's sight, and out of line under TSan so that no inliner can undo that.
#if defined(__SANITIZE_THREAD__)
#define ALLOCMETER_LFP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ALLOCMETER_LFP_TSAN 1
#endif
#endif
#if defined(ALLOCMETER_LFP_TSAN) && defined(__clang__)
#define ALLOCMETER_LFP_RACY_READ __attribute__((noinline, no_sanitize("thread")))
#elif defined(ALLOCMETER_LFP_TSAN)  // g++: noipa, or IPA-SRA moves the load into the caller
#define ALLOCMETER_LFP_RACY_READ __attribute__((noipa, no_sanitize("thread")))
#else
#define ALLOCMETER_LFP_RACY_READ [[gnu::always_inline]]
#endif

namespace allocmeter {

namespace detail {

/// What a free block holds while it sits on the stack: the link to the block below it.
struct lockfree_block {
    lockfree_block* next;
};

/// A Treiber stack of 8-byte-aligned blocks. The head word is `address >> 3` in its low 45 bits
/// (48-bit user addresses, as on x86-64 and AArch64 with 4-level tables) and a 19-bit tag in the
/// high bits that every successful push or pop increments.
///
/// Why a tag: pop reads `top->next` and then CASes head from `top` to `next`. If, between the read
/// and the CAS, other threads pop `top`, pop `next` (now in use) and push `top` back, an untagged
/// head holds the same pointer again, the CAS succeeds and installs `next`, a block that is in use,
/// as the new top: it would be handed out twice (ABA). With the tag the head word differs after
/// those three changes and the CAS fails. It could only succeed wrongly if exactly a multiple of
/// 2^19 changes happened while one thread sat between its read and its CAS.
///
/// Why not a 16-byte {pointer, counter} head with cmpxchg16b: g++ 12 never inlines a 16-byte
/// std::atomic (it calls libatomic, needs -latomic, and is_lock_free() is false), and clang 14
/// inlines it only under -mcx16; one 64-bit word is lock-free everywhere with no flags.
class tagged_free_stack {
public:
    static constexpr unsigned address_bits = 48;  ///< user-space addresses fit below 2^48
    static constexpr unsigned tag_shift = address_bits - 3;
    static constexpr std::uint64_t address_mask = (std::uint64_t{1} << tag_shift) - 1;
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the head must be a lock-free word");

    /// True when a block at `p` can be packed into the head (below 2^48, 8-byte aligned).
    static bool representable(const void* p) noexcept {
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        return (a >> address_bits) == 0 && (a & 7) == 0;
    }

    /// The head as one thread saw it: a block address and a tag, compared as one word.
    struct snapshot {
        std::uint64_t word = 0;
        /// The block on top when the snapshot was taken; nullptr for an empty stack.
        lockfree_block* top() const noexcept {
            return reinterpret_cast<lockfree_block*>(static_cast<std::uintptr_t>((word & address_mask) << 3));
        }
        /// How many changes the head had seen (modulo 2^19).
        std::uint64_t tag() const noexcept { return word >> tag_shift; }
    };

    /// The current head; acquire, so the links of the blocks it reaches are visible.
    snapshot peek() const noexcept { return {head_.load(std::memory_order_acquire)}; }

    /// One pop attempt from `seen`: true and the block in `out` if the head was still `seen`;
    /// otherwise false with `seen` refreshed. An empty `seen` pops nothing and returns true.
    bool try_pop(snapshot& seen, lockfree_block*& out) noexcept {
        lockfree_block* top = seen.top();
        out = top;
        if (top == nullptr) return true;
        // `top` may already belong to another thread, which may be writing into it: the link
        // read here is then garbage, and the CAS below fails because the tag has moved on.
        const std::uint64_t next = pack(racy_next(top), seen.tag() + 1);
        return head_.compare_exchange_weak(seen.word, next, std::memory_order_acquire,
                                           std::memory_order_acquire);
    }

    /// Pops the top block; nullptr when empty.
    lockfree_block* pop() noexcept {
        snapshot seen = peek();
        lockfree_block* out;
        while (!try_pop(seen, out)) {
        }
        return out;
    }

    /// Pushes one block.
    void push(lockfree_block* b) noexcept { push_chain(b, b); }

    /// Pushes the chain first..last (already linked through `next`) with a single CAS.
    void push_chain(lockfree_block* first, lockfree_block* last) noexcept {
        snapshot seen{head_.load(std::memory_order_relaxed)};
        do {
            last->next = seen.top();
        } while (!head_.compare_exchange_weak(seen.word, pack(first, seen.tag() + 1),
                                              std::memory_order_release, std::memory_order_relaxed));
    }

private:
    static std::uint64_t pack(lockfree_block* b, std::uint64_t tag) noexcept {
        return (reinterpret_cast<std::uintptr_t>(b) >> 3) | (tag << tag_shift);
    }

    ALLOCMETER_LFP_RACY_READ static lockfree_block* racy_next(lockfree_block* b) noexcept { return b->next; }

    std::atomic<std::uint64_t> head_{0};
};

}  // namespace detail

/// Thread-safe pool of BlockSize-byte blocks: allocate and deallocate are a lock-free pop and push;
/// a chunk of at least BlocksPerChunk blocks is mapped, under a mutex, when the stack runs dry.
template <std::size_t BlockSize = 64, std::size_t BlocksPerChunk = detail::pool_default_blocks(BlockSize)>
class lockfree_pool_allocator {
    static_assert(BlockSize >= sizeof(void*), "a free block must hold the free-list link");
    static_assert(BlockSize % 8 == 0, "blocks must be 8-byte aligned to be packed into the head word");
    static_assert(BlocksPerChunk >= 1, "a chunk must hold at least one block");
    static_assert(BlocksPerChunk < std::numeric_limits<std::size_t>::max() / 2 / BlockSize,
                  "chunk length in bytes would overflow");

    // Occupies slot 0 of each chunk, so the chunks can be unmapped at destruction.
    struct chunk_header {
        chunk_header* next;
    };
    using block = detail::lockfree_block;

public:
    /// Guaranteed block alignment: blocks sit at multiples of BlockSize from a page-aligned chunk.
    static constexpr std::size_t block_align = natural_align(BlockSize);

    /// Individual free from any thread; one size, BlockSize; no reset (a concurrent reset could
    /// not be made safe against threads still popping, and a quiescent one is what a fresh
    /// instance gives).
    static constexpr capabilities caps{.individual_free = true,
                                       .reset = false,
                                       .thread_safe = true,
                                       .fixed_size = BlockSize,
                                       .max_size = BlockSize,
                                       .max_align = block_align};

    /// Maps nothing until the first allocation.
    lockfree_pool_allocator() noexcept : chunk_(BlockSize, BlocksPerChunk) {}

    lockfree_pool_allocator(const lockfree_pool_allocator&) = delete;
    lockfree_pool_allocator& operator=(const lockfree_pool_allocator&) = delete;

    /// Unmaps every chunk; blocks still live become invalid. No thread may be using the pool.
    ~lockfree_pool_allocator() { intrusive::unmap_all(chunks_, chunk_.bytes); }

    /// Pops a block (the most recently freed one). nullptr when size > BlockSize,
    /// align > block_align, or the OS refuses a new chunk.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        if (size > BlockSize || align > block_align) [[unlikely]]
            return nullptr;
        void* p = hot_.free.pop();
        if (p == nullptr && (p = grow_and_allocate()) == nullptr) [[unlikely]]
            return nullptr;
        hot_.requested.fetch_add(size, std::memory_order_relaxed);
        hot_.live.fetch_add(1, std::memory_order_relaxed);
        return p;
    }

    /// Pushes the block back; any thread may free any block. nullptr is ignored.
    void deallocate(void* p, std::size_t size, std::size_t) noexcept {
        if (p == nullptr) return;
        hot_.free.push(static_cast<block*>(p));
        hot_.requested.fetch_sub(size, std::memory_order_relaxed);
        hot_.live.fetch_sub(1, std::memory_order_relaxed);
    }

    /// Live bytes and blocks, and the chunks mapped; exact once the threads are quiescent.
    allocator_stats stats() const noexcept {
        const std::uint64_t chunks = chunk_count_.load(std::memory_order_relaxed);
        return {.bytes_requested = hot_.requested.load(std::memory_order_relaxed),
                .bytes_reserved = chunks * chunk_.bytes,
                .chunks = chunks,
                .blocks = hot_.live.load(std::memory_order_relaxed)};
    }

    /// Blocks carved from each chunk (BlocksPerChunk or more, after page rounding).
    std::size_t blocks_per_chunk() const noexcept { return chunk_.blocks; }

    /// Bytes in each chunk, header slot included (a page multiple).
    std::size_t chunk_bytes() const noexcept { return chunk_.bytes; }

private:
    // Cold: the stack looked empty. Under the growth mutex, retries the stack (another thread
    // may just have grown it), else maps a chunk, keeps its first block for the caller and
    // pushes the rest with one CAS. Pops and pushes of other threads never wait for this.
    [[gnu::noinline]] void* grow_and_allocate() noexcept {
        std::lock_guard lock(grow_lock_);
        if (void* p = hot_.free.pop()) return p;
        auto* c = static_cast<chunk_header*>(os::map_pages(chunk_.bytes));
        if (c == nullptr) return nullptr;
        auto* base = reinterpret_cast<std::byte*>(c);
        if (!detail::tagged_free_stack::representable(base + chunk_.bytes)) {
            os::unmap_pages(c, chunk_.bytes);  // above 2^48 (5-level paging): cannot be packed
            return nullptr;
        }
        c->next = chunks_;
        chunks_ = c;
        chunk_count_.fetch_add(1, std::memory_order_relaxed);
        // The whole chunk is linked at once: carving lazily would need a second shared word.
        if (chunk_.blocks > 1) {
            auto* first = reinterpret_cast<block*>(base + 2 * BlockSize);
            auto* last = reinterpret_cast<block*>(base + chunk_.blocks * BlockSize);
            for (block* b = first; b != last; b = reinterpret_cast<block*>(reinterpret_cast<std::byte*>(b) + BlockSize))
                b->next = reinterpret_cast<block*>(reinterpret_cast<std::byte*>(b) + BlockSize);
            hot_.free.push_chain(first, last);
        }
        return base + BlockSize;
    }

    // The head and the counters share one cache line: a thread that has just won the CAS owns
    // the line, so the two counter updates that follow cost no further transfer.
    struct alignas(64) hot_line {
        detail::tagged_free_stack free;
        std::atomic<std::uint64_t> requested{0};  // live requested bytes
        std::atomic<std::uint64_t> live{0};       // live blocks
    };

    hot_line hot_;
    detail::pool_chunk_layout chunk_;                // chunk length and blocks per chunk
    std::mutex grow_lock_;                           // serializes growth only
    chunk_header* chunks_ = nullptr;                 // newest chunk first; guarded by grow_lock_
    std::atomic<std::uint64_t> chunk_count_{0};      // chunks mapped, for stats()
};

static_assert(capabilities_consistent<lockfree_pool_allocator<>>());

}  // namespace allocmeter

#undef ALLOCMETER_LFP_RACY_READ
#undef ALLOCMETER_LFP_TSAN
