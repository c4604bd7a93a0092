// The parent's side of `allocmeter run`: expands allocators x workloads x threads x reps
// into cells, interleaves repetitions across allocators (in rounds; with --reps auto, until
// each group's intervals are narrow enough), runs each cell in a child process, and records
// every cell (ok, failed, timeout or skipped) as it finishes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness/results/record.hpp"
#include "harness/run/allocator_catalog.hpp"
#include "harness/run/auto_reps.hpp"
#include "harness/run/callgrind_profile.hpp"
#include "harness/run/trace_workloads.hpp"
#include "workloads/scale.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/trace_replay.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct run_options {
    std::vector<std::string> allocators;  ///< names, validated against the catalog
    std::vector<std::string> workloads;   ///< names, validated against the registry, or trace specs
    std::vector<trace_workload> traces;   ///< per trace spec in `workloads`, one per order in `replays`, in that order
    trace::touch_policy touch = trace::touch_policy::page;    ///< what a trace replay writes
    std::vector<trace::replay_order> replays{trace::replay_order::threads};  ///< --replay: each trace in each
    std::filesystem::path plan_dir;       ///< where trace plans are saved for the cells (a temp folder)
    std::vector<std::string> pmu_events;  ///< --pmu-events: libpfm4 names, checked by the CLI
    double sample_ms = 2;                 ///< --sample-ms: RSS sampling interval, 0 = off
    std::uint64_t latency_every = 64;     ///< --latency: one operation in this many is timed; 0 = off
    std::vector<unsigned> threads{1, 2};
    unsigned reps = 5;                    ///< --reps N; 0 with --reps auto
    std::optional<auto_reps_settings> auto_reps;  ///< --reps auto: rounds until each group's intervals are narrow enough
    std::vector<unsigned> pin_cpus;       ///< --pin-cpus: the CPUs each cell's process runs on; empty: not pinned
    scale size = scale::standard;
    std::uint64_t seed = 1;
    std::filesystem::path out = "results";
    double timeout_s = 300;
    std::string command_line;
    std::vector<std::string> arguments;   ///< run's arguments as given, recorded for --resume
    bool report = false;                  ///< --report: the CLI writes the run's report.html at the end
    bool verify = false;                  ///< --verify: every block tagged, each tag checked when it dies
    /// --measure callgrind: each cell runs under valgrind's callgrind and reports simulated
    /// counts (harness/run/callgrind_profile.hpp); none: --measure time.
    std::optional<callgrind_settings> callgrind;
};

/// Where a run's results are, how many cells did not end well, and whether a signal stopped it.
struct run_outcome {
    std::filesystem::path dir;  ///< the run's folder
    std::size_t failed = 0;     ///< cells that failed or timed out
    int stopped_by = 0;         ///< the signal (SIGINT, SIGTERM) that stopped the run early; 0: it finished
};

/// An interrupted run to carry on: its folder and what its results.json holds.
struct resumed_run {
    std::filesystem::path dir;
    results_document doc;
};

/// Runs the matrix (of a resumed run, only the cells it has no record of; with --reps auto,
/// the rounds its groups still get), prints progress and the summary table. A SIGINT or SIGTERM (harness/os/stop_signals) ends the running cell,
/// starts no other, and leaves the results incomplete, with a line that says how to resume.
run_outcome run_matrix(const run_options& options, const allocator_catalog& catalog, const resumed_run* resumed = nullptr);

}  // namespace allocmeter
