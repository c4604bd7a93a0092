// posix_spawn plus a poll loop over two pipes; the only place the harness creates processes.
#include "harness/run/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

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

child_outcome run_child(const child_spec& spec) {
    child_outcome out;
    pipe_pair result, err;
    if (!result.open() || !err.open()) {
        out.spawn_error = std::string("pipe: ") + std::strerror(errno);
        return out;
    }
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(&actions, err.write, 1);
    ::posix_spawn_file_actions_adddup2(&actions, err.write, 2);
    ::posix_spawn_file_actions_adddup2(&actions, result.write, result_fd);

    std::vector<std::string> argv_s{spec.exe};
    argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
    std::vector<std::string> env_s = child_environment(spec);
    auto argv = c_strings(argv_s);
    auto envp = c_strings(env_s);

    const auto t0 = std::chrono::steady_clock::now();
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, spec.exe.c_str(), &actions, nullptr, argv.data(), envp.data());
    ::posix_spawn_file_actions_destroy(&actions);
    result.close_write();
    err.close_write();
    if (rc != 0) {
        out.spawn_error = spec.exe + ": " + std::strerror(rc);
        result.close_read();
        err.close_read();
        return out;
    }

    const auto deadline = t0 + std::chrono::duration<double>(spec.timeout_s > 0 ? spec.timeout_s : 1e9);
    const auto remaining_ms = [&] {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        return static_cast<int>(std::max<long long>(0, std::min<long long>(left.count(), 1000)));
    };
    bool killed = false;
    const auto kill_at_deadline = [&] {
        if (!killed && std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            killed = true;
        }
    };
    char buf[65536];
    while (result.read >= 0 || err.read >= 0) {
        pollfd fds[2] = {{result.read, POLLIN, 0}, {err.read, POLLIN, 0}};
        const int ready = ::poll(fds, 2, killed ? 100 : remaining_ms());
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
        kill_at_deadline();
    }
    result.close_read();
    err.close_read();

    int status = 0;
    while (true) {
        const pid_t w = ::waitpid(pid, &status, killed ? 0 : WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) break;
        kill_at_deadline();
        if (!killed) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (out.stderr_tail.size() > stderr_keep) out.stderr_tail.erase(0, out.stderr_tail.size() - stderr_keep);
    if (killed) {
        out.how = child_outcome::ending::timed_out;
    } else if (WIFSIGNALED(status)) {
        out.how = child_outcome::ending::signaled;
        out.code = WTERMSIG(status);
    } else {
        out.how = child_outcome::ending::exited;
        out.code = WEXITSTATUS(status);
    }
    return out;
}

}  // namespace allocmeter
