// slab_allocator: Bonwick-style object caches, one per size class from 16 B to 4 KiB. Each cache
// keeps its slabs on partial, full and empty lists and colours successive slabs (shifts their first
// object by cache lines) so that objects of different slabs do not compete for the same cache sets.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "allocators/adapter.hpp"
#include "allocators/intrusive_list.hpp"
#include "allocators/os_pages.hpp"

namespace allocmeter {

namespace detail {
/// Cache index of a request: powers of two and the halves between them, 16, 24, 32, 48 .. 3072,
/// 4096 (17 classes), so rounding wastes under a third of a block. O(1), no table.
constexpr std::size_t slab_class_of(std::size_t size) noexcept {
    if (size <= 16) return 0;
    const std::size_t s = size - 1;
    const auto top = static_cast<std::size_t>(std::bit_width(s));  // 5 for sizes 17..32
    return 2 * (top - 5) + 1 + ((s >> (top - 2)) & 1);
}

/// Object size of cache c, the inverse of slab_class_of.
constexpr std::size_t slab_class_size(std::size_t c) noexcept {
    return c == 0 ? 16 : (3 + (c - 1) % 2) << (3 + (c - 1) / 2);
}
}  // namespace detail

/// Object caches over slabs. A slab is one aligned mapping of a power-of-two size, its header in
/// the first cache line, so deallocate finds it by masking. Layout of a slab:
///     [header | pad to colour step | colour | object 0 | object 1 | ... | object n-1 | rest of slack]
/// Slabs are sized to hold at least 16 objects and always keep at least one colour step of slack,
/// so every cache has two or more colours; successive slabs take the next colour, cycling.
class slab_allocator {
    struct alignas(64) slab {
        slab* prev;                    // neighbours on the cache list this slab is on
        slab* next;
        intrusive::free_object* free;  // freed objects, most recent first
        std::byte* carve;              // next never-used object (objects are carved lazily)
        std::byte* first;              // first object: the colour of this slab
        std::uint32_t in_use;
    };
    struct cache {
        slab* partial = nullptr;  // some objects in use: allocation comes from here first
        slab* full = nullptr;     // every object in use
        slab* empty = nullptr;    // no object in use, still mapped
        std::size_t empty_count = 0;
        std::size_t object_size = 0;
        std::size_t objects = 0;      // objects per slab
        std::size_t slab_bytes = 0;   // mapping length and alignment
        std::size_t colour_step = 0;  // cache line, or the object alignment where larger
        std::size_t max_colour = 0;   // last colour offset before the cycle restarts
        std::size_t next_colour = 0;  // colour offset for the next new slab
    };

public:
    /// Number of caches, and the largest size one serves.
    static constexpr std::size_t class_count = detail::slab_class_of(4096) + 1;
    /// Objects every slab can hold at least.
    static constexpr std::size_t min_objects_per_slab = 16;
    /// Cache line size assumed for colouring.
    static constexpr std::size_t cache_line = 64;

    /// Individual free and reset; sizes up to 4096 and every alignment up to 4096 (a request is
    /// moved to the smallest cache whose objects are aligned enough).
    static constexpr capabilities caps{
        .individual_free = true, .reset = true, .thread_safe = false, .max_size = 4096, .max_align = 4096};

    /// Cache index serving `size` bytes at natural alignment (size <= caps.max_size).
    static constexpr std::size_t size_class(std::size_t size) noexcept { return detail::slab_class_of(size); }
    /// Object size of cache `c`.
    static constexpr std::size_t class_size(std::size_t c) noexcept { return detail::slab_class_size(c); }
    /// Alignment every object of cache `c` has: the largest power of two dividing its size.
    static constexpr std::size_t class_align(std::size_t c) noexcept { return class_size(c) & (0 - class_size(c)); }

    /// Slabs of one cache on each list.
    struct slab_counts_t {
        std::size_t partial;  ///< slabs with some objects in use
        std::size_t full;     ///< slabs with every object in use
        std::size_t empty;    ///< slabs with none in use, kept mapped
    };

    /// Each cache keeps up to `max_empty_slabs` empty slabs mapped; a slab emptied beyond that is
    /// unmapped. The default keeps a cycle of a few MiB from remapping its slabs every time (each
    /// munmap costs a TLB shootdown) while bounding idle slabs to about 6 MiB in all. Computes
    /// each cache's slab geometry; maps nothing until first use.
    explicit slab_allocator(std::size_t max_empty_slabs = 16) noexcept : max_empty_(max_empty_slabs) {
        for (std::size_t c = 0; c < class_count; ++c) {
            cache& k = caches_[c];
            k.object_size = class_size(c);
            k.colour_step = std::max(cache_line, class_align(c));
            // The header pads to one colour step; one more step is always kept as slack.
            k.slab_bytes = std::max(os::page_size(),
                                    std::bit_ceil(2 * k.colour_step + min_objects_per_slab * k.object_size));
            k.objects = (k.slab_bytes - 2 * k.colour_step) / k.object_size;
            const std::size_t slack = k.slab_bytes - k.colour_step - k.objects * k.object_size;
            k.max_colour = slack / k.colour_step * k.colour_step;
        }
    }

    slab_allocator(const slab_allocator&) = delete;
    slab_allocator& operator=(const slab_allocator&) = delete;

    /// Unmaps every slab; live objects become invalid.
    ~slab_allocator() {
        for (cache& k : caches_)
            for (slab** list : {&k.partial, &k.full, &k.empty})
                while (*list != nullptr) unmap_slab(k, *list, *list);
    }

    /// An object from the first partial slab of the cache, else from an empty slab, else from a
    /// new one. nullptr when size > 4096, align > 4096, or the OS refuses a slab.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        if (size > caps.max_size || align > caps.max_align) [[unlikely]]
            return nullptr;
        cache& k = caches_[cache_index(size, align)];
        slab* s = k.partial;
        if (s == nullptr && (s = refill(k)) == nullptr) [[unlikely]]
            return nullptr;
        void* p = intrusive::pop_or_carve(s->free, s->carve, k.object_size);
        if (++s->in_use == k.objects) [[unlikely]]
            move(k.partial, k.full, s);
        requested_ += size;
        ++blocks_;
        return p;
    }

    /// Pushes the object onto its slab's free list (the slab is found by masking with the slab size
    /// of the cache that `size` and `align` select). nullptr is ignored, as with free().
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        if (p == nullptr) return;
        cache& k = caches_[cache_index(size, align)];
        auto* s = reinterpret_cast<slab*>(reinterpret_cast<std::uintptr_t>(p) & ~(k.slab_bytes - 1));
        intrusive::push_free(s->free, p);
        requested_ -= size;
        --blocks_;
        const bool was_full = s->in_use-- == k.objects;
        if (was_full || s->in_use == 0) [[unlikely]]
            slab_gained_room(k, s, was_full);
    }

    /// Frees every object: each slab, its colour kept, moves to its cache's empty list and stays
    /// mapped (past the cap), so the next cycle runs without a syscall. reap() returns them.
    void reset() noexcept {
        for (cache& k : caches_)
            for (slab** list : {&k.partial, &k.full})
                while (*list != nullptr) move(*list, k.empty, *list);
        for (cache& k : caches_) {
            k.empty_count = 0;
            for (slab* s = k.empty; s != nullptr; s = s->next, ++k.empty_count) {
                s->free = nullptr;
                s->carve = s->first;
                s->in_use = 0;
            }
        }
        requested_ = 0;
        blocks_ = 0;
    }

    /// Unmaps every empty slab of every cache, as Bonwick's cache reaping does under memory pressure.
    void reap() noexcept {
        for (cache& k : caches_)
            while (k.empty != nullptr) unmap_slab(k, k.empty, k.empty);
    }

    /// Live requested bytes and objects; one chunk per slab mapped.
    allocator_stats stats() const noexcept {
        return {.bytes_requested = requested_, .bytes_reserved = reserved_, .chunks = chunks_, .blocks = blocks_};
    }

    /// Slabs on each list of the cache serving `size` at natural alignment (walks the lists).
    slab_counts_t slab_counts(std::size_t size) const noexcept {
        const cache& k = caches_[size_class(size)];
        return {length(k.partial), length(k.full), length(k.empty)};
    }

    /// Mapping length (and alignment) of each slab of the cache serving `size`.
    std::size_t slab_bytes(std::size_t size) const noexcept { return caches_[size_class(size)].slab_bytes; }
    /// Objects in each slab of the cache serving `size`.
    std::size_t objects_per_slab(std::size_t size) const noexcept { return caches_[size_class(size)].objects; }
    /// Distinct first-object offsets that the cache serving `size` cycles through.
    std::size_t colours(std::size_t size) const noexcept {
        const cache& k = caches_[size_class(size)];
        return k.max_colour / k.colour_step + 1;
    }
    /// Bytes between the first object offsets of successive slabs of the cache serving `size`.
    std::size_t colour_step(std::size_t size) const noexcept { return caches_[size_class(size)].colour_step; }

private:
    // The cache for a request: by size, moved up to the first cache aligned enough (4096 is).
    static std::size_t cache_index(std::size_t size, std::size_t align) noexcept {
        std::size_t c = size_class(size);
        while (class_align(c) < align) [[unlikely]] ++c;
        return c;
    }

    // Cold: no partial slab. An empty slab is reused before a new one is mapped.
    [[gnu::noinline]] slab* refill(cache& k) noexcept {
        slab* s = k.empty;
        if (s != nullptr) {
            --k.empty_count;
            move(k.empty, k.partial, s);
            return s;
        }
        auto* base = static_cast<std::byte*>(os::map_aligned(k.slab_bytes, k.slab_bytes));
        if (base == nullptr) return nullptr;
        s = reinterpret_cast<slab*>(base);
        s->first = s->carve = base + k.colour_step + k.next_colour;
        k.next_colour = k.next_colour + k.colour_step > k.max_colour ? 0 : k.next_colour + k.colour_step;
        intrusive::push_front(k.partial, s);
        reserved_ += k.slab_bytes;
        ++chunks_;
        return s;  // the rest of the header is zero from the OS
    }

    // Cold: a full slab got a free object back, or a slab has none in use any more.
    [[gnu::noinline]] void slab_gained_room(cache& k, slab* s, bool was_full) noexcept {
        slab*& from = was_full ? k.full : k.partial;
        if (s->in_use != 0) return move(from, k.partial, s);
        if (k.empty_count == max_empty_) return unmap_slab(k, from, s);
        move(from, k.empty, s);
        ++k.empty_count;
    }

    void unmap_slab(cache& k, slab*& list, slab* s) noexcept {
        if (&list == &k.empty) --k.empty_count;
        intrusive::unlink(list, s);
        os::unmap_pages(s, k.slab_bytes);
        reserved_ -= k.slab_bytes;
        --chunks_;
    }

    static void move(slab*& from, slab*& to, slab* s) noexcept {
        intrusive::unlink(from, s);
        intrusive::push_front(to, s);
    }
    static std::size_t length(const slab* s) noexcept {
        std::size_t n = 0;
        for (; s != nullptr; s = s->next) ++n;
        return n;
    }

    std::array<cache, class_count> caches_{};
    std::size_t max_empty_;          // empty slabs each cache keeps mapped
    std::uint64_t requested_ = 0;    // live requested bytes
    std::uint64_t blocks_ = 0;       // live objects
    std::uint64_t reserved_ = 0;     // bytes of all slabs
    std::uint64_t chunks_ = 0;       // slabs mapped
};

static_assert(capabilities_consistent<slab_allocator>());

}  // namespace allocmeter
