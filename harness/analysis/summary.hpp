// What a run's repetitions say, computed once: per workload x threads x allocator the median
// ns/op, peak RSS and throughput with their confidence intervals and CVs, the ratios to the
// baseline allocator with the test against it, latency medians, the median rep's RSS series,
// one label per allocator, and each trace replayed in threads and timed order side by side.
// The terminal table, the report and the charts all read it.
#pragma once

#include <string>

#include "harness/results/record.hpp"

namespace allocmeter {

/// Groups the cells of a results document and summarizes each group.
run_summary summarize_run(const results_document& doc);

/// A library version short enough for a label: a git suffix ("5.3.0-0-g54eaed1d...") cut off.
std::string short_version(const std::string& version);

/// The confidence intervals' coverage for each number of repetitions in the run: "93.8% at 5 reps".
std::string ci_coverage_text(const run_summary& run);

/// The label of `allocator`, or its bare name when the summary does not know it.
const allocator_label& label_of(const run_summary& run, const std::string& allocator);

}  // namespace allocmeter
