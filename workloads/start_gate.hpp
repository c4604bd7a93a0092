// start_gate: the start and finish lines that release a run's worker threads together and time
// them from the first start to the last finish; run_gate() is the runner's side, and calls the
// timed_region hook at the edges. Workloads and trace replays both run through it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>

#include "workloads/live_meter.hpp"
#include "workloads/timed_region.hpp"

namespace allocmeter {

/// Start and finish lines shared by the runner and its worker threads. Each worker reads the
/// clock itself as it passes each line, so the timed span (first start to last finish) holds
/// none of the latency of waking threads at either end.
struct start_gate {
    start_gate() = default;
    /// `ordered`: for a run whose threads take turns on one CPU anyway (valgrind runs one
    /// thread at a time), where a kernel wake-up would otherwise decide by a race which thread
    /// runs next. Workers that wait in arrive_and_wait (a trace replay's) pass the start line
    /// one at a time, in the order each names, waiting their turn by yielding the CPU (a
    /// sleeper's wake-up would be such a race); workers that order themselves (a synthetic
    /// workload's take turns: turn_rotation.hpp) call arrive() and started() instead. A worker
    /// that calls hold_until_closed() does not exit before the runner has ended the timed
    /// region, so its exit is never inside it. (The runner still sleeps until the workers
    /// finish: a runner that yielded in a loop would take a turn at every switch, and its
    /// turns would race a worker back from a system call.)
    explicit start_gate(bool ordered) noexcept : ordered_(ordered) {}

    std::atomic<unsigned> ready{0};
    std::atomic<bool> go{false};
    std::atomic<unsigned> done{0};
    std::atomic<std::int64_t> first_start{std::numeric_limits<std::int64_t>::max()};  ///< steady clock, ns
    std::atomic<std::int64_t> last_finish{std::numeric_limits<std::int64_t>::min()};

    /// Worker: set-up done; waits for the gate to open and notes when this thread started.
    /// `order`: this worker's place in the line of an ordered gate (0, 1, ... for the workers
    /// that arrive); an unordered gate ignores it.
    void arrive_and_wait(unsigned order) noexcept {
        arrive();
        if (ordered_) {
            while (!go.load(std::memory_order_acquire) || turn_.load(std::memory_order_acquire) != order)
                std::this_thread::yield();
        } else {
            go.wait(false, std::memory_order_acquire);
        }
        started();
        if (ordered_) turn_.fetch_add(1, std::memory_order_release);
    }
    /// Worker, for a run that orders its workers itself (turn_rotation) instead of waiting in
    /// arrive_and_wait: set-up done ...
    void arrive() noexcept {
        ready.fetch_add(1, std::memory_order_acq_rel);
        ready.notify_all();
    }
    /// ... and, once the run lets this worker go, notes when it started.
    void started() noexcept {
        const std::int64_t t = now_ns();
        for (std::int64_t seen = first_start.load(std::memory_order_relaxed);
             t < seen && !first_start.compare_exchange_weak(seen, t, std::memory_order_relaxed);) {
        }
    }
    /// Worker: timed work done (teardown after this is not timed).
    void finish() noexcept {
        const std::int64_t t = now_ns();
        for (std::int64_t seen = last_finish.load(std::memory_order_relaxed);
             t > seen && !last_finish.compare_exchange_weak(seen, t, std::memory_order_relaxed);) {
        }
        done.fetch_add(1, std::memory_order_acq_rel);
        done.notify_all();
    }
    /// Worker, after finish(): on an ordered gate, waits until the runner has ended the timed
    /// region, so that the thread's exit (its allocator's thread-exit work among it) is never
    /// inside it; on an unordered gate, returns at once.
    void hold_until_closed() const noexcept {
        if (ordered_) closed_.wait(false, std::memory_order_acquire);
    }
    bool ordered() const noexcept { return ordered_; }
    /// Runner: the timed region has ended; held workers may go.
    void close() noexcept {
        closed_.store(true, std::memory_order_release);
        closed_.notify_all();
    }
    /// Runner: the span from the first worker's start to the last one's finish, in seconds.
    double span_s() const noexcept {
        return static_cast<double>(last_finish.load() - first_start.load()) * 1e-9;
    }

private:
    bool ordered_ = false;
    std::atomic<unsigned> turn_{0};
    std::atomic<bool> closed_{false};

    static std::int64_t now_ns() noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
};

/// Runner: waits for `arriving` workers to arrive, opens the gate between region->begin() and
/// region->end(), runs `while_open` (which may start more workers: they do not arrive, only
/// finish), waits for `finishing` workers in all to finish, and closes the gate (held workers
/// go). Returns the gate's span.
template <class WhileOpen>
double run_gate(start_gate& gate, unsigned arriving, unsigned finishing, timed_region* region, const live_board& live,
                WhileOpen&& while_open) {
    for (unsigned r; (r = gate.ready.load(std::memory_order_acquire)) < arriving;) gate.ready.wait(r);
    if (region != nullptr) region->begin(live);
    gate.go.store(true, std::memory_order_release);
    if (!gate.ordered()) gate.go.notify_all();
    while_open();
    for (unsigned d; (d = gate.done.load(std::memory_order_acquire)) < finishing;) gate.done.wait(d);
    if (region != nullptr) region->end();
    gate.close();
    return gate.span_s();
}

/// Runner: waits for `n` workers to arrive, opens the gate between region->begin() and
/// region->end(), and waits for all of them to finish. Returns the gate's span.
inline double run_gate(start_gate& gate, unsigned n, timed_region* region, const live_board& live) {
    return run_gate(gate, n, n, region, live, [] {});
}

}  // namespace allocmeter
