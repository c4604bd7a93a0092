// The summary table a run prints on the terminal: one table per workload x threads, a row per
// allocator with its median ns/op, the interval, the CV, peak RSS, the ratio to the baseline,
// the library version and a check column; then, for a trace replayed both in threads and in
// timed order, the two side by side.
#pragma once

#include <cstdio>
#include <string>

#include "harness/results/record.hpp"

namespace allocmeter {

/// Bytes as the tables show them: "7.5 MiB".
std::string mib_text(double bytes);

/// Prints the summary table.
void print_summary(const run_summary& run, std::FILE* out);

}  // namespace allocmeter
