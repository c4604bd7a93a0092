// hybrid_allocator: a composite that routes each request by size and alignment: a pool for the
// dominant small size, an arena for mid-sized temporaries, and the system allocator for the rest.
// The route is a pure function of (size, align), so deallocate finds the owner with no header.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "allocators/adapter.hpp"
#include "allocators/arena_allocator.hpp"
#include "allocators/intrusive_list.hpp"
#include "allocators/pool_allocator.hpp"

namespace allocmeter {

/// Which part of a hybrid_allocator serves a request.
enum class hybrid_route {
    pool,    ///< size <= PoolSize and align <= the pool's block alignment
    arena,   ///< size <= ArenaMax and align <= arena_max_align, when the pool cannot take it
    system,  ///< everything else: std::malloc / std::aligned_alloc
};

/// Requests of at most PoolSize bytes come from a pool_allocator<PoolSize>; those up to ArenaMax
/// from an arena_allocator; larger or over-aligned ones from the system allocator.
///
/// The trade-off: deallocate of an arena-routed block is a no-op, its memory comes back only at
/// reset(). Under a workload that frees such blocks one by one and never resets, they accumulate
/// (stats() shows them as reserved but not requested). System blocks are tracked on an intrusive
/// list in a 32-byte prefix (or one of `align` bytes, when larger), so reset() and the destructor
/// free them as well: after reset() every block, whichever part served it, is free.
template <std::size_t PoolSize = 64, std::size_t ArenaMax = 1024>
class hybrid_allocator {
    static_assert(PoolSize >= sizeof(void*) && PoolSize % alignof(void*) == 0,
                  "PoolSize must be a valid pool_allocator block size");
    static_assert(PoolSize < ArenaMax, "the arena serves the sizes above the pool's");
    static_assert(ArenaMax <= std::numeric_limits<std::size_t>::max() / 8, "ArenaMax too large");

    using pool_type = pool_allocator<PoolSize>;

    // Ends the prefix in front of every system block; links the live ones, and records where
    // the system allocation starts, so that reset() and the destructor can free them all.
    struct system_header {
        system_header* prev;
        system_header* next;
        std::size_t prefix;  // bytes from the system allocation's start to the block
    };

public:
    /// Individual free (arena-routed frees take effect only at reset()), bulk reset; every
    /// alignment up to 4096 is served (aligned_alloc serves larger ones too). Requests above
    /// 1 TiB, which no host running the benchmarks can meet, are refused before reaching the
    /// system allocator (sanitizer builds abort on such a malloc instead of returning null).
    static constexpr capabilities caps{.individual_free = true,
                                       .reset = true,
                                       .thread_safe = false,
                                       .max_size = std::size_t{1} << 40,
                                       .max_align = 4096};

    /// Largest alignment routed to the arena (a cache line); past it the arena's padding could
    /// outgrow the block itself, so over-aligned requests go to the system allocator.
    static constexpr std::size_t arena_max_align = 64;

    /// The part that serves (size, align): decided the same way on allocate and deallocate.
    static constexpr hybrid_route route(std::size_t size, std::size_t align) noexcept {
        if (size <= PoolSize && align <= pool_type::block_align) return hybrid_route::pool;
        if (size <= ArenaMax && align <= arena_max_align) return hybrid_route::arena;
        return hybrid_route::system;
    }

    /// `arena_chunk` is the arena's chunk length; it is raised to 4 * ArenaMax when smaller, so
    /// that every arena-routed request bumps inside a shared chunk. Nothing is mapped up front.
    explicit hybrid_allocator(std::size_t arena_chunk = 64 * 1024) noexcept
        : arena_(std::max(arena_chunk, 4 * ArenaMax)) {}

    hybrid_allocator(const hybrid_allocator&) = delete;
    hybrid_allocator& operator=(const hybrid_allocator&) = delete;

    /// Frees the system blocks still live; the pool and arena unmap their own chunks.
    ~hybrid_allocator() { free_system_blocks(); }

    /// Serves from the part route(size, align) names; nullptr when that part cannot.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        switch (route(size, align)) {
            case hybrid_route::pool: return pool_.allocate(size, align);
            case hybrid_route::arena: {
                void* p = arena_.allocate(size, align);
                if (p != nullptr) {
                    arena_live_bytes_ += size;
                    ++arena_live_blocks_;
                }
                return p;
            }
            case hybrid_route::system: break;
        }
        return allocate_system(size, align);
    }

    /// Returns the block to the part that served it: pool blocks are reused at once, arena
    /// blocks only after reset(), system blocks are freed. nullptr is ignored, as with free().
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        if (p == nullptr) return;
        switch (route(size, align)) {
            case hybrid_route::pool: return pool_.deallocate(p, size, align);
            case hybrid_route::arena:
                arena_live_bytes_ -= size;
                --arena_live_blocks_;
                return;  // the arena cannot reuse a hole; its memory comes back at reset()
            case hybrid_route::system: return deallocate_system(p, size, align);
        }
    }

    /// Frees every block: the pool and the arena keep their chunks for the next cycle, the
    /// system blocks go back to the system allocator.
    void reset() noexcept {
        pool_.reset();
        arena_.reset();
        arena_live_bytes_ = arena_live_blocks_ = 0;
        free_system_blocks();
    }

    /// Sum of the parts. Pool counters are its own; arena-routed bytes and blocks count while
    /// live (so freed arena memory shows as reserved, not requested); each system block counts
    /// its size as both requested and reserved, and as one chunk.
    allocator_stats stats() const noexcept {
        const allocator_stats pool = pool_.stats();
        const allocator_stats arena = arena_.stats();
        return {.bytes_requested = pool.bytes_requested + arena_live_bytes_ + system_bytes_,
                .bytes_reserved = pool.bytes_reserved + arena.bytes_reserved + system_bytes_,
                .chunks = pool.chunks + arena.chunks + system_blocks_,
                .blocks = pool.blocks + arena_live_blocks_ + system_blocks_};
    }

    /// The pool part, for inspection.
    const pool_type& pool() const noexcept { return pool_; }
    /// The arena part, for inspection.
    const arena_allocator& arena() const noexcept { return arena_; }

private:
    // Bytes in front of a system block: room for the header, and a multiple of the alignment
    // (32 keeps malloc's 16-byte alignment; larger alignments use aligned_alloc).
    static constexpr std::size_t system_prefix(std::size_t align) noexcept {
        return std::max<std::size_t>(32, align);
    }
    static_assert(sizeof(system_header) <= 32);

    // Cold: a large or over-aligned request goes to the system allocator with a tracking prefix.
    [[gnu::noinline]] void* allocate_system(std::size_t size, std::size_t align) noexcept {
        // Bounding size and alignment first means prefix + size, rounded up to align, cannot wrap.
        if (size > caps.max_size || align > caps.max_size) return nullptr;
        const std::size_t prefix = system_prefix(align);
        void* raw = align <= alignof(std::max_align_t)
                        ? std::malloc(prefix + size)
                        : std::aligned_alloc(align, align_up(prefix + size, align));
        if (raw == nullptr) return nullptr;
        auto* p = static_cast<std::byte*>(raw) + prefix;
        auto* h = reinterpret_cast<system_header*>(p - sizeof(system_header));
        h->prefix = prefix;
        intrusive::push_front(system_head_, h);
        system_bytes_ += size;
        ++system_blocks_;
        return p;
    }

    // Unlinks the block and frees its whole system allocation, prefix included.
    void deallocate_system(void* p, std::size_t size, std::size_t align) noexcept {
        system_header* h = header_of(p);
        assert(h->prefix == system_prefix(align));
        (void)align;
        intrusive::unlink(system_head_, h);
        system_bytes_ -= size;
        --system_blocks_;
        std::free(allocation_of(h));
    }

    // Frees every live system block (reset and destruction).
    void free_system_blocks() noexcept {
        while (system_head_ != nullptr) {
            system_header* next = system_head_->next;
            std::free(allocation_of(system_head_));
            system_head_ = next;
        }
        system_bytes_ = system_blocks_ = 0;
    }

    static system_header* header_of(void* p) noexcept {
        return reinterpret_cast<system_header*>(static_cast<std::byte*>(p) - sizeof(system_header));
    }
    static void* allocation_of(system_header* h) noexcept {
        return reinterpret_cast<std::byte*>(h + 1) - h->prefix;
    }

    // The arena counters are kept apart on purpose: side by side, GCC's SLP vectorizer fuses
    // their updates into one 16-byte load-add-store that the next call waits on (see
    // bump_allocator).
    pool_type pool_;
    arena_allocator arena_;
    std::uint64_t arena_live_bytes_ = 0;    // arena-routed bytes not yet freed
    system_header* system_head_ = nullptr;  // newest live system block
    std::uint64_t arena_live_blocks_ = 0;   // arena-routed blocks not yet freed
    std::uint64_t system_bytes_ = 0;        // live system-routed bytes
    std::uint64_t system_blocks_ = 0;       // live system blocks
};

static_assert(capabilities_consistent<hybrid_allocator<>>());

}  // namespace allocmeter
