// Direct runs: one child process per (allocator, round), started by run_child with the same
// environment rules as a matrix cell (LD_PRELOAD of the library, the allocator's own
// variables, every other allocator's dropped), so the only difference between two runs is
// the allocator serving malloc.
#include "harness/run/direct_runs.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "harness/run/child_process.hpp"
#include "harness/run/external_allocators.hpp"
#include "workloads/trace/recording/trace_spool.hpp"

namespace allocmeter {

namespace {

/// The child's spec: the program with `allocator` preloaded.
child_spec program_spec(const direct_run_options& o, const allocator_entry& allocator) {
    child_spec spec;
    spec.exe = o.command.front();
    spec.args.assign(o.command.begin() + 1, o.command.end());
    spec.env_set = allocator.env;
    spec.env_unset = external_environment_names();
    spec.timeout_s = o.timeout_s;
    // Nothing of the user's own preloads, nor a recorder's settings, reaches the program.
    for (const std::string_view name : trace::recorder_variables) spec.env_unset.emplace_back(name);
    if (!allocator.library.empty()) spec.env_set.emplace_back("LD_PRELOAD", allocator.library);
    spec.stop_fd = o.stop_fd;
    return spec;
}

/// Why a run that ended as `r` is no measurement; "" when it is one.
std::string failure_of(const child_outcome& r, double timeout_s) {
    const std::string said = last_output_line(r.stderr_tail);
    const std::string tail = said.empty() ? "" : fmt::format(" (its last words: \"{}\")", said);
    switch (r.how) {
        case child_outcome::ending::exited: return r.code == 0 ? "" : fmt::format("exited with status {}{}", r.code, tail);
        case child_outcome::ending::signaled: return fmt::format("was killed by {}{}", describe_signal(r.code), tail);
        case child_outcome::ending::timed_out: return fmt::format("did not finish within {:g} s (--timeout)", timeout_s);
        case child_outcome::ending::spawn_failed: return "could not start: " + r.spawn_error;
        case child_outcome::ending::stopped: return "";
    }
    return "";
}

}  // namespace

std::string last_output_line(const std::string& text) {
    const std::size_t end = text.find_last_not_of("\n ");
    if (end == std::string::npos) return {};
    const std::size_t start = text.rfind('\n', end);
    const std::size_t from = start == std::string::npos ? 0 : start + 1;
    return text.substr(from, end - from + 1);
}

std::optional<double> figure_in(const std::string& output, const std::regex& throughput) {
    std::optional<std::string> caught;
    for (auto it = std::sregex_iterator(output.begin(), output.end(), throughput); it != std::sregex_iterator(); ++it)
        if ((*it).size() > 1 && (*it)[1].matched) caught = (*it)[1].str();
    if (!caught) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(caught->c_str(), &end);
    if (end == caught->c_str() || *end != '\0') return std::nullopt;
    return v;
}

direct_outcome run_direct(const direct_run_options& o,
                          const std::function<void(unsigned, const std::vector<std::pair<std::string, double>>&)>& on_round) {
    direct_outcome out;
    for (const allocator_entry& a : o.allocators) out.samples.push_back({a.name, {}});
    const std::size_t k = o.allocators.size();
    for (unsigned round = 0; round < o.reps; ++round) {
        std::vector<std::pair<std::string, double>> figures;
        // Rotated by the round, so no allocator always runs first (after a cold start) or
        // right after the same neighbour, and slow drift of the machine spreads evenly.
        for (std::size_t i = 0; i < k; ++i) {
            const std::size_t which = (round + i) % k;
            const allocator_entry& a = o.allocators[which];
            const child_outcome r = run_child(program_spec(o, a));
            if (r.how == child_outcome::ending::stopped) {
                out.stopped = true;
                return out;
            }
            const std::string where = fmt::format("the direct run of {} under {} (round {} of {})", o.command.front(), a.name,
                                                  round + 1, o.reps);
            if (const std::string why = failure_of(r, o.timeout_s); !why.empty()) throw direct_run_error(where + " " + why);
            double figure = r.wall_s;
            if (o.throughput) {
                const std::optional<double> caught = figure_in(r.stderr_tail, *o.throughput);
                if (!caught)
                    throw direct_run_error(fmt::format("--throughput '{}': {} printed nothing it matches with a number in its "
                                                       "capture group (its last line: \"{}\"); give a regex with one group "
                                                       "around the figure, e.g. --throughput '([0-9.]+) ops/s'",
                                                       o.throughput_text, where, last_output_line(r.stderr_tail)));
                figure = *caught;
            }
            out.samples[which].values.push_back(figure);
            figures.emplace_back(a.name, figure);
        }
        if (on_round) on_round(round, figures);
    }
    return out;
}

}  // namespace allocmeter
