// callgrind_boundary<A>: A behind calls that are never inlined, for `run --measure callgrind`.
// A reference allocator's code is inlined into the workload that calls it, so a profile could
// not tell its instructions from the harness's. Here every allocate, deallocate and reset is a
// real call, and callgrind's inclusive cost of these functions is what the allocator ran
// (harness/run/callgrind_profile.hpp sums it); for an external allocator, malloc_allocator's
// few instructions and the library's malloc and free. The calls themselves (a few instructions
// each) fall to the harness's side, and so do the tick each call gives the cell's virtual
// clock (harness/cell/virtual_clock.hpp) and its count toward the thread's turn
// (workloads/turn_rotation.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "allocators/adapter.hpp"
#include "workloads/turn_rotation.hpp"

namespace allocmeter {

/// The prefix of every boundary function's name as callgrind writes it (demangled).
inline constexpr const char* callgrind_boundary_prefix = "allocmeter::callgrind_boundary<";

/// The virtual clock's tick counter, which the cell finds in the preloaded shim before it runs
/// (run_cell.cpp); null where there is none (a test that runs a boundary runner directly).
inline std::atomic<std::uint64_t>* virtual_clock_ticks = nullptr;

template <allocator A>
class callgrind_boundary {
public:
    static constexpr capabilities caps = A::caps;

    // The public calls tick the clock and call the out-of-line functions below; they are
    // always inlined, so that only the latter carry the boundary's name in a profile.
    [[gnu::always_inline]] void* allocate(std::size_t size, std::size_t align) noexcept(noexcept(std::declval<A&>().allocate(size, align))) {
        tick();
        return allocate_call(size, align);
    }
    [[gnu::always_inline]] void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        tick();
        deallocate_call(p, size, align);
    }
    [[gnu::always_inline]] void reset() noexcept
        requires resettable<A>
    {
        tick();
        reset_call();
    }
    allocator_stats stats() const noexcept
        requires reports_stats<A>
    {
        return inner_.stats();
    }

private:
    static void tick() noexcept {
        if (std::atomic<std::uint64_t>* t = virtual_clock_ticks) t->fetch_add(1, std::memory_order_relaxed);
        turn_rotation::count_call();
    }

    // Each ends with an empty asm statement after the inner call, so the call cannot become a
    // jump at the end of the function (a tail call), which would leave the boundary before the
    // allocator's work is done.
    [[gnu::noinline]] void* allocate_call(std::size_t size, std::size_t align) noexcept(noexcept(std::declval<A&>().allocate(size, align))) {
        void* p = inner_.allocate(size, align);
        asm volatile("" : "+r"(p)::"memory");
        return p;
    }
    [[gnu::noinline]] void deallocate_call(void* p, std::size_t size, std::size_t align) noexcept {
        inner_.deallocate(p, size, align);
        asm volatile("" ::: "memory");
    }
    [[gnu::noinline]] void reset_call() noexcept
        requires resettable<A>
    {
        inner_.reset();
        asm volatile("" ::: "memory");
    }

    A inner_;
};

}  // namespace allocmeter
