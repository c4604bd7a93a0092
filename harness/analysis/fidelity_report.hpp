// What `allocmeter fidelity` found, as one typed record, and its two forms: fidelity.json
// (schema allocmeter-fidelity/1; every key is written here and nowhere else) and a small
// self-contained fidelity.html built from fidelity_page.mustache, as the report's page is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "harness/analysis/fidelity_analysis.hpp"

namespace allocmeter {

inline constexpr std::string_view fidelity_schema = "allocmeter-fidelity/1";

/// One allocator in one replay mode: its replayed side, set beside its direct side.
struct fidelity_row {
    std::string allocator;
    side_summary replay;  ///< ns/op of the replay cells
    agreement agrees = agreement::not_compared;
};

/// One replay mode's matrix run and what it says.
struct fidelity_replay {
    std::string mode;         ///< as passed to run --replay: threads, serial, timed
    bool ok = false;          ///< the run gave results; else `reason` says why not
    std::string reason;
    std::string results;      ///< the run's results.json
    std::vector<fidelity_row> rows;  ///< in the order of the allocators
    fidelity_judgement judgement;
};

/// The whole answer.
struct fidelity_document {
    std::vector<std::string> command;  ///< the program and its arguments
    std::string metric;                ///< "wall_s" or "throughput"
    std::string throughput_regex;      ///< "" for wall time
    unsigned reps = 0;
    double alpha = 0;
    std::string baseline;
    std::vector<std::string> allocators;
    std::string trace;                 ///< the recorded trace (with timestamps)
    std::string started_at, host, cpu_model;
    unsigned cpus = 0;
    std::vector<side_summary> direct;  ///< one per allocator, in the order of `allocators`
    std::vector<fidelity_replay> replays;

    bool higher_is_better() const { return metric == "throughput"; }
};

/// fidelity.json's text.
std::string fidelity_json_text(const fidelity_document& doc);

/// The terminal's table of one replay mode: per allocator the direct and the replayed figure,
/// ratio and test, and the agreement; then rho and the verdict.
std::string fidelity_table_text(const fidelity_document& doc, const fidelity_replay& replay);

/// Writes the page; throws std::runtime_error when it cannot.
void write_fidelity_page(const fidelity_document& doc, const std::filesystem::path& html);

}  // namespace allocmeter
