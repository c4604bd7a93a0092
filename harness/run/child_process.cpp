// fork/execve plus a poll loop over the pipes, the child's exit and the stop pipe; the only
// place the harness creates processes.
#include "harness/run/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sstream>

#include "harness/os/cpu_affinity.hpp"

extern char** environ;

namespace allocmeter {

namespace {

constexpr std::size_t stderr_keep = 16 * 1024;

struct pipe_pair {
    int read = -1;
    int write = -1;
    bool open() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) return false;
        read = fds[0];
        // Keep the write end above the fds it is dup'ed onto, so dup2 always clears CLOEXEC.
        write = ::fcntl(fds[1], F_DUPFD_CLOEXEC, 10);
        ::close(fds[1]);
        return write >= 0;
    }
    void close_read() { if (read >= 0) ::close(read), read = -1; }
    void close_write() { if (write >= 0) ::close(write), write = -1; }
};

std::vector<std::string> child_environment(const child_spec& spec) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view kv(*e);
        const std::string_view key = kv.substr(0, kv.find('='));
        bool drop = false;
        for (const auto& u : spec.env_unset) drop = drop || key == u;
        for (const auto& [k, v] : spec.env_set) drop = drop || key == k;
        if (!drop) env.emplace_back(kv);
    }
    for (const auto& [k, v] : spec.env_set) env.push_back(k + "=" + v);
    return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    for (auto& s : v) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

}  // namespace

std::string describe_signal(int sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    return std::string(abbrev != nullptr ? "SIG" + std::string(abbrev) : "signal") + " (" + std::to_string(sig) + ")";
}

std::string self_exe() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::vector<std::string> preload_candidates(std::string_view name) {
    const std::filesystem::path bin = std::filesystem::path(self_exe()).parent_path();
    return {(bin / name).string(), (bin / ALLOCMETER_PRELOAD_FROM_BIN / name).lexically_normal().string()};
}

std::optional<std::string> find_preload(std::string_view name) {
    for (std::string& p : preload_candidates(name))
        if (::access(p.c_str(), R_OK) == 0) return std::move(p);
    return std::nullopt;
}

namespace {

using clock_type = std::chrono::steady_clock;

/// How long the pipes are still read after the child has gone: what it wrote is in the pipe
/// already, so this only bounds a descendant that escaped the group and holds them open.
constexpr auto drain_after_exit = std::chrono::milliseconds(1000);

/// What the child could not do before execve, as it reports it on the report pipe.
struct start_failure {
    enum step_kind : int { exec, redirect, affinity } step = exec;
    int error = 0;  ///< the errno
};

/// In the child: reports what failed on `report_fd` and exits.
[[noreturn]] void fail_start(int report_fd, start_failure::step_kind step, int error) {
    const start_failure f{step, error};
    [[maybe_unused]] const ssize_t n = ::write(report_fd, &f, sizeof f);
    ::_exit(127);
}

/// The child's side of the fork, up to execve: only async-signal-safe calls. Any failure is
/// written (a start_failure) to `report_fd`, which execve closes on success.
[[noreturn]] void start_child(pid_t parent, const char* exe, char* const* argv, char* const* envp, int result_write,
                              int err_write, int report_fd, const cpu_mask* cpus) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the parent died before the line above
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP}) ::signal(sig, SIG_DFL);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(err_write, 1) < 0 || ::dup2(err_write, 2) < 0 ||
        ::dup2(result_write, result_fd) < 0)
        fail_start(report_fd, start_failure::redirect, errno);
    if (cpus != nullptr)
        if (const int e = cpus->apply(); e != 0) fail_start(report_fd, start_failure::affinity, e);
    ::execve(exe, argv, envp);
    fail_start(report_fd, start_failure::exec, errno);
}

/// An fd that is readable once `pid` has exited, or -1 where the kernel has no pidfd_open.
int exit_fd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

/// Whether `pid` has exited, without reaping it: its pid then still names its process group.
bool has_exited(pid_t pid) {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

}  // namespace

void end_group_on_sigterm() {
    if (::getpgrp() != ::getpid()) return;  // not started by run_child: the group is someone else's
    struct sigaction sa {};
    sa.sa_handler = [](int) {
        ::kill(0, SIGKILL);  // the whole group, this process included
    };
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, nullptr);
}

child_outcome run_child(const child_spec& spec) {
    child_outcome out;
    pipe_pair result, err, report;
    if (!result.open() || !err.open() || !report.open()) {
        out.spawn_error = std::string("pipe: ") + std::strerror(errno);
        return out;
    }
    std::vector<std::string> argv_s{spec.exe};
    argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
    std::vector<std::string> env_s = child_environment(spec);
    auto argv = c_strings(argv_s);
    auto envp = c_strings(env_s);
    const std::optional<cpu_mask> cpus = spec.cpus.empty() ? std::nullopt : std::optional<cpu_mask>(spec.cpus);

    const auto t0 = clock_type::now();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) start_child(parent, spec.exe.c_str(), argv.data(), envp.data(), result.write, err.write, report.write,
                             cpus ? &*cpus : nullptr);
    result.close_write();
    err.close_write();
    report.close_write();
    if (pid < 0) {
        out.spawn_error = std::string("fork: ") + std::strerror(errno);
        result.close_read();
        err.close_read();
        report.close_read();
        return out;
    }
    ::setpgid(pid, pid);  // as the child does: whichever runs first, the group exists before a kill
    start_failure failure;
    if (::read(report.read, &failure, sizeof failure) == static_cast<ssize_t>(sizeof failure)) {
        ::waitpid(pid, nullptr, 0);
        const std::string why = std::strerror(failure.error);
        out.spawn_error = spec.exe + ": " + why;
        if (failure.step == start_failure::redirect) out.spawn_error = "dup2: " + why;
        if (failure.step == start_failure::affinity) out.spawn_error = "sched_setaffinity to CPUs " + cpu_list_text(spec.cpus) + ": " + why;
        result.close_read();
        err.close_read();
        report.close_read();
        return out;
    }
    report.close_read();

    const int exited_fd = exit_fd(pid);
    const auto deadline = spec.timeout_s > 0 ? t0 + std::chrono::duration_cast<clock_type::duration>(
                                                        std::chrono::duration<double>(spec.timeout_s))
                                             : clock_type::time_point::max();
    std::optional<child_outcome::ending> killed;  // timed_out or stopped
    std::optional<clock_type::time_point> drain_until;
    const auto kill_group = [&](child_outcome::ending why) {
        ::kill(-pid, SIGKILL);
        if (!killed) killed = why;
    };
    char buf[65536];
    while (result.read >= 0 || err.read >= 0 || !drain_until) {
        const auto now = clock_type::now();
        if (drain_until && now >= *drain_until) break;
        if (!killed && !drain_until && now >= deadline) kill_group(child_outcome::ending::timed_out);
        pollfd fds[4] = {{result.read, POLLIN, 0},
                         {err.read, POLLIN, 0},
                         {drain_until ? -1 : exited_fd, POLLIN, 0},
                         {killed || drain_until ? -1 : spec.stop_fd, POLLIN, 0}};
        const auto until = std::min(drain_until.value_or(deadline), killed ? now + std::chrono::milliseconds(100) : deadline);
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
        if (exited_fd < 0 && !drain_until) wait = std::min<long long>(wait, 10);  // no pidfd: look now and then
        const int ready = ::poll(fds, 4, static_cast<int>(std::clamp<long long>(wait, 0, 1000)));
        if (ready < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0 && i == 0) out.result.append(buf, static_cast<std::size_t>(n));
            if (n > 0 && i == 1) {
                out.stderr_tail.append(buf, static_cast<std::size_t>(n));
                if (out.stderr_tail.size() > 2 * stderr_keep) out.stderr_tail.erase(0, out.stderr_tail.size() - stderr_keep);
            }
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) i == 0 ? result.close_read() : err.close_read();
        }
        if (fds[3].fd >= 0 && (fds[3].revents & POLLIN) != 0) kill_group(child_outcome::ending::stopped);
        if (!drain_until && (exited_fd < 0 || (fds[2].revents & POLLIN) != 0) && has_exited(pid)) {
            // The child is gone but not reaped, so its pid still names the group: end what is
            // left of it (a forked helper holding the pipes), then read what is in them.
            ::kill(-pid, SIGKILL);
            drain_until = clock_type::now() + drain_after_exit;
        }
    }
    result.close_read();
    err.close_read();
    if (exited_fd >= 0) ::close(exited_fd);
    if (!drain_until) ::kill(-pid, SIGKILL);  // the loop ended on a poll error: leave nothing running

    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    out.wall_s = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (out.stderr_tail.size() > stderr_keep) out.stderr_tail.erase(0, out.stderr_tail.size() - stderr_keep);
    if (killed) {
        out.how = *killed;
    } else if (WIFSIGNALED(status)) {
        out.how = child_outcome::ending::signaled;
        out.code = WTERMSIG(status);
    } else {
        out.how = child_outcome::ending::exited;
        out.code = WEXITSTATUS(status);
    }
    return out;
}

std::vector<std::string> on_path(const std::string& name) {
    std::vector<std::string> found;
    if (const char* path = std::getenv("PATH")) {
        std::stringstream dirs(path);
        for (std::string dir; std::getline(dirs, dir, ':');) {
            const std::string p = dir + "/" + name;
            if (!dir.empty() && dir.front() == '/' && ::access(p.c_str(), X_OK) == 0) found.push_back(p);
        }
    }
    return found;
}

}  // namespace allocmeter
