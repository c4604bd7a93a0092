// stack_allocator: LIFO allocation over one large reservation. Each block is preceded by a small
// header recording the top before it, so freeing the newest block pops back exactly (padding
// included); mark()/release() free everything above a saved position, reset() frees it all.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "allocators/adapter.hpp"
#include "allocators/os_pages.hpp"

namespace allocmeter {

/// Stack (LIFO) allocator over a single MAP_NORESERVE region: a bump pointer that can also move
/// back, one block at a time. Only the newest live block may be freed; freeing any other is
/// caught in debug builds (NDEBUG undefined) and is a precondition violation in release builds.
class stack_allocator {
    // Sits just below every block. prev_top undoes the bump (alignment padding included);
    // prev_block names the block that becomes the top again, which the LIFO check needs.
    // Pointer-typed fields, while the cursors are integers: stores to a header cannot alias
    // the cursors, so they stay in registers across a caller's allocation loop.
    struct block_header {
        std::byte* prev_top;    // top before this block was allocated
        std::byte* prev_block;  // the newest live block before this one, or nullptr
    };

public:
    /// Individual free, newest block only; bulk reset. max_align is the declared guarantee; any
    /// larger power of two is still honoured while the padding fits.
    static constexpr capabilities caps{.individual_free = true,
                                       .reset = true,
                                       .lifo_free_only = true,
                                       .thread_safe = false,
                                       .max_align = 4096};

    /// A saved position for release(): the top, the newest block and the counters at mark().
    struct marker {
        std::size_t top;                ///< bytes from the region start
        std::byte* top_block;           ///< newest live block at the mark, or nullptr
        std::uint64_t bytes_requested;  ///< stats().bytes_requested at the mark
        std::uint64_t blocks;           ///< stats().blocks at the mark
    };

    /// Bytes of header in front of every block (padding for alignment comes on top).
    static constexpr std::size_t header_size = sizeof(block_header);

    /// Reserves `capacity` bytes rounded up to pages. If the reservation fails, capacity() is 0
    /// and every allocate() returns nullptr: an empty allocator, not a crash.
    explicit stack_allocator(std::size_t capacity = std::size_t{1} << 30) noexcept {
        const os::region r = os::reserve(capacity);
        if (r.base == nullptr) return;
        base_ = r.base;
        capacity_ = r.bytes;
        top_ = start();
        end_ = start() + r.bytes;
    }

    stack_allocator(const stack_allocator&) = delete;
    stack_allocator& operator=(const stack_allocator&) = delete;

    /// Returns the whole reservation to the OS.
    ~stack_allocator() { os::unmap_pages(base_, capacity_); }

    /// Places a header and then the block, aligned to `align` (at least the header's alignment),
    /// above the top; nullptr when that passes the end. Size 0 gets a block of its own.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        align = std::max(align, alignof(block_header));
        const std::uintptr_t p = align_up(top_ + header_size, align);
        // Differences, never end addresses, so a huge size or alignment cannot wrap past the
        // check. With no reservation top_ == end_ == 0, and the header alone does not fit.
        if (p - top_ > end_ - top_ || size > end_ - p) [[unlikely]]
            return nullptr;
        auto* h = reinterpret_cast<block_header*>(p - header_size);
        h->prev_top = reinterpret_cast<std::byte*>(top_);
        h->prev_block = reinterpret_cast<std::byte*>(top_block_);
        top_ = p + size;
        top_block_ = p;
        requested_ += size;
        ++blocks_;
        return reinterpret_cast<void*>(p);
    }

    /// Pops the newest live block, restoring the top to where it was before that block
    /// (padding included). Precondition: `p` is the newest live block and `size` its size;
    /// checked in debug builds. nullptr is ignored, as with free().
    void deallocate(void* p, std::size_t size, std::size_t) noexcept {
        if (p == nullptr) return;
#ifndef NDEBUG
        check_is_top(static_cast<std::byte*>(p), size);
#endif
        const auto* h =
            reinterpret_cast<const block_header*>(static_cast<std::byte*>(p) - header_size);
        retire_high_water();
        top_ = reinterpret_cast<std::uintptr_t>(h->prev_top);
        top_block_ = reinterpret_cast<std::uintptr_t>(h->prev_block);
        requested_ -= size;
        --blocks_;
    }

    /// Saves the current position; release(mark()) frees everything allocated after it.
    marker mark() const noexcept {
        return {used(), reinterpret_cast<std::byte*>(top_block_), requested_, blocks_};
    }

    /// Frees every block allocated after `m`, restoring its top and counters. Valid for a marker
    /// taken since the last reset() whose position has not been popped below since.
    void release(marker m) noexcept {
        assert(m.top <= used());
        retire_high_water();
        top_ = start() + m.top;
        top_block_ = reinterpret_cast<std::uintptr_t>(m.top_block);
        requested_ = m.bytes_requested;
        blocks_ = m.blocks;
    }

    /// Frees every block. Pages stay mapped (and resident), so the next cycle takes no faults.
    void reset() noexcept { release({0, nullptr, 0, 0}); }

    /// Counters since construction or reset(); bytes_reserved counts the touched pages (the
    /// page-rounded high-water top), not the virtual reservation.
    allocator_stats stats() const noexcept {
        return {.bytes_requested = requested_,
                .bytes_reserved = os::round_to_pages(std::max(high_water_, used())),
                .chunks = base_ != nullptr ? 1u : 0u,
                .blocks = blocks_};
    }

    /// Bytes of the region in use: headers, padding and blocks up to the top.
    std::size_t used() const noexcept { return top_ - start(); }

    /// Bytes reserved (a page multiple), or 0 when the reservation failed.
    std::size_t capacity() const noexcept { return capacity_; }

private:
    // The high-water mark only moves when the top goes back, so allocate() need not track it.
    void retire_high_water() noexcept { high_water_ = std::max(high_water_, used()); }

    std::uintptr_t start() const noexcept { return reinterpret_cast<std::uintptr_t>(base_); }

#ifndef NDEBUG
    // Freeing below the top would silently free everything above it too: stop right here.
    [[gnu::noinline]] void check_is_top(std::byte* block, std::size_t size) const noexcept {
        const auto p = reinterpret_cast<std::uintptr_t>(block);
        if (p == top_block_ && top_ - p == size) return;
        if (p != top_block_) {
            std::fprintf(stderr,
                         "stack_allocator: deallocate(%p) is not the newest live block; expected "
                         "top %p (frees must be LIFO)\n",
                         static_cast<void*>(block), reinterpret_cast<void*>(top_block_));
        } else {
            std::fprintf(stderr,
                         "stack_allocator: deallocate(%p, size %zu) but the top block %p has "
                         "size %zu\n",
                         static_cast<void*>(block), size, reinterpret_cast<void*>(top_block_),
                         static_cast<std::size_t>(top_ - top_block_));
        }
        std::abort();
    }
#endif

    // requested_ and blocks_ are kept apart on purpose: side by side, GCC's SLP vectorizer fuses
    // their updates into one 16-byte load-add-store that the next call waits on (see
    // bump_allocator).
    std::byte* base_ = nullptr;       // region start; nullptr when the reservation failed
    std::uint64_t requested_ = 0;     // sum of live block sizes
    std::uintptr_t top_ = 0;          // end of the newest live block (or start when none)
    std::uintptr_t top_block_ = 0;    // newest live block, or 0 when none
    std::uint64_t blocks_ = 0;        // live blocks
    std::uintptr_t end_ = 0;          // region end; 0 when the reservation failed
    std::size_t capacity_ = 0;        // region length, a page multiple
    std::size_t high_water_ = 0;      // largest used() before the last pop, release or reset
};

static_assert(capabilities_consistent<stack_allocator>());

}  // namespace allocmeter
