// `allocmeter list`: every allocator (availability, capabilities, library) and every workload
// with its parameters at a scale.
#pragma once

#include <string>
#include <vector>

namespace allocmeter {

/// Runs `allocmeter list ARGS...`; returns the exit code.
int list_command(const std::vector<std::string>& args);

}  // namespace allocmeter
