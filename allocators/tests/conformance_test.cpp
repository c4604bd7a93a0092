// Runs the shared conformance suite over every allocator and wrapper in allocators/
// (threaded_conformance_test.cpp runs the threaded stress over the thread-safe ones).
#include "allocators/tests/conformance.hpp"

#include "allocators/arena_allocator.hpp"
#include "allocators/buddy_allocator.hpp"
#include "allocators/bump_allocator.hpp"
#include "allocators/free_list_allocator.hpp"
#include "allocators/malloc_allocator.hpp"
#include "allocators/pool_allocator.hpp"

namespace allocmeter::conformance {

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(threaded_conformance);  // run by the other test binary

using every_allocator =
    ::testing::Types<malloc_allocator, bump_allocator, arena_allocator, pool_allocator<256>, pool_allocator<4096>,
                     first_fit_allocator, best_fit_allocator, buddy_allocator<>>;
INSTANTIATE_TYPED_TEST_SUITE_P(all, conformance, every_allocator);

}  // namespace allocmeter::conformance
