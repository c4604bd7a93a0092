// A self-pipe: the handler stores the signal number and writes one byte, both async-signal-safe.
#include "harness/os/stop_signals.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace allocmeter {

namespace {

constexpr int stopping_signals[] = {SIGINT, SIGTERM};

std::atomic<int> received_signal{0};
int pipe_read = -1, pipe_write = -1;
struct sigaction previous[2];

extern "C" void note_stop(int sig) {
    const int saved_errno = errno;
    int expected = 0;
    received_signal.compare_exchange_strong(expected, sig);
    if (pipe_write >= 0) {
        const char byte = 1;
        [[maybe_unused]] const ssize_t n = ::write(pipe_write, &byte, 1);
    }
    errno = saved_errno;
}

}  // namespace

stop_signals::stop_signals() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        throw std::runtime_error(std::string("cannot set up signal handling: pipe: ") + std::strerror(errno));
    pipe_read = fds[0];
    pipe_write = fds[1];
    received_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = note_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;  // no SA_RESTART: a blocking call returns EINTR and the loop looks
    for (int i = 0; i < 2; ++i) ::sigaction(stopping_signals[i], &sa, &previous[i]);
}

stop_signals::~stop_signals() {
    for (int i = 0; i < 2; ++i) ::sigaction(stopping_signals[i], &previous[i], nullptr);
    ::close(pipe_read);
    ::close(pipe_write);
    pipe_read = pipe_write = -1;
}

int stop_signals::received() noexcept { return received_signal.load(); }

int stop_signals::fd() noexcept { return pipe_read; }

}  // namespace allocmeter
