// A bounded cache of freed large mappings, so an allocator that maps each large block on its
// own does not pay mmap + munmap (and fresh page faults) every time a program frees and
// reallocates a large buffer. Shared by the allocators with a large-block path.
#pragma once

#include <bit>
#include <cstddef>

#include "allocators/os_pages.hpp"

namespace allocmeter {

/// Rounds a mapping length (bytes) up to whole pages and then to a quarter power of two
/// (at most 25% more), so freed mappings of nearby sizes fit one another.
inline std::size_t large_mapping_bytes(std::size_t bytes) noexcept {
    const std::size_t pages = os::round_to_pages(bytes);
    if (pages <= 4 * os::page_size()) return pages;
    const std::size_t step = std::bit_floor(pages) / 4;
    return os::round_to_pages((pages + step - 1) & ~(step - 1));
}

/// Keeps up to max_entries freed mappings, max_bytes in all, newest first. Kept mappings are
/// still held from the OS (callers keep counting them as reserved); a mapping pushed out is
/// handed to the caller's unmap function, which does its own accounting. Not thread-safe.
class mapping_cache {
public:
    static constexpr std::size_t max_entries = 32;

    explicit mapping_cache(std::size_t max_bytes = std::size_t{64} << 20) noexcept : max_bytes_(max_bytes) {}

    /// A kept mapping of exactly `bytes`, the most recently freed one (its pages are warm),
    /// or nullptr.
    void* take(std::size_t bytes) noexcept {
        for (std::size_t i = count_; i-- > 0;) {
            if (entries_[i].bytes != bytes) continue;
            void* p = entries_[i].p;
            remove(i);
            return p;
        }
        return nullptr;
    }

    /// Keeps [p, p + bytes) for reuse; the oldest kept mappings go to `unmap(p, bytes)` while
    /// the cache is over its bounds (a mapping larger than max_bytes is not kept at all).
    template <class Unmap>
    void put(void* p, std::size_t bytes, Unmap&& unmap) noexcept {
        if (bytes > max_bytes_) return unmap(p, bytes);
        while (count_ == max_entries || bytes_ + bytes > max_bytes_) {
            unmap(entries_[0].p, entries_[0].bytes);
            remove(0);
        }
        entries_[count_++] = {p, bytes};
        bytes_ += bytes;
    }

    /// Hands every kept mapping to `unmap`.
    template <class Unmap>
    void clear(Unmap&& unmap) noexcept {
        for (std::size_t i = 0; i < count_; ++i) unmap(entries_[i].p, entries_[i].bytes);
        count_ = 0;
        bytes_ = 0;
    }

    std::size_t count() const noexcept { return count_; }
    std::size_t bytes() const noexcept { return bytes_; }

private:
    struct entry {
        void* p;
        std::size_t bytes;
    };

    void remove(std::size_t i) noexcept {
        bytes_ -= entries_[i].bytes;
        for (; i + 1 < count_; ++i) entries_[i] = entries_[i + 1];
        --count_;
    }

    entry entries_[max_entries]{};
    std::size_t count_ = 0;
    std::size_t bytes_ = 0;
    std::size_t max_bytes_;
};

}  // namespace allocmeter
