// The reference allocators as the matrix and allocmeter-micro run them: each type with
// its registry name and one-line summary, and the configuration it runs in.
#pragma once

#include <string_view>
#include <tuple>

#include "allocators/arena_allocator.hpp"
#include "allocators/buddy_allocator.hpp"
#include "allocators/bump_allocator.hpp"
#include "allocators/debug_allocator.hpp"
#include "allocators/free_list_allocator.hpp"
#include "allocators/hybrid_allocator.hpp"
#include "allocators/locked_allocator.hpp"
#include "allocators/lockfree_pool_allocator.hpp"
#include "allocators/pool_allocator.hpp"
#include "allocators/segregated_allocator.hpp"
#include "allocators/slab_allocator.hpp"
#include "allocators/stack_allocator.hpp"
#include "allocators/thread_cache_allocator.hpp"

namespace allocmeter {

/// A reference allocator type with its registry name and one-line summary.
template <allocator A>
struct named {
    using type = A;
    std::string_view name;
    std::string_view summary;
};

/// The pool in the matrix serves blocks up to 256 B: the small-object workloads fit it.
using matrix_pool = pool_allocator<256>;

/// The arena in the matrix takes 256 KiB chunks, so 64 KiB request bodies stay in a chunk
/// (above a quarter chunk a request gets a dedicated mapping).
struct matrix_arena : arena_allocator {
    matrix_arena() noexcept : arena_allocator(256 * 1024) {}
};

inline const auto reference_types = std::make_tuple(
    named<bump_allocator>{"bump", "pointer bump in one reserved region; reset and checkpoints, no free"},
    named<matrix_arena>{"arena", "256 KiB chunks from mmap, reused after reset; oversize requests in their own chunk"},
    named<matrix_pool>{"pool", "256-byte blocks on an intrusive free list, grown by 64 KiB chunks"},
    named<first_fit_allocator>{"first_fit", "boundary-tagged blocks in 1 MiB chunks; first fit, split, immediate coalescing"},
    named<best_fit_allocator>{"best_fit", "boundary-tagged blocks in 1 MiB chunks; best fit, split, immediate coalescing"},
    named<buddy_allocator<>>{"buddy", "power-of-two blocks in 16 MiB arenas; split on allocate, coalesce with the buddy"},
    named<stack_allocator>{"stack", "LIFO region with a header per block and markers; frees only the newest block"},
    named<segregated_allocator<>>{"segregated", "40 size classes to 32 KiB, free lists per 64 KiB span, larger sizes to the OS"},
    named<slab_allocator>{"slab", "object caches per class (16 B-4 KiB), slabs on partial/full/empty lists, colouring"},
    named<thread_cache_allocator>{"thread_cache", "per-thread class caches over a locked central heap, batch transfers"},
    named<lockfree_pool_allocator<256>>{"lockfree_pool", "256-byte blocks on a Treiber stack with a tagged head; thread-safe"},
    named<hybrid_allocator<>>{"hybrid", "pool up to 64 B, arena up to 1 KiB (freed at reset), malloc beyond"},
    named<locked<segregated_allocator<>>>{"locked_segregated", "segregated behind one mutex: what a global lock costs"},
    named<debug<segregated_allocator<>>>{"debug_segregated", "segregated with guard bytes, poisoning, double/invalid-free checks"});

}  // namespace allocmeter
