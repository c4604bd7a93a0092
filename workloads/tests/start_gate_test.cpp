// start_gate: an ordered gate (run --measure callgrind's) lets workers through whatever order
// they arrive in, and holds a finished worker until the runner has ended the region; an
// unordered gate lets every worker through too.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "workloads/live_meter.hpp"
#include "workloads/start_gate.hpp"
#include "workloads/timed_region.hpp"

namespace {

using namespace allocmeter;
using namespace std::chrono_literals;

/// A region that notes whether any worker had got past hold_until_closed() when it ended.
struct watching_region final : timed_region {
    explicit watching_region(const std::atomic<int>& released) : released_(released) {}
    void begin(const live_board&) override {}
    void end() override { released_at_end = released_.load(); }
    int released_at_end = -1;

private:
    const std::atomic<int>& released_;
};

// Workers arrive last first (each sleeps longer the lower its index); the gate still opens for
// all of them, and none is let go before the region has ended.
void run_workers(bool ordered, int expect_released_at_end) {
    constexpr unsigned n = 4;
    start_gate gate(ordered);
    live_board board;
    std::atomic<int> released{0};
    watching_region region(released);
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < n; ++i)
        workers.emplace_back([&, i] {
            std::this_thread::sleep_for(std::chrono::milliseconds(2 * (n - i)));
            gate.arrive_and_wait(i);
            gate.finish();
            gate.hold_until_closed();
            released.fetch_add(1);
        });
    const double span = run_gate(gate, n, &region, board);
    for (auto& w : workers) w.join();
    EXPECT_GE(span, 0.0);
    EXPECT_EQ(released.load(), static_cast<int>(n));
    if (expect_released_at_end >= 0) {
        EXPECT_EQ(region.released_at_end, expect_released_at_end);
    }
}

TEST(StartGate, OrderedGateOpensForWorkersArrivingInAnyOrderAndHoldsThemUntilClosed) {
    for (int round = 0; round < 20; ++round) run_workers(true, 0);
}

TEST(StartGate, UnorderedGateLetsEveryWorkerThrough) {
    // Whether a worker got past before end() is a race here; that every one gets through is not.
    run_workers(false, -1);
}

}  // namespace
