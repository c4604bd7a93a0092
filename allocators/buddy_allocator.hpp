// buddy_allocator: the binary buddy system. Every block is a power of two at a multiple of its
// own size inside an arena aligned to the arena size, so a block's buddy is its address XOR its
// size: splitting halves a block, and free() merges with the buddy while the buddy is free.
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "allocators/adapter.hpp"
#include "allocators/intrusive_list.hpp"
#include "allocators/os_pages.hpp"

namespace allocmeter {

/// Buddy allocator over ArenaBytes arenas (from os::map_aligned), grown by whole arenas. Each
/// order k (block size 2^k, MinBlock..ArenaBytes) has a doubly linked free list threaded through
/// its free blocks. Each arena has a free bitmap laid out as a binary tree, one bit per possible
/// block of every order, set while that exact block is free; it sits just past the arena in the
/// same mapping, so the arena itself serves a block of ArenaBytes and one mmap covers both.
template <std::size_t ArenaBytes = std::size_t{16} << 20, std::size_t MinBlock = 32>
class buddy_allocator {
    // What a free block holds: its free-list links.
    struct free_block {
        free_block* prev;
        free_block* next;
    };
    // Sits at arena base + ArenaBytes; the bitmap words follow it.
    struct arena_meta {
        arena_meta* prev;
        arena_meta* next;
    };

    static_assert(is_pow2(MinBlock) && MinBlock >= sizeof(free_block),
                  "a free block must hold its two links");
    static_assert(is_pow2(ArenaBytes) && ArenaBytes >= 4096 && ArenaBytes > MinBlock,
                  "the arena is a power of two, at least a page, above the minimum block");

    static constexpr unsigned min_order = std::countr_zero(MinBlock);
    static constexpr unsigned max_order = std::countr_zero(ArenaBytes);
    static constexpr unsigned order_count = max_order - min_order + 1;  // < 64: fits the mask
    // Tree layout: the block of order k at offset o is bit (ArenaBytes >> k) + (o >> k); bit 1
    // is the whole arena, and bits 2N..4N-1 the N minimum blocks' level.
    static constexpr std::size_t bitmap_words = std::max<std::size_t>(1, 2 * (ArenaBytes / MinBlock) / 64);

public:
    /// Smallest block handed out; every request is rounded up to a power of two at least this.
    static constexpr std::size_t min_block = MinBlock;
    /// Bytes of block space in each arena, which is also the largest block.
    static constexpr std::size_t arena_bytes = ArenaBytes;

    /// Individual free and bulk reset. A block is aligned to its own size, so any alignment up
    /// to the arena size is served (the request is rounded up to the alignment).
    static constexpr capabilities caps{.individual_free = true,
                                       .reset = true,
                                       .thread_safe = false,
                                       .max_size = ArenaBytes,
                                       .max_align = ArenaBytes};

    /// Maps nothing until the first allocation.
    buddy_allocator() noexcept
        : mapping_bytes_(ArenaBytes + os::round_to_pages(sizeof(arena_meta) + 8 * bitmap_words)) {}

    buddy_allocator(const buddy_allocator&) = delete;
    buddy_allocator& operator=(const buddy_allocator&) = delete;

    /// Unmaps every arena; blocks still live become invalid.
    ~buddy_allocator() {
        while (arenas_ != nullptr) unmap_arena(arenas_);
    }

    /// The block for (size, align): the smallest power of two covering both and MinBlock.
    /// Valid for size and align up to ArenaBytes.
    static constexpr std::size_t block_bytes(std::size_t size, std::size_t align) noexcept {
        return std::bit_ceil(std::max({size, align, MinBlock}));
    }

    /// Takes the smallest free block of a large enough order, splitting it down and putting each
    /// upper half on its order's list; maps an arena when no order has one. nullptr when size or
    /// align exceeds the arena, or the OS refuses a mapping.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        if (size > ArenaBytes || align > ArenaBytes) [[unlikely]]
            return nullptr;
        const unsigned order = order_of(block_bytes(size, align));
        const std::uint64_t candidates = nonempty_ >> (order - min_order);
        unsigned k = max_order;
        if (candidates != 0) [[likely]]
            k = order + static_cast<unsigned>(std::countr_zero(candidates));
        else if (!map_arena())
            return nullptr;
        auto* b = reinterpret_cast<std::byte*>(heads_[k - min_order]);
        remove(b, k);
        while (k > order) {
            --k;
            insert(b + (std::size_t{1} << k), k);  // the upper half becomes free
        }
        requested_ += size;
        in_blocks_ += std::size_t{1} << order;
        ++live_;
        return b;
    }

    /// Frees the block (its order comes from the size and align passed back) and merges it with
    /// its buddy, order by order, while the buddy is a free block of the same order. An arena
    /// that becomes entirely free is kept if it is the only empty one, else unmapped.
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        if (p == nullptr) return;
        unsigned k = order_of(block_bytes(size, align));
        requested_ -= size;
        in_blocks_ -= std::size_t{1} << k;
        --live_;
        auto* b = static_cast<std::byte*>(p);
        for (; k < max_order; ++k) {
            auto* buddy = buddy_of(b, std::size_t{1} << k);
            if (!is_free(buddy, k)) break;
            remove(buddy, k);
            b = std::min(b, buddy);
        }
        if (k == max_order && (nonempty_ >> (max_order - min_order)) != 0) [[unlikely]]
            return unmap_arena(meta_of(b));  // another empty arena is already kept
        insert(b, k);
    }

    /// Frees every block; every arena stays mapped as one free block of ArenaBytes. Clears the
    /// bitmap bits of the free blocks only (no other bit is ever set), so it costs O(free blocks).
    void reset() noexcept {
        for (unsigned k = min_order; k <= max_order; ++k) {
            for (free_block* f = heads_[k - min_order]; f != nullptr; f = f->next)
                clear_bit(reinterpret_cast<std::byte*>(f), k);
            heads_[k - min_order] = nullptr;
        }
        nonempty_ = 0;
        for (arena_meta* a = arenas_; a != nullptr; a = a->next) insert(base_of(a), max_order);
        requested_ = in_blocks_ = live_ = 0;
    }

    /// Live requested bytes and blocks; bytes_reserved and chunks are the arena mappings
    /// (arena plus its bitmap each).
    allocator_stats stats() const noexcept {
        return {.bytes_requested = requested_,
                .bytes_reserved = chunks_ * mapping_bytes_,
                .chunks = chunks_,
                .blocks = live_};
    }

    /// Bytes in the live blocks: bytes_requested plus the internal fragmentation of rounding.
    std::uint64_t bytes_in_blocks() const noexcept { return in_blocks_; }

    /// Free blocks of exactly `bytes` (a power of two from MinBlock to ArenaBytes). Walks that
    /// order's list: for tests and reports, not hot paths.
    std::size_t free_blocks_of_size(std::size_t bytes) const noexcept {
        assert(is_pow2(bytes) && bytes >= MinBlock && bytes <= ArenaBytes);
        std::size_t n = 0;
        for (free_block* f = heads_[order_of(bytes) - min_order]; f != nullptr; f = f->next) ++n;
        return n;
    }

    /// Length of each arena mapping: ArenaBytes plus the bitmap, rounded to pages.
    std::size_t mapping_bytes() const noexcept { return mapping_bytes_; }

private:
    static unsigned order_of(std::size_t pow2_bytes) noexcept {
        return static_cast<unsigned>(std::countr_zero(pow2_bytes));
    }

    // Cold: no order has a free block. Maps an arena aligned to its size and frees it whole.
    [[gnu::noinline]] bool map_arena() noexcept {
        auto* base = static_cast<std::byte*>(os::map_aligned(mapping_bytes_, ArenaBytes));
        if (base == nullptr) return false;
        auto* a = reinterpret_cast<arena_meta*>(base + ArenaBytes);  // zeroed: all bits clear
        intrusive::push_front(arenas_, a);
        ++chunks_;
        insert(base, max_order);
        return true;
    }

    // Unmaps an arena whose blocks are all free and off the free lists.
    void unmap_arena(arena_meta* a) noexcept {
        intrusive::unlink(arenas_, a);
        --chunks_;
        os::unmap_pages(base_of(a), mapping_bytes_);
    }

    // Pushes the block onto order k's list and marks it free.
    void insert(std::byte* p, unsigned k) noexcept {
        intrusive::push_front(heads_[k - min_order], reinterpret_cast<free_block*>(p));
        nonempty_ |= std::uint64_t{1} << (k - min_order);
        bitmap_word(p, k) |= bit_mask(p, k);
    }

    // Unlinks the block from order k's list and marks it not free.
    void remove(std::byte* p, unsigned k) noexcept {
        free_block*& head = heads_[k - min_order];
        intrusive::unlink(head, reinterpret_cast<free_block*>(p));
        if (head == nullptr) nonempty_ &= ~(std::uint64_t{1} << (k - min_order));
        clear_bit(p, k);
    }

    bool is_free(std::byte* p, unsigned k) const noexcept {
        return (bitmap_word(p, k) & bit_mask(p, k)) != 0;
    }
    void clear_bit(std::byte* p, unsigned k) noexcept { bitmap_word(p, k) &= ~bit_mask(p, k); }

    static std::size_t bit_index(std::byte* p, unsigned k) noexcept {
        const std::size_t offset = reinterpret_cast<std::uintptr_t>(p) & (ArenaBytes - 1);
        return (ArenaBytes >> k) + (offset >> k);
    }
    static std::uint64_t bit_mask(std::byte* p, unsigned k) noexcept {
        return std::uint64_t{1} << (bit_index(p, k) % 64);
    }
    static std::uint64_t& bitmap_word(std::byte* p, unsigned k) noexcept {
        auto* words = reinterpret_cast<std::uint64_t*>(meta_of(p) + 1);
        return words[bit_index(p, k) / 64];
    }

    // The arena is aligned to ArenaBytes, so masking any address in it finds the base.
    static arena_meta* meta_of(std::byte* p) noexcept {
        const std::uintptr_t offset = reinterpret_cast<std::uintptr_t>(p) & (ArenaBytes - 1);
        return reinterpret_cast<arena_meta*>(p - offset + ArenaBytes);
    }
    static std::byte* base_of(arena_meta* a) noexcept {
        return reinterpret_cast<std::byte*>(a) - ArenaBytes;
    }
    // The buddy of a block of `bytes` at p: the other half of their parent.
    static std::byte* buddy_of(std::byte* p, std::size_t bytes) noexcept {
        const bool upper = (reinterpret_cast<std::uintptr_t>(p) & bytes) != 0;
        return upper ? p - bytes : p + bytes;
    }

    free_block* heads_[order_count] = {};  // one free list per order, index k - min_order
    std::uint64_t nonempty_ = 0;           // bit k - min_order set while heads_[k] is non-empty
    arena_meta* arenas_ = nullptr;         // newest arena
    std::size_t mapping_bytes_;            // arena plus bitmap, one mapping
    std::uint64_t requested_ = 0;          // live requested bytes
    std::uint64_t in_blocks_ = 0;          // live block bytes (powers of two)
    std::uint64_t live_ = 0;               // live blocks
    std::uint64_t chunks_ = 0;             // arenas held
};

static_assert(capabilities_consistent<buddy_allocator<>>());

}  // namespace allocmeter
