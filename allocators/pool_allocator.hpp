// pool_allocator: fixed-size blocks on an intrusive free list, the classic object pool.
// Chunks come from os::map_pages and are carved lazily, so a fresh chunk costs page faults only
// as its blocks are first handed out; freed blocks are reused LIFO, the cache-warm one first.
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

namespace detail {
/// Default chunk length in blocks: about 64 KiB worth, and never fewer than 16.
constexpr std::size_t pool_default_blocks(std::size_t block_size) noexcept {
    return block_size == 0 ? 16 : std::max<std::size_t>(16, (64 * 1024) / block_size);
}

/// The chunk layout of both pools: slot 0 holds the chunk header and blocks fill the slots after
/// it; a chunk is `min_blocks` + 1 slots rounded up to whole pages, the rounding used for blocks.
struct pool_chunk_layout {
    pool_chunk_layout(std::size_t block_size, std::size_t min_blocks) noexcept
        : bytes(os::round_to_pages((min_blocks + 1) * block_size)), blocks(bytes / block_size - 1) {}

    std::size_t bytes;   ///< mapped length of every chunk
    std::size_t blocks;  ///< blocks after the header slot
};
}  // namespace detail

/// Pool of BlockSize-byte blocks, grown by chunks of at least BlocksPerChunk blocks (the page
/// rounding of a chunk is used for blocks too, so there may be more).
template <std::size_t BlockSize, std::size_t BlocksPerChunk = detail::pool_default_blocks(BlockSize)>
class pool_allocator {
    static_assert(BlockSize >= sizeof(void*), "a free block must hold the free-list link");
    static_assert(BlockSize % alignof(void*) == 0, "the free-list link must be aligned in every block");
    static_assert(BlocksPerChunk >= 1, "a chunk must hold at least one block");
    static_assert(BlocksPerChunk < std::numeric_limits<std::size_t>::max() / 2 / BlockSize,
                  "chunk length in bytes would overflow");

    // Occupies slot 0 of each chunk; chunks are linked oldest to newest so that after reset()
    // they are carved again in the order they were first mapped.
    struct chunk_header {
        chunk_header* next;
    };

public:
    /// Guaranteed block alignment: blocks sit at multiples of BlockSize from a page-aligned chunk.
    static constexpr std::size_t block_align = natural_align(BlockSize);

    /// Individual free and bulk reset; one size, BlockSize, aligned to block_align.
    static constexpr capabilities caps{.individual_free = true,
                                       .reset = true,
                                       .thread_safe = false,
                                       .fixed_size = BlockSize,
                                       .max_size = BlockSize,
                                       .max_align = block_align};

    /// Maps nothing until the first allocation.
    pool_allocator() noexcept : chunk_(BlockSize, BlocksPerChunk) {}

    pool_allocator(const pool_allocator&) = delete;
    pool_allocator& operator=(const pool_allocator&) = delete;

    /// Unmaps every chunk; blocks still live become invalid.
    ~pool_allocator() { intrusive::unmap_all(first_, chunk_.bytes); }

    /// One block: the most recently freed, else the next untouched one of the current chunk.
    /// nullptr when size > BlockSize, align > block_align, or the OS refuses a new chunk.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        if (size > BlockSize || align > block_align) [[unlikely]]
            return nullptr;
        void* p;
        if (free_ != nullptr || carve_ != carve_end_)
            p = intrusive::pop_or_carve(free_, carve_, BlockSize);
        else if ((p = carve_next_chunk()) == nullptr)
            return nullptr;
        requested_ += size;
        ++live_;
        return p;
    }

    /// Pushes the block onto the free list; `size` must be the size it was allocated with.
    /// nullptr is ignored, as with free().
    void deallocate(void* p, std::size_t size, std::size_t) noexcept {
        if (p == nullptr) return;
        intrusive::push_free(free_, p);
        requested_ -= size;
        --live_;
    }

    /// Makes every block free at once. Chunks stay mapped and are carved again from the first;
    /// the free list is dropped rather than walked, so reset costs O(1).
    void reset() noexcept {
        free_ = nullptr;
        current_ = nullptr;
        carve_ = carve_end_ = nullptr;
        requested_ = 0;
        live_ = 0;
    }

    /// Live bytes and blocks (allocated minus freed); bytes_reserved and chunks are the mappings.
    allocator_stats stats() const noexcept {
        return {.bytes_requested = requested_,
                .bytes_reserved = chunks_ * chunk_.bytes,
                .chunks = chunks_,
                .blocks = live_};
    }

    /// Blocks carved from each chunk (BlocksPerChunk or more, after page rounding).
    std::size_t blocks_per_chunk() const noexcept { return chunk_.blocks; }

    /// Bytes in each chunk, header slot included (a page multiple).
    std::size_t chunk_bytes() const noexcept { return chunk_.bytes; }

private:
    // Cold: the free list is empty and the current chunk is fully carved. Moves on to the next
    // retained chunk, or maps one, and hands out its first block (slot 1; slot 0 is the header).
    [[gnu::noinline]] void* carve_next_chunk() noexcept {
        chunk_header* c = current_ != nullptr ? current_->next : first_;
        if (c == nullptr) {
            c = static_cast<chunk_header*>(os::map_pages(chunk_.bytes));
            if (c == nullptr) return nullptr;
            c->next = nullptr;
            (last_ != nullptr ? last_->next : first_) = c;
            last_ = c;
            ++chunks_;
        }
        current_ = c;
        auto* base = reinterpret_cast<std::byte*>(c);
        carve_ = base + 2 * BlockSize;
        carve_end_ = base + (chunk_.blocks + 1) * BlockSize;
        return base + BlockSize;
    }

    intrusive::free_object* free_ = nullptr;  // most recently freed block
    std::byte* carve_ = nullptr;              // next untouched block of the current chunk
    std::byte* carve_end_ = nullptr;          // end of the current chunk's last block
    chunk_header* current_ = nullptr;         // chunk being carved; nullptr before the first
    chunk_header* first_ = nullptr;           // oldest chunk
    chunk_header* last_ = nullptr;            // newest chunk, where a new one is appended
    detail::pool_chunk_layout chunk_;         // chunk length and blocks per chunk
    std::uint64_t requested_ = 0;             // live requested bytes
    std::uint64_t live_ = 0;                  // live blocks
    std::uint64_t chunks_ = 0;                // chunks mapped
};

static_assert(capabilities_consistent<pool_allocator<64>>());

}  // namespace allocmeter
