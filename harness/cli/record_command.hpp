// `allocmeter record -o FILE [--timestamps] [--] CMD ARGS...`: runs a program with the recorder
// preloaded, then converts the spool it wrote into the trace FILE. The record step itself,
// record_program, is callable on its own: `fidelity` records through it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace allocmeter {

/// One recording: the program, the trace to write, and whether each call's time is kept.
struct record_request {
    std::string out;                   ///< the trace to write
    bool timestamps = false;           ///< also record when each call happened (a timed replay needs it)
    std::vector<std::string> command;  ///< the program and its arguments, untouched
};

/// How a recording went.
struct record_outcome {
    bool ran = false;            ///< the program ran (not: no recorder shim, or it could not start; said on stderr)
    int exit_code = 0;           ///< the program's own: its exit status, or 128 + the signal that ended it
    bool trace_written = false;  ///< a valid trace came out (said on stderr when not)
    std::uint64_t events = 0;    ///< the calls it holds
};

/// Runs the program with the recorder preloaded, waits for it, converts its spool into the trace
/// and says on stderr what the trace holds. Messages start "allocmeter record:".
record_outcome record_program(const record_request& request);

/// Refuses (usage_error of "record") a trace path the trace cannot go to: one that exists and
/// is not a regular file, in a folder that is missing or not writable, or the program itself.
void check_output(const std::string& out, const std::string& program);

/// The program `word` names: itself when it has a '/', else the first match on PATH; "" if none.
std::filesystem::path program_path(const std::string& word);

/// Runs the `record` command with the arguments after "record"; returns the exit code: the
/// program's own, 2 for a usage mistake, 1 when no valid trace came out.
int record_command(const std::vector<std::string>& args);

}  // namespace allocmeter
