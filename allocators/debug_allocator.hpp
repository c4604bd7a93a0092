// debug<A>: wraps any allocator to catch misuse. Every block gets a header (magic, size,
// alignment, a leading guard) and a trailing guard; fresh memory is filled, freed memory poisoned;
// bad frees and overwritten guards abort with a message naming the pointer and what was expected.
#pragma once

#include <algorithm>
#include <cassert>
#include <concepts>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#include "allocators/adapter.hpp"
#include "allocators/intrusive_list.hpp"

namespace allocmeter {

namespace detail {
/// Bytes of the header in front of every debug block.
inline constexpr std::size_t debug_header_size = 64;
/// Bytes of the guard after every debug block.
inline constexpr std::size_t debug_guard_size = 16;
/// Bytes a debug block adds at `align`: the header, padded to keep the block aligned, and the
/// trailing guard.
constexpr std::size_t debug_overhead(std::size_t align) noexcept {
    return std::max(debug_header_size, align) + debug_guard_size;
}
}  // namespace detail

/// Checks every free against what was allocated and keeps a list of live blocks for a leak
/// report. The layout of a block, inside one allocation from A:
///
///   [padding to align][prev next owner size align magic | guard x16][block ...][guard x16]
///
/// Limits: a double free is caught only while A has not handed the block out again (with an
/// individual-free A a block is reused at once, so the second free then looks valid); an invalid
/// pointer must have 64 readable bytes before it. Not thread-safe: wrap in locked<> for threads.
template <allocator A>
class debug {
    // Fields that matter after a free (size, align, magic, guard) come last: an inner
    // free-list link written at the allocation's start lands on prev, not on them.
    struct block_header {
        block_header* prev;           // live list, newest first
        block_header* next;
        const debug* owner;           // the debug allocator that handed the block out
        std::size_t size;             // requested size
        std::size_t align;            // requested alignment
        std::uint64_t magic;          // live_magic or freed_magic, salted with the address
        unsigned char front_guard[detail::debug_guard_size];  // catches underflow
    };
    static_assert(sizeof(block_header) == detail::debug_header_size);
    static_assert(A::caps.max_align >= alignof(block_header), "A cannot align the debug header");
    static_assert(detail::debug_overhead(1) <= A::caps.max_size,
                  "A's largest block cannot hold the debug header and guard");

public:
    /// Byte written over every freshly allocated block.
    static constexpr unsigned char fresh_fill = 0xAA;
    /// Byte written over every freed block (kept there where A does not reuse it).
    static constexpr unsigned char freed_fill = 0xDD;
    /// Byte of the guards on both sides of every block.
    static constexpr unsigned char guard_fill = 0xFD;
    /// Bytes of each guard.
    static constexpr std::size_t guard_size = detail::debug_guard_size;
    /// Live blocks listed by a leak report before it summarises the rest.
    static constexpr std::size_t leaks_listed = 8;

    /// A's capabilities, less the overhead: max_size drops by the header and guard; max_align is
    /// kept unless A's largest block cannot hold that alignment's padding (a fixed-size pool),
    /// then it is the largest that fits. Not thread-safe, whatever A is.
    static constexpr capabilities caps = [] {
        capabilities c = A::caps;
        std::size_t align = A::caps.max_align;
        while (align > 1 && detail::debug_overhead(align) > A::caps.max_size) align /= 2;
        c.max_align = align;
        c.max_size = A::caps.max_size - detail::debug_overhead(align);
        if (c.fixed_size != 0) c.fixed_size = c.max_size;
        c.thread_safe = false;
        return c;
    }();

    /// Constructs the wrapped A from `args` (A's defaults when none are given).
    template <class... Args>
        requires std::constructible_from<A, Args&&...>
    explicit debug(Args&&... args) noexcept(std::is_nothrow_constructible_v<A, Args&&...>)
        : inner_(std::forward<Args>(args)...) {}

    debug(const debug&) = delete;
    debug& operator=(const debug&) = delete;

    /// Reports leaks when A frees one by one, the convention there being that the caller frees
    /// every block or calls reset(). With an A that cannot free individually (bump, arena),
    /// destruction is the normal bulk release, so nothing is reported; report_leaks() still can.
    ~debug() {
        static_assert(capabilities_consistent<debug>());
        if (A::caps.individual_free && live_blocks_ != 0) report_leaks();
    }

    /// A block from A with the header in front and the guard behind; the block is filled with
    /// fresh_fill. nullptr when size > caps.max_size, align > caps.max_align, or A refuses.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        if (size > caps.max_size || align > caps.max_align) return nullptr;
        void* start = inner_.allocate(inner_size(size, align), inner_align(align));
        if (start == nullptr) return nullptr;
        std::byte* p = static_cast<std::byte*>(start) + prefix(align);
        block_header* h = header_of(p);
        h->owner = this;
        h->size = size;
        h->align = align;
        h->magic = live_magic(h);
        std::memset(h->front_guard, guard_fill, guard_size);
        std::memset(p, fresh_fill, size);
        std::memset(p + size, guard_fill, guard_size);
        intrusive::push_front(live_head_, h);
        live_bytes_ += size;
        ++live_blocks_;
        return p;
    }

    /// Checks the block (a live block of this allocator, allocated with this size and alignment,
    /// guards intact; any failure aborts with a message), poisons it with freed_fill and hands it
    /// back to A. nullptr is ignored, as with free().
    void deallocate(void* ptr, std::size_t size, std::size_t align) noexcept {
        if (ptr == nullptr) return;
        auto* p = static_cast<std::byte*>(ptr);
        block_header* h = checked_header(p, size, align);
        intrusive::unlink(live_head_, h);
        retire(h);
        live_bytes_ -= size;
        --live_blocks_;
        inner_.deallocate(p - prefix(align), inner_size(size, align), inner_align(align));
    }

    /// Poisons every live block, forgets them, and resets A; only when A can reset.
    void reset() noexcept
        requires resettable<A>
    {
        for (block_header* h = live_head_; h != nullptr; h = h->next) retire(h);
        live_head_ = nullptr;
        live_bytes_ = live_blocks_ = 0;
        inner_.reset();
    }

    /// The caller's live bytes and blocks (exact, whatever A counts); A's mappings.
    allocator_stats stats() const noexcept
        requires reports_stats<A>
    {
        const allocator_stats inner = inner_.stats();
        return {.bytes_requested = live_bytes_,
                .bytes_reserved = inner.bytes_reserved,
                .chunks = inner.chunks,
                .blocks = live_blocks_};
    }

    /// Blocks allocated since the last reset() and not freed.
    std::uint64_t live_blocks() const noexcept { return live_blocks_; }
    /// Requested bytes of those blocks.
    std::uint64_t live_bytes() const noexcept { return live_bytes_; }

    /// Prints the live blocks to stderr (count, bytes, then the newest few with their sizes);
    /// prints nothing when there are none. Returns the number of live blocks.
    std::uint64_t report_leaks() const noexcept {
        if (live_blocks_ == 0) return 0;
        std::fprintf(stderr, "debug_allocator: leak report: %llu blocks (%llu bytes) still live\n",
                     ull(live_blocks_), ull(live_bytes_));
        std::uint64_t listed = 0;
        for (const block_header* h = live_head_; h != nullptr && listed < leaks_listed; h = h->next) {
            std::fprintf(stderr, "  %p: size %zu, align %zu\n", addr(h + 1), h->size, h->align);
            ++listed;
        }
        if (live_blocks_ > listed)
            std::fprintf(stderr, "  ... and %llu more\n", ull(live_blocks_ - listed));
        return live_blocks_;
    }

    /// The wrapped allocator, for inspection.
    const A& inner() const noexcept { return inner_; }

private:
    static constexpr std::uint64_t live_tag = 0x4C49'5645'424C'4B21;   // "LIVEBLK!"
    static constexpr std::uint64_t freed_tag = 0x4652'4545'4442'4C4B;  // "FREEDBLK"

    // Salting with the address means a header copied elsewhere (or stale bytes that happen to
    // hold the tag) does not pass for a live block.
    static std::uint64_t live_magic(const block_header* h) noexcept {
        return live_tag ^ reinterpret_cast<std::uintptr_t>(h);
    }
    static std::uint64_t freed_magic(const block_header* h) noexcept {
        return freed_tag ^ reinterpret_cast<std::uintptr_t>(h);
    }

    // Bytes from the inner allocation's start to the block: the header, or more to align.
    static std::size_t prefix(std::size_t align) noexcept {
        return std::max(sizeof(block_header), align);
    }
    static std::size_t inner_size(std::size_t size, std::size_t align) noexcept {
        return size + detail::debug_overhead(align);  // size <= caps.max_size: cannot wrap
    }
    static std::size_t inner_align(std::size_t align) noexcept {
        return std::max(align, alignof(block_header));
    }
    static block_header* header_of(std::byte* p) noexcept {
        return reinterpret_cast<block_header*>(p - sizeof(block_header));
    }

    // Marks the block freed and poisons it, so a later free or a stale read shows it.
    static void retire(block_header* h) noexcept {
        h->magic = freed_magic(h);
        std::memset(h + 1, freed_fill, h->size);
    }

    // Every check a free must pass, in the order that gives the most precise message.
    block_header* checked_header(std::byte* p, std::size_t size, std::size_t align) const noexcept {
        if (reinterpret_cast<std::uintptr_t>(p) % alignof(block_header) != 0)
            fail("invalid free of %p: misaligned, not a block this allocator returned", addr(p));
        block_header* h = header_of(p);
        if (h->magic == freed_magic(h))
            fail("double free of %p (size %zu, align %zu): the block was already freed", addr(p),
                 h->size, h->align);
        if (h->magic != live_magic(h))
            fail("invalid free of %p: header magic is 0x%016llx, expected 0x%016llx (a pointer "
                 "this allocator never returned, or a header overwritten by an underflow)",
                 addr(p), ull(h->magic), ull(live_magic(h)));
        if (h->owner != this)
            fail("invalid free of %p: the block belongs to debug allocator %p, not to %p", addr(p),
                 addr(h->owner), addr(this));
        if (size != h->size)
            fail("size mismatch freeing %p: deallocate passes size %zu, the block was allocated "
                 "with size %zu", addr(p), size, h->size);
        if (align != h->align)
            fail("alignment mismatch freeing %p: deallocate passes align %zu, the block was "
                 "allocated with align %zu", addr(p), align, h->align);
        for (std::size_t i = 0; i < guard_size; ++i) {
            if (h->front_guard[i] != guard_fill)
                fail("buffer underflow before %p (size %zu): guard byte at offset -%zu is 0x%02x, "
                     "expected 0x%02x", addr(p), size, guard_size - i, unsigned{h->front_guard[i]},
                     unsigned{guard_fill});
        }
        const auto* tail = reinterpret_cast<const unsigned char*>(p + size);
        for (std::size_t i = 0; i < guard_size; ++i) {
            if (tail[i] != guard_fill)
                fail("buffer overflow past %p (size %zu): guard byte at offset %zu is 0x%02x, "
                     "expected 0x%02x", addr(p), size, size + i, unsigned{tail[i]},
                     unsigned{guard_fill});
        }
        return h;
    }

    // Cold: prints "debug_allocator: " and the message, then aborts.
    [[noreturn, gnu::cold, gnu::noinline, gnu::format(printf, 1, 2)]]
    static void fail(const char* format, ...) noexcept {
        std::fputs("debug_allocator: ", stderr);
        va_list args;
        va_start(args, format);
        std::vfprintf(stderr, format, args);
        va_end(args);
        std::fputc('\n', stderr);
        std::abort();
    }

    // For printf: %p wants a void pointer, %llx and %llu an unsigned long long.
    static const void* addr(const void* p) noexcept { return p; }
    static unsigned long long ull(std::uint64_t v) noexcept { return v; }

    A inner_;
    block_header* live_head_ = nullptr;  // newest live block
    std::uint64_t live_bytes_ = 0;       // requested bytes of the live blocks
    std::uint64_t live_blocks_ = 0;      // live blocks
};

}  // namespace allocmeter
