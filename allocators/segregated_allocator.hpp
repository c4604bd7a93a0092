// segregated_allocator: segregated free lists by size class, in the style of jemalloc and tcmalloc
// bins. Sizes up to 32 KiB round up to one of 40 classes, each carving 64 KiB spans cut from 2 MiB
// aligned segments, so an object's span is found by masking its address; larger sizes map their own.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "allocators/adapter.hpp"
#include "allocators/intrusive_list.hpp"
#include "allocators/mapping_cache.hpp"
#include "allocators/os_pages.hpp"

namespace allocmeter {

namespace detail {
/// Size class of a small request: 16-byte steps up to 128 (classes 0..7), then four classes per
/// doubling up to 32 KiB (8..39), so rounding wastes under a fifth of a block. O(1), no table.
constexpr std::size_t segregated_class_of(std::size_t size) noexcept {
    if (size <= 128) return size == 0 ? 0 : (size - 1) >> 4;
    const std::size_t s = size - 1;
    const auto top = static_cast<std::size_t>(std::bit_width(s));  // 8 for sizes 129..256
    return 8 + 4 * (top - 8) + ((s >> (top - 3)) - 4);              // s >> (top - 3) is 4..7
}

/// Object size of class c, the inverse of segregated_class_of: (5 + k) << (5 + g) for the k-th
/// class (0..3) of doubling g above 128.
constexpr std::size_t segregated_class_size(std::size_t c) noexcept {
    return c < 8 ? 16 * (c + 1) : (5 + (c - 8) % 4) << (5 + (c - 8) / 4);
}
}  // namespace detail

/// Size-class allocator. Each class has a list of spans with room and allocates from the head
/// span's free list (LIFO), else carves the span's next untouched object. Free lists are per span,
/// as in tcmalloc's central lists and jemalloc's slabs, so that a span whose objects are all free
/// can leave its class without a search. Spans come from SegmentBytes-aligned segments whose first
/// span holds the span descriptors (only its first page is touched).
/// Empty-span policy: (1) a span stays with its class while it is the only one with room, so an
/// allocate/free pair never bounces it; (2) otherwise it is retained dirty, newest first, for reuse
/// by any class without a syscall or page fault; (3) retained spans are purged (MADV_FREE by
/// default) and handed back to their segment when they sat idle through a whole window of `decay`
/// span acquisitions (the window's low-water mark of the retained count, as in tcmalloc and Go:
/// a clock of demand rather than time, so a batch freed and allocated again each cycle is never
/// purged), and the oldest when more than a cap are retained; (4) a segment with no span in use is
/// unmapped. reset() keeps segments mapped; trim() returns everything idle.
/// Sizes above 32 KiB get a mapping each, unmapped on free.
template <std::size_t SpanBytes = 64 * 1024, std::size_t SegmentBytes = 2 * 1024 * 1024>
class segregated_allocator {
public:
    /// Largest size served from a class; above it a request is mapped on its own.
    static constexpr std::size_t max_small_size = 32 * 1024;
    /// Number of size classes.
    static constexpr std::size_t class_count = detail::segregated_class_of(max_small_size) + 1;
    /// Bytes in a span, the unit a class takes from a segment.
    static constexpr std::size_t span_bytes = SpanBytes;
    /// Bytes in a segment, the unit mapped from the OS for spans (and its alignment).
    static constexpr std::size_t segment_bytes = SegmentBytes;

private:
    static constexpr std::size_t spans_per_segment = SegmentBytes / SpanBytes;
    static_assert(is_pow2(SpanBytes) && SpanBytes >= max_small_size, "a span must hold the largest class");
    static_assert(is_pow2(SegmentBytes) && spans_per_segment >= 2 && spans_per_segment <= 64,
                  "a segment is a header span plus 1..63 spans (one bit each in a 64-bit mask)");

    // Describes one span; lives in the segment header so spans hold objects only, which keeps
    // objects at multiples of their size from a span-aligned base (natural alignment).
    struct span {
        intrusive::free_object* free;  // freed objects, most recent first
        std::byte* carve;              // next never-used object
        std::byte* carve_end;          // end of the last whole object
        span* prev;                    // neighbours on the class list or the retained list
        span* next;
        std::uint32_t live;            // objects handed out and not yet freed
        std::uint32_t object_size;
        std::uint32_t size_class;
        bool listed;                   // on its class list (spans found exhausted leave it until a free)
    };
    // Starts every segment, in span 0, which is never handed out; only its first page is touched.
    struct segment {
        segment* prev;
        segment* next;
        std::uint64_t free_spans;  // bit i: span i is free (bit 0, the header, never is)
        span spans[spans_per_segment];
    };
    static_assert(sizeof(segment) <= SpanBytes);
    static constexpr std::uint64_t all_spans_free = (~std::uint64_t{0} >> (64 - spans_per_segment)) & ~1ull;

    // Sits in the last bytes of a large mapping (usually slack after the block) for reset().
    struct large_header {
        large_header* prev;
        large_header* next;
        std::size_t bytes;
    };

public:
    /// Individual free and reset; every alignment up to 4096 (natural class alignment, a larger
    /// class, or page-aligned large mappings); any size that the OS can map.
    static constexpr capabilities caps{
        .individual_free = true, .reset = true, .thread_safe = false, .max_align = 4096};

    /// Class index of a request of `size` bytes (size <= max_small_size).
    static constexpr std::size_t size_class(std::size_t size) noexcept { return detail::segregated_class_of(size); }
    /// Object size of class `c`.
    static constexpr std::size_t class_size(std::size_t c) noexcept { return detail::segregated_class_size(c); }
    /// Alignment every object of class `c` has: objects sit at multiples of the size from a
    /// span-aligned base.
    static constexpr std::size_t class_align(std::size_t c) noexcept { return natural_align(class_size(c)); }

    /// Retains at most `max_retained_spans` empty spans (64 MiB of default spans), and purges with
    /// `purge` those idle through a window of `decay` span acquisitions. Maps nothing yet.
    explicit segregated_allocator(std::size_t max_retained_spans = 1024, std::size_t decay = 1024,
                                  os::purge_mode purge = os::purge_mode::lazy) noexcept
        : retained_cap_(max_retained_spans), decay_(std::max<std::size_t>(decay, 1)), window_left_(decay_),
          purge_(purge) {}

    segregated_allocator(const segregated_allocator&) = delete;
    segregated_allocator& operator=(const segregated_allocator&) = delete;

    /// Unmaps every segment and large mapping; live blocks become invalid.
    ~segregated_allocator() {
        release_large();
        large_cache_.clear(unmap_large());
        for (segment* list : {avail_, full_}) intrusive::unmap_all(list, SegmentBytes);
    }

    /// Pops the freed object or carves the next one from the head span of the size's class.
    /// nullptr when align > 4096, or the OS refuses memory.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        if (size > max_small_size) [[unlikely]]
            return allocate_large(size, align);
        std::size_t c = size_class(size);
        if (align > class_align(c)) [[unlikely]] {
            if (align > caps.max_align) return nullptr;
            while (class_size(c) % align != 0) ++c;  // class 4096 or 32768 ends it
        }
        span* s = nonfull_[c];
        if (s != nullptr && (s->free != nullptr || s->carve != s->carve_end)) [[likely]]
            return take_object(s, size);
        return allocate_from_next_span(c, size);
    }

    /// Pushes a small block onto its span's free list (the span is found by masking; `size` only
    /// tells small from large) or unmaps a large one. nullptr is ignored, as with free().
    void deallocate(void* p, std::size_t size, std::size_t) noexcept {
        if (p == nullptr) return;
        requested_ -= size;
        --blocks_;
        if (size > max_small_size) [[unlikely]]
            return free_large(p, size);
        span* s = span_of(p);
        intrusive::push_free(s->free, p);
        if (--s->live == 0 || !s->listed) [[unlikely]]
            span_gained_room(s);
    }

    /// Frees every block: large mappings go to the large-mapping cache (the oldest beyond its
    /// bounds are unmapped); every span goes back to its segment, dirty
    /// and still mapped, so the next cycle reuses warm pages without a syscall. trim() returns them.
    void reset() noexcept {
        release_large();
        while (full_ != nullptr) {
            segment* g = full_;
            intrusive::unlink(full_, g);
            intrusive::push_front(avail_, g);
        }
        for (segment* g = avail_; g != nullptr; g = g->next) g->free_spans = all_spans_free;
        nonfull_.fill(nullptr);
        retained_ = retained_oldest_ = nullptr;
        retained_count_ = window_low_ = 0;
        requested_ = 0;
        blocks_ = 0;
    }

    /// Returns what is idle to the OS: empty spans (retained or still on a class list) are purged
    /// and handed back, and segments with no span in use are unmapped.
    void trim() noexcept {
        large_cache_.clear(unmap_large());
        for (span*& head : nonfull_)
            for (span* s = head; s != nullptr;) {
                span* next = s->next;
                if (s->live == 0) {
                    intrusive::unlink(head, s);
                    release_span(s);
                }
                s = next;
            }
        while (retained_count_ != 0) release_oldest_retained();
        for (segment* g = avail_; g != nullptr;) {
            segment* next = g->next;
            if (g->free_spans == all_spans_free) unmap_segment(avail_, g);
            g = next;
        }
    }

    /// Live requested bytes and blocks; segments and large mappings held from the OS.
    allocator_stats stats() const noexcept {
        return {.bytes_requested = requested_, .bytes_reserved = reserved_, .chunks = chunks_, .blocks = blocks_};
    }

    /// Empty spans currently kept dirty for reuse.
    std::size_t retained_spans() const noexcept { return retained_count_; }

private:
    void* take_object(span* s, std::size_t size) noexcept {
        void* p = intrusive::pop_or_carve(s->free, s->carve, s->object_size);
        ++s->live;
        requested_ += size;
        ++blocks_;
        return p;
    }

    // Cold: the head span is exhausted (or absent). Exhausted spans leave the class list until a
    // free gives them room; then the next span with room serves, or a new span is acquired.
    [[gnu::noinline]] void* allocate_from_next_span(std::size_t c, std::size_t size) noexcept {
        span*& head = nonfull_[c];
        while (head != nullptr) {
            span* s = head;
            if (s->free != nullptr || s->carve != s->carve_end) return take_object(s, size);
            intrusive::unlink(head, s);
            s->listed = false;
        }
        span* s = acquire_span();
        if (s == nullptr) return nullptr;
        std::byte* base = span_base(s);
        *s = span{.free = nullptr,
                  .carve = base,
                  .carve_end = base + SpanBytes / class_size(c) * class_size(c),
                  .prev = nullptr,
                  .next = nullptr,
                  .live = 0,
                  .object_size = static_cast<std::uint32_t>(class_size(c)),
                  .size_class = static_cast<std::uint32_t>(c),
                  .listed = true};
        intrusive::push_front(head, s);
        return take_object(s, size);
    }

    // Cold: a free made an exhausted span usable again, or emptied a span. An empty span is
    // retired unless it is the only one its class has with room, so a steady allocate/free pair
    // at a span boundary does not bounce a span between the class and the retained list.
    [[gnu::noinline]] void span_gained_room(span* s) noexcept {
        span*& head = nonfull_[s->size_class];
        if (!s->listed) {
            intrusive::push_front(head, s);
            s->listed = true;
        }
        if (s->live != 0 || (s->prev == nullptr && s->next == nullptr)) return;
        intrusive::unlink(head, s);
        s->listed = false;
        intrusive::push_front(retained_, s);
        if (retained_oldest_ == nullptr) retained_oldest_ = s;
        if (++retained_count_ > retained_cap_) release_oldest_retained();
    }

    // The newest retained (dirty, warm) span, else a free span of a segment, else a new segment.
    // Retained spans are taken newest first, so the `window_low_` oldest ones sat idle through the
    // window; when it ends they are purged.
    span* acquire_span() noexcept {
        span* s = retained_;
        if (s != nullptr) {
            unlink_retained(s);
        } else if (segment* g = avail_ != nullptr ? avail_ : map_segment(); g != nullptr) {
            const auto i = static_cast<std::size_t>(std::countr_zero(g->free_spans));
            g->free_spans &= g->free_spans - 1;
            if (g->free_spans == 0) {
                intrusive::unlink(avail_, g);
                intrusive::push_front(full_, g);
            }
            s = &g->spans[i];
        }
        window_low_ = std::min(window_low_, retained_count_);
        if (--window_left_ == 0) {
            for (std::size_t n = std::min(window_low_, retained_count_); n != 0; --n) release_oldest_retained();
            window_left_ = decay_;
            window_low_ = retained_count_;
        }
        return s;
    }

    void unlink_retained(span* s) noexcept {
        if (retained_oldest_ == s) retained_oldest_ = s->prev;
        intrusive::unlink(retained_, s);
        --retained_count_;
    }

    void release_oldest_retained() noexcept {
        span* s = retained_oldest_;
        unlink_retained(s);
        release_span(s);
    }

    // Purges the span and marks it free in its segment; the segment goes once none is in use.
    void release_span(span* s) noexcept {
        segment* g = segment_of(s);
        const bool was_full = g->free_spans == 0;
        g->free_spans |= std::uint64_t{1} << (s - g->spans);
        if (g->free_spans == all_spans_free) return unmap_segment(was_full ? full_ : avail_, g);
        os::purge_pages(span_base(s), SpanBytes, purge_);
        if (was_full) {
            intrusive::unlink(full_, g);
            intrusive::push_front(avail_, g);
        }
    }

    [[gnu::noinline]] segment* map_segment() noexcept {
        auto* g = static_cast<segment*>(os::map_aligned(SegmentBytes, SegmentBytes));
        if (g == nullptr) return nullptr;
        g->free_spans = all_spans_free;  // the rest of the header is zero from the OS
        intrusive::push_front(avail_, g);
        reserved_ += SegmentBytes;
        ++chunks_;
        return g;
    }

    void unmap_segment(segment*& list, segment* g) noexcept {
        intrusive::unlink(list, g);
        os::unmap_pages(g, SegmentBytes);
        reserved_ -= SegmentBytes;
        --chunks_;
    }

    // Large blocks start their mapping (page aligned); the header takes the last bytes. The
    // length is rounded to a large-mapping class so freed mappings can be reused.
    static std::size_t large_bytes(std::size_t size) noexcept {
        return large_mapping_bytes(size + sizeof(large_header));
    }

    // Unmaps a large mapping and stops counting it (kept mappings are still counted as held).
    auto unmap_large() noexcept {
        return [this](void* p, std::size_t bytes) {
            os::unmap_pages(p, bytes);
            reserved_ -= bytes;
            --chunks_;
        };
    }

    [[gnu::noinline]] void* allocate_large(std::size_t size, std::size_t align) noexcept {
        if (align > caps.max_align || size > std::numeric_limits<std::size_t>::max() / 2) return nullptr;
        const std::size_t bytes = large_bytes(size);
        auto* base = static_cast<std::byte*>(large_cache_.take(bytes));
        if (base == nullptr) {
            base = static_cast<std::byte*>(os::map_pages(bytes));
            if (base == nullptr) return nullptr;
            reserved_ += bytes;
            ++chunks_;
        }
        auto* h = reinterpret_cast<large_header*>(base + bytes - sizeof(large_header));
        h->bytes = bytes;
        intrusive::push_front(large_, h);
        requested_ += size;
        ++blocks_;
        return base;
    }

    [[gnu::noinline]] void free_large(void* p, std::size_t size) noexcept {
        const std::size_t bytes = large_bytes(size);
        auto* h = reinterpret_cast<large_header*>(static_cast<std::byte*>(p) + bytes - sizeof(large_header));
        intrusive::unlink(large_, h);
        large_cache_.put(p, bytes, unmap_large());
    }

    void release_large() noexcept {
        while (large_ != nullptr) {
            large_header* h = large_;
            large_ = h->next;
            large_cache_.put(reinterpret_cast<std::byte*>(h) + sizeof(large_header) - h->bytes, h->bytes, unmap_large());
        }
    }

    static segment* segment_of(const void* p) noexcept {
        return reinterpret_cast<segment*>(reinterpret_cast<std::uintptr_t>(p) & ~(SegmentBytes - 1));
    }
    static span* span_of(const void* p) noexcept {
        const auto offset = reinterpret_cast<std::uintptr_t>(p) & (SegmentBytes - 1);
        return &segment_of(p)->spans[offset / SpanBytes];
    }
    static std::byte* span_base(span* s) noexcept {
        segment* g = segment_of(s);
        return reinterpret_cast<std::byte*>(g) + static_cast<std::size_t>(s - g->spans) * SpanBytes;
    }

    std::array<span*, class_count> nonfull_{};  // per class: spans with room, head serves first
    span* retained_ = nullptr;          // empty dirty spans, newest first
    span* retained_oldest_ = nullptr;   // tail of retained_, the next to purge
    std::size_t retained_count_ = 0;    // length of retained_
    std::size_t retained_cap_;          // most empty spans kept dirty
    std::size_t decay_;                 // span acquisitions in a decay window
    std::size_t window_left_;           // acquisitions until the current window ends
    std::size_t window_low_ = 0;        // fewest spans retained since the window began
    os::purge_mode purge_;            // how released spans give their pages back
    segment* avail_ = nullptr;        // segments with a free span
    segment* full_ = nullptr;         // segments with every span in use
    large_header* large_ = nullptr;   // live large mappings
    mapping_cache large_cache_;       // freed large mappings kept for reuse
    std::uint64_t requested_ = 0;     // live requested bytes
    std::uint64_t blocks_ = 0;        // live blocks
    std::uint64_t reserved_ = 0;      // bytes of segments and large mappings
    std::uint64_t chunks_ = 0;        // segments and large mappings
};

static_assert(capabilities_consistent<segregated_allocator<>>());

}  // namespace allocmeter
