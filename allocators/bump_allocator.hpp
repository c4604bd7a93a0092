// bump_allocator: the simplest reference allocator, an align-and-add over one large
// reservation. Nothing is freed one by one; memory comes back all at once with reset(), or
// back to a saved position with rollback(), which is how frame and request workloads use it.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "allocators/adapter.hpp"
#include "allocators/os_pages.hpp"

namespace allocmeter {

/// Bump-pointer allocator over a single MAP_NORESERVE region: untouched pages cost address
/// space, not memory, so a 16 GiB default reservation is cheap and never needs to grow.
class bump_allocator {
public:
    /// No individual free, bulk reset. max_align is the declared guarantee; any larger power
    /// of two is still honoured while the padding fits.
    static constexpr capabilities caps{
        .individual_free = false, .reset = true, .thread_safe = false, .max_align = 4096};

    /// A saved position for rollback(): the bump offset and the counters at mark().
    struct checkpoint {
        std::size_t offset;             ///< bytes from the region start
        std::uint64_t bytes_requested;  ///< stats().bytes_requested at the mark
        std::uint64_t blocks;           ///< stats().blocks at the mark
    };

    /// Reserves `capacity` bytes rounded up to pages. If the reservation fails, capacity()
    /// is 0 and every allocate() returns nullptr: an empty allocator, not a crash.
    explicit bump_allocator(std::size_t capacity = std::size_t{16} << 30) noexcept {
        // Within a page of SIZE_MAX round_to_pages would wrap; such a size cannot be mapped.
        if (capacity == 0 || capacity > std::numeric_limits<std::size_t>::max() - os::page_size())
            return;
        const std::size_t bytes = os::round_to_pages(capacity);
        base_ = static_cast<std::byte*>(os::map_pages(bytes, /*reserve_only=*/true));
        if (base_ != nullptr) capacity_ = bytes;
    }

    bump_allocator(const bump_allocator&) = delete;
    bump_allocator& operator=(const bump_allocator&) = delete;

    /// Returns the whole reservation to the OS.
    ~bump_allocator() { os::unmap_pages(base_, capacity_); }

    /// Aligns the offset up to `align` (a power of two) and advances it by `size`; nullptr when
    /// that passes the end. Size 0 gets an aligned pointer that need not be unique.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        // Padding and room are offsets, never end addresses, so neither a huge size nor a huge
        // alignment can wrap around the address space and slip past the check.
        const auto here = reinterpret_cast<std::uintptr_t>(base_ + offset_);
        const std::size_t pad = (0 - here) & (align - 1);
        const std::size_t room = capacity_ - offset_;
        // base_ == nullptr (no reservation) would otherwise serve size 0 as a null "block".
        if (pad > room || size > room - pad || base_ == nullptr) [[unlikely]]
            return nullptr;
        std::byte* p = base_ + offset_ + pad;
        offset_ += pad + size;
        requested_ += size;
        ++blocks_;
        return p;
    }

    /// A no-op: a bump allocator cannot reuse a hole. Memory comes back only through
    /// reset() or rollback().
    void deallocate(void*, std::size_t, std::size_t) noexcept {}

    /// Saves the current position; rollback(mark()) frees everything allocated after it.
    checkpoint mark() const noexcept { return {offset_, requested_, blocks_}; }

    /// Releases everything allocated after `cp`, restoring its address and counters. Valid for
    /// a checkpoint taken since the last reset() and not older than one already rolled back to.
    void rollback(checkpoint cp) noexcept {
        assert(cp.offset <= offset_);
        retire_high_water();
        offset_ = cp.offset;
        requested_ = cp.bytes_requested;
        blocks_ = cp.blocks;
    }

    /// Releases every block: the next allocation starts at the region start again. Pages stay
    /// mapped (and resident), so the next cycle takes no page faults.
    void reset() noexcept {
        retire_high_water();
        offset_ = 0;
        requested_ = 0;
        blocks_ = 0;
    }

    /// Counters since construction or reset(); bytes_reserved counts the touched pages (the
    /// page-rounded high-water offset), not the virtual reservation.
    allocator_stats stats() const noexcept {
        return {.bytes_requested = requested_,
                .bytes_reserved = os::round_to_pages(std::max(high_water_, offset_)),
                .chunks = base_ != nullptr ? 1u : 0u,
                .blocks = blocks_};
    }

    /// Bytes of the region in use: the bump offset, padding included.
    std::size_t used() const noexcept { return offset_; }

    /// Bytes reserved (a page multiple), or 0 when the reservation failed.
    std::size_t capacity() const noexcept { return capacity_; }

private:
    // The high-water mark only moves when the offset goes back, so allocate() need not
    // track it: stats() takes the max with the live offset.
    void retire_high_water() noexcept { high_water_ = std::max(high_water_, offset_); }

    std::byte* base_ = nullptr;     // region start; nullptr when the reservation failed
    std::size_t capacity_ = 0;      // region length, a page multiple
    std::size_t offset_ = 0;        // next free byte, from base_
    std::size_t high_water_ = 0;    // largest offset before the last reset/rollback
    std::uint64_t requested_ = 0;   // sum of sizes handed out since reset
    std::uint64_t blocks_ = 0;      // blocks handed out since reset
};

static_assert(capabilities_consistent<bump_allocator>());

}  // namespace allocmeter
