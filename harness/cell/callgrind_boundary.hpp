// callgrind_boundary<A>: A behind calls that are never inlined, for `run --measure callgrind`.
// A reference allocator's code is inlined into the workload that calls it, so a profile could
// not tell its instructions from the harness's. Here every allocate, deallocate and reset is a
// real call, and callgrind's inclusive cost of these functions is what the allocator ran
// (harness/run/callgrind_profile.hpp sums it); for an external allocator, malloc_allocator's
// few instructions and the library's malloc and free. The calls themselves (a few instructions
// each) fall to the harness's side.
#pragma once

#include <cstddef>
#include <utility>

#include "allocators/adapter.hpp"

namespace allocmeter {

/// The prefix of every boundary function's name as callgrind writes it (demangled).
inline constexpr const char* callgrind_boundary_prefix = "allocmeter::callgrind_boundary<";

template <allocator A>
class callgrind_boundary {
public:
    static constexpr capabilities caps = A::caps;

    // Each ends with an empty asm statement after the inner call, so the call cannot become a
    // jump at the end of the function (a tail call), which would leave the boundary before the
    // allocator's work is done.
    [[gnu::noinline]] void* allocate(std::size_t size, std::size_t align) noexcept(noexcept(std::declval<A&>().allocate(size, align))) {
        void* p = inner_.allocate(size, align);
        asm volatile("" : "+r"(p)::"memory");
        return p;
    }
    [[gnu::noinline]] void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        inner_.deallocate(p, size, align);
        asm volatile("" ::: "memory");
    }
    [[gnu::noinline]] void reset() noexcept
        requires resettable<A>
    {
        inner_.reset();
        asm volatile("" ::: "memory");
    }
    allocator_stats stats() const noexcept
        requires reports_stats<A>
    {
        return inner_.stats();
    }

private:
    A inner_;
};

}  // namespace allocmeter
