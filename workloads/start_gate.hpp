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
    /// `ordered`: the workers pass the start line one at a time, in the order each names in
    /// arrive_and_wait, waiting for their turn by yielding the CPU rather than asleep in the
    /// kernel. For a run whose threads take turns on one CPU anyway (valgrind runs one thread
    /// at a time): which worker starts first, and from it the whole interleaving, is then the
    /// same on every run, where a kernel wake-up would decide it by a race.
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
        ready.fetch_add(1, std::memory_order_acq_rel);
        ready.notify_all();
        if (ordered_) {
            while (!go.load(std::memory_order_acquire) || turn_.load(std::memory_order_acquire) != order)
                std::this_thread::yield();
        } else {
            go.wait(false, std::memory_order_acquire);
        }
        const std::int64_t t = now_ns();
        for (std::int64_t seen = first_start.load(std::memory_order_relaxed);
             t < seen && !first_start.compare_exchange_weak(seen, t, std::memory_order_relaxed);) {
        }
        if (ordered_) turn_.fetch_add(1, std::memory_order_release);
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
    /// Runner: the span from the first worker's start to the last one's finish, in seconds.
    double span_s() const noexcept {
        return static_cast<double>(last_finish.load() - first_start.load()) * 1e-9;
    }

private:
    bool ordered_ = false;
    std::atomic<unsigned> turn_{0};

    static std::int64_t now_ns() noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
};

/// Runner: waits for `arriving` workers to arrive, opens the gate between region->begin() and
/// region->end(), runs `while_open` (which may start more workers: they do not arrive, only
/// finish), and waits for `finishing` workers in all to finish. Returns the gate's span.
template <class WhileOpen>
double run_gate(start_gate& gate, unsigned arriving, unsigned finishing, timed_region* region, const live_board& live,
                WhileOpen&& while_open) {
    for (unsigned r; (r = gate.ready.load(std::memory_order_acquire)) < arriving;) gate.ready.wait(r);
    if (region != nullptr) region->begin(live);
    gate.go.store(true, std::memory_order_release);
    gate.go.notify_all();
    while_open();
    for (unsigned d; (d = gate.done.load(std::memory_order_acquire)) < finishing;) gate.done.wait(d);
    if (region != nullptr) region->end();
    return gate.span_s();
}

/// Runner: waits for `n` workers to arrive, opens the gate between region->begin() and
/// region->end(), and waits for all of them to finish. Returns the gate's span.
inline double run_gate(start_gate& gate, unsigned n, timed_region* region, const live_board& live) {
    return run_gate(gate, n, n, region, live, [] {});
}

}  // namespace allocmeter
