// The virtual clock that run --measure callgrind preloads into its cells, linked here ahead of
// libc so that it answers this process's clock_gettime as it answers a cell's: the monotonic
// clocks are one clock that moves one tick per read and one per tick the cell adds for an
// allocator call, through libstdc++'s steady_clock too; the wall clock and the CPU-time clocks
// are the host's.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>

#include "harness/cell/virtual_clock.hpp"

namespace {

std::int64_t read_ns(clockid_t id) {
    timespec ts{};
    EXPECT_EQ(clock_gettime(id, &ts), 0) << id;
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr auto tick = static_cast<std::int64_t>(allocmeter::virtual_clock_tick_ns);

TEST(VirtualClock, MonotonicClocksAreOneClockTickingPerRead) {
    const std::int64_t t0 = read_ns(CLOCK_MONOTONIC);
    EXPECT_EQ(read_ns(CLOCK_MONOTONIC), t0 + tick);
    EXPECT_EQ(read_ns(CLOCK_MONOTONIC_COARSE), t0 + 2 * tick);
    EXPECT_EQ(read_ns(CLOCK_MONOTONIC_RAW), t0 + 3 * tick);
    EXPECT_EQ(read_ns(CLOCK_BOOTTIME), t0 + 4 * tick);
}

// What a cell does (run_cell.cpp, callgrind_boundary.hpp): finds the counter by name and adds
// a tick per allocator call.
TEST(VirtualClock, TicksTheCellAddsPassTime) {
    auto* ticks = static_cast<std::atomic<std::uint64_t>*>(::dlsym(RTLD_DEFAULT, allocmeter::virtual_clock_ticks_symbol));
    ASSERT_NE(ticks, nullptr) << ::dlerror();
    const std::int64_t t0 = read_ns(CLOCK_MONOTONIC);
    ticks->fetch_add(1000);
    EXPECT_EQ(read_ns(CLOCK_MONOTONIC), t0 + 1001 * tick);
}

TEST(VirtualClock, SteadyClockReadsIt) {
    const auto a = std::chrono::steady_clock::now();
    const auto b = std::chrono::steady_clock::now();
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count(), tick);
}

TEST(VirtualClock, WallAndCpuClocksAreTheHosts) {
    const std::int64_t wall_s = read_ns(CLOCK_REALTIME) / 1'000'000'000;
    EXPECT_LE(std::abs(wall_s - static_cast<std::int64_t>(::time(nullptr))), 2);
    // Burns real CPU time: the process clock must see it, as only the host's can.
    const std::int64_t cpu0 = read_ns(CLOCK_PROCESS_CPUTIME_ID);
    volatile std::uint64_t sink = 0;
    for (std::uint64_t i = 0; i < 20'000'000; ++i) sink = sink + i;
    EXPECT_GT(read_ns(CLOCK_PROCESS_CPUTIME_ID), cpu0);
}

}  // namespace
