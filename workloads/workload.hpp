// A workload and its runner. A workload type W gives its name, summary and needs
// (workload_needs), describe(scale) for `allocmeter list`, and run_thread<A>(thread_context&,
// shared_state_t<W, A>&), the body of each worker; a W whose threads share something (one
// allocator instance, hand-off rings) declares a shared_state<A> built from the workload_config.
// run_workload<W, A>() starts one worker per thread together and times them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/latency.hpp"
#include "workloads/live_meter.hpp"
#include "workloads/op_meter.hpp"
#include "workloads/rng.hpp"
#include "workloads/scale.hpp"
#include "workloads/start_gate.hpp"
#include "workloads/timed_region.hpp"
#include "workloads/turn_rotation.hpp"

namespace allocmeter {

/// Everything that determines a workload's operation stream.
struct workload_config {
    scale size = scale::standard;  ///< operation counts
    std::uint64_t seed = 1;        ///< PRNG seed; thread i draws stream i
    unsigned threads = 1;          ///< worker threads
    std::uint64_t latency_every = 64;  ///< time one allocation or free in this many (a power of two); 0: none
};

/// One documented workload parameter, for `allocmeter list` and the README.
struct workload_param {
    std::string_view name;
    std::uint64_t value;
    std::string_view meaning;
};

/// A worker thread's view of the run.
struct thread_context {
    thread_context(unsigned i, const workload_config& c, live_board* board, start_gate& g, turn_rotation* t = nullptr)
        : index(i), config(c), random(c.seed, i), meter(board, c.latency_every, latency_phase(c.seed, i), i), gate(g), turns(t) {}

    unsigned index;                ///< 0 .. threads-1
    const workload_config& config;
    rng random;                    ///< this thread's stream
    op_meter meter;
    allocator_stats stats{};       ///< summed from the instances this thread used
    bool has_stats = false;

    /// Set-up done: waits for every other worker, then the timed region begins (in a
    /// rotation: waits for this worker's first turn).
    void start() noexcept {
        if (turns == nullptr) return gate.arrive_and_wait(index);
        gate.arrive();
        turns->join(index);
        gate.started();
    }
    /// For a worker that must wait for another's progress, before it looks again: lets the
    /// others run (in a rotation, passes the turn).
    void pause() noexcept {
        if (turns != nullptr)
            turn_rotation::pass();
        else
            std::this_thread::yield();
    }
    /// Timed work done (teardown after this is not timed).
    void stop() noexcept {
        meter.flush();
        gate.finish();
    }
    /// Adds an instance's own counters to the cell's allocator stats.
    template <allocator A>
    void add_stats(const A& a) noexcept {
        if constexpr (reports_stats<A>) {
            const allocator_stats s = a.stats();
            stats.bytes_requested += s.bytes_requested;
            stats.bytes_reserved += s.bytes_reserved;
            stats.chunks += s.chunks;
            stats.blocks += s.blocks;
            has_stats = true;
        }
    }

private:
    start_gate& gate;
    turn_rotation* turns;  ///< the run's, where its workers take turns (under valgrind)
};

/// The shared state of a workload whose threads share nothing (each makes its own allocator
/// instances): what run_workload passes when W declares no shared_state of its own.
struct no_shared_state {
    explicit no_shared_state(const workload_config&) noexcept {}
};

namespace detail {
template <class W, class A>
struct shared_state_of {
    using type = no_shared_state;
};
template <class W, class A>
    requires requires { typename W::template shared_state<A>; }
struct shared_state_of<W, A> {
    using type = typename W::template shared_state<A>;
};
}  // namespace detail

/// What W's threads share on allocator A: W::shared_state<A>, or no_shared_state when W has none.
template <class W, class A>
using shared_state_t = typename detail::shared_state_of<W, A>::type;

/// What one run of a workload produced.
struct workload_result {
    double wall_s = 0;                 ///< from the first worker's start to the last one's stop()
    std::uint64_t ops = 0;             ///< operations, all threads
    std::uint64_t checksum = 0;        ///< sum of the per-thread operation checksums
    std::int64_t peak_live_bytes = 0;  ///< peak requested bytes live (see live_board)
    std::optional<allocator_stats> stats;  ///< the allocator's own counters, where it keeps them
    latency_histogram alloc_ticks, free_ticks;  ///< sampled latencies, all threads (config.latency_every)
};

namespace detail {

/// What run_workers calls: each worker's body (W::run_thread<A> on the shared state), and after
/// the workers end, the shared instance's stats where W shares one.
using worker_body = void (*)(thread_context&, void* shared);
using shared_stats = void (*)(thread_context&, void* shared);

/// run_workload's threads, gates and tallies, which do not depend on W or A: compiled once per
/// translation unit rather than for every workload and allocator pair (the registry's hundreds
/// of runners), at the cost of one indirect call per worker.
[[gnu::noinline]] inline workload_result run_workers(const workload_config& config, timed_region* region, void* shared,
                                                     worker_body body, shared_stats add_shared_stats) {
    const unsigned n = config.threads == 0 ? 1 : config.threads;
    live_board board;
    const bool serialised = region != nullptr && region->threads_serialised();
    start_gate gate(serialised);
    // Under valgrind the workers of a multithreaded run take turns at the allocator
    // (turn_rotation.hpp says why); the region ends once the last has left the rotation, its
    // teardown done. A lone worker has no one to take turns with.
    std::optional<turn_rotation> turns;
    if (serialised && n > 1) turns.emplace(n);
    std::vector<std::unique_ptr<thread_context>> contexts;
    for (unsigned i = 0; i < n; ++i)
        contexts.push_back(std::make_unique<thread_context>(i, config, &board, gate, turns ? &*turns : nullptr));

    std::vector<std::thread> workers;
    for (unsigned i = 0; i < n; ++i)
        workers.emplace_back([&, i] {
            body(*contexts[i], shared);
            if (turns) turn_rotation::leave();
            gate.hold_until_closed();
        });

    const double wall_s = run_gate(gate, n, n, region, board, [&] {
        if (!turns) return;
        turns->begin();
        turns->wait_until_all_left();
    });
    for (auto& w : workers) w.join();
    if (add_shared_stats != nullptr) add_shared_stats(*contexts[0], shared);

    workload_result r;
    r.wall_s = wall_s;
    allocator_stats total{};
    bool any_stats = false;
    for (const auto& c : contexts) {
        if (c->meter.latency.enabled()) {
            r.alloc_ticks.merge(c->meter.latency.allocs());
            r.free_ticks.merge(c->meter.latency.frees());
        }
        r.ops += c->meter.ops();
        r.checksum += c->meter.checksum();
        total.bytes_requested += c->stats.bytes_requested;
        total.bytes_reserved += c->stats.bytes_reserved;
        total.chunks += c->stats.chunks;
        total.blocks += c->stats.blocks;
        any_stats = any_stats || c->has_stats;
    }
    r.peak_live_bytes = n > 1 ? board.peak.load() : contexts[0]->meter.peak_live();
    if (any_stats) r.stats = total;
    return r;
}

}  // namespace detail

/// Runs workload W on allocator A: one worker per thread, released together; times the span
/// from the first worker's start to the last one's stop().
template <class W, allocator A>
workload_result run_workload(const workload_config& config, timed_region* region = nullptr) {
    using shared_t = shared_state_t<W, A>;
    shared_t shared(config);
    detail::shared_stats add_shared_stats = nullptr;
    if constexpr (requires { shared.heap; })
        add_shared_stats = [](thread_context& c, void* s) { c.add_stats(static_cast<shared_t*>(s)->heap); };
    return detail::run_workers(
        config, region, &shared,
        [](thread_context& c, void* s) { W::template run_thread<A>(c, *static_cast<shared_t*>(s)); }, add_shared_stats);
}

}  // namespace allocmeter
