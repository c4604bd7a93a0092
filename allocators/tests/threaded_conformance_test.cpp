// Runs the threaded conformance stress (one instance, four threads, cross-thread frees) over
// every thread-safe allocator and wrapper; the ThreadSanitizer build runs it too.
#include "allocators/tests/conformance.hpp"

#include "allocators/malloc_allocator.hpp"

namespace allocmeter::conformance {

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(conformance);  // run by the other test binary

using thread_safe_allocators = ::testing::Types<malloc_allocator>;
INSTANTIATE_TYPED_TEST_SUITE_P(all, threaded_conformance, thread_safe_allocators);

}  // namespace allocmeter::conformance
