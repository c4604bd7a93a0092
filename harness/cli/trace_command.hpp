// `allocmeter trace info|validate FILE` and `trace import`: what a trace holds, whether it is
// sound, and a trace made from a glibc mtrace() log.
#pragma once

#include <string>
#include <vector>

namespace allocmeter {

/// Runs the `trace` command with the arguments after "trace"; returns the exit code
/// (0, 1 for a trace that is not valid, 2 for a usage mistake).
int trace_command(const std::vector<std::string>& args);

}  // namespace allocmeter
