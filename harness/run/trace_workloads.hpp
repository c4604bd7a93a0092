// The trace:FILE workloads of a run: each trace read, validated and planned once in the
// parent, its plan saved in a temporary folder that every cell maps read-only, and the reason
// an allocator cannot replay it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "allocators/adapter.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

/// The prefix that names a trace workload on the command line: trace:FILE.
inline constexpr std::string_view trace_prefix = "trace:";

/// A trace:FILE workload, validated and planned once before the matrix starts.
struct trace_workload {
    std::string spec;           ///< "trace:FILE" as given: the cells' workload name
    std::string path;           ///< FILE
    workload_needs needs;       ///< what an allocator must offer to replay it
    unsigned threads = 1;       ///< replay threads (recorded threads, or 1 when serial)
    std::uint64_t events = 0;   ///< allocation and free steps
    std::uint64_t peak_live_bytes = 0;  ///< in recorded order, as `trace info` reports it
    std::string plan_path;      ///< the saved plan every cell maps (replay_plan_file.hpp)
};

/// Reads and plans the trace named by `spec` ("trace:FILE") and saves the plan under
/// `plan_dir`; throws usage_error, naming the file and the problem, when the trace is missing
/// or not valid.
trace_workload load_trace_workload(const std::string& spec, trace::replay_order order,
                                   const std::filesystem::path& plan_dir);

/// Why an allocator with `caps` cannot replay `t`; empty when it can.
std::string trace_skip_reason(const capabilities& caps, const trace_workload& t);

/// A fresh folder for a run's trace plans under the system's temp folder, removed with its
/// contents when this object goes. Throws usage_error when it cannot be made.
class trace_plan_dir {
public:
    trace_plan_dir();
    ~trace_plan_dir();
    trace_plan_dir(const trace_plan_dir&) = delete;
    trace_plan_dir& operator=(const trace_plan_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace allocmeter
