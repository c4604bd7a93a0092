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

/// Writes `doc` as `path`; returns the path.
inline std::string write_document(const results_document& doc, const std::string& path) {
    std::ofstream(path) << to_json_text(doc);
    return path;
}

}  // namespace allocmeter::testing
