// One matrix cell: the request the parent sends to a child process (as arguments of the
// hidden `__cell` sub-command), and the child's side, which runs it and reports JSON.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/trace_replay.hpp"
#include "workloads/workload.hpp"

namespace allocmeter {

/// How a trace workload replays (ignored by synthetic workloads).
struct trace_settings {
    std::string path;       ///< the trace file (for the results)
    std::string plan_path;  ///< its plan, saved by the parent (replay_plan_file.hpp)
    trace::touch_policy touch = trace::touch_policy::page;
    trace::replay_order order = trace::replay_order::threads;
};

/// What a child runs. `expect_library` is empty for reference allocators, "libc" for
/// system, else the absolute path of the library that must serve malloc. `workload` is a
/// registered workload's name, or trace_workload_name with `trace` set.
struct cell_request {
    std::string allocator;
    std::string runner;
    std::string workload;
    std::string expect_library;
    workload_config config;
    trace_settings trace;
    std::vector<std::string> pmu_events;  ///< libpfm4 names in place of the default hardware counters
    std::chrono::microseconds sample_interval{2000};  ///< RSS sampling; 0: off

    /// The hidden sub-command's arguments (after "__cell").
    std::vector<std::string> to_args() const;
};

/// The name of the hidden sub-command.
inline constexpr const char* cell_command = "__cell";

/// Runs the cell in this process and writes its JSON result to result_fd. Returns the exit
/// code: 0, or 2 with a message on stderr when the cell cannot run as asked.
int run_cell(const cell_request& request);

}  // namespace allocmeter
