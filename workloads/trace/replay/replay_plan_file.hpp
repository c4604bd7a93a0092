// replay_plan_file: a replay plan saved as a flat file and mapped back read-only. `allocmeter
// run` plans each trace once in the parent, streaming it to the file (plan_to_file), and hands
// the file to every cell, so a cell neither re-reads the trace nor builds its plan in the heap
// of the allocator it measures.
#pragma once

#include <cstdint>
#include <string>

#include "workloads/trace/replay/replay_plan.hpp"

namespace allocmeter::trace {

/// Writes `plan` to `path` (created or truncated); throws trace_error when it cannot.
void save_plan(const replay_plan& plan, const std::string& path);

/// Validates the trace `trace_path` and writes its plan to `plan_path`: the file that
/// save_plan(replay_plan::load(trace_path, order), plan_path) writes, without holding the plan.
/// The trace streams in global order (trace_order.hpp); each slot goes straight to its place in
/// the file, each wait to a per-thread buffer and a scratch file beside the plan. Memory: the
/// object table, the waits buffers and a bounded window of mapped slots, not the events.
/// Throws trace_error, naming the trace or the plan file.
replay_plan_totals plan_to_file(const std::string& trace_path, const std::string& plan_path, replay_order order);

/// A plan file mapped into memory (MAP_POPULATE: its pages are in before any timing).
class mapped_plan {
public:
    /// Maps `path`; throws trace_error, naming the file, when it is missing, short or not a
    /// plan of this build.
    explicit mapped_plan(const std::string& path);
    mapped_plan(const mapped_plan&) = delete;
    mapped_plan& operator=(const mapped_plan&) = delete;
    ~mapped_plan();

    /// The engine's view of the plan; valid while this object lives.
    const replay_view& view() const noexcept { return view_; }
    std::uint64_t steps() const noexcept { return steps_; }
    std::uint64_t dependencies() const noexcept { return dependencies_; }
    std::uint64_t peak_live_bytes() const noexcept { return peak_live_bytes_; }
    /// The recorded program's peak RSS (the trace's highest RSS sample); 0 when it has no samples.
    std::uint64_t recorded_peak_rss_bytes() const noexcept { return recorded_peak_rss_bytes_; }
    /// Where the file is mapped: the harness's memory, which a cell leaves out of its RSS.
    const void* mapping() const noexcept { return base_; }

private:
    void unmap() noexcept;

    void* base_ = nullptr;
    std::size_t bytes_ = 0;
    replay_view view_;
    std::uint64_t steps_ = 0, dependencies_ = 0, peak_live_bytes_ = 0, recorded_peak_rss_bytes_ = 0;
};

}  // namespace allocmeter::trace
