// Runs a program as it is, under each allocator in turn (preloaded as `run` preloads an
// external allocator into a cell), in interleaved rounds, and measures every run: its wall
// time, or a figure it prints (a throughput). What `fidelity` compares a replay against.
#pragma once

#include <functional>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/run/allocator_catalog.hpp"

namespace allocmeter {

/// What to run and how to measure it.
struct direct_run_options {
    std::vector<std::string> command;              ///< the program (an absolute path) and its arguments
    std::vector<allocator_entry> allocators;       ///< external ones: system or a library to preload
    unsigned reps = 7;                             ///< rounds; round r runs every allocator once, rotated by r
    double timeout_s = 300;                        ///< per run; 0: none
    std::optional<std::regex> throughput;          ///< one capture group, a number the program prints
    std::string throughput_text;                   ///< the regex as given, for messages
    int stop_fd = -1;                              ///< readable when the user asked to stop
};

/// One allocator's measurements, in round order.
struct direct_samples {
    std::string allocator;
    std::vector<double> values;  ///< wall seconds, or the figure the regex caught
};

/// One run that did not end well: the message names the allocator, the round and why.
struct direct_run_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Runs reps rounds; `on_round` (if set) hears each round's figures, in the order they ran.
/// Throws direct_run_error when a run fails, times out, or prints no figure; returns what it
/// has with stopped = true when a stop was asked for.
struct direct_outcome {
    std::vector<direct_samples> samples;  ///< in the order of options.allocators
    bool stopped = false;
};
direct_outcome run_direct(const direct_run_options& options,
                          const std::function<void(unsigned round, const std::vector<std::pair<std::string, double>>&)>& on_round);

/// The last non-empty line of a child's output (run_child's stderr_tail), for a message.
std::string last_output_line(const std::string& text);

/// The number the regex's one capture group catches in its last match in `output`; none when
/// there is no match or the group is not a number.
std::optional<double> figure_in(const std::string& output, const std::regex& throughput);

}  // namespace allocmeter
