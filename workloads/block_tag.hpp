// block_tag: what `run --verify` writes into every block a workload or a trace replay makes,
// and checks when the block dies. The tag is a 64-bit word derived from the block's serial (the
// thread that made it and that thread's operation or replay step, the same on every allocator),
// repeated over the block: every byte of its first KiB, then one word at each 4 KiB and its last
// 8 bytes. A block handed out over a live one overwrites part of the live one's tag, and the
// check says whose tag it found there. verified<A> marks an allocator type to be run this way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "allocators/adapter.hpp"

namespace allocmeter {

/// The bytes a tag covers densely from the block's start, as touch() writes a block's first KiB.
inline constexpr std::size_t tag_dense_bytes = 1024;
/// Beyond them, one tag word at each multiple of this (touch()'s one store a page), and the last 8 bytes.
inline constexpr std::size_t tag_page_bytes = 4096;
/// The exit status of a cell whose verify check failed (allocation_failed() exits with 70).
inline constexpr int verify_exit_code = 71;

/// A block's serial: the thread that made it (10 bits, wrapping) and that thread's operation
/// or replay step that did, counted from 1 (38 bits). Unique in a cell; the same on every allocator.
constexpr std::uint64_t block_serial(unsigned thread, std::uint64_t index) noexcept {
    return (static_cast<std::uint64_t>(thread & 0x3ffU) << 38) | (index & ((std::uint64_t{1} << 38) - 1));
}
constexpr unsigned serial_thread(std::uint64_t serial) noexcept { return static_cast<unsigned>(serial >> 38); }
constexpr std::uint64_t serial_index(std::uint64_t serial) noexcept { return serial & ((std::uint64_t{1} << 38) - 1); }

namespace detail {

/// murmur3's 64-bit finalizer, a bijection, and its inverse: a tag word names one serial.
constexpr std::uint64_t tag_mul1 = 0xff51afd7ed558ccdULL, tag_mul2 = 0xc4ceb9fe1a85ec53ULL;
constexpr std::uint64_t inverse_mod_2_64(std::uint64_t odd) noexcept {
    std::uint64_t x = odd;  // Newton: each step doubles the correct low bits (3, 6, ..., 96)
    for (int i = 0; i < 5; ++i) x *= 2 - odd * x;
    return x;
}
static_assert(inverse_mod_2_64(tag_mul1) * tag_mul1 == 1 && inverse_mod_2_64(tag_mul2) * tag_mul2 == 1);
/// Low bits every tag's pre-image carries: a word that does not unmix to them is no tag.
constexpr std::uint64_t tag_marker = 0xb10c;

constexpr std::uint64_t tag_mix(std::uint64_t x) noexcept {
    x ^= x >> 33;  // a shift of half the width or more: its own inverse
    x *= tag_mul1;
    x ^= x >> 33;
    x *= tag_mul2;
    return x ^ (x >> 33);
}
constexpr std::uint64_t tag_unmix(std::uint64_t x) noexcept {
    x ^= x >> 33;
    x *= inverse_mod_2_64(tag_mul2);
    x ^= x >> 33;
    x *= inverse_mod_2_64(tag_mul1);
    return x ^ (x >> 33);
}

/// Byte k of a block tagged with `word` (little-endian: byte k % 8 of the word).
constexpr unsigned char tag_byte(std::uint64_t word, std::size_t k) noexcept {
    return static_cast<unsigned char>(word >> (8 * (k & 7)));
}

/// Calls f(from, to) for each byte range of a `size`-byte block that its tag covers, in order,
/// none overlapping: the first KiB, 8 bytes at each 4 KiB, and the last 8 bytes.
template <class F>
void for_each_tag_range(std::size_t size, F&& f) {
    std::size_t done = std::min(size, tag_dense_bytes);
    f(std::size_t{0}, done);
    const std::size_t tail = size - std::min<std::size_t>(size, 8);
    for (std::size_t off = tag_page_bytes; off < tail; off += tag_page_bytes) {
        done = std::min(off + 8, tail);
        f(off, done);
    }
    if (size > done) f(std::max(done, tail), size);
}

/// Keeps the compiler from assuming what memory holds across a tag write or check, so a check
/// really reads the block (the allocator in between may be inlined and look harmless).
inline void tag_barrier(const void* p) noexcept { asm volatile("" : : "r"(p) : "memory"); }

}  // namespace detail

/// The word tagging the block with `serial`.
constexpr std::uint64_t tag_word(std::uint64_t serial) noexcept {
    return detail::tag_mix(serial << 16 | detail::tag_marker);
}

/// The serial whose tag `word` is, read at any of the 8 byte rotations (a block that starts
/// elsewhere than a multiple of 8 from the checked one); none when it is no tag.
constexpr std::optional<std::uint64_t> serial_of_tag(std::uint64_t word) noexcept {
    for (unsigned r = 0; r < 64; r += 8) {
        const std::uint64_t x = detail::tag_unmix(r == 0 ? word : (word >> r | word << (64 - r)));
        if ((x & 0xffff) == detail::tag_marker) return x >> 16;
    }
    return std::nullopt;
}

/// Writes the tag of `serial` over the `size` bytes at p.
inline void write_tag(void* p, std::size_t size, std::uint64_t serial) noexcept {
    const std::uint64_t w = tag_word(serial);
    auto* b = static_cast<unsigned char*>(p);
    detail::for_each_tag_range(size, [&](std::size_t from, std::size_t to) {
        std::size_t k = from;
        for (; k % 8 != 0 && k < to; ++k) b[k] = detail::tag_byte(w, k);
        for (; k + 8 <= to; k += 8) std::memcpy(b + k, &w, 8);
        for (; k < to; ++k) b[k] = detail::tag_byte(w, k);
    });
    detail::tag_barrier(p);
}

/// Where a block's tag was found damaged.
struct tag_damage {
    std::size_t first = 0, last = 0;        ///< the damaged bytes of the first damaged 8-byte group (offsets)
    std::uint64_t found = 0;                ///< that group's bytes as read (little-endian, within the block)
    std::optional<std::uint64_t> other;     ///< the serial whose tag that group holds, if it holds one
    std::size_t damaged = 0, covered = 0;   ///< damaged bytes, of all the tag covers
};

namespace detail {

[[gnu::cold, gnu::noinline]] inline tag_damage describe_damage(const unsigned char* b, std::size_t size, std::uint64_t w) {
    tag_damage d;
    bool seen = false;
    for_each_tag_range(size, [&](std::size_t from, std::size_t to) {
        for (std::size_t k = from; k < to; ++k) {
            ++d.covered;
            if (b[k] == tag_byte(w, k)) continue;
            ++d.damaged;
            if (!seen) {
                seen = true;
                d.first = k;
            }
            if (k / 8 == d.first / 8) d.last = k;
        }
    });
    const std::size_t group = d.first / 8 * 8, end = std::min(group + 8, size);
    for (std::size_t k = group; k < end; ++k) d.found |= static_cast<std::uint64_t>(b[k]) << (8 * (k - group));
    if (end - group == 8) d.other = serial_of_tag(d.found);
    return d;
}

}  // namespace detail

/// Checks the tag of `serial` over the `size` bytes at p; the damage when any byte differs.
inline std::optional<tag_damage> find_tag_damage(const void* p, std::size_t size, std::uint64_t serial) noexcept {
    detail::tag_barrier(p);
    const std::uint64_t w = tag_word(serial);
    const auto* b = static_cast<const unsigned char*>(p);
    bool intact = true;
    detail::for_each_tag_range(size, [&](std::size_t from, std::size_t to) {
        std::size_t k = from;
        for (; k % 8 != 0 && k < to; ++k) intact &= b[k] == detail::tag_byte(w, k);
        for (; k + 8 <= to; k += 8) {
            std::uint64_t x;
            std::memcpy(&x, b + k, 8);
            intact &= x == w;
        }
        for (; k < to; ++k) intact &= b[k] == detail::tag_byte(w, k);
    });
    if (intact) [[likely]] return std::nullopt;
    return detail::describe_damage(b, size, w);
}

/// How a failure counts time: synthetic workloads by operation, a replay by its plan's steps.
enum class tag_clock { operation, replay_step };

/// Where a tag is checked: what the block was about to undergo, and when.
struct tag_checkpoint {
    const char* event;         ///< "freed", "released by reset()", ...: "before it was <event>"
    std::uint64_t at;          ///< the checking thread's serial then (its thread, operation or step)
    const char* when = "at";   ///< "at", "after" when the check is no operation of its own, or null: no time
    tag_clock clock = tag_clock::operation;
    std::uint64_t object = 0;  ///< a trace's object id (0: none)
};

/// Prints what a damaged tag says and ends the cell (exit verify_exit_code): cells run in their
/// own process, so the message on stderr becomes the cell's failure reason. One line.
[[noreturn, gnu::cold, gnu::noinline]] inline void tag_failed(const void* p, std::size_t size, std::size_t align,
                                                               std::uint64_t serial, const tag_checkpoint& c,
                                                               const tag_damage& d) {
    const bool replay = c.clock == tag_clock::replay_step;
    const char* unit = replay ? "step" : "operation";
    const char* thread = replay ? "replay thread" : "thread";
    char object[48] = "";
    if (c.object != 0) std::snprintf(object, sizeof object, ", trace object %llu", static_cast<unsigned long long>(c.object));
    char moment[96] = "";
    if (c.when != nullptr)
        std::snprintf(moment, sizeof moment, " %s %s %llu of %s %u", c.when, unit,
                      static_cast<unsigned long long>(serial_index(c.at)), thread, serial_thread(c.at));
    char held[96];
    if (d.other)
        std::snprintf(held, sizeof held, "hold another block's tag (#%u:%llu)", serial_thread(*d.other),
                      static_cast<unsigned long long>(serial_index(*d.other)));
    else
        std::snprintf(held, sizeof held, "hold 0x%016llx, no block's tag", static_cast<unsigned long long>(d.found));
    std::fprintf(stderr,
                 "verify: block #%u:%llu of %zu bytes at %p (alignment %zu%s, allocated at %s %llu of %s %u) was "
                 "overwritten before it was %s%s: bytes %zu..%zu %s; %zu of the %zu tagged bytes differ\n",
                 serial_thread(serial), static_cast<unsigned long long>(serial_index(serial)), size, p, align, object, unit,
                 static_cast<unsigned long long>(serial_index(serial)), thread, serial_thread(serial), c.event, moment,
                 d.first, d.last, held, d.damaged, d.covered);
    std::fflush(stderr);
    std::_Exit(verify_exit_code);
}

/// Checks the tag of the block (p, size, align) with `serial` at `c`; a damaged tag ends the cell.
inline void check_tag(const void* p, std::size_t size, std::size_t align, std::uint64_t serial,
                      const tag_checkpoint& c) noexcept {
    if (const auto d = find_tag_damage(p, size, serial)) [[unlikely]]
        tag_failed(p, size, align, serial, c, *d);
}

/// verified<A>: A itself, marked for `run --verify`: the workloads' tracked_heap and the trace
/// replay see the mark, tag every block they make and check each tag when its block dies. It
/// adds no work of its own: only the caller holds a block's serial.
template <allocator A>
class verified {
public:
    static constexpr capabilities caps = A::caps;

    void* allocate(std::size_t size, std::size_t align) noexcept(noexcept(std::declval<A&>().allocate(size, align))) {
        return inner_.allocate(size, align);
    }
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept { inner_.deallocate(p, size, align); }
    void reset() noexcept
        requires resettable<A>
    {
        inner_.reset();
    }
    allocator_stats stats() const noexcept
        requires reports_stats<A>
    {
        return inner_.stats();
    }

private:
    A inner_;
};

/// Whether A is a verified<...>: its blocks are tagged and checked.
template <class A>
inline constexpr bool is_verified = false;
template <class A>
inline constexpr bool is_verified<verified<A>> = true;

}  // namespace allocmeter
