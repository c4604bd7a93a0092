// liballocmeter_virtual_clock.so: preloaded into each cell of run --measure callgrind (beside
// the allocator's own library, if any), it answers clock_gettime for the monotonic clocks with
// a virtual time that moves one tick per allocator call and per read (virtual_clock.hpp says
// why). The cell finds the tick counter by name and adds its calls to it
// (callgrind_boundary.hpp); every thread shares it, and valgrind runs the threads one at a
// time in a fixed order (start_gate), so a cell reads the same times on every run and a
// time-driven policy in the allocator takes the same decisions. The other clocks go to the
// kernel, as glibc itself does under valgrind (which gives its client no vDSO).
//
// It interposes on calls through the PLT: an allocator's, libstdc++'s steady_clock. glibc's
// internal reads (timed waits) stay on the host's clock, which is what they wait on.
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "harness/cell/virtual_clock.hpp"

extern "C" {
// Exported by name (virtual_clock_ticks_symbol) for the cell to add its calls to.
__attribute__((visibility("default"))) std::atomic<std::uint64_t> allocmeter_virtual_clock_ticks{0};
}

namespace {

// Starts one second in: a zero time could look unset to a reader.
constexpr std::uint64_t start_ns = 1'000'000'000;

bool is_virtual(clockid_t id) noexcept {
    switch (id) {
        case CLOCK_MONOTONIC:
        case CLOCK_MONOTONIC_RAW:
        case CLOCK_MONOTONIC_COARSE:
        case CLOCK_BOOTTIME:
            return true;
        default:
            return false;
    }
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int clock_gettime(clockid_t id, struct timespec* ts) noexcept {
    if (!is_virtual(id)) return static_cast<int>(::syscall(SYS_clock_gettime, id, ts));
    const std::uint64_t ticks = allocmeter_virtual_clock_ticks.fetch_add(1, std::memory_order_relaxed) + 1;
    const std::uint64_t t = start_ns + ticks * allocmeter::virtual_clock_tick_ns;
    ts->tv_sec = static_cast<time_t>(t / 1'000'000'000);
    ts->tv_nsec = static_cast<long>(t % 1'000'000'000);
    return 0;
}
