// The trace:FILE and spec:FILE workloads of a run: each trace read, validated and planned once
// in the parent (a spec first generated into a trace), its plan saved in a temporary folder that
// every cell maps read-only, and the reason an allocator cannot replay it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "allocators/adapter.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/scale.hpp"
#include "workloads/trace/replay/trace_replay.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

/// The prefix that names a trace workload on the command line: trace:FILE.
inline constexpr std::string_view trace_prefix = "trace:";
/// The prefix that names a spec workload: spec:FILE (docs/workload-spec.md), run as the trace it generates.
inline constexpr std::string_view spec_prefix = "spec:";

/// True for a workload that replays a trace: trace:FILE, or spec:FILE.
inline bool replays_a_trace(std::string_view workload) {
    return workload.starts_with(trace_prefix) || workload.starts_with(spec_prefix);
}

/// The cells' workload name for trace `spec` ("trace:FILE") replayed in `order`: the spec
/// itself in threads order (the default, so named as it always was), else spec@order
/// ("trace:app.trace@timed"). One trace in two orders is two workloads, each named the same
/// in every run whatever other orders the run had, so results of two runs compare.
std::string replayed_workload_name(const std::string& spec, trace::replay_order order);

/// A trace:FILE or spec:FILE workload in one replay order, validated and planned once before
/// the matrix starts.
struct trace_workload {
    std::string spec;           ///< "trace:FILE" or "spec:FILE" as given
    std::string name;           ///< the cells' workload name (replayed_workload_name)
    trace::replay_order order = trace::replay_order::threads;
    std::string path;           ///< FILE: the trace, or the spec file
    workload_needs needs;       ///< what an allocator must offer to replay it
    unsigned threads = 1;       ///< replay threads (recorded threads, or 1 when serial)
    unsigned recorded_threads = 0;  ///< threads in the trace
    std::uint64_t events = 0;   ///< allocation and free steps
    std::uint64_t peak_live_bytes = 0;  ///< in recorded order, as `trace info` reports it
    trace::rss_summary recorded_rss;    ///< the program's RSS samples, as `trace info` reports them
    trace::touch_policy touch = trace::touch_policy::page;  ///< what its replays write (touch_for)
    std::string plan_path;      ///< the saved plan every cell maps (replay_plan_file.hpp)
    std::optional<trace::touch_policy> spec_touch;  ///< a spec's own "touch", which --touch does not override
};

/// Reads and plans the trace named by `spec` ("trace:FILE") for `order` and saves the plan
/// under `plan_dir`; throws std::invalid_argument, naming the file and the problem, when the
/// trace is missing or not valid, or cannot replay in that order (timed without timestamps).
trace_workload load_trace_workload(const std::string& spec, trace::replay_order order,
                                   const std::filesystem::path& plan_dir);

/// Generates the trace of the spec named by `spec` ("spec:FILE") with `seed` at `size` into
/// `plan_dir`, and plans it as load_trace_workload does; throws std::invalid_argument, naming
/// the file, the JSON path and the problem, when the spec is missing or not valid.
trace_workload load_spec_workload(const std::string& spec, trace::replay_order order, const std::filesystem::path& plan_dir,
                                  std::uint64_t seed, scale size);

/// What replays of `t` write into each block when run was asked for `asked`: a spec's own touch,
/// else `asked` itself, or for auto the part that trace::auto_touch derives from its RSS samples, or page when it
/// has none. With auto, `said` is what run tells the user about the choice; else it is cleared.
trace::touch_policy touch_for(const trace_workload& t, trace::touch_policy asked, std::string& said);

/// Why an allocator with `caps` cannot replay `t`; empty when it can.
std::string trace_skip_reason(const capabilities& caps, const trace_workload& t);

/// A fresh folder for a run's trace plans under the system's temp folder, removed with its
/// contents when this object goes. It holds a lock on a file inside for as long as it lives,
/// so a folder left by a run that was killed (SIGKILL, a crash) is known by its free lock.
/// Throws std::invalid_argument when it cannot be made.
class trace_plan_dir {
public:
    trace_plan_dir();
    ~trace_plan_dir();
    trace_plan_dir(const trace_plan_dir&) = delete;
    trace_plan_dir& operator=(const trace_plan_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    int lock_fd_ = -1;
};

/// What remove_stale_plan_dirs removed.
struct stale_plans {
    unsigned folders = 0;
    std::uint64_t bytes = 0;
};

/// Removes this user's trace plan folders whose run is gone (their lock is free): what a run
/// killed before it could clean up left behind.
stale_plans remove_stale_plan_dirs();

}  // namespace allocmeter
