// The `record` command: starts the program with LD_PRELOAD of the recorder shim that sits
// next to the allocmeter binary and ALLOCMETER_TRACE_OUT naming the trace, waits for it,
// then checks the trace and says what it holds.
#include "harness/record_command.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "harness/child_process.hpp"
#include "workloads/trace/trace_format.hpp"

extern char** environ;

namespace allocmeter {

namespace {

const char* const usage = R"(allocmeter record: record a program's allocations into a trace

usage: allocmeter record -o FILE [--] COMMAND [ARGS...]

Runs COMMAND with allocmeter's recorder preloaded (LD_PRELOAD); every malloc, calloc, realloc,
free, aligned allocation and C++ new/delete of every thread goes to FILE (format:
docs/trace-format.md). A child the program forks is not traced. The exit status is the
program's own.

examples:
  allocmeter record -o sort.trace -- sort -n numbers.txt
  allocmeter trace info sort.trace
  allocmeter run --workloads trace:sort.trace
)";

/// The recorder shim: beside the running binary (the build folder).
std::string shim_path() {
    return (std::filesystem::path(self_exe()).parent_path() / "liballocmeter_recorder.so").string();
}

}  // namespace

int record_command(const std::vector<std::string>& args) {
    std::string out;
    std::size_t i = 0;
    for (; i < args.size(); ++i) {
        if (args[i] == "-h" || args[i] == "--help") {
            std::fputs(usage, stdout);
            return 0;
        }
        if (args[i] == "-o" && i + 1 < args.size()) {
            out = args[++i];
        } else if (args[i] == "--") {
            ++i;
            break;
        } else if (args[i].rfind("-", 0) == 0) {
            std::fprintf(stderr, "allocmeter record: unknown option '%s'; see 'allocmeter record --help'\n", args[i].c_str());
            return 2;
        } else {
            break;
        }
    }
    if (out.empty() || i >= args.size()) {
        std::fprintf(stderr, "allocmeter record: give -o FILE and a command, e.g. 'allocmeter record -o app.trace -- ./app'\n");
        return 2;
    }
    const std::string shim = shim_path();
    if (::access(shim.c_str(), R_OK) != 0) {
        std::fprintf(stderr, "allocmeter record: the recorder %s is missing; rebuild allocmeter (make build)\n", shim.c_str());
        return 2;
    }

    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e)
        if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0 && std::strncmp(*e, "ALLOCMETER_TRACE_OUT=", 21) != 0) env.emplace_back(*e);
    env.push_back("LD_PRELOAD=" + shim);
    env.push_back("ALLOCMETER_TRACE_OUT=" + out);
    std::vector<char*> envp, argv;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> command(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
    for (auto& s : command) argv.push_back(s.data());
    argv.push_back(nullptr);

    pid_t pid = -1;
    if (const int rc = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()); rc != 0) {
        std::fprintf(stderr, "allocmeter record: cannot start '%s': %s\n", argv[0], std::strerror(rc));
        return 2;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (WIFSIGNALED(status))
        std::fprintf(stderr, "allocmeter record: '%s' was killed by %s; the trace may be incomplete\n", argv[0],
                     describe_signal(WTERMSIG(status)).c_str());
    try {
        const trace::trace_summary s = trace::validate(out);
        const auto bytes = std::filesystem::file_size(out);
        std::fprintf(stderr, "allocmeter record: %s: %llu events in %u thread%s, %llu bytes (%.2f bytes/event)\n",
                     out.c_str(), static_cast<unsigned long long>(s.events), s.threads, s.threads == 1 ? "" : "s",
                     static_cast<unsigned long long>(bytes),
                     s.events ? static_cast<double>(bytes) / static_cast<double>(s.events) : 0.0);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "allocmeter record: no valid trace came out: %s\n", e.what());
        return code != 0 ? code : 1;
    }
    return code;
}

}  // namespace allocmeter
