// `allocmeter plot`: the charts of a results file, PNG and SVG, drawn by plots/allocmeter_plots.py.
#pragma once

#include <string>
#include <vector>

namespace allocmeter {

/// Runs `allocmeter plot ARGS...`; returns the exit code.
int plot_command(const std::vector<std::string>& args);

}  // namespace allocmeter
