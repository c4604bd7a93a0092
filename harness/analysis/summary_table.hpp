// The summary table a run prints on the terminal: one table per workload x threads, a row per
// allocator with its median ns/op, the interval, the CV, peak RSS, the ratio to the baseline
// with its interval, unpaired and paired by round, where the group has a harness row the net
// ns/op and net ratio (the harness row last, marked), the library version and a check column;
// then, for a trace replayed both in threads and in timed order, the two side by side; last,
// how many ratio intervals are within 5% of their ratio, paired and unpaired.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "harness/results/record.hpp"

namespace allocmeter {

/// Bytes as the tables show them: "7.5 MiB".
std::string mib_text(double bytes);

/// A ratio as the tables and pages show it: "1.23x"; "-" when there is none.
std::string ratio_text(const std::optional<double>& ratio);

/// Prints the summary table (for a run --measure callgrind, print_callgrind_summary's).
void print_summary(const run_summary& run, std::FILE* out);

/// The summary table of a run --measure callgrind: instructions and simulated misses per
/// operation, inside the allocator and in the harness (callgrind_table.cpp).
void print_callgrind_summary(const run_summary& run, std::FILE* out);

/// For each trace workload whose recording has RSS samples, one line per workload x threads:
/// how far the program's RSS rose above its start, beside how far each allocator's replay rose
/// above the cell's baseline (the median over its ok cells). Nothing when no trace has samples.
void print_recorded_rss(const run_summary& run, const results_document& doc, std::FILE* out);

}  // namespace allocmeter
