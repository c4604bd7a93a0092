// SIGINT and SIGTERM as an orderly stop: while a stop_signals object lives, the first of
// either signal is only noted (its number, and a byte on a pipe that a poll loop can wait
// on), so the run can end its running cell, write what it has and say how to resume. A
// second signal acts as if no handler were installed: a user who presses ^C twice gets out
// at once.
#pragma once

namespace allocmeter {

class stop_signals {
public:
    /// Installs the handlers; throws std::runtime_error when it cannot.
    stop_signals();
    /// Restores the previous handlers.
    ~stop_signals();
    stop_signals(const stop_signals&) = delete;
    stop_signals& operator=(const stop_signals&) = delete;

    /// The signal that asked for a stop, or 0.
    static int received() noexcept;
    /// Readable once a stop was asked for; -1 while no stop_signals lives.
    static int fd() noexcept;
    /// The exit status that reports a stop by `sig`: 128 + sig (130 for SIGINT, 143 for SIGTERM).
    static int exit_status(int sig) noexcept { return 128 + sig; }
};

}  // namespace allocmeter
