// The thin OS layer for reference allocators: page-granular mappings from mmap.
// Every reference allocator gets its memory here, so there is one place for mmap flags.
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

/// Returns a mapping made by map_pages.
inline void unmap_pages(void* p, std::size_t bytes) noexcept {
    if (p != nullptr) ::munmap(p, bytes);
}

}  // namespace allocmeter::os
