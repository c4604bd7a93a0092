// Runs the chart script (plots/allocmeter_plots.py) on a run's summary: finds a Python that
// can import matplotlib, runs the script in a child process, and reads back the list of
// charts it wrote (charts.json, schema allocmeter-charts/1).
#pragma once

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/results/record.hpp"

namespace allocmeter {

/// A chart could not be made; the message names what is missing and how to get it.
struct plot_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The first Python that imports matplotlib: $ALLOCMETER_PYTHON when set (and only it), else
/// each python3 on PATH, then /usr/bin/python3 (Debian's, where python3-matplotlib installs).
/// Throws plot_error listing what was tried and how to install matplotlib.
std::string find_plot_python();

/// Where the chart script may be, in the order plot_script() tries them: $ALLOCMETER_PLOTS_SCRIPT
/// when set (and only it); else share/allocmeter/allocmeter_plots.py where `cmake --install` puts
/// it, found from the running binary's folder; else plots/ in the source tree it was built from.
std::vector<std::filesystem::path> plot_script_candidates();

/// The first of plot_script_candidates() that is a file; throws plot_error naming each one tried.
std::filesystem::path plot_script();

/// One chart the script wrote.
struct chart {
    std::string name, kind, title, caption;
    std::map<std::string, std::filesystem::path> files;  ///< format ("png", "svg") -> absolute path
};

/// Writes `summary` (of the results in `results_json`) to dir/summary.json, has the script draw
/// its charts into `dir` (PNG and SVG), and returns them in reading order; throws plot_error
/// with the script's own message when it fails.
std::vector<chart> make_charts(const run_summary& summary, const std::filesystem::path& results_json,
                               const std::filesystem::path& dir);

}  // namespace allocmeter
