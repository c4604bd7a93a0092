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
        const os::region r = os::reserve(capacity);
        if (r.base == nullptr) return;
        base_ = r.base;
        capacity_ = r.bytes;
        cur_ = start();
        end_ = start() + r.bytes;
    }

    bump_allocator(const bump_allocator&) = delete;
    bump_allocator& operator=(const bump_allocator&) = delete;

    /// Returns the whole reservation to the OS.
    ~bump_allocator() { os::unmap_pages(base_, capacity_); }

    /// Aligns the offset up to `align` (a power of two) and advances it by `size`; nullptr when
    /// that passes the end. Size 0 gets an aligned pointer that need not be unique.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        // The cursor is an integer, not a pointer, so stores of the returned pointers cannot
        // alias it and it stays in a register across a caller's loop. Padding and room are
        // differences, never end addresses, so a huge size or alignment cannot wrap past the
        // check. end_ == 0 means no reservation (a loop-invariant test).
        const std::uintptr_t p = (cur_ + align - 1) & ~static_cast<std::uintptr_t>(align - 1);
        if (p - cur_ > end_ - cur_ || size > end_ - p || end_ == 0) [[unlikely]]
            return nullptr;
        cur_ = p + size;
        requested_ += size;
        ++blocks_;
        return reinterpret_cast<void*>(p);
    }

    /// A no-op: a bump allocator cannot reuse a hole. Memory comes back only through
    /// reset() or rollback().
    void deallocate(void*, std::size_t, std::size_t) noexcept {}

    /// Saves the current position; rollback(mark()) frees everything allocated after it.
    checkpoint mark() const noexcept { return {used(), requested_, blocks_}; }

    /// Releases everything allocated after `cp`, restoring its address and counters. Valid for
    /// a checkpoint taken since the last reset() and not older than one already rolled back to.
    void rollback(checkpoint cp) noexcept {
        assert(cp.offset <= used());
        retire_high_water();
        cur_ = start() + cp.offset;
        requested_ = cp.bytes_requested;
        blocks_ = cp.blocks;
    }

    /// Releases every block: the next allocation starts at the region start again. Pages stay
    /// mapped (and resident), so the next cycle takes no page faults.
    void reset() noexcept {
        retire_high_water();
        cur_ = start();
        requested_ = 0;
        blocks_ = 0;
    }

    /// Counters since construction or reset(); bytes_reserved counts the touched pages (the
    /// page-rounded high-water offset), not the virtual reservation.
    allocator_stats stats() const noexcept {
        return {.bytes_requested = requested_,
                .bytes_reserved = os::round_to_pages(std::max(high_water_, used())),
                .chunks = base_ != nullptr ? 1u : 0u,
                .blocks = blocks_};
    }

    /// Bytes of the region in use: the bump offset, padding included.
    std::size_t used() const noexcept { return cur_ - start(); }

    /// Bytes reserved (a page multiple), or 0 when the reservation failed.
    std::size_t capacity() const noexcept { return capacity_; }

private:
    // The high-water mark only moves when the offset goes back, so allocate() need not
    // track it: stats() takes the max with the live offset.
    void retire_high_water() noexcept { high_water_ = std::max(high_water_, used()); }

    std::uintptr_t start() const noexcept { return reinterpret_cast<std::uintptr_t>(base_); }

    // The fields allocate() writes (cur_, requested_, blocks_) each sit between fields it only
    // reads: side by side, GCC's SLP vectorizer fuses their updates into one 16-byte
    // load-add-store, and each allocate() then waits on store-to-load forwarding from the
    // last (measured on a heap-resident allocator: 3.1 ns a call against 1.15 ns).
    std::uintptr_t cur_ = 0;        // next free byte
    std::uintptr_t end_ = 0;        // region end
    std::uint64_t requested_ = 0;   // sum of sizes handed out since reset
    std::byte* base_ = nullptr;     // region start; nullptr when the reservation failed
    std::uint64_t blocks_ = 0;      // blocks handed out since reset
    std::size_t capacity_ = 0;      // region length, a page multiple
    std::size_t high_water_ = 0;    // largest offset before the last reset/rollback
};

static_assert(capabilities_consistent<bump_allocator>());

}  // namespace allocmeter
