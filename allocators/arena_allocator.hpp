// arena_allocator: a bump allocator that grows by chunks instead of reserving up front.
// Chunks come from os::map_pages and are linked through a header at their start; a request
// above a quarter chunk gets a dedicated chunk, so it never strands the current chunk's tail.
// reset() keeps chunks mapped as spares for the next cycle; trim() gives them back.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "allocators/adapter.hpp"
#include "allocators/os_pages.hpp"

namespace allocmeter {

/// Chunked arena: bump allocation inside the current chunk, bulk release with reset() or
/// rollback(). It allocates nothing from the heap; its bookkeeping lives in the chunks.
class arena_allocator {
    // Starts every chunk. Chunks are singly linked newest to oldest, which is the order
    // rollback() and reset() release them in.
    struct chunk_header {
        chunk_header* next;  // the chunk mapped before this one, on the same list
        std::size_t bytes;   // mapped length, for unmap and stats
    };

public:
    /// No individual free, bulk reset; any power-of-two alignment is served (a large one
    /// through a dedicated chunk), max_align is the declared guarantee.
    static constexpr capabilities caps{
        .individual_free = false, .reset = true, .thread_safe = false, .max_align = 4096};

    /// A saved position for rollback(); opaque to callers.
    struct checkpoint {
        chunk_header* normal;           ///< current normal chunk at the mark
        std::byte* ptr;                 ///< bump pointer inside it
        chunk_header* oversize;         ///< newest dedicated chunk at the mark
        std::uint64_t bytes_requested;  ///< stats().bytes_requested at the mark
        std::uint64_t blocks;           ///< stats().blocks at the mark
    };

    /// `chunk_size` is rounded up to whole pages (at least one); requests above a quarter of
    /// it are oversize. Nothing is mapped until the first allocation.
    explicit arena_allocator(std::size_t chunk_size = 64 * 1024) noexcept
        : threshold_(normalized(chunk_size) / 4), chunk_size_(normalized(chunk_size)) {}

    arena_allocator(const arena_allocator&) = delete;
    arena_allocator& operator=(const arena_allocator&) = delete;

    /// Unmaps every chunk, normal and oversize.
    ~arena_allocator() {
        release_until(normal_, nullptr);
        release_until(oversize_, nullptr);
        release_until(spare_, nullptr);
        release_until(oversize_spare_, nullptr);
    }

    /// Bumps inside the current chunk when the aligned request fits; otherwise maps a chunk.
    /// nullptr when the OS refuses the mapping or the size cannot be represented.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        // The cursor is an integer, so a caller's stores of returned pointers cannot alias
        // it: it stays in a register across an allocation loop.
        const std::size_t pad = (0 - ptr_) & (align - 1);
        // size is bounded first, so pad + size (pad < align) cannot wrap. With no chunk yet
        // the cursor is the empty no_chunk() range, so every request but size 0 goes slow.
        if (size <= threshold_ && pad + size <= end_ - ptr_) [[likely]] {
            const std::uintptr_t p = ptr_ + pad;
            ptr_ = p + size;
            return count(reinterpret_cast<std::byte*>(p), size);
        }
        return allocate_slow(size, align);
    }

    /// A no-op: memory comes back only through reset() or rollback().
    void deallocate(void*, std::size_t, std::size_t) noexcept {}

    /// Saves the current position; rollback(mark()) frees everything allocated after it.
    checkpoint mark() const noexcept {
        return {normal_, reinterpret_cast<std::byte*>(ptr_), oversize_, requested_, blocks_};
    }

    /// Releases every chunk taken after `cp` (normal ones are kept as spares, oversize ones
    /// unmapped) and restores its bump pointer and counters. Valid for a checkpoint taken
    /// since the last reset() and not older than one rolled back to.
    void rollback(checkpoint cp) noexcept {
        release_until(oversize_, cp.oversize);
        retire_until(cp.normal);
        if (normal_ != nullptr) {
            ptr_ = reinterpret_cast<std::uintptr_t>(cp.ptr);
            end_ = reinterpret_cast<std::uintptr_t>(chunk_end(normal_));
        } else {
            ptr_ = end_ = no_chunk();
        }
        requested_ = cp.bytes_requested;
        blocks_ = cp.blocks;
    }

    /// Releases every block. Chunks stay mapped as spares, reused before any new mapping, so
    /// a steady request- or frame-sized cycle makes no syscall and takes no page fault once
    /// warm: every normal chunk, and up to max_oversize_spares oversize ones (the largest).
    /// trim() returns the spares.
    void reset() noexcept {
        while (oversize_ != nullptr) {
            chunk_header* next = oversize_->next;
            keep_oversize_spare(oversize_);
            oversize_ = next;
        }
        retire_until(nullptr);
        ptr_ = end_ = no_chunk();
        requested_ = 0;
        blocks_ = 0;
    }

    /// Unmaps the spare chunks kept by reset() and rollback().
    void trim() noexcept {
        release_until(spare_, nullptr);
        release_until(oversize_spare_, nullptr);
    }

    /// Oversize chunks kept mapped by reset() for reuse.
    static constexpr std::size_t max_oversize_spares = 8;

    /// Counters since reset(); bytes_reserved and chunks are the mappings currently held.
    allocator_stats stats() const noexcept {
        return {.bytes_requested = requested_,
                .bytes_reserved = reserved_,
                .chunks = chunks_,
                .blocks = blocks_};
    }

    /// Bytes in a normal chunk, header included (a page multiple).
    std::size_t chunk_size() const noexcept { return chunk_size_; }

    /// Requests larger than this get a dedicated chunk.
    std::size_t oversize_threshold() const noexcept { return threshold_; }

private:
    // Where the cursor points while there is no current chunk: a real, empty range, so the fast
    // path needs no "no chunk yet" test. Only a size-0, alignment-1 request is served there,
    // and a size-0 block may be any valid pointer.
    static std::uintptr_t no_chunk() noexcept {
        alignas(16) static const std::byte empty[1]{};
        return reinterpret_cast<std::uintptr_t>(empty);
    }

    // A chunk size as used: whole pages, at least one, small enough to double.
    static std::size_t normalized(std::size_t chunk_size) noexcept {
        return os::round_to_pages(std::clamp<std::size_t>(chunk_size, 1, std::numeric_limits<std::size_t>::max() / 2));
    }

    // Cold: the current chunk is full (or absent), or the request is oversize.
    [[gnu::noinline]] void* allocate_slow(std::size_t size, std::size_t align) noexcept {
        // A fresh chunk fits header + (align - 1) + size whenever both are at most a quarter.
        if (size > threshold_ || align > threshold_) return allocate_oversize(size, align);
        chunk_header* c = spare_;
        if (c != nullptr) {
            spare_ = c->next;
        } else if ((c = map_chunk(chunk_size_)) == nullptr) {
            return nullptr;
        }
        c->next = normal_;
        normal_ = c;
        std::byte* p = align_ptr(payload(c), align);
        ptr_ = reinterpret_cast<std::uintptr_t>(p + size);
        end_ = reinterpret_cast<std::uintptr_t>(chunk_end(c));
        return count(p, size);
    }

    // A chunk of its own: header, worst-case padding, then the block. The bump pointer and
    // the current chunk are untouched.
    void* allocate_oversize(std::size_t size, std::size_t align) noexcept {
        // align <= 2^63, so this limit cannot wrap; a size above it could not be rounded.
        const std::size_t limit = std::numeric_limits<std::size_t>::max() - sizeof(chunk_header) -
                                  (align - 1) - os::page_size();
        if (size > limit) return nullptr;
        const std::size_t bytes = os::round_to_pages(sizeof(chunk_header) + (align - 1) + size);
        chunk_header* c = take_oversize_spare(bytes);
        if (c == nullptr && (c = map_chunk(bytes)) == nullptr) return nullptr;
        c->next = oversize_;
        oversize_ = c;
        return count(align_ptr(payload(c), align), size);
    }

    void* count(std::byte* p, std::size_t size) noexcept {
        requested_ += size;
        ++blocks_;
        return p;
    }

    chunk_header* map_chunk(std::size_t bytes) noexcept {
        auto* c = static_cast<chunk_header*>(os::map_pages(bytes));
        if (c == nullptr) return nullptr;
        c->bytes = bytes;
        reserved_ += bytes;
        ++chunks_;
        return c;
    }

    // First fit among the oversize spares (smallest first, the list is sorted by size).
    chunk_header* take_oversize_spare(std::size_t bytes) noexcept {
        for (chunk_header** link = &oversize_spare_; *link != nullptr; link = &(*link)->next) {
            if ((*link)->bytes < bytes) continue;
            chunk_header* c = *link;
            *link = c->next;
            --oversize_spares_;
            return c;
        }
        return nullptr;
    }

    // Inserts into the size-sorted spare list; beyond the cap, the smallest spare is unmapped.
    void keep_oversize_spare(chunk_header* c) noexcept {
        chunk_header** link = &oversize_spare_;
        while (*link != nullptr && (*link)->bytes < c->bytes) link = &(*link)->next;
        c->next = *link;
        *link = c;
        if (++oversize_spares_ > max_oversize_spares) {
            chunk_header* smallest = oversize_spare_;
            oversize_spare_ = smallest->next;
            smallest->next = nullptr;
            --oversize_spares_;
            release_until(smallest, nullptr);
        }
    }

    // Moves normal chunks newer than `stop` to the spare list (still mapped, still counted).
    void retire_until(chunk_header* stop) noexcept {
        while (normal_ != stop) {
            chunk_header* next = normal_->next;
            normal_->next = spare_;
            spare_ = normal_;
            normal_ = next;
        }
    }

    // Unmaps chunks from `head` until `stop` (exclusive), leaving head == stop.
    void release_until(chunk_header*& head, chunk_header* stop) noexcept {
        while (head != stop) {
            chunk_header* next = head->next;
            reserved_ -= head->bytes;
            --chunks_;
            os::unmap_pages(head, head->bytes);
            head = next;
        }
    }

    static std::byte* payload(chunk_header* c) noexcept {
        return reinterpret_cast<std::byte*>(c) + sizeof(chunk_header);
    }
    static std::byte* chunk_end(chunk_header* c) noexcept {
        return reinterpret_cast<std::byte*>(c) + c->bytes;
    }
    static std::byte* align_ptr(std::byte* p, std::size_t align) noexcept {
        return p + ((0 - reinterpret_cast<std::uintptr_t>(p)) & (align - 1));
    }

    // The fields allocate() writes (ptr_, requested_, blocks_) each sit between fields it only
    // reads: side by side, GCC's SLP vectorizer fuses their updates into one 16-byte store,
    // and the next allocate() then stalls loading half of it back (see bump_allocator).
    std::uintptr_t ptr_ = no_chunk();    // next free byte in the current normal chunk
    std::uintptr_t end_ = no_chunk();    // end of the current normal chunk
    std::uint64_t requested_ = 0;        // sum of sizes handed out since reset
    std::size_t threshold_;              // oversize above this: chunk_size_ / 4
    std::uint64_t blocks_ = 0;           // blocks handed out since reset
    std::size_t chunk_size_;             // normal chunk length, a page multiple
    chunk_header* normal_ = nullptr;     // current normal chunk, newest first
    chunk_header* oversize_ = nullptr;   // dedicated chunks, newest first
    chunk_header* spare_ = nullptr;      // normal chunks released by reset/rollback, reused first
    chunk_header* oversize_spare_ = nullptr;  // oversize chunks kept by reset, smallest first
    std::size_t oversize_spares_ = 0;    // length of oversize_spare_
    std::uint64_t reserved_ = 0;         // bytes of all chunks held
    std::uint64_t chunks_ = 0;           // chunks held
};

static_assert(capabilities_consistent<arena_allocator>());

}  // namespace allocmeter
