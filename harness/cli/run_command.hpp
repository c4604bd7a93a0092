// `allocmeter run`: the benchmark matrix, from the command line to the results folder (and
// the report page with --report).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "harness/run/allocator_catalog.hpp"

namespace allocmeter {

/// Runs `allocmeter run ARGS...`; `full_command` is the whole command line, for the results.
/// Returns the exit code.
int run_command(const std::vector<std::string>& args, const std::string& full_command);

/// The standard catalog plus the user libraries given as --allocator NAME=/path/lib.so; a
/// malformed one is a usage error of `command` (run and list take the option alike).
allocator_catalog catalog_with_user_libraries(const std::vector<std::string>& specs, std::string_view command);

}  // namespace allocmeter
