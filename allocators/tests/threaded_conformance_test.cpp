// Runs the threaded conformance stress (one instance, four threads, cross-thread frees) over
// every thread-safe allocator and wrapper; the ThreadSanitizer build runs it too.
#include "allocators/tests/conformance.hpp"

#include "allocators/free_list_allocator.hpp"
#include "allocators/locked_allocator.hpp"
#include "allocators/lockfree_pool_allocator.hpp"
#include "allocators/malloc_allocator.hpp"
#include "allocators/pool_allocator.hpp"
#include "allocators/segregated_allocator.hpp"
#include "allocators/thread_cache_allocator.hpp"

namespace allocmeter::conformance {

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(conformance);  // run by the other test binary

using thread_safe_allocators =
    ::testing::Types<malloc_allocator, locked<pool_allocator<8192>>, locked<first_fit_allocator>,
                     locked<segregated_allocator<>>, thread_cache_allocator, lockfree_pool_allocator<256>>;
INSTANTIATE_TYPED_TEST_SUITE_P(all, threaded_conformance, thread_safe_allocators);

}  // namespace allocmeter::conformance
