// The one interface every allocator presents to allocmeter's workloads: a static
// allocate/deallocate pair plus capabilities declared as data. Workloads are templates
// over it, so a reference allocator is called directly, with no virtual dispatch.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace allocmeter {

/// What an allocator can do; read by workloads (reset or free one by one?) and by the
/// matrix (can this allocator serve this cell at all?).
struct capabilities {
    bool individual_free = false;  ///< deallocate() makes the block reusable
    bool reset = false;            ///< reset() releases every block at once
    bool lifo_free_only = false;   ///< deallocate() is valid only for the newest live block
    bool thread_safe = false;      ///< one instance may be called from several threads at once
    std::size_t fixed_size = 0;    ///< 0, or the single block size the allocator serves
    std::size_t max_size = std::numeric_limits<std::size_t>::max();  ///< largest request served
    std::size_t max_align = 4096;  ///< largest alignment served
};

/// What an allocator reports about itself; fragmentation is derived from these.
struct allocator_stats {
    std::uint64_t bytes_requested = 0;  ///< requested bytes it still holds for the caller
    std::uint64_t bytes_reserved = 0;   ///< bytes it currently holds from the OS
    std::uint64_t chunks = 0;           ///< OS mappings it currently holds
    std::uint64_t blocks = 0;           ///< blocks it still holds for the caller
};

/// The adapter: allocate returns nullptr when the request cannot be served; deallocate is
/// sized (the caller passes back the size and alignment it asked for).
template <class A>
concept allocator = requires(A& a, std::size_t n, void* p) {
    { a.allocate(n, n) } -> std::same_as<void*>;
    { a.deallocate(p, n, n) } noexcept;
    { A::caps } -> std::convertible_to<capabilities>;
};

/// An allocator that can release everything at once.
template <class A>
concept resettable = allocator<A> && requires(A& a) { a.reset(); };

/// An allocator with a realloc of its own (malloc's, which may grow a block in place or move
/// its pages): reallocate(p, old_size, new_size, align) returns the block, moved or not, with
/// the first min(old_size, new_size) bytes kept, or nullptr (p still live). Workloads resize
/// through it where present, else allocate, copy and free.
template <class A>
concept reallocating = allocator<A> && requires(A& a, void* p, std::size_t n) {
    { a.reallocate(p, n, n, n) } -> std::same_as<void*>;
};

/// An allocator that reports stats().
template <class A>
concept reports_stats = requires(const A& a) {
    { a.stats() } -> std::same_as<allocator_stats>;
};

/// True when a is a power of two (alignments must be).
constexpr bool is_pow2(std::size_t a) noexcept { return a != 0 && (a & (a - 1)) == 0; }

/// Rounds v up to a multiple of the power of two a.
constexpr std::uintptr_t align_up(std::uintptr_t v, std::size_t a) noexcept {
    return (v + (a - 1)) & ~static_cast<std::uintptr_t>(a - 1);
}

/// Alignment of every object placed at a multiple of `size` bytes from a page-aligned base, as
/// pool blocks and size-class objects are: the largest power of two dividing `size`, capped at
/// 4096, the smallest page size.
constexpr std::size_t natural_align(std::size_t size) noexcept {
    return std::min<std::size_t>(size & (0 - size), 4096);
}

/// Checks, at compile time, that the declared capabilities match the member functions.
template <allocator A>
constexpr bool capabilities_consistent() {
    return A::caps.reset == resettable<A> && A::caps.max_align != 0 && is_pow2(A::caps.max_align);
}

}  // namespace allocmeter
