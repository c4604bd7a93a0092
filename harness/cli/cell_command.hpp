// The hidden `__cell` command: the child side of one matrix cell, started by `run` with the
// arguments cell_request::to_args wrote (harness/run/cell_protocol).
#pragma once

#include <string>
#include <vector>

namespace allocmeter {

/// Runs `allocmeter __cell ARGS...` (the name is cell_command, in cell_protocol.hpp); returns
/// the exit code.
int cell_command_main(const std::vector<std::string>& args);

/// Runs `allocmeter __check-library FILE` (check_library_command, in cell_protocol.hpp).
int check_library_main(const std::vector<std::string>& args);

}  // namespace allocmeter
