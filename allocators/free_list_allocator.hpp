// free_list_allocator: the textbook general-purpose heap. Variable-size blocks are carved from
// large chunks; every block carries boundary tags (its size at both ends), so free() merges with
// both neighbours in O(1). Free blocks sit on one explicit doubly linked list; first or best fit.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "allocators/adapter.hpp"
#include "allocators/intrusive_list.hpp"
#include "allocators/os_pages.hpp"

namespace allocmeter {

/// How allocate() picks among the free blocks that fit.
enum class fit_policy {
    first_fit,  ///< the first fitting block in list order (most recently freed first)
    best_fit,   ///< the smallest fitting block; an exact fit ends the scan early
};

/// Boundary-tag heap. Chunk layout: [chunk_header | prologue tag | block ... block | epilogue tag]
/// where each block is [tag | payload | tag] and a tag is size | allocated_bit. The prologue and
/// epilogue are "allocated" tags of size 0, so a block at a chunk's edge never merges past it.
/// Alignment above 16 splits a leading free fragment off the chosen block, so every allocated
/// payload starts right after its header and deallocate() needs no padding marker.
template <fit_policy Policy>
class free_list_allocator {
    // A block, seen from its header tag. The links are only meaningful while the block is free.
    struct block {
        std::size_t tag;    // size | allocated_bit; repeated in the block's last word (the footer)
        block* prev;        // neighbours on the free list
        block* next;
    };
    // Starts every chunk. Chunks are doubly linked so an emptied one is unmapped in O(1).
    struct chunk_header {
        chunk_header* prev;
        chunk_header* next;
        std::size_t bytes;    // mapped length
        std::size_t unused;   // pads the header to 32 bytes: the first payload is 16-aligned
    };

    static constexpr std::size_t allocated_bit = 1;
    static constexpr std::size_t tag_bytes = sizeof(std::size_t);
    static constexpr std::size_t first_block_offset = sizeof(chunk_header) + tag_bytes;  // 40
    static constexpr std::size_t chunk_overhead = first_block_offset + tag_bytes;  // + epilogue
    // Larger requests are refused outright, so no size arithmetic below can wrap.
    static constexpr std::size_t max_request = std::numeric_limits<std::size_t>::max() / 4;

public:
    /// Block sizes are multiples of this, and every payload is aligned to it.
    static constexpr std::size_t granule = 16;
    /// Header plus footer: the per-block cost on top of the rounded request.
    static constexpr std::size_t block_overhead = 2 * tag_bytes;
    /// Smallest block: the two tags and the two free-list links. A smaller split remainder is
    /// left inside the allocated block instead.
    static constexpr std::size_t min_block = 32;
    /// The placement policy this instantiation uses.
    static constexpr fit_policy policy = Policy;

    static_assert(sizeof(chunk_header) == 32 && first_block_offset % granule == granule - tag_bytes,
                  "payloads must start 16-aligned");
    static_assert(min_block >= sizeof(block) + tag_bytes, "a free block must hold links and footer");

    /// Individual free and bulk reset. A request above a chunk gets a chunk of its own; sizes
    /// above SIZE_MAX / 4 can never be mapped and are refused up front, like an OS refusal.
    static constexpr capabilities caps{
        .individual_free = true, .reset = true, .thread_safe = false, .max_align = 4096};

    /// `chunk_size` is rounded up to whole pages (at least one). Nothing is mapped until the
    /// first allocation.
    explicit free_list_allocator(std::size_t chunk_size = std::size_t{1} << 20) noexcept
        : chunk_bytes_(os::round_to_pages(std::clamp<std::size_t>(chunk_size, 1, max_request))) {}

    free_list_allocator(const free_list_allocator&) = delete;
    free_list_allocator& operator=(const free_list_allocator&) = delete;

    /// Unmaps every chunk; blocks still live become invalid.
    ~free_list_allocator() {
        while (chunks_head_ != nullptr) unmap_chunk(chunks_head_);
    }

    /// Searches the free list under Policy and splits the chosen block; maps a chunk when none
    /// fits. nullptr when align > max_align, the size is absurd, or the OS refuses memory.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        if (size > max_request || align > caps.max_align) [[unlikely]]
            return nullptr;
        const std::size_t need = block_bytes(size);
        if (block* b = find_fit(need, align); b != nullptr) [[likely]]
            return place(b, need, align, size);
        return allocate_from_new_chunk(need, align, size);
    }

    /// Frees the block and merges it at once with a free neighbour on either side. A chunk that
    /// becomes entirely free is kept if no other empty chunk is, else the larger one is unmapped.
    void deallocate(void* p, std::size_t size, std::size_t) noexcept {
        if (p == nullptr) return;
        block* b = header_of(p);
        std::size_t bytes = b->tag & ~allocated_bit;
        assert(b->tag & allocated_bit);
        requested_ -= size;
        --live_;
        free_bytes_ += bytes;
        block* next = at(b, bytes);
        if ((next->tag & allocated_bit) == 0) {
            unlink(next);
            bytes += next->tag;
        }
        const std::size_t prev_tag = tag_before(b);
        if ((prev_tag & allocated_bit) == 0) {
            b = before(b, prev_tag);
            unlink(b);
            bytes += prev_tag;
        }
        set_tags(b, bytes, 0);
        // Both edge tags are the size-0 prologue/epilogue: the block is the whole chunk.
        if (tag_before(b) == allocated_bit && at(b, bytes)->tag == allocated_bit) [[unlikely]]
            return keep_or_unmap_empty_chunk(b);
        push(b);
    }

    /// Frees every block: each chunk, kept mapped for the next cycle, becomes one free block.
    /// Costs O(chunks). (The one-empty-chunk limit applies to deallocate(), not here.)
    void reset() noexcept {
        free_head_ = empty_block_ = nullptr;
        free_blocks_ = 0;
        free_bytes_ = 0;
        for (chunk_header* c = chunks_head_; c != nullptr; c = c->next) {
            block* b = first_block(c);
            set_tags(b, capacity(c), 0);
            free_bytes_ += capacity(c);
            push(b);  // newest chunk first, so the oldest ends up at the list head
        }
        requested_ = 0;
        live_ = 0;
    }

    /// Live requested bytes and blocks; bytes_reserved and chunks are the mappings held.
    allocator_stats stats() const noexcept {
        return {.bytes_requested = requested_,
                .bytes_reserved = reserved_,
                .chunks = chunks_,
                .blocks = live_};
    }

    /// Bytes in a normal chunk, header and edge tags included (a page multiple).
    std::size_t chunk_size() const noexcept { return chunk_bytes_; }

    /// Room for blocks in a normal chunk: its size less header, prologue and epilogue.
    std::size_t chunk_capacity() const noexcept { return chunk_bytes_ - chunk_overhead; }

    /// Blocks on the free list (after coalescing, no two of them are adjacent).
    std::size_t free_blocks() const noexcept { return free_blocks_; }

    /// Bytes in free blocks, tags included.
    std::size_t free_bytes() const noexcept { return free_bytes_; }

    /// The block a request of `size` bytes occupies with 16-byte (or smaller) alignment.
    static constexpr std::size_t block_bytes(std::size_t size) noexcept {
        return std::max(min_block, (size + block_overhead + granule - 1) & ~(granule - 1));
    }

private:
    // Bytes to split off the front of b so its payload meets `align`: 0, or a gap that can
    // stand as a free block of its own (at least min_block).
    static std::size_t leading_gap(const block* b, std::size_t align) noexcept {
        if (align <= granule) return 0;
        const auto payload = reinterpret_cast<std::uintptr_t>(b) + tag_bytes;
        std::uintptr_t aligned = align_up(payload, align);
        if (aligned != payload && aligned - payload < min_block)
            aligned = align_up(payload + min_block, align);
        return aligned - payload;
    }

    static bool fits(const block* b, std::size_t need, std::size_t align) noexcept {
        return b->tag >= need && leading_gap(b, align) <= b->tag - need;
    }

    block* find_fit(std::size_t need, std::size_t align) const noexcept {
        if constexpr (Policy == fit_policy::first_fit) {
            for (block* b = free_head_; b != nullptr; b = b->next)
                if (fits(b, need, align)) return b;
            return nullptr;
        } else {
            block* best = nullptr;
            for (block* b = free_head_; b != nullptr; b = b->next) {
                if ((best != nullptr && b->tag >= best->tag) || !fits(b, need, align)) continue;
                best = b;
                if (b->tag == need) break;  // nothing smaller can fit
            }
            return best;
        }
    }

    // Carves a `need`-byte block out of free block b: a leading fragment for alignment stays
    // free (in b's place on the list), and a tail of min_block or more goes back on the list.
    void* place(block* b, std::size_t need, std::size_t align, std::size_t size) noexcept {
        if (b == empty_block_) empty_block_ = nullptr;  // its chunk is in use again
        std::size_t avail = b->tag;
        const std::size_t gap = leading_gap(b, align);
        block* r = b;
        if (gap != 0) {
            set_tags(b, gap, 0);
            r = at(b, gap);
            avail -= gap;
        } else {
            unlink(b);
        }
        if (avail - need >= min_block) {
            block* rest = at(r, need);
            set_tags(rest, avail - need, 0);
            push(rest);
        } else {
            need = avail;  // too small to stand alone: the remainder rides along
        }
        set_tags(r, need, allocated_bit);
        free_bytes_ -= need;
        requested_ += size;
        ++live_;
        return reinterpret_cast<std::byte*>(r) + tag_bytes;
    }

    // Cold: nothing on the free list fits. Maps a normal chunk, or one sized for the request
    // (with room for the worst alignment gap) when it would not fit a normal one.
    [[gnu::noinline]] void* allocate_from_new_chunk(std::size_t need, std::size_t align,
                                                    std::size_t size) noexcept {
        const std::size_t worst_gap = align > granule ? align + min_block : 0;
        const std::size_t bytes =
            std::max(chunk_bytes_, os::round_to_pages(chunk_overhead + worst_gap + need));
        auto* c = static_cast<chunk_header*>(os::map_pages(bytes));
        if (c == nullptr) return nullptr;
        c->bytes = bytes;
        intrusive::push_front(chunks_head_, c);
        reserved_ += bytes;
        ++chunks_;
        // Prologue footer and epilogue header: allocated, size 0.
        *reinterpret_cast<std::size_t*>(reinterpret_cast<std::byte*>(c) + sizeof(chunk_header)) =
            allocated_bit;
        *reinterpret_cast<std::size_t*>(reinterpret_cast<std::byte*>(c) + bytes - tag_bytes) =
            allocated_bit;
        block* b = first_block(c);
        set_tags(b, capacity(c), 0);
        free_bytes_ += capacity(c);
        push(b);
        return place(b, need, align, size);
    }

    // Cold: block b spans a whole chunk. Keeps at most one such chunk mapped: a spare for the
    // next allocation burst, while a heap that shrinks still returns memory. Of two, the smaller
    // stays, so a normal chunk is preferred to one sized for a large request.
    [[gnu::noinline]] void keep_or_unmap_empty_chunk(block* b) noexcept {
        if (empty_block_ != nullptr) {
            chunk_header* kept = chunk_of(empty_block_);
            if (kept->bytes <= chunk_of(b)->bytes) return unmap_chunk(chunk_of(b));
            unlink(empty_block_);
            unmap_chunk(kept);
        }
        empty_block_ = b;
        push(b);
    }

    // Unmaps c; its blocks must be free and already off the free list.
    void unmap_chunk(chunk_header* c) noexcept {
        intrusive::unlink(chunks_head_, c);
        free_bytes_ -= capacity(c);
        reserved_ -= c->bytes;
        --chunks_;
        os::unmap_pages(c, c->bytes);
    }

    // The free list is LIFO: a freed block is reused first while it is still in cache.
    void push(block* b) noexcept {
        intrusive::push_front(free_head_, b);
        ++free_blocks_;
    }

    void unlink(block* b) noexcept {
        intrusive::unlink(free_head_, b);
        --free_blocks_;
    }

    static void set_tags(block* b, std::size_t bytes, std::size_t allocated) noexcept {
        b->tag = bytes | allocated;
        at(b, bytes - tag_bytes)->tag = bytes | allocated;
    }

    // The footer of the block before b (or the prologue tag).
    static std::size_t tag_before(const block* b) noexcept {
        return *reinterpret_cast<const std::size_t*>(reinterpret_cast<const std::byte*>(b) - tag_bytes);
    }

    static block* at(block* b, std::size_t offset) noexcept {
        return reinterpret_cast<block*>(reinterpret_cast<std::byte*>(b) + offset);
    }
    static block* before(block* b, std::size_t offset) noexcept {
        return reinterpret_cast<block*>(reinterpret_cast<std::byte*>(b) - offset);
    }
    static block* header_of(void* payload) noexcept {
        return reinterpret_cast<block*>(static_cast<std::byte*>(payload) - tag_bytes);
    }
    static block* first_block(chunk_header* c) noexcept {
        return reinterpret_cast<block*>(reinterpret_cast<std::byte*>(c) + first_block_offset);
    }
    static chunk_header* chunk_of(block* first) noexcept {
        return reinterpret_cast<chunk_header*>(reinterpret_cast<std::byte*>(first) - first_block_offset);
    }
    static std::size_t capacity(const chunk_header* c) noexcept { return c->bytes - chunk_overhead; }

    block* free_head_ = nullptr;          // most recently freed block
    block* empty_block_ = nullptr;        // the sole block of the retained empty chunk, if any
    chunk_header* chunks_head_ = nullptr; // newest chunk
    std::size_t chunk_bytes_;             // normal chunk length, a page multiple
    std::size_t free_blocks_ = 0;         // length of the free list
    std::size_t free_bytes_ = 0;          // bytes in free blocks
    std::uint64_t requested_ = 0;         // live requested bytes
    std::uint64_t live_ = 0;              // live blocks
    std::uint64_t reserved_ = 0;          // bytes of all chunks held
    std::uint64_t chunks_ = 0;            // chunks held
};

/// First fit over the LIFO free list: fast, reuses cache-warm blocks, fragments more.
using first_fit_allocator = free_list_allocator<fit_policy::first_fit>;
/// Best fit: scans the whole list (unless an exact fit turns up), keeps big blocks whole.
using best_fit_allocator = free_list_allocator<fit_policy::best_fit>;

static_assert(capabilities_consistent<first_fit_allocator>());
static_assert(capabilities_consistent<best_fit_allocator>());

}  // namespace allocmeter
