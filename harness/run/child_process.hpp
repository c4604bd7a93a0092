// Runs one child process with a deadline and collects what it says: a result channel on
// fd 3, its stderr, and how it ended (exit code, signal, or killed at the deadline).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace allocmeter {

/// What to run.
struct child_spec {
    std::string exe;                                         ///< absolute path
    std::vector<std::string> args;                           ///< argv[1..]
    std::vector<std::pair<std::string, std::string>> env_set;  ///< variables to set (or override)
    std::vector<std::string> env_unset;                      ///< inherited variables to drop
    double timeout_s = 0;                                    ///< 0: no deadline
};

/// How it went.
struct child_outcome {
    enum class ending { exited, signaled, timed_out, spawn_failed };
    ending how = ending::spawn_failed;
    int code = 0;              ///< exit code, or signal number
    std::string result;        ///< everything the child wrote to fd 3
    std::string stderr_tail;   ///< the last 16 KiB of its stderr and stdout
    std::string spawn_error;   ///< why it could not start
    double wall_s = 0;
};

/// The fd on which a child writes its result.
inline constexpr int result_fd = 3;

/// Starts the child (posix_spawn), waits at most spec.timeout_s, then kills it (SIGKILL).
child_outcome run_child(const child_spec& spec);

/// "SIGSEGV (11)" for a signal number.
std::string describe_signal(int sig);

/// The absolute path of the running executable.
std::string self_exe();

}  // namespace allocmeter
