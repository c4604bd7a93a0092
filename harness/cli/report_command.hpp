// The `report` command: the design-review page of a results file, its charts embedded with the
// tables, the tests and the method; also what `run --report` calls at the end of a run.
#pragma once

#include <string>
#include <vector>

namespace allocmeter {

/// Runs `allocmeter report ARGS...`; returns the exit code.
int report_command(const std::vector<std::string>& args);

/// Writes OUT/report.html for the run in `run_dir` (charts in run_dir/charts) and prints its
/// path, as `run --report` does; returns 0, or 1 when the page has no charts.
int report_for_run(const std::string& run_dir);

}  // namespace allocmeter
