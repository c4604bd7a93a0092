// The registry: every workload and every in-process allocator type, and one instantiated
// runner per (allocator type, workload) pair, looked up by name. External allocators all
// run through malloc_allocator, in a child process that has their library preloaded.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/scale.hpp"
#include "workloads/timed_region.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/trace_replay.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

/// Runs one workload on one allocator type, in this process.
using cell_runner = workload_result (*)(const workload_config&, timed_region*);

/// What replaying a trace on one allocator type produced.
struct trace_run {
    trace::replay_result replay;
    std::optional<allocator_stats> stats;  ///< the allocator's own counters, after the replay
};

/// Replays a trace's plan on a fresh instance of one allocator type, in this process.
using trace_runner = trace_run (*)(const trace::replay_view&, trace::touch_policy, timed_region*,
                                   std::uint64_t latency_every);

/// The name of trace workloads in the registry; the CLI spells them "trace:FILE".
inline constexpr std::string_view trace_workload_name = "trace";

/// The workload groups, each also a name in run --workloads: the seed workloads (run's default)
/// and the classic allocator benchmarks (workloads/classic/).
inline constexpr std::string_view seed_workload_group = "seed";
inline constexpr std::string_view classic_workload_group = "classic";

/// A workload as the CLI and the matrix see it.
struct workload_info {
    std::string_view name;
    std::string_view summary;
    workload_needs needs;
    std::vector<workload_param> (*describe)(scale);
    std::string_view group;  ///< seed_workload_group or classic_workload_group
};

/// A reference allocator type as the CLI and the matrix see it.
struct reference_info {
    std::string_view name;
    std::string_view summary;
    capabilities caps;
};

/// The name under which external allocators' runners are registered.
inline constexpr std::string_view malloc_runner_name = "malloc";

/// Every workload, in the order the matrix runs them.
const std::vector<workload_info>& workloads();

/// Every reference allocator, in the order the matrix runs them.
const std::vector<reference_info>& reference_allocators();

/// The do-nothing allocator of the harness row (harness_allocator_name): registered with a plain
/// runner only, since its blocks alias one another (no verified runner) and run --measure
/// callgrind tells the harness's instructions from the allocator's by its boundary instead.
reference_info harness_allocator();

/// Which instantiation of a runner: the allocator as it is; verified, whose runner tags every
/// block and checks each tag when its block dies (run --verify); or behind out-of-line calls,
/// so a callgrind profile tells its instructions from the harness's (run --measure callgrind,
/// callgrind_boundary.hpp).
enum class runner_kind { plain, verified, boundary };

/// The runner for (allocator type, workload); nullptr if either name is unknown.
/// `allocator_type` is a reference allocator's name or malloc_runner_name.
cell_runner find_runner(std::string_view allocator_type, std::string_view workload, runner_kind kind = runner_kind::plain);

/// The trace runner for an allocator type (a reference allocator's name or
/// malloc_runner_name); nullptr when the name is unknown or the type cannot free objects one
/// by one in any order, which every trace needs.
trace_runner find_trace_runner(std::string_view allocator_type, runner_kind kind = runner_kind::plain);

/// The workload called `name`, or nullptr.
const workload_info* find_workload(std::string_view name);

}  // namespace allocmeter
