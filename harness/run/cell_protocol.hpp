// The parent/child protocol of a matrix cell, both directions in one place: the request the
// parent sends as the arguments of the hidden `__cell` sub-command, and the result the child
// writes back on result_fd as JSON (the results record's cell_measurement).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "harness/results/record.hpp"
#include "harness/run/child_process.hpp"
#include "workloads/trace/replay/trace_replay.hpp"
#include "workloads/workload.hpp"

namespace allocmeter {

/// The name of the hidden sub-command.
inline constexpr const char* cell_command = "__cell";
/// The hidden command that loads a user's library (`--allocator NAME=FILE`) in a child before
/// a run starts: `allocmeter __check-library FILE` exits 0 when FILE can serve malloc, else 1
/// with the reason on stderr.
inline constexpr const char* check_library_command = "__check-library";

/// How a trace workload replays (ignored by synthetic workloads).
struct trace_settings {
    std::string path;       ///< the trace file (for the results)
    std::string plan_path;  ///< its plan, saved by the parent (replay_plan_file.hpp)
    trace::touch_policy touch = trace::touch_policy::page;
    trace::replay_order order = trace::replay_order::threads;
};

/// What a child runs. `expect_library` is empty for reference allocators, "libc" for
/// system, else the absolute path of the library that must serve malloc. `workload` is a
/// registered workload's name, or trace_workload_name with `trace` set. Every field travels,
/// so the child has no defaults of its own.
struct cell_request {
    std::string allocator;
    std::string runner;
    std::string workload;
    std::string expect_library;
    workload_config config;
    trace_settings trace;
    std::vector<std::string> pmu_events;          ///< libpfm4 names in place of the default hardware counters
    std::chrono::microseconds sample_interval{};  ///< RSS sampling; 0: off
    bool verify = false;                          ///< tag every block, check each tag when it dies (run --verify)
    /// Runs under callgrind (run --measure callgrind): the allocator behind out-of-line calls,
    /// and callgrind's instrumentation on over the timed region only.
    bool callgrind = false;

    /// The hidden sub-command's arguments (after "__cell").
    std::vector<std::string> to_args() const;
    /// Parses them back; throws std::invalid_argument naming the argument that is wrong.
    static cell_request from_args(const std::vector<std::string>& args);
};

/// Writes the child's result on result_fd (child_process.hpp); false when the write fails.
bool send_result(const cell_measurement& m);

/// Reads a child's result; throws results_error when it is not a valid measurement.
cell_measurement receive_result(const std::string& text);

}  // namespace allocmeter
