// `allocmeter trace info|validate FILE`, `trace import` and `trace profile`: what a trace holds,
// whether it is sound, a trace made from a glibc mtrace() log, and a trace's profile as a spec.
#pragma once

#include <string>
#include <vector>

namespace allocmeter {

/// Runs the `trace` command with the arguments after "trace"; returns the exit code
/// (0, 1 for a trace that is not valid, 2 for a usage mistake).
int trace_command(const std::vector<std::string>& args);

}  // namespace allocmeter
