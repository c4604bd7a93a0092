// trace_validation: the checks of validate() (docs/trace-format.md, "Validation") as a state
// machine fed one event at a time, so that a tool which reads a trace anyway (the replay
// planner) validates it in the same passes. Memory: one entry per thread and per live object.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>

#include "workloads/trace/format/live_table.hpp"
#include "workloads/trace/format/trace_format.hpp"

namespace allocmeter::trace {

/// Feed it every event in file order (in_file_order), then end_of_file(), then every event in
/// global order (in_global_order, as ordered_events gives them), then same_events(); each throws
/// trace_error, naming `path` and the event's byte, at the first problem. A writer that appends
/// in global order (the recorder's conversion) feeds each event to as_written instead, then
/// end_of_file().
class trace_validator {
public:
    explicit trace_validator(std::string path) : path_(std::move(path)) {}

    /// A thread's program order: nothing after thread_exit, thread_start first, seq strictly
    /// increasing, time never going back.
    void in_file_order(const event& e) {
        in_thread_order(e);
        file_digest_ += event_digest(e);
    }
    /// Thread ids dense: every id below the highest has events.
    void end_of_file();
    /// Global order: no seq used twice; every release names a live id, no allocation a live one.
    void in_global_order(const event& e) {
        lifetimes(e);
        global_digest_ += event_digest(e);
    }
    /// Both checks on an event appended in global order (which is also each thread's program
    /// order), without the digests: there is no second reading to compare.
    void as_written(const event& e) {
        in_thread_order(e);
        lifetimes(e);
    }
    /// Both orders were fed the same events: as many, with the same digest (a sum of a hash of
    /// each event's fields but its byte, so the order does not matter). `at`: the byte to name.
    void same_events(std::uint64_t at) const;
    /// What validation learned; complete after the last in_global_order.
    const trace_summary& summary() const noexcept { return summary_; }

private:
    struct thread_state {
        bool exited = false;
        std::uint64_t last_seq = 0;
        std::uint64_t last_time = 0;
        std::uint64_t first_at = 0;  // the offset of its first event, for a gap in thread ids
    };

    /// A 64-bit hash of every field of `e` but its byte (a writer's event has none yet): summed
    /// over the events, it tells whether two readings hold the same events, in any order.
    static std::uint64_t event_digest(const event& e);

    [[noreturn]] void fail(std::uint64_t at, const std::string& problem) const;
    void in_thread_order(const event& e);
    void lifetimes(const event& e);
    void create(const event& e, std::uint64_t id, std::uint64_t bytes);
    void check_live(const event& e, std::uint64_t id) const;
    void release(const event& e, std::uint64_t id);

    std::string path_;
    trace_summary summary_;
    // File order. Chunks are runs of one thread, so the last thread's state is kept at hand.
    std::unordered_map<std::uint32_t, thread_state> threads_;
    std::uint32_t current_thread_ = 0;
    thread_state* current_ = nullptr;
    // Global order.
    id_table live_;  // id -> requested bytes + 1 (a live object of 0 bytes is not absent)
    std::uint64_t live_bytes_ = 0;
    std::uint64_t global_events_ = 0;
    std::uint64_t last_seq_ = 0, last_at_ = 0;
    // Both orders: the events' digests, for same_events().
    std::uint64_t file_digest_ = 0, global_digest_ = 0;
};

/// validate() that also hands every event, in file order, to `each_event` once it has passed its
/// thread's checks: what `trace info` counts, in the same passes.
trace_summary validate(const std::string& path, const std::function<void(const event&)>& each_event);

}  // namespace allocmeter::trace
