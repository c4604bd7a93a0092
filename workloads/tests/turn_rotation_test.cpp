// turn_rotation: workers take turns of calls_per_turn calls in index order, one at a time, a
// worker that leaves drops out, a worker that pauses lets the others run, and the runner
// wakes once all have left. The calls append to one unguarded vector: a second thread inside
// a turn would show in the order (and to ThreadSanitizer). And run_workload, asked for a
// serialised run, puts its workers in a rotation: churn's threads (which wait for each other)
// reach the allocator one at a time, in turns, and run the stream they run unserialised.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

#include "allocators/malloc_allocator.hpp"
#include "workloads/churn_workload.hpp"
#include "workloads/timed_region.hpp"
#include "workloads/turn_rotation.hpp"
#include "workloads/workload.hpp"

namespace {

using allocmeter::turn_rotation;
constexpr unsigned turn = turn_rotation::calls_per_turn;

/// Runs one worker per entry of `calls` (that many counted calls each, after joining) and
/// returns which worker made each call, in order.
std::vector<unsigned> rotate(const std::vector<unsigned>& calls) {
    const auto n = static_cast<unsigned>(calls.size());
    turn_rotation rotation(n);
    std::vector<unsigned> order;
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < n; ++i)
        workers.emplace_back([&, i] {
            rotation.join(i);
            EXPECT_TRUE(turn_rotation::taking_turns());
            for (unsigned c = 0; c < calls[i]; ++c) {
                order.push_back(i);
                turn_rotation::count_call();
            }
            turn_rotation::leave();
            EXPECT_FALSE(turn_rotation::taking_turns());
        });
    rotation.begin();
    rotation.wait_until_all_left();
    const std::size_t seen = order.size();  // every worker has left: no call comes after this
    for (auto& w : workers) w.join();
    EXPECT_EQ(order.size(), seen);
    return order;
}

/// The order a rotation must give: turns of `turn` calls, in index order, skipping workers
/// that have made all their calls.
std::vector<unsigned> expected(std::vector<unsigned> left) {
    std::vector<unsigned> order;
    for (bool any = true; any;) {
        any = false;
        for (unsigned i = 0; i < left.size(); ++i) {
            const unsigned k = std::min(left[i], turn);
            order.insert(order.end(), k, i);
            left[i] -= k;
            any = any || k != 0;
        }
    }
    return order;
}

TEST(TurnRotation, WorkersTakeTurnsInIndexOrder) {
    const std::vector<unsigned> calls{2 * turn + turn / 2, 3 * turn, turn / 3};
    EXPECT_EQ(rotate(calls), expected(calls));
}

TEST(TurnRotation, OneWorkerKeepsTheTurn) {
    EXPECT_EQ(rotate({5 * turn + 7}), expected({5 * turn + 7}));
}

TEST(TurnRotation, AWorkerWithNoCallsLeavesAtOnce) {
    EXPECT_EQ(rotate({0, turn + 1, 0}), expected({0, turn + 1, 0}));
}

// Worker 0 waits for worker 1's flag, pausing between looks: without the pass it would hold
// the turn for ever.
TEST(TurnRotation, PauseLetsTheOthersRun) {
    turn_rotation rotation(2);
    bool flag = false;  // written inside worker 1's turn, read inside worker 0's
    unsigned looks = 0;
    std::thread waiter([&] {
        rotation.join(0);
        while (!flag) {
            ++looks;
            turn_rotation::pass();
        }
        turn_rotation::leave();
    });
    std::thread setter([&] {
        rotation.join(1);
        flag = true;
        turn_rotation::leave();
    });
    rotation.begin();
    rotation.wait_until_all_left();
    waiter.join();
    setter.join();
    EXPECT_EQ(looks, 1u);  // 0 looks, passes to 1, which sets the flag and leaves
}

TEST(TurnRotation, AThreadOutsideARotationCountsNothing) {
    EXPECT_FALSE(turn_rotation::taking_turns());
    for (unsigned c = 0; c < 2 * turn; ++c) turn_rotation::count_call();
    EXPECT_FALSE(turn_rotation::taking_turns());
}

struct serialised_region final : allocmeter::timed_region {
    void begin(const allocmeter::live_board&) override {}
    void end() override {}
    bool threads_serialised() const noexcept override { return true; }
};

/// malloc, counted toward the turn as callgrind_boundary counts, noting each change of the
/// calling thread in unguarded variables: two threads inside at once would race on them.
class turn_counting_malloc {
public:
    static constexpr allocmeter::capabilities caps = allocmeter::malloc_allocator::caps;
    void* allocate(std::size_t size, std::size_t align) noexcept {
        note_caller();
        return inner_.allocate(size, align);
    }
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        note_caller();
        inner_.deallocate(p, size, align);
    }
    static inline std::thread::id last_caller{};
    static inline std::size_t calls = 0, switches = 0, calls_in_rotation = 0;

private:
    static void note_caller() noexcept {
        ++calls;
        if (turn_rotation::taking_turns()) ++calls_in_rotation;
        if (std::this_thread::get_id() != last_caller) ++switches;
        last_caller = std::this_thread::get_id();
        turn_rotation::count_call();
    }
    allocmeter::malloc_allocator inner_;
};

TEST(TurnRotation, ASerialisedRunsWorkersTakeTurns) {
    using namespace allocmeter;
    const workload_config config{scale::quick, 7, 3};
    const workload_result free_running = run_workload<churn_workload, malloc_allocator>(config);
    serialised_region region;
    const workload_result serialised = run_workload<churn_workload, turn_counting_malloc>(config, &region);
    EXPECT_EQ(serialised.checksum, free_running.checksum);
    EXPECT_EQ(serialised.ops, free_running.ops);
    // Every call was made in a turn (churn's set-up does not call the allocator).
    const std::size_t c = turn_counting_malloc::calls;
    EXPECT_EQ(turn_counting_malloc::calls_in_rotation, c);
    // A turn holds calls_per_turn calls, or fewer when its holder pauses (a neighbour's ring
    // full, or at the end, waiting for the others' frees) or leaves: about c / turn switches.
    EXPECT_GE(turn_counting_malloc::switches, c / turn);
    EXPECT_LE(turn_counting_malloc::switches, c / turn + 50) << c;
}

}  // namespace
