// Runs the shared conformance suite over every allocator and wrapper in allocators/
// (threaded_conformance_test.cpp runs the threaded stress over the thread-safe ones).
#include "allocators/tests/conformance.hpp"

#include "allocators/arena_allocator.hpp"
#include "allocators/buddy_allocator.hpp"
#include "allocators/bump_allocator.hpp"
#include "allocators/debug_allocator.hpp"
#include "allocators/free_list_allocator.hpp"
#include "allocators/hybrid_allocator.hpp"
#include "allocators/locked_allocator.hpp"
#include "allocators/lockfree_pool_allocator.hpp"
#include "allocators/malloc_allocator.hpp"
#include "allocators/pool_allocator.hpp"
#include "allocators/segregated_allocator.hpp"
#include "allocators/slab_allocator.hpp"
#include "allocators/stack_allocator.hpp"
#include "allocators/thread_cache_allocator.hpp"

namespace allocmeter::conformance {

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(threaded_conformance);  // run by the other test binary

using every_allocator =
    ::testing::Types<malloc_allocator, bump_allocator, arena_allocator, pool_allocator<256>, pool_allocator<4096>,
                     first_fit_allocator, best_fit_allocator, buddy_allocator<>, stack_allocator, hybrid_allocator<>,
                     locked<pool_allocator<256>>, locked<first_fit_allocator>, debug<arena_allocator>,
                     debug<first_fit_allocator>, debug<pool_allocator<256>>, segregated_allocator<>, slab_allocator,
                     thread_cache_allocator, lockfree_pool_allocator<256>, locked<segregated_allocator<>>,
                     debug<segregated_allocator<>>>;
INSTANTIATE_TYPED_TEST_SUITE_P(all, conformance, every_allocator);

}  // namespace allocmeter::conformance
