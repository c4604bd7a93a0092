// Results documents built in tests through the typed record, so no test spells a results key:
// complete ok and skipped cells with chosen figures, and an env like a real run's.
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include "harness/results/record.hpp"

namespace allocmeter::testing {

/// An ok cell whose only chosen figures are ns/op and peak RSS; the rest is plausible.
inline cell_record ok_cell(const std::string& allocator, const std::string& workload, unsigned threads, unsigned rep,
                           double ns_per_op, std::uint64_t peak_rss = 1000) {
    cell_measurement m;
    m.metrics.ops = 1000;
    m.metrics.wall_s = ns_per_op * 1e-6;
    m.metrics.ns_per_op = ns_per_op;
    m.metrics.peak_rss_bytes = peak_rss;
    m.op_checksum = "0123456789abcdef";
    m.peak_rss_from = "workload start";
    return {allocator, workload, threads, rep, 1, "quick", cell_status::ok, std::nullopt, m, 0.01};
}

/// A cell that did not run, with its reason.
inline cell_record not_run_cell(const std::string& allocator, const std::string& workload, unsigned threads, unsigned rep,
                                cell_status status, const std::string& reason) {
    return {allocator, workload, threads, rep, 1, "quick", status, reason, std::nullopt, std::nullopt};
}

/// `cell` as a cell of trace x.trace replayed in `replay` order (threads, timed, serial); an ok
/// one carries its trace record, with `timed` (its threads' time split) for a timed replay.
inline cell_record as_trace_cell(cell_record cell, const std::string& replay,
                                 std::optional<trace_cell::time_split> timed = std::nullopt) {
    cell.replay = replay;
    if (cell.measured) {
        trace_cell t{"x.trace", replay, "page", cell.threads, 1000, 0, 4096};
        t.complete = true;
        t.timed = timed;
        cell.measured->trace = t;
    }
    return cell;
}

/// A document of `cells` with a complete env.
inline results_document sample_document(std::vector<cell_record> cells) {
    results_document doc;
    doc.run_id = "20261201-000000";
    doc.complete = true;
    doc.env.host = {"testhost", "Linux 6.1", "x86_64", "test CPU", 2, "madvise", std::nullopt, 4096, 2,
                    "g++ 12.2.0", "-O3", "Release", "0.1.0", "2026-12-01T00:00:00Z", ""};
    doc.env.command_line = "allocmeter run";
    doc.env.seed = 1;
    doc.env.scale = "quick";
    doc.env.reps = 0;  // the summary takes the largest group
    doc.env.threads = {1};
    doc.env.sample_ms = 2;
    doc.env.latency_every = 64;
    doc.cells = std::move(cells);
    return doc;
}

/// A run that replayed x.trace on 2 threads in threads and timed order: system and jemalloc
/// ok in both, segregated skipped in both. A timed cell's threads lived twice its duration,
/// spent `gap` of that on the recorded gaps and `wait` waiting.
inline results_document threads_and_timed_document() {
    std::vector<cell_record> cells;
    const auto timed = [&](const char* a, unsigned rep, double ns, double gap, double wait) {
        const double wall = ns * 1e-6;  // ok_cell's 1000 operations
        cells.push_back(as_trace_cell(ok_cell(a, "trace:x.trace@timed", 2, rep, ns), "timed",
                                      trace_cell::time_split{2 * wall, gap * 2 * wall, wait * 2 * wall}));
    };
    for (unsigned rep = 1; rep <= 3; ++rep) {
        cells.push_back(as_trace_cell(ok_cell("system", "trace:x.trace", 2, rep, 90.0 + 10 * rep), "threads"));
        cells.push_back(as_trace_cell(ok_cell("jemalloc", "trace:x.trace", 2, rep, 72.0 + 8 * rep), "threads"));
        cells.push_back(as_trace_cell(not_run_cell("segregated", "trace:x.trace", 2, rep, cell_status::skipped, "not thread-safe"),
                                      "threads"));
    }
    for (unsigned rep = 1; rep <= 3; ++rep) {
        timed("system", rep, 1000.0 + 100 * rep, 0.5 + 0.1 * rep, 0.01 * rep);  // shares 0.39, 0.28, 0.17
        timed("jemalloc", rep, 900.0 + 50 * rep, 0.6, 0.1);                      // share 0.3
        cells.push_back(as_trace_cell(
            not_run_cell("segregated", "trace:x.trace@timed", 2, rep, cell_status::skipped, "not thread-safe"), "timed"));
    }
    results_document doc = sample_document(cells);
    doc.env.replay = "threads,timed";
    doc.env.traces = {{"trace:x.trace", "x.trace", 2, 1000, 4096, "threads"}, {"trace:x.trace@timed", "x.trace", 2, 1000, 4096, "timed"}};
    return doc;
}

/// Each round's drift: every allocator's time in round r is its own cost times
/// round_drift[r - 1]. Binary fractions, so a round's ratio is exactly the ratio of the costs.
inline constexpr double round_drift[] = {1.0, 1.5, 0.75, 1.25, 0.5, 2.0, 0.875, 1.125, 1.75};

/// Nine rounds, allocators interleaved within each (as a run plans them), under a common drift
/// of up to 4x between rounds: system costs 100 ns/op, jemalloc 80 and mimalloc 90; peak RSS
/// 1000, 1100 and 1200 bytes (mimalloc 2000 in round 9). mimalloc fails in round 2 and system in
/// round 5: those rounds pair nothing with them.
inline results_document drifting_document() {
    std::vector<cell_record> cells;
    for (unsigned round = 1; round <= 9; ++round) {
        const double f = round_drift[round - 1];
        if (round == 5) cells.push_back(not_run_cell("system", "frame", 1, round, cell_status::failed, "crashed"));
        else cells.push_back(ok_cell("system", "frame", 1, round, 100 * f, 1000));
        cells.push_back(ok_cell("jemalloc", "frame", 1, round, 80 * f, 1100));
        if (round == 2) cells.push_back(not_run_cell("mimalloc", "frame", 1, round, cell_status::failed, "crashed"));
        else cells.push_back(ok_cell("mimalloc", "frame", 1, round, 90 * f, round == 9 ? 2000 : 1200));
    }
    return sample_document(cells);
}

/// Writes `doc` as `path`; returns the path.
inline std::string write_document(const results_document& doc, const std::string& path) {
    std::ofstream(path) << to_json_text(doc);
    return path;
}

}  // namespace allocmeter::testing
