// The thin OS layer for reference allocators: page-granular mappings from mmap (aligned
// where an allocator finds owners by masking), returning pages with madvise, huge pages.
// Every reference allocator gets its memory here, so there is one place for these calls.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace allocmeter::os {

/// The system page size, read once.
inline std::size_t page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

/// Rounds bytes up to whole pages.
inline std::size_t round_to_pages(std::size_t bytes) noexcept {
    const std::size_t p = page_size();
    return (bytes + p - 1) & ~(p - 1);
}

/// Maps `bytes` (a page multiple) of zeroed, private memory; nullptr on failure.
/// `reserve_only` maps without committing swap (MAP_NORESERVE), for large reservations
/// that are touched lazily.
inline void* map_pages(std::size_t bytes, bool reserve_only = false) noexcept {
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS | (reserve_only ? MAP_NORESERVE : 0);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

/// A reserved range of address space: base == nullptr and bytes == 0 when it could not be had.
struct region {
    std::byte* base = nullptr;
    std::size_t bytes = 0;
};

/// Reserves `capacity` bytes rounded up to pages, committed lazily as pages are touched
/// (MAP_NORESERVE): a large reservation costs address space, not memory. An empty region
/// for 0, for a size within a page of SIZE_MAX (its rounding would wrap), or on failure.
inline region reserve(std::size_t capacity) noexcept {
    if (capacity == 0 || capacity > SIZE_MAX - page_size()) return {};
    const std::size_t bytes = round_to_pages(capacity);
    auto* base = static_cast<std::byte*>(map_pages(bytes, /*reserve_only=*/true));
    return base == nullptr ? region{} : region{base, bytes};
}

/// Returns a mapping made by map_pages or map_aligned.
inline void unmap_pages(void* p, std::size_t bytes) noexcept {
    if (p != nullptr) ::munmap(p, bytes);
}

/// Maps `bytes` (a page multiple) starting at a multiple of `alignment` (a power of two, at
/// least a page), so a block's owner can be found by masking its address. Over-maps by
/// `alignment` and trims both ends; nullptr on failure. Release with unmap_pages(p, bytes).
inline void* map_aligned(std::size_t bytes, std::size_t alignment, bool reserve_only = false) noexcept {
    if (alignment <= page_size()) return map_pages(bytes, reserve_only);
    if (bytes > SIZE_MAX - alignment) return nullptr;
    auto* raw = static_cast<std::byte*>(map_pages(bytes + alignment, reserve_only));
    if (raw == nullptr) return nullptr;
    const auto addr = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (addr + alignment - 1) & ~static_cast<std::uintptr_t>(alignment - 1);
    const std::size_t head = aligned - addr;
    if (head != 0) ::munmap(raw, head);
    const std::size_t tail = alignment - head;
    if (tail != 0) ::munmap(reinterpret_cast<std::byte*>(aligned) + bytes, tail);
    return reinterpret_cast<void*>(aligned);
}

/// How free pages go back to the OS while staying mapped.
enum class purge_mode {
    eager,  ///< MADV_DONTNEED: out of RSS at once; the next touch faults in a zero page
    lazy,   ///< MADV_FREE: reclaimed only under memory pressure (stays in RSS as LazyFree)
};

/// Gives the pages of [p, p + bytes) back to the OS; the range stays mapped and usable.
/// `p` and `bytes` must be page multiples. Returns false if the kernel refused.
inline bool purge_pages(void* p, std::size_t bytes, purge_mode mode = purge_mode::eager) noexcept {
    if (bytes == 0) return true;
#ifdef MADV_FREE
    if (mode == purge_mode::lazy && ::madvise(p, bytes, MADV_FREE) == 0) return true;
#endif
    return ::madvise(p, bytes, MADV_DONTNEED) == 0;
}

/// Asks for transparent huge pages on [p, p + bytes) (MADV_HUGEPAGE). Returns false where
/// the kernel has no THP or refuses; the range works either way.
inline bool advise_huge_pages(void* p, std::size_t bytes) noexcept {
#ifdef MADV_HUGEPAGE
    return ::madvise(p, bytes, MADV_HUGEPAGE) == 0;
#else
    (void)p, (void)bytes;
    return false;
#endif
}

}  // namespace allocmeter::os
