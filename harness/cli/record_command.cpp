// The `record` command: starts the program with LD_PRELOAD of the recorder shim (beside the
// allocmeter binary in the build folder, in lib/allocmeter/ once installed) and ALLOCMETER_SPOOL
// naming FILE.spool, samples its resident set while it runs, converts the spool into the trace
// FILE while the program runs and the rest once it has exited (with the samples), checks the
// trace and says what it holds.
#include "harness/cli/record_command.hpp"

#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "harness/cli/command_line.hpp"
#include "harness/os/rss_sampler.hpp"
#include "harness/os/self_stats.hpp"
#include "harness/run/child_process.hpp"
#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/recording/trace_spool.hpp"

extern char** environ;

namespace allocmeter {

namespace {

const char* const about = R"(allocmeter record: record a program's allocations into a trace

usage: allocmeter record -o FILE [--timestamps] [--] COMMAND [ARGS...]

Runs COMMAND with allocmeter's recorder preloaded (LD_PRELOAD); every malloc, calloc, realloc,
free, aligned allocation and C++ new/delete of every thread goes to FILE (format:
docs/trace-format.md). While the program runs, each thread writes raw blocks to FILE.spool,
and record converts them into FILE as they come (as far as no thread can still precede them),
and samples the program's resident set every 5 ms (/proc/PID/statm); once the program has
exited, record converts the rest, checks the trace and deletes the spool. A child the
program forks is not traced; if the program execs another in its place (a wrapper script's
'exec'), the trace is of that one. The exit status is the program's own.

record's own options end at '--' or at COMMAND, the first word that is neither an option
nor an option's value: everything from there on is the program's, passed untouched.
)";

const char* const examples = R"(
examples:
  allocmeter record -o sort.trace -- sort -n numbers.txt
  allocmeter record --timestamps --out=app.trace -- ./app --its-own=options
  allocmeter trace info sort.trace
  allocmeter run --workloads trace:sort.trace
)";

/// Declares record's options and parses `args`; false when --help was shown.
bool parse_record(const std::vector<std::string>& args, record_request& a) {
    command_grammar g("record", about, examples);
    g.options.add_options()("out,o", po::value(&a.out)->value_name("FILE"), "the trace to write")(
        "timestamps", po::bool_switch(&a.timestamps), "also record when each call happened (CLOCK_MONOTONIC, ns)");
    g.positionals.add_options()("command", po::value(&a.command));
    g.order.add("command", -1);
    if (!parse_arguments(g, with_terminator(args, g.options))) return false;
    if (a.out.empty() || a.command.empty())
        usage_fail("record", "give -o FILE and a command, e.g. 'allocmeter record -o app.trace -- ./app'");
    return true;
}

/// The first recorder shim that can be read; empty (said on stderr) when there is none.
std::string find_shim() {
    const char* const name = "liballocmeter_recorder.so";
    if (std::optional<std::string> found = find_preload(name)) return *found;
    const std::vector<std::string> shims = preload_candidates(name);
    std::fprintf(stderr, "allocmeter record: the recorder is missing (looked for %s and %s); rebuild allocmeter "
                 "(make build) or reinstall it (make install)\n", shims[0].c_str(), shims[1].c_str());
    return {};
}

/// The program's environment: ours, less anything a recorder reads, plus the shim preloaded
/// and told where to write.
std::vector<std::string> traced_environment(const std::string& shim, const std::string& spool, bool timestamps) {
    std::vector<std::string> env;
    const auto ours = [](std::string_view e) {
        for (const std::string_view name : trace::recorder_variables)
            if (e.size() > name.size() && e.substr(0, name.size()) == name && e[name.size()] == '=') return true;
        return false;
    };
    for (char** e = environ; *e != nullptr; ++e)
        if (!ours(*e)) env.emplace_back(*e);
    env.push_back("LD_PRELOAD=" + shim);
    env.push_back("ALLOCMETER_SPOOL=" + spool);
    if (timestamps) env.push_back("ALLOCMETER_TIMESTAMPS=1");
    return env;
}

/// How often record samples the program's resident set, and how many samples it keeps: past
/// that many, every other one is dropped and the period doubles (about 20 s of a program at
/// 5 ms, 40 s at 10 ms, ...: 2048 to 4096 samples however long it runs).
constexpr std::chrono::microseconds rss_period{5000};
constexpr std::size_t rss_capacity = 4096;

/// The sampler's samples as the trace keeps them: time since the program started (us) and
/// resident bytes, with the highest sample put back in its place if thinning dropped it.
trace::recorded_rss recorded_of(const rss_sampler& sampler) {
    trace::recorded_rss out;
    out.start_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(sampler.started().time_since_epoch()).count());
    out.period_us = static_cast<std::uint64_t>(sampler.interval().count());
    const auto point = [](const rss_sample& s) { return trace::rss_point{s.t_ns / 1000, s.rss_bytes}; };
    for (const rss_sample& s : sampler.samples()) out.points.push_back(point(s));
    const rss_sample peak = sampler.peak();
    const auto later = std::find_if(out.points.begin(), out.points.end(),
                                    [&](const trace::rss_point& p) { return p.t_us >= peak.t_ns / 1000; });
    if (peak.rss_bytes != 0 && (later == out.points.end() || *later != point(peak))) out.points.insert(later, point(peak));
    return out;
}

/// Starts `command` with `env`: its pid, or nullopt when it could not start (said on stderr).
std::optional<pid_t> start_program(std::vector<std::string> command, std::vector<std::string> env) {
    std::vector<char*> envp, argv;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto& s : command) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (const int rc = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()); rc != 0) {
        std::fprintf(stderr, "allocmeter record: cannot start '%s': %s\n", argv[0], std::strerror(rc));
        return std::nullopt;
    }
    return pid;
}

/// Where conversion's time went: while the program ran, and after it exited.
struct conversion_cost {
    std::uint64_t early_events = 0;  ///< converted while the program ran
    double early_cpu_s = 0;          ///< this process's CPU time meanwhile
    std::chrono::steady_clock::duration late{};  ///< after the program exited: the rest and the check
    double late_cpu_s = 0;
};

double cpu_seconds(const usage_snapshot& u) { return u.user_s + u.sys_s; }

/// Puts every thread of this process under `policy` (SCHED_IDLE: it runs only on a core that
/// nothing else wants; SCHED_OTHER: as usual), where it may: leaving SCHED_IDLE needs
/// CAP_SYS_NICE, or an RLIMIT_NICE that allows the thread's nice value; without, the
/// conversion goes on as idle work, at full speed on an idle machine.
void set_policy_of_all_threads(int policy) {
    const sched_param none{};
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec))
        ::sched_setscheduler(static_cast<pid_t>(std::strtol(task.path().filename().c_str(), nullptr, 10)), policy, &none);
}

/// Converts the spool while the program runs, as idle work (SCHED_IDLE: on the CPU the program
/// leaves idle, never on the program's; the threads the conversion starts inherit it), until it
/// exits: its wait status. Following sleeps a little when the spool has not grown. Then the
/// conversion is ordinary work again, where it may be.
int follow_until_exit(pid_t pid, trace::spool_converter& conv, const std::string& program, conversion_cost& cost) {
    const sched_param none{};
    const int policy_before = ::sched_getscheduler(0);
    ::sched_setscheduler(0, SCHED_IDLE, &none);  // this thread: the conversion's others are not started yet
    const double cpu_before = cpu_seconds(read_usage());
    int status = 0;
    for (;;) {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid || (done < 0 && errno != EINTR)) break;
        if (!conv.follow()) ::usleep(2000);
    }
    cost.early_events = conv.events();
    cost.early_cpu_s = cpu_seconds(read_usage()) - cpu_before;
    if (policy_before >= 0) set_policy_of_all_threads(policy_before);  // the machine is the conversion's now
    if (WIFSIGNALED(status))
        std::fprintf(stderr, "allocmeter record: '%s' was killed by %s; the trace may be incomplete\n", program.c_str(),
                     describe_signal(WTERMSIG(status)).c_str());
    return status;
}

/// What converting and checking cost: how much was converted while the program ran, and at
/// what CPU time; then the wall and CPU time of the rest after it exited, and this process's
/// peak resident set (the program ran in a child, so the peak is the conversion's).
/// scripts/record-end-to-end.sh reads these lines; an unreadable peak is left out, never
/// printed as 0.
void say_conversion_cost(const conversion_cost& cost, std::uint64_t events) {
    const auto per_event = [](double s, std::uint64_t n) { return n ? s * 1e9 / static_cast<double>(n) : 0.0; };
    std::fprintf(stderr, "allocmeter record: converted %llu events (%.0f%%) while the program ran, with %.3f s CPU\n",
                 static_cast<unsigned long long>(cost.early_events),
                 events ? 100.0 * static_cast<double>(cost.early_events) / static_cast<double>(events) : 0.0,
                 cost.early_cpu_s);
    const double s = std::chrono::duration<double>(cost.late).count();
    std::fprintf(stderr, "allocmeter record: converted the rest and checked in %.3f s (%.1f ns/event left, %.3f s CPU)", s,
                 per_event(s, events - cost.early_events), cost.late_cpu_s);
    if (const std::optional<rss_snapshot> rss = read_rss())
        std::fprintf(stderr, ", peak RSS %.1f MiB (%.1f bytes/event)", static_cast<double>(rss->hwm_bytes) / (1 << 20),
                     events ? static_cast<double>(rss->hwm_bytes) / static_cast<double>(events) : 0.0);
    std::fputc('\n', stderr);
}

/// What the trace's RSS samples say of the program, for record's summary.
std::string rss_text(const trace::rss_summary& s) {
    if (s.samples == 0) return "no RSS samples (the program ended before the first)";
    return fmt::format("peak RSS {:.1f} MiB at {:.3f} s ({} sample{}, every {:g} ms at the end)",
                       static_cast<double>(s.peak_bytes) / (1 << 20), static_cast<double>(s.peak_at_us) * 1e-6, s.samples,
                       s.samples == 1 ? "" : "s", static_cast<double>(s.period_us) / 1000);
}

/// Finishes turning the spool into the trace `out` and says what it holds; false (said on
/// stderr, the spool kept) when no valid trace came out.
bool convert_and_say(trace::spool_converter& converter, const std::string& spool, const std::string& out, bool killed,
                     const trace::recorded_rss& rss, conversion_cost cost, std::uint64_t& events) {
    if (!std::filesystem::exists(spool)) {
        std::fprintf(stderr, "allocmeter record: no valid trace came out: the recorder wrote no spool %s (is its folder "
                     "writable? a statically linked program ignores LD_PRELOAD)\n",
                     spool.c_str());
        return false;
    }
    const auto start = std::chrono::steady_clock::now();
    const double cpu_before = cpu_seconds(read_usage());
    try {
        // A killed program may have been stopped in the middle of a block's write: convert
        // what came before it. A program that exited wrote whole blocks; damage is an error.
        trace::spool_options options;
        options.salvage = killed;
        options.rss = &rss;
        const trace::spool_summary conv = converter.finish(options);
        if (!conv.damage.empty())
            std::fprintf(stderr, "allocmeter record: the spool ends in a damaged block (%s); the trace holds the blocks before it\n",
                         conv.damage.c_str());
        if (conv.reordered != 0)
            std::fprintf(stderr, "allocmeter record: %llu record%s keyed a little before another thread's record on the same "
                         "address (cores' clocks disagreeing) %s put after it\n",
                         static_cast<unsigned long long>(conv.reordered), conv.reordered == 1 ? "" : "s",
                         conv.reordered == 1 ? "was" : "were");
        const trace::trace_summary& s = conv.trace;  // checked as it was written
        events = s.events;
        const auto bytes = std::filesystem::file_size(out);
        std::fprintf(stderr, "allocmeter record: %s: %llu events in %u thread%s, %llu bytes (%.2f bytes/event)\n",
                     out.c_str(), static_cast<unsigned long long>(s.events), s.threads, s.threads == 1 ? "" : "s",
                     static_cast<unsigned long long>(bytes),
                     s.events ? static_cast<double>(bytes) / static_cast<double>(s.events) : 0.0);
        std::fprintf(stderr, "allocmeter record: the program's %s\n", rss_text(s.rss).c_str());
        cost.late = std::chrono::steady_clock::now() - start;
        cost.late_cpu_s = cpu_seconds(read_usage()) - cpu_before;
        say_conversion_cost(cost, s.events);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "allocmeter record: no valid trace came out: %s; the spool is kept: %s\n", e.what(), spool.c_str());
        return false;
    }
    std::error_code ec;
    std::filesystem::remove(spool, ec);
    return true;
}

}  // namespace

std::filesystem::path program_path(const std::string& word) {
    if (word.find('/') != std::string::npos) return word;
    const char* path = std::getenv("PATH");
    for (const std::string& dir : split_list(path != nullptr ? path : "", ':'))
        if (const std::filesystem::path p = std::filesystem::path(dir) / word; ::access(p.c_str(), X_OK) == 0) return p;
    return {};
}

void check_output(const std::string& out, const std::string& program) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path file = fs::absolute(out);
    if (fs::exists(file, ec) && !fs::is_regular_file(file, ec))
        usage_fail("record", "-o " + out + ": exists and is not a regular file; give a path for the trace file");
    const fs::path dir = file.parent_path();
    if (!fs::is_directory(dir, ec))
        usage_fail("record", "-o " + out + ": the folder " + dir.string() + " does not exist; create it or give another path");
    if (::access(dir.c_str(), W_OK) != 0)
        usage_fail("record", "-o " + out + ": the folder " + dir.string() + " is not writable (" + std::strerror(errno) +
                                 "); the trace and its spool go there");
    const fs::path prog = program_path(program);
    if (!prog.empty() && fs::exists(file, ec) && fs::equivalent(file, prog, ec))
        usage_fail("record", "-o " + out + " is the program being recorded; give another file for the trace");
}

record_outcome record_program(const record_request& r) {
    record_outcome outcome;
    const std::string shim = find_shim();
    if (shim.empty()) return outcome;
    // The shim creates the spool exclusively (so that no other process can claim it): a spool
    // left by an earlier run must go first. Absolute, because a wrapper may chdir and then exec
    // the program it is for, whose shim opens the spool again.
    const std::string spool = std::filesystem::absolute(r.out).string() + ".spool";
    std::error_code ec;
    std::filesystem::remove(spool, ec);
    if (ec) {
        std::fprintf(stderr, "allocmeter record: cannot remove the old spool %s: %s\n", spool.c_str(), ec.message().c_str());
        return outcome;
    }
    trace::spool_converter converter(spool, r.out, true);
    const std::optional<pid_t> pid = start_program(r.command, traced_environment(shim, spool, r.timestamps));
    if (!pid) return outcome;
    // The sampler starts once the program has (posix_spawn returns after its exec), and before
    // the conversion makes its threads idle work: it keeps its period on a busy machine. One
    // that cannot open the program's statm (it has exited already) takes no samples.
    rss_sampler sampler(rss_period, rss_capacity, *pid);
    sampler.start(nullptr);
    conversion_cost cost;
    const int status = follow_until_exit(*pid, converter, r.command.front(), cost);
    sampler.stop();
    const trace::recorded_rss rss = recorded_of(sampler);
    outcome.ran = true;
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    outcome.trace_written = convert_and_say(converter, spool, r.out, WIFSIGNALED(status), rss, cost, outcome.events);
    return outcome;
}

int record_command(const std::vector<std::string>& args) {
    record_request a;
    if (!parse_record(args, a)) return 0;
    check_output(a.out, a.command.front());
    const record_outcome r = record_program(a);
    if (!r.ran) return exit_usage;
    if (!r.trace_written) return r.exit_code != 0 ? r.exit_code : 1;
    return r.exit_code;
}

}  // namespace allocmeter
