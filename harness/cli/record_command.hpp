// `allocmeter record -o FILE [--timestamps] [--] CMD ARGS...`: runs a program with the recorder
// preloaded, then converts the spool it wrote into the trace FILE.
#pragma once

#include <string>
#include <vector>

namespace allocmeter {

/// Runs the `record` command with the arguments after "record"; returns the exit code: the
/// program's own, 2 for a usage mistake, 1 when no valid trace came out.
int record_command(const std::vector<std::string>& args);

}  // namespace allocmeter
