// The virtual clock that run --measure callgrind preloads into its cells, linked here ahead of
// libc so that it answers this process's clock_gettime as it answers a cell's: the monotonic
// clocks are one clock that moves exactly one step per read, through libstdc++'s steady_clock
// too; the wall clock and the CPU-time clocks are the host's.
#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
#include <cstdint>

#include "harness/cell/virtual_clock.hpp"

namespace {

std::int64_t read_ns(clockid_t id) {
    timespec ts{};
    EXPECT_EQ(clock_gettime(id, &ts), 0) << id;
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr auto step = static_cast<std::int64_t>(allocmeter::virtual_clock_step_ns);

TEST(VirtualClock, MonotonicClocksAreOneClockMovingOneStepPerRead) {
    const std::int64_t t0 = read_ns(CLOCK_MONOTONIC);
    EXPECT_EQ(read_ns(CLOCK_MONOTONIC), t0 + step);
    EXPECT_EQ(read_ns(CLOCK_MONOTONIC_COARSE), t0 + 2 * step);
    EXPECT_EQ(read_ns(CLOCK_MONOTONIC_RAW), t0 + 3 * step);
    EXPECT_EQ(read_ns(CLOCK_BOOTTIME), t0 + 4 * step);
}

TEST(VirtualClock, SteadyClockReadsIt) {
    const auto a = std::chrono::steady_clock::now();
    const auto b = std::chrono::steady_clock::now();
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count(), step);
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
