// The `compare` command: two results files (before and after), or two allocators in one
// file, compared per workload with a two-sided Mann-Whitney U test over the repetitions.
#pragma once

#include <string>
#include <vector>

namespace allocmeter {

/// Runs `allocmeter compare ARGS...`; returns the exit code.
int compare_command(const std::vector<std::string>& args);

}  // namespace allocmeter
