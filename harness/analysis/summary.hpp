// What a run's repetitions say, computed once: per workload x threads x allocator the median
// ns/op, peak RSS and throughput with their confidence intervals and CVs, the ratios to the
// baseline allocator (of medians, and paired by round) with the tests against it, latency
// medians, the median rep's RSS series, one label per allocator, each trace replayed in
// threads and timed order side by side, and each row net of its group's harness row.
// The terminal table, the report and the charts all read it.
#pragma once

#include <optional>
#include <string>

#include "harness/results/record.hpp"

namespace allocmeter {

/// Groups the cells of a results document and summarizes each group.
run_summary summarize_run(const results_document& doc);

/// A library version short enough for a label: a git suffix ("5.3.0-0-g54eaed1d...") cut off.
std::string short_version(const std::string& version);

/// The confidence intervals' coverage for each number of repetitions in the run: "93.8% at 5 reps".
std::string ci_coverage_text(const run_summary& run);

/// A verdict against the baseline (lower is better) and the test it came from.
struct metric_verdict {
    const char* verdict;  ///< "faster", "slower" or "no significant difference"
    double p_value;
    bool paired;          ///< the signed-rank test of the rounds' ratios; else Mann-Whitney U
};

/// The verdict on `m` (a row's time or rss) against `base` (the baseline row's) at `alpha`:
/// from the paired test where the summary chose it, else the unpaired one; none on the
/// baseline's own row and without a baseline.
std::optional<metric_verdict> verdict_of(const metric_summary& m, const metric_summary& base, double alpha);

/// A ratio interval [low, high] is tight when low >= (1 - tight_within) * ratio and
/// high <= (1 + tight_within) * ratio.
inline constexpr double tight_within = 0.05;

/// Over the rows that are not the baseline's, the time ratio intervals from 2 or more values
/// (rows), and of them the tight ones, paired and unpaired.
struct tight_ratio_intervals {
    std::size_t paired = 0, paired_rows = 0, unpaired = 0, unpaired_rows = 0;
};

tight_ratio_intervals count_tight_intervals(const run_summary& run, double within);

/// "ratio intervals within ±5% of the ratio: paired 41 of 64 rows, unpaired 12 of 64 rows";
/// "" when no row has a ratio interval.
std::string tight_intervals_text(const run_summary& run);

/// A row's run --measure callgrind figure `name` (callgrind_row::per_op) as `format` writes
/// it, or "-" when the row lacks it: what the terminal table and the report show.
std::string per_op_text(const callgrind_row& row, const std::string& name, const char* format);

/// Whether any row of the run has net figures (its group has a harness row): the terminal
/// table and the report then have net columns.
bool has_net_figures(const run_summary& run);

/// What the terminal table and the report say on the harness row, in place of its comparisons.
inline constexpr std::string_view harness_row_note = "do-nothing allocator: the harness's own cost";

/// The label of `allocator`, or its bare name when the summary does not know it.
const allocator_label& label_of(const run_summary& run, const std::string& allocator);

}  // namespace allocmeter
