// Runs one child process with a deadline and collects what it says: a result channel on
// fd 3, its stderr, and how it ended (exit code, signal, killed at the deadline, or ended
// because the parent was asked to stop). The child never outlives the parent and leaves
// nothing behind: it leads a process group of its own, which is killed when the child ends,
// at the deadline and at a stop, and it gets SIGTERM if the parent dies first. It may be
// restricted to a set of CPUs (run --pin-cpus), set between fork and exec.
#pragma once

#include <optional>
#include <string>
#include <string_view>
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
    int stop_fd = -1;  ///< when it becomes readable the child is killed (ending::stopped); -1: none
    std::vector<unsigned> cpus = {};  ///< the CPUs the child (and all it starts) may run on; empty: this process's
};

/// How it went.
struct child_outcome {
    enum class ending { exited, signaled, timed_out, stopped, spawn_failed };
    ending how = ending::spawn_failed;
    int code = 0;              ///< exit code, or signal number
    std::string result;        ///< everything the child wrote to fd 3
    std::string stderr_tail;   ///< the last 16 KiB of its stderr and stdout
    std::string spawn_error;   ///< why it could not start
    double wall_s = 0;
};

/// The fd on which a child writes its result.
inline constexpr int result_fd = 3;

/// Starts the child, waits at most spec.timeout_s (then kills its process group with SIGKILL)
/// or until spec.stop_fd is readable (the same). When the child exits, whatever is left of its
/// group (a process its libraries forked) is killed too, so the pipes close and the call
/// returns however the child's descendants behave.
child_outcome run_child(const child_spec& spec);

/// For a child of run_child (the cell): on SIGTERM, which its parent's death sends, kill the
/// whole process group at once. Call early in the child's main.
void end_group_on_sigterm();

/// "SIGSEGV (11)" for a signal number.
std::string describe_signal(int sig);

/// The absolute path of the running executable.
std::string self_exe();

/// Where a library that allocmeter preloads into a child (the recorder, the virtual clock)
/// may be, in the order to try: beside the running binary (the build folder), then where
/// `cmake --install` puts it (lib/allocmeter/, found from bin/).
std::vector<std::string> preload_candidates(std::string_view name);

/// The first of preload_candidates(name) that can be read; none when there is none.
std::optional<std::string> find_preload(std::string_view name);

/// Every executable `name` in PATH's absolute folders, in PATH order (absolute paths).
std::vector<std::string> on_path(const std::string& name);

}  // namespace allocmeter
