// trace_order: a trace's events in global sequence order, streamed. A first pass reads the file
// in order and indexes its chunks (one small entry per chunk); a second pass merges the threads,
// holding back only the events that an unread chunk could still precede. Memory follows the
// trace's disorder (how far a chunk's events lie from their place in global order), not its length.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "workloads/trace/format/trace_format.hpp"

namespace allocmeter::trace {

/// What an ordered_events merge held (for tests and the figures of scripts/trace-memory.sh).
struct merge_stats {
    std::uint64_t index_entries = 0;         ///< runs of one thread's consecutive chunks
    std::uint64_t peak_buffered_events = 0;  ///< read from the file, not yet handed out, at most
    std::uint64_t peak_buffered_bytes = 0;   ///< their compact encoding, at most
};

/// Every event of a trace in increasing seq, the order load_sorted() gives, without loading
/// the trace. The file is decoded twice: once by the constructor, once by the merge in next().
///
/// Why it is correct for any trace whose threads each have strictly increasing seq (validate()
/// requires it; the constructor throws validate()'s error otherwise): chunks of one thread hold
/// its events in program order, so the smallest seq an unread chunk can hold is its first
/// event's. The index has an entry per run of one thread's consecutive chunks (16 bytes: a
/// writer's chunk holds thousands of events, and a single-threaded trace is one run) with the
/// minimum first seq of that run and every later one (a suffix minimum). An event read but not
/// handed out is buffered with its thread; the smallest buffered event goes out once no unread
/// event can come before it: its seq is at most that suffix minimum, and at most the seq after
/// the last one read from the current run. Equal seqs (only in a trace validate() refuses) go
/// out in file order, as a stable sort has them.
///
/// How much is buffered: the events whose chunk came before an unread chunk holding an earlier
/// seq. trace_writer flushes a thread's events once the oldest is flush_window events old, so
/// a trace written in global order (the recorder's conversion) buffers at most about that many
/// plus one chunk per thread; another writer's trace is merged as correctly, with what its
/// chunk order needs (an idle thread's one chunk at the end of the file holds back everything).
class ordered_events {
public:
    /// Called with each event in file order (a thread's program order) as the index is built.
    using visitor = std::function<void(const event&)>;

    /// Reads `path` once, handing each event to `each_in_file_order` (when given), and indexes
    /// its chunks. Throws trace_error for bad input, or a thread whose seq goes back.
    explicit ordered_events(const std::string& path, const visitor& each_in_file_order = {});
    ordered_events(const ordered_events&) = delete;
    ordered_events& operator=(const ordered_events&) = delete;
    ~ordered_events();

    const trace_header& header() const noexcept;
    /// The trace's RSS samples (read by the constructor's pass); null when it has none.
    const recorded_rss* rss() const noexcept;
    /// Events in the trace.
    std::uint64_t events() const noexcept;
    /// Highest thread id + 1 (0 for a trace with no events).
    std::uint32_t threads() const noexcept;
    /// The next event in global order; false after the last. Throws trace_error when the file
    /// no longer reads as it did in the first pass.
    bool next(event& e);
    const merge_stats& stats() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace allocmeter::trace
