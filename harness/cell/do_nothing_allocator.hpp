// do_nothing_allocator: a measurement device, not an allocator family. Every block a thread
// asks for starts at that thread's own scratch memory and nothing is ever freed, so a cell run
// on it costs the harness's own work (drawing sizes, writing blocks, counting operations) and
// next to nothing else: the `harness` row of every run --measure time, which net figures subtract.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "allocators/adapter.hpp"
#include "allocators/os_pages.hpp"

namespace allocmeter {

/// Hands out the start of the calling thread's scratch memory for every request, so a thread's
/// blocks alias one another and what the harness writes into them stays in the cache, as with an
/// ideal allocator. Sound only where nothing reads a block back to decide what to do next (the
/// synthetic workloads and the trace replay, whose realloc copies with memmove): never under
/// run --verify, whose tags would overwrite one another.
class do_nothing_allocator {
public:
    /// Individual free (a no-op), thread-safe (each thread has its own scratch), any size the
    /// address space allows, and malloc_allocator's alignment, so it can run every cell that
    /// system can.
    static constexpr capabilities caps{
        .individual_free = true, .reset = false, .thread_safe = true, .max_align = std::size_t{1} << 16};

    /// The thread's scratch when it is large and aligned enough (a compare each, inline); else
    /// a larger one. nullptr only when the OS refuses the mapping.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        const scratch& s = scratch_;
        if (size <= s.bytes && align <= s.align) [[likely]] return s.base;
        return grow(size, align);
    }

    /// Nothing to do: the scratch is reused by the next block anyway.
    void deallocate(void*, std::size_t, std::size_t) noexcept {}

    /// Whether `p` lies in the calling thread's current scratch. Only then may this thread read
    /// the block (a trace replay's realloc copies it): another thread's scratch is written by
    /// that thread at any time, since its next block starts there too.
    static bool owned_by_this_thread(const void* p) noexcept {
        const scratch& s = scratch_;
        const auto* b = static_cast<const std::byte*>(p);
        return s.base != nullptr && b >= s.base && b < s.base + s.bytes;
    }

    /// Bytes of the calling thread's current scratch (0 before its first allocation): for tests.
    static std::size_t scratch_bytes() noexcept { return scratch_.bytes; }

private:
    struct scratch {
        std::byte* base;
        std::size_t bytes;  ///< mapped from base
        std::size_t align;  ///< what base is aligned to: a page or more
    };

    /// A thread's first scratch: the request workload's largest body (1 MiB), reserved without
    /// committing memory, so only the pages the harness writes become resident.
    static constexpr std::size_t first_bytes = std::size_t{1} << 20;

    /// Maps a scratch for `size` bytes at `align`, at least twice the old one (a trace whose
    /// reallocs grow a block page by page maps a few regions, not one per page). The old
    /// mapping is kept, never unmapped: blocks in it may still be written, copied from by a
    /// realloc or freed by another thread, and the cell's process ends after its one run.
    [[gnu::noinline, gnu::cold]] static void* grow(std::size_t size, std::size_t align) noexcept {
        const scratch old = scratch_;
        const std::size_t doubled = old.bytes <= SIZE_MAX / 2 ? 2 * old.bytes : old.bytes;
        const std::size_t wanted = std::max({size, first_bytes, doubled});
        const std::size_t alignment = std::max({align, old.align, os::page_size()});
        if (wanted > SIZE_MAX - os::page_size()) return nullptr;  // rounding to pages would wrap
        const std::size_t bytes = os::round_to_pages(wanted);
        void* base = os::map_aligned(bytes, alignment, /*reserve_only=*/true);
        if (base == nullptr) return nullptr;
        scratch_ = {static_cast<std::byte*>(base), bytes, alignment};
        return base;
    }

    // Zero-initialised and trivially destructible, so every access is one load off the thread
    // pointer, with no guard for a first use.
    static constinit inline thread_local scratch scratch_{nullptr, 0, 0};
};

static_assert(allocator<do_nothing_allocator> && capabilities_consistent<do_nothing_allocator>());

}  // namespace allocmeter
