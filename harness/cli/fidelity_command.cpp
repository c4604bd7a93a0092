// The `fidelity` command: its options, then three steps, each a mechanism that exists already:
// record_program (record's step), run_direct (the program under each preloaded allocator) and
// `allocmeter run --workloads trace:FILE` as a child, whose results.json it reads. The
// comparison is analysis/fidelity_analysis, the outputs analysis/fidelity_report.
#include "harness/cli/fidelity_command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <regex>

#include "harness/analysis/fidelity_report.hpp"
#include "harness/analysis/summary.hpp"
#include "harness/cli/command_line.hpp"
#include "harness/cli/record_command.hpp"
#include "harness/os/host_info.hpp"
#include "harness/os/stop_signals.hpp"
#include "harness/results/results_reader.hpp"
#include "harness/results/results_writer.hpp"
#include "harness/run/child_process.hpp"
#include "harness/run/direct_runs.hpp"
#include "harness/run/external_allocators.hpp"
#include "harness/run/trace_workloads.hpp"

namespace allocmeter {

namespace {

namespace fs = std::filesystem;

const char* const about = R"(allocmeter fidelity: can I trust a replay of this program?

usage: allocmeter fidelity [options] [--] COMMAND [ARGS...]

Three steps, each with a progress line:
  1. records COMMAND into OUT/NAME.trace, with timestamps (as 'allocmeter record --timestamps');
  2. runs COMMAND directly under each allocator (external ones, preloaded as 'run' does), in
     --reps interleaved rounds (round r runs every allocator once, in an order rotated by r),
     measuring its wall time, or with --throughput the figure it prints (higher is better);
  3. replays the trace under the same allocators, once per --replay mode, with
     'allocmeter run --workloads trace:FILE --replay MODE --reps N' into OUT/replay-MODE/.
Then, per allocator: the direct median, its ratio to system and the Mann-Whitney U test
against system; the replayed ratio and test; and whether the two agree (same direction, both
not significant, significant on one side only, or reversed). Then Spearman's rho between the
direct and the replayed ranking and a verdict: "replay ranks allocators as the program does",
"... except X", or "do not trust: reversed on X".

The rule for rho: the program's ranking means something only between allocators it tells
apart, so rho is judged over system and the allocators whose direct difference from it is
significant, only when there are at least 3 of them, and must then be at least 0.8. rho over
every allocator is printed too, for information.

Writes OUT/fidelity.json (every figure; docs in README) and OUT/fidelity.html (the tables).
fidelity's own options end at '--' or at COMMAND; the rest is the program's, untouched.

exit status: 0 a verdict for every replay mode (whatever it says); 1 a replay gave no results;
2 a mistake in the options, or a run of the program that failed (the message names which);
130 / 143 stopped by SIGINT / SIGTERM.
)";

const char* const examples = R"(
examples:
  allocmeter fidelity -- ./server --requests 100000
  allocmeter fidelity --allocators system,jemalloc --reps 5 -o fid -- ./app input.txt
  allocmeter fidelity --throughput '([0-9.]+) ops/s' -- ./bench --seconds 1
  allocmeter fidelity --replay threads,timed -- ./app
)";

constexpr unsigned max_reps = 10000;
constexpr double max_timeout_s = 7 * 24 * 3600.0;

/// The options as typed.
struct fidelity_arguments {
    std::optional<std::string> allocators;
    std::string reps = "7", replay = "threads", throughput, out, timeout = "300";
    std::vector<std::string> command;
};

/// The options checked and converted.
struct fidelity_options {
    std::vector<allocator_entry> allocators;  ///< copies: the catalog they come from is gone
    std::string baseline;
    unsigned reps = 7;
    std::vector<std::string> replay_modes;
    std::optional<std::regex> throughput;
    std::string throughput_text;
    fs::path out;
    double timeout_s = 300;
    std::vector<std::string> command;  ///< [0] made an absolute path
};

bool parse_fidelity(const std::vector<std::string>& args, fidelity_arguments& a) {
    command_grammar g("fidelity", about, examples);
    g.options.add_options()(
        "allocators", po::value<std::string>()->notifier([&a](const std::string& v) { a.allocators = v; })->value_name("A,B,..."),
        "comma-separated external allocators (default: system,jemalloc,tcmalloc,mimalloc,tbbmalloc, those installed)")(
        "reps", po::value(&a.reps)->default_value(a.reps)->value_name("N"), "rounds of direct runs, and repetitions of each replay")(
        "replay", po::value(&a.replay)->default_value(a.replay)->value_name("MODE,..."),
        "replay modes, each passed to 'run --replay' (threads, serial, timed where run has it)")(
        "throughput", po::value(&a.throughput)->value_name("REGEX"),
        "measure the number the program prints, caught by the regex's one capture group (its last match in the "
        "last 16 KiB of output), higher is better, instead of wall time")(
        "out,o", po::value(&a.out)->value_name("DIR"), "the output folder (default: fidelity-<local time>)")(
        "timeout", po::value(&a.timeout)->default_value(a.timeout)->value_name("S"), "seconds before one run is killed");
    g.positionals.add_options()("command", po::value(&a.command));
    g.order.add("command", -1);
    return parse_arguments(g, with_terminator(args, g.options));
}

/// --allocators: external allocators that are installed. By default every one in the table
/// that is installed, the others named in a note.
std::vector<allocator_entry> chosen_allocators(const std::optional<std::string>& text, const allocator_catalog& catalog) {
    std::vector<std::string> external;
    for (const external_allocator& e : external_allocators()) external.emplace_back(e.name);
    const std::string valid = fmt::format("{}", fmt::join(external, ", "));
    std::vector<allocator_entry> chosen;
    if (!text) {
        for (const std::string& name : external) {
            const allocator_entry* e = catalog.find(name);
            if (e != nullptr && e->available()) chosen.push_back(*e);
            else if (e != nullptr) std::fprintf(stderr, "allocmeter fidelity: note: %s left out: %s\n", name.c_str(), e->unavailable.c_str());
        }
        return chosen;
    }
    for (const std::string& name : list_option("fidelity", "--allocators", *text, ", e.g. --allocators system,jemalloc")) {
        const allocator_entry* e = catalog.find(name);
        if (e == nullptr) usage_fail("fidelity", fmt::format("--allocators: unknown allocator '{}'; valid: {}", name, valid));
        if (e->from != allocator_entry::origin::external)
            usage_fail("fidelity", fmt::format("--allocators: '{}' is {}: it serves allocmeter's own workloads, "
                                               "not a program's malloc; valid: {}", name,
                                               e->from == allocator_entry::origin::harness ? "the harness row's do-nothing allocator"
                                                                                           : "a reference allocator",
                                               valid));
        if (!e->available()) usage_fail("fidelity", fmt::format("--allocators: {} cannot run here: {}", name, e->unavailable));
        chosen.push_back(*e);
    }
    return chosen;
}

/// The program as an absolute path, refused when it cannot be run.
std::string runnable_program(const std::string& word) {
    const fs::path p = program_path(word);
    std::error_code ec;
    if (p.empty() || !fs::is_regular_file(p, ec) || ::access(p.c_str(), X_OK) != 0)
        usage_fail("fidelity", fmt::format("'{}': no such program ({}); give the program to run, e.g. "
                                           "'allocmeter fidelity -- ./app --its-args'",
                                           word, word.find('/') != std::string::npos ? "not an executable file" : "not on PATH"));
    return fs::absolute(p).string();
}

/// --throughput: a regex with exactly one capture group.
std::optional<std::regex> throughput_regex(const std::string& text) {
    if (text.empty()) return std::nullopt;
    std::regex re;
    try {
        re = std::regex(text);
    } catch (const std::regex_error& e) {
        usage_fail("fidelity", fmt::format("--throughput '{}': not a regular expression ({})", text, e.what()));
    }
    if (re.mark_count() != 1)
        usage_fail("fidelity", fmt::format("--throughput '{}': give exactly one capture group around the number (it has {}), "
                                           "e.g. --throughput '([0-9.]+) ops/s'", text, re.mark_count()));
    return re;
}

/// -o DIR (default fidelity-<local time>), made now so that a bad folder costs nothing.
fs::path output_folder(const std::string& text) {
    const fs::path dir = text.empty() ? fs::path("fidelity-" + now_text("%Y%m%d-%H%M%S", false)) : fs::path(text);
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        usage_fail("fidelity", "-o " + dir.string() + ": exists and is not a folder; give a folder for the outputs");
    fs::create_directories(dir, ec);
    if (ec || ::access(dir.c_str(), W_OK) != 0)
        usage_fail("fidelity", "-o " + dir.string() + ": cannot create or write to it (" + (ec ? ec.message() : "not writable") +
                                   "); give a folder you can write");
    return fs::absolute(dir);
}

fidelity_options validate_fidelity(const fidelity_arguments& a) {
    fidelity_options o;
    if (a.command.empty()) usage_fail("fidelity", "give the program to run, e.g. 'allocmeter fidelity -- ./app --its-args'");
    o.allocators = chosen_allocators(a.allocators, allocator_catalog::standard());
    if (o.allocators.size() < 2) usage_fail("fidelity", "--allocators: name at least two installed allocators to rank, e.g. --allocators system,jemalloc");
    const auto system = std::find_if(o.allocators.begin(), o.allocators.end(), [](const allocator_entry& e) { return e.name == "system"; });
    o.baseline = system != o.allocators.end() ? "system" : o.allocators.front().name;
    o.reps = parse_number("fidelity", "--reps", a.reps, 1u, max_reps, ", e.g. --reps 7");
    o.replay_modes = list_option("fidelity", "--replay", a.replay, ", e.g. --replay threads");
    o.throughput_text = a.throughput;
    o.throughput = throughput_regex(a.throughput);
    o.timeout_s = parse_number("fidelity", "--timeout", a.timeout, 0.001, max_timeout_s, " seconds, e.g. --timeout 60");
    o.command = a.command;
    o.command.front() = runnable_program(a.command.front());
    o.out = output_folder(a.out);
    return o;
}

void say(const std::string& line) { std::fprintf(stderr, "allocmeter fidelity: %s\n", line.c_str()); }

/// With so few repetitions no test can come out significant: the smallest p two samples of
/// `reps` can give is that of two fully separated ones.
void note_few_reps(unsigned reps, double alpha) {
    std::vector<double> low, high;
    for (unsigned i = 0; i < reps; ++i) low.push_back(i), high.push_back(reps + i);
    const double p = mann_whitney_u(low, high).p_value;
    if (p >= alpha)
        say(fmt::format("note: with {} repetitions a side no difference can reach p < {:g} (the smallest p is {:.2g}): "
                        "every test will say 'n.s.'; use --reps 7 or more for a verdict that means something", reps, alpha, p));
}

/// A mode as a folder name: what is not a letter, digit, '-' or '_' becomes '_'.
std::string folder_name(const std::string& mode) {
    std::string s = mode;
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
    return "replay-" + s;
}

/// Reads the replay run's results from `out` into `r`: per allocator its ns/op repetitions
/// against the baseline's. A results file that cannot be read leaves `r` not ok, with why.
void read_replay(const fidelity_options& o, const fs::path& out, fidelity_replay& r) {
    std::vector<std::string> names;
    for (const allocator_entry& e : o.allocators) names.push_back(e.name);
    try {
        const loaded_results loaded = read_results((out / "latest").string());
        std::error_code ec;
        r.results = fs::weakly_canonical(loaded.path, ec).string();  // the run's own folder, not "latest"
        const run_summary summary = summarize_run(loaded.doc);
        const summary_group* group = nullptr;
        for (const summary_group& g : summary.groups)
            if (g.workload.rfind(trace_prefix, 0) == 0) group = &g;
        if (group == nullptr) throw results_error(r.results + ": no trace workload in the results");
        std::vector<std::vector<double>> values(o.allocators.size());
        std::vector<std::string> why(o.allocators.size(), "no cell in the replay's results");
        for (const summary_row& row : group->rows)
            for (std::size_t i = 0; i < names.size(); ++i)
                if (row.allocator == names[i]) values[i] = row.ns_per_op, why[i] = row.not_ok;
        const std::size_t base = static_cast<std::size_t>(std::find(names.begin(), names.end(), o.baseline) - names.begin());
        for (std::size_t i = 0; i < names.size(); ++i) {
            fidelity_row row{names[i], summarize_side(values[i], &values[base], i == base, false, default_alpha)};
            if (!row.replay.ok()) row.replay.not_ok = why[i].empty() ? "no result" : why[i];
            r.rows.push_back(std::move(row));
        }
        r.ok = true;
    } catch (const std::exception& e) {
        r.reason = fmt::format("the replay's results cannot be read: {}", e.what());
    }
}

/// One replay mode: `allocmeter run` on the trace, then its results read back. `refused` is
/// set when run refused its options (exit 2); `stopped` when the user asked to stop.
fidelity_replay replay_trace(const fidelity_options& o, const std::string& trace, const std::string& mode, bool& refused,
                             bool& stopped) {
    fidelity_replay r;
    r.mode = mode;
    std::vector<std::string> names;
    for (const allocator_entry& e : o.allocators) names.push_back(e.name);
    const fs::path out = o.out / folder_name(mode);
    // Latency sampling and RSS sampling off: the direct runs have neither, and both cost time.
    child_spec spec{self_exe(),
                    {"run", "--workloads", std::string(trace_prefix) + trace, "--allocators", fmt::format("{}", fmt::join(names, ",")),
                     "--replay", mode, "--reps", std::to_string(o.reps), "--out", out.string(), "--latency", "off", "--sample-ms",
                     "0", "--timeout", fmt::format("{:g}", o.timeout_s)},
                    {},
                    {"LD_PRELOAD"},
                    0};
    spec.stop_fd = stop_signals::fd();
    const child_outcome c = run_child(spec);
    if (c.how == child_outcome::ending::stopped) {
        stopped = true;
        return r;
    }
    const bool finished = c.how == child_outcome::ending::exited && (c.code == 0 || c.code == exit_cells_failed);
    if (!finished) {
        refused = c.how == child_outcome::ending::exited && c.code == exit_usage;
        const std::string how = c.how == child_outcome::ending::exited     ? fmt::format("exited with status {}", c.code)
                                : c.how == child_outcome::ending::signaled ? "was killed by " + describe_signal(c.code)
                                                                           : "could not start: " + c.spawn_error;
        r.reason = fmt::format("allocmeter run --replay {} {}: {}", mode, how, last_output_line(c.stderr_tail));
        return r;
    }
    read_replay(o, out, r);
    return r;
}

/// Sets each row's agreement and the mode's judgement from the direct sides.
void judge(fidelity_replay& r, const fidelity_document& doc) {
    if (!r.ok) return;
    std::vector<allocator_sides> sides;
    for (std::size_t i = 0; i < r.rows.size(); ++i) {
        const side_summary& d = doc.direct[i];
        const side_summary& p = r.rows[i].replay;
        sides.push_back({r.rows[i].allocator, d.cost(doc.higher_is_better()), p.cost(false), d.call, p.call});
    }
    r.judgement = judge_fidelity(sides, doc.baseline);
    for (std::size_t i = 0; i < r.rows.size(); ++i) r.rows[i].agrees = r.judgement.agreements[i];
}

/// Records the program; the exit code to end with, or 0 to go on.
int record_step(const fidelity_options& o, const std::string& trace) {
    say(fmt::format("[1/3] recording {} into {} (with timestamps)", o.command.front(), trace));
    check_output(trace, o.command.front());
    const record_outcome rec = record_program({trace, true, o.command});
    if (const int sig = stop_signals::received(); sig != 0) return stop_signals::exit_status(sig);
    if (!rec.ran) return exit_usage;
    if (rec.exit_code != 0) {
        say(fmt::format("the recorded run of {} failed (exit status {}); fidelity needs a program that succeeds: run it "
                        "alone to see why", o.command.front(), rec.exit_code));
        return exit_usage;
    }
    if (!rec.trace_written) return 1;
    if (rec.events == 0) {
        say(fmt::format("the recorded run of {} made no allocation calls (a child it forks is not traced; a wrapper script "
                        "should 'exec' the program): nothing to replay, nothing to rank", o.command.front()));
        return exit_usage;
    }
    return 0;
}

}  // namespace

int fidelity_command(const std::vector<std::string>& args) {
    fidelity_arguments a;
    if (!parse_fidelity(args, a)) return 0;
    const fidelity_options o = validate_fidelity(a);
    const stop_signals stops;
    note_few_reps(o.reps, default_alpha);

    fidelity_document doc;
    doc.command = o.command;
    doc.metric = o.throughput ? "throughput" : "wall_s";
    doc.throughput_regex = o.throughput_text;
    doc.reps = o.reps;
    doc.alpha = default_alpha;
    doc.baseline = o.baseline;
    for (const allocator_entry& e : o.allocators) doc.allocators.push_back(e.name);
    const host_env host = collect_host_env();
    doc.host = host.host, doc.cpu_model = host.cpu_model, doc.cpus = host.cpus, doc.started_at = host.started_at;
    doc.trace = (o.out / (fs::path(o.command.front()).filename().string() + ".trace")).string();

    if (const int code = record_step(o, doc.trace); code != 0) return code;

    say(fmt::format("[2/3] running {} directly: {} allocators x {} rounds, measuring {}", o.command.front(), o.allocators.size(),
                    o.reps, o.throughput ? "the figure --throughput catches" : "wall time"));
    direct_run_options direct{o.command, o.allocators, o.reps, o.timeout_s, o.throughput, o.throughput_text, stop_signals::fd()};
    direct_outcome measured;
    try {
        measured = run_direct(direct, [&](unsigned round, const std::vector<std::pair<std::string, double>>& figures) {
            std::vector<std::string> parts;
            for (const auto& [name, v] : figures) parts.push_back(fmt::format(fmt::runtime(o.throughput ? "{} {:.4g}" : "{} {:.3f} s"), name, v));
            say(fmt::format("  round {}/{}: {}", round + 1, o.reps, fmt::join(parts, ", ")));
        });
    } catch (const direct_run_error& e) {
        say(e.what());
        return exit_usage;
    }
    if (measured.stopped) return stop_signals::exit_status(stop_signals::received());
    const std::size_t base = static_cast<std::size_t>(std::find(doc.allocators.begin(), doc.allocators.end(), doc.baseline) -
                                                      doc.allocators.begin());
    for (std::size_t i = 0; i < measured.samples.size(); ++i)
        doc.direct.push_back(summarize_side(measured.samples[i].values, &measured.samples[base].values, i == base,
                                            doc.higher_is_better(), doc.alpha));

    bool refused = false, failed = false;
    for (std::size_t m = 0; m < o.replay_modes.size(); ++m) {
        const std::string& mode = o.replay_modes[m];
        say(fmt::format("[3/3] replaying the trace ({}, mode {} of {}): allocmeter run, {} allocators x {} reps", mode, m + 1,
                        o.replay_modes.size(), o.allocators.size(), o.reps));
        bool stopped = false, this_refused = false;
        fidelity_replay r = replay_trace(o, doc.trace, mode, this_refused, stopped);
        if (stopped) return stop_signals::exit_status(stop_signals::received());
        if (!r.ok) say("  " + r.reason);
        refused = refused || this_refused;
        failed = failed || (!r.ok && !this_refused);
        judge(r, doc);
        doc.replays.push_back(std::move(r));
    }

    std::printf("\nallocmeter fidelity: %s (%s, %u reps, baseline %s)\n\n", fmt::format("{}", fmt::join(o.command, " ")).c_str(),
                o.throughput ? "throughput, higher is better" : "wall time, lower is better", o.reps, doc.baseline.c_str());
    for (const fidelity_replay& r : doc.replays) std::printf("%s\n", fidelity_table_text(doc, r).c_str());
    const fs::path json = o.out / "fidelity.json", html = o.out / "fidelity.html";
    try {
        write_file_atomically(json, fidelity_json_text(doc));
        write_fidelity_page(doc, html);
    } catch (const std::exception& e) {
        say(e.what());
        return 1;
    }
    std::printf("fidelity.json: %s\npage: %s\n", json.c_str(), html.c_str());
    return refused ? exit_usage : failed ? 1 : 0;
}

}  // namespace allocmeter
