// The `plot` and `report` commands: the charts of a results file, and the design-review page
// that embeds them with the tables, the tests and the method.
#pragma once

#include <string>
#include <vector>

namespace allocmeter {

/// Runs `allocmeter plot ARGS...`; returns the exit code.
int plot_command(const std::vector<std::string>& args);

/// Runs `allocmeter report ARGS...`; returns the exit code.
int report_command(const std::vector<std::string>& args);

/// Writes OUT/report.html for the run in `run_dir` (charts in run_dir/charts) and prints its
/// path, as `run --report` does; returns 0, or 1 when the page has no charts.
int report_for_run(const std::string& run_dir);

}  // namespace allocmeter
