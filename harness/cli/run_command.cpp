// `allocmeter run`: parse the options, validate them into run_options, plan the traces, run
// the matrix (harness/run/matrix_runner), and write the report when asked. Every check is
// done before the first cell runs, so a mistake costs nothing.
#include "harness/cli/run_command.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <utility>

#include "harness/cell/registry.hpp"
#include "harness/cell/virtual_clock.hpp"
#include "harness/cli/command_line.hpp"
#include "harness/analysis/summary_table.hpp"
#include "harness/cli/report_command.hpp"
#include "harness/os/cpu_affinity.hpp"
#include "harness/os/host_info.hpp"
#include "harness/os/perf_counters.hpp"
#include "harness/os/stop_signals.hpp"
#include "harness/results/results_reader.hpp"
#include "harness/run/cell_protocol.hpp"
#include "harness/run/child_process.hpp"
#include "harness/run/matrix_runner.hpp"
#include "harness/run/trace_workloads.hpp"
#include "workloads/scale.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/trace_replay.hpp"

namespace allocmeter {

namespace {

const char* const about = "allocmeter run: run the benchmark matrix\n\nusage: allocmeter run [options]\n";

const char* const examples = R"(
examples:
  allocmeter run                                   every allocator, every workload, default scale
  allocmeter run --scale quick --reps 3            a fast look
  allocmeter run --scale quick --reps auto         rounds until the intervals are under 3% (below)
  allocmeter run --reps auto --target-ci 0.02 --max-reps 50 --budget 20m
  allocmeter run --pin-cpus 1 --threads 1          every cell's process on CPU 1 only
  allocmeter run --allocators system,bump,arena --workloads frame --threads 1
  allocmeter run --workloads classic --allocators system,jemalloc,mimalloc --scale quick
  allocmeter run --allocator mine=/opt/lib/libmine.so --allocators system,mine
  allocmeter run --out /tmp/results --timeout=60
  allocmeter run --scale quick --report            then the run's report.html, charts embedded
  allocmeter run --workloads trace:app.trace,frame --allocators system,jemalloc,segregated
  allocmeter run --workloads trace:app.trace --replay serial --touch full
  allocmeter run --workloads trace:app.trace --touch auto     (RSS as the recorded program's)
  allocmeter run --workloads trace:app.trace --replay timed      (a trace recorded with --timestamps)
  allocmeter run --workloads trace:app.trace --replay threads,timed
                                                   the allocator's own time and its share in the
                                                   program, side by side
  allocmeter run --workloads spec:examples/specs/server.json --scale quick
                                                   a workload described as data (below)
  allocmeter trace profile app.trace && allocmeter run --workloads trace:app.trace,spec:app.spec.json
                                                   the program beside its profile
  allocmeter run --pmu-events cycles,instructions,perf::PERF_COUNT_HW_CACHE_DTLB:READ:MISS
  allocmeter run --verify --scale quick --reps 1   check every allocator hands out blocks apart
  allocmeter run --resume results/latest          finish a run that was stopped (^C, kill)
  allocmeter run --measure callgrind --scale quick instructions and simulated cache misses per
                                                   operation, the same on every run (valgrind)

A trace workload (trace:FILE, from 'allocmeter record') replays the recorded calls: with
--replay threads (the default) one thread per recorded thread, each started where the
recorded one began and ended before the threads that began after it exited, ordered across
threads only where an object changes hands, so the allocator must be thread-safe when the
trace has more than one thread; --replay timed does the same and also spends the recorded
time between a thread's calls busy, as the program's own work (a trace recorded with
--timestamps): the allocator's weight in the program, where threads gives its own cost;
--replay serial runs every call on one thread in recorded order (single-threaded allocators;
it drops every effect of threads). --threads and --scale do not apply to a trace.
--replay takes a list: each trace then replays once per order, as workloads of their own,
trace:FILE in threads order (as with one order) and trace:FILE@timed, trace:FILE@serial in
the others; with threads and timed, the summary adds a table per trace with both side by side.

A spec workload (spec:FILE, docs/workload-spec.md; 'allocmeter trace profile' writes one from
a trace) describes phases of allocations as data: size and lifetime distributions, the share
of frees by another thread, reallocs, alignments, threads. Run generates its trace from --seed,
with --scale multiplying its operations (quick 0.1x, default 1x, full 10x), and replays it as a
trace: --replay threads or serial and --touch apply (unless the spec gives its own touch);
--threads does not (the spec says how many). The cells' workload is named spec:FILE.

--touch says what a trace replay writes into each block it allocates: none; page, one byte
in every 4096 (the default); full, every byte; part:F, one byte in every 4096 of the first
F (0 to 1) of the block; auto, part with the F that makes the replay's RSS grow as the
recorded program's did, from the RSS samples 'allocmeter record' takes (page for a trace
without them). The summary then shows the program's peak RSS beside each allocator's.

--measure callgrind runs each cell under valgrind's callgrind, counting over the timed
region only: instructions per operation inside the allocator (its allocate, free and reset,
callees included) and in the harness, and simulated L1d and last-level data-cache misses; the
counts do not drift, so --reps defaults to 1. Valgrind runs a cell's threads one at a time
(contention is not represented: such rows are marked); latency and RSS sampling and perf
counters are off. Each cell's profile is kept in OUT/<run-id>/callgrind/.

--measure time adds a harness row to every workload x threads group, whatever --allocators
says: the same operations on a do-nothing allocator (a thread's blocks all start at its own
scratch memory, and free does nothing), run in each round like the others. Its ns/op is what
the harness itself costs per operation; the summary shows beside each allocator's figures its
net ns/op (its median minus the harness row's) and its net ratio to the baseline's net. Not
with --measure callgrind (it tells the harness's instructions apart by itself) nor --verify.

Each cell runs in its own process (external allocators with LD_PRELOAD of their library);
a crash or a timeout marks that cell failed/timeout and the matrix goes on. Results are
written as cells finish to OUT/<run-id>/results.json and results.csv; OUT/latest points at
the newest run.

--reps auto runs rounds, each running every allocator of every workload x threads group once,
interleaved as with --reps N, until in a group each allocator that ran ok has a 95% interval
of its median ns/op narrower than --target-ci of that median: the group then gets no more
rounds, the others go on. A 95% interval needs 6 values, so no group stops before round 6;
none gets more than --max-reps; with --budget, no round starts that would end past it (the
last round's time is the estimate). The end of the run lists each group's rounds and why it
stopped; results.json records them (env.reps_auto). --resume reads each group's rounds again
from its cells: a round cut short is finished first, a group that had stopped stays stopped,
and the budget counts the earlier sessions' time.

--pin-cpus restricts each cell's process, and so its threads, to the CPUs listed (set before
the cell starts); allocmeter itself stays unpinned. An invalid list, or a CPU this process
may not run on, is refused before anything runs.

^C (SIGINT) or SIGTERM ends the running cell, starts no other and keeps every finished
cell in results.json, marked incomplete; --resume DIR runs the cells it lacks, with the
options the run was started with (any given must match), on the same build and host.

exit status: 0 every cell ok or skipped; 1 the run could not go on, or --report drew no
charts; 2 a mistake in the options or a trace; 3 the run finished, results (and report)
written, but a cell failed or timed out; 130 / 143 stopped by SIGINT / SIGTERM, the
finished cells kept.
)";

// The ranges of the numeric options: wide enough for any real run, narrow enough that a typo
// (an extra digit, a sign) is caught before hours of cells.
constexpr unsigned max_reps = 1000000;
constexpr double min_target_ci = 0.001, max_target_ci = 1;
constexpr double max_budget_s = 30 * 24 * 3600.0;
constexpr unsigned max_threads = 1024;
constexpr double min_timeout_s = 0.001, max_timeout_s = 7 * 24 * 3600.0;
constexpr double max_sample_ms = 10000;
constexpr std::uint64_t max_latency_every = std::uint64_t{1} << 30;

/// The registered workloads of a group ("seed", "classic"), or of all when `group` is empty.
std::vector<std::string> workload_names(std::string_view group = {}) {
    std::vector<std::string> names;
    for (const auto& w : workloads())
        if (group.empty() || w.group == group) names.emplace_back(w.name);
    return names;
}

/// The options as typed; validate_run turns them into run_options. The defaults are
/// run_options' own, written out here so that --help shows them.
struct run_arguments {
    std::optional<std::string> allocators;  ///< none: every built-in allocator
    std::string workloads = std::string(seed_workload_group);  ///< the seed workloads
    std::vector<std::string> custom;
    std::string threads, reps, scale = "default", seed, out, timeout, touch = "page", replay = "threads", latency, sample_ms;
    std::string pmu_events;
    std::optional<std::string> target_ci, max_reps, budget;  ///< --reps auto's; none: not given
    std::optional<std::string> pin_cpus;
    std::string resume;
    std::string measure = "time";
    bool report = false, verify = false, branch_sim = false;

    run_arguments() {
        const run_options d;
        threads = fmt::format("{}", fmt::join(d.threads, ","));
        seed = fmt::to_string(d.seed);
        out = d.out.string();
        timeout = fmt::to_string(d.timeout_s);
        latency = fmt::to_string(d.latency_every);
        sample_ms = fmt::to_string(d.sample_ms);
    }
};

/// Declares run's options and parses `args`; false when --help was shown. `given` receives
/// the names of the options `args` set.
bool parse_run(const std::vector<std::string>& args, run_arguments& a, std::vector<std::string>* given = nullptr) {
    command_grammar g("run", about, examples);
    g.options.add_options()(
        "allocators", po::value<std::string>()->notifier([&a](const std::string& v) { a.allocators = v; })->value_name("A,B,..."), "comma-separated allocators (default: all; see 'allocmeter list')")(
        "allocator", po::value(&a.custom)->composing()->value_name("NAME=PATH"), "add a user library and run it (repeatable)")(
        "workloads", po::value(&a.workloads)->value_name("W,..."), "comma-separated workloads, groups (seed, classic, all), trace:FILE or spec:FILE (default: seed, the four seed workloads)")(
        "threads", po::value(&a.threads)->default_value(a.threads)->value_name("N,..."), "comma-separated thread counts, each 1 to 1024")(
        "reps", po::value(&a.reps)->value_name("N|auto"),
        "repetitions of each cell, interleaved across allocators (default: 5; 1 with --measure callgrind); auto: rounds "
        "until the intervals are narrow enough (below)")(
        "target-ci", po::value<std::string>()->notifier([&a](const std::string& v) { a.target_ci = v; })->value_name("F"),
        fmt::format("with --reps auto: a group stops once each allocator's 95% interval of its median ns/op is narrower "
                    "than F of the median (default {:g})", auto_reps_settings{}.target_ci).c_str())(
        "max-reps", po::value<std::string>()->notifier([&a](const std::string& v) { a.max_reps = v; })->value_name("N"),
        fmt::format("with --reps auto: the most rounds a group gets (default {})", auto_reps_settings{}.max_reps).c_str())(
        "budget", po::value<std::string>()->notifier([&a](const std::string& v) { a.budget = v; })->value_name("TIME"),
        "with --reps auto: start no round that would end past TIME from the start (seconds, or 90s, 10m, 2h)")(
        "pin-cpus", po::value<std::string>()->notifier([&a](const std::string& v) { a.pin_cpus = v; })->value_name("LIST"),
        "run each cell's process (and its threads) on these CPUs only: e.g. 1, 0-1 or 1,3 (default: not pinned)")(
        "scale", po::value(&a.scale)->default_value(a.scale)->value_name("SCALE"), "quick | default | full: operations per cell")(
        "seed", po::value(&a.seed)->default_value(a.seed)->value_name("N"), "PRNG seed; the same seed gives the same operations")(
        "out", po::value(&a.out)->default_value(a.out)->value_name("DIR"), "results folder; each run gets OUT/<run-id>/")(
        "timeout", po::value(&a.timeout)->default_value(a.timeout)->value_name("S"), "seconds before a cell is killed")(
        "touch", po::value(&a.touch)->default_value(a.touch)->value_name("HOW"),
        "none | page | full | auto | part:F: what a trace replay writes into each new block (below)")(
        "replay", po::value(&a.replay)->default_value(a.replay)->value_name("ORDER"),
        "threads | timed | serial, or a list of them: how a trace replays (below)")(
        "latency", po::value(&a.latency)->default_value(a.latency)->value_name("N|off"), "time one allocation and free in every N (a power of two)")(
        "sample-ms", po::value(&a.sample_ms)->default_value(a.sample_ms)->value_name("MS"),
        "RSS and live bytes sampled every this many ms during each cell (0: off)")(
        "pmu-events", po::value(&a.pmu_events)->value_name("E,..."),
        "comma-separated libpfm4 event names counted in place of the default hardware counters "
        "(cycles, instructions, L1d/LLC/dTLB misses, branch misses)")(
        "report", po::bool_switch(&a.report), "at the end, write the run's report.html and charts (as 'allocmeter report' does)")(
        "measure", po::value(&a.measure)->default_value(a.measure)->value_name("HOW"),
        "time: wall clock (and perf counters where the host has them); callgrind: each cell under valgrind, "
        "instructions and simulated cache misses, inside the allocator and in the harness apart (below)")(
        "branch-sim", po::bool_switch(&a.branch_sim), "with --measure callgrind: simulate branch prediction too (slower)")(
        "verify", po::bool_switch(&a.verify),
        "tag every block and check its tag when it dies: a block handed out over a live one fails its cell, "
        "naming the block, its size and the operation (slower; off by default)")(
        "resume", po::value(&a.resume)->value_name("DIR"),
        "finish the stopped run in DIR (a run folder, or OUT/latest): only the cells it lacks are run");
    return parse_arguments(g, args, given);
}

/// --allocators (default: every built-in one), then each user library not named there.
std::vector<std::string> chosen_allocators(const run_arguments& a, const allocator_catalog& catalog) {
    std::vector<std::string> chosen;
    if (a.allocators)
        chosen = list_option("run", "--allocators", *a.allocators, ", e.g. --allocators system,jemalloc");
    else
        for (const auto& e : catalog.entries())  // the harness row comes by itself (with_harness_row)
            if (e.from != allocator_entry::origin::custom && e.from != allocator_entry::origin::harness) chosen.push_back(e.name);
    for (const auto& spec : a.custom) {
        const std::string name = spec.substr(0, spec.find('='));
        if (std::find(chosen.begin(), chosen.end(), name) == chosen.end()) chosen.push_back(name);
    }
    for (const auto& name : chosen)
        if (catalog.find(name) == nullptr)
            usage_fail("run", "--allocators: unknown allocator '" + name + "'; valid: " + catalog.names() +
                                  " (or add a library with --allocator NAME=/path/lib.so)");
    return chosen;
}

/// --workloads: registered names, groups (seed, classic, all: their workloads in list order),
/// trace:FILE or spec:FILE (read later, by plan_traces). A workload named twice runs once.
std::vector<std::string> chosen_workloads(const std::string& text) {
    std::vector<std::string> chosen;
    const auto add = [&](const std::string& w) {
        if (std::find(chosen.begin(), chosen.end(), w) == chosen.end()) chosen.push_back(w);
    };
    for (const auto& w : list_option("run", "--workloads", text, ", e.g. --workloads frame,churn")) {
        if (w == seed_workload_group || w == classic_workload_group || w == "all") {
            for (const auto& name : workload_names(w == "all" ? std::string_view{} : std::string_view{w})) add(name);
        } else if (replays_a_trace(w) || find_workload(w) != nullptr) {
            add(w);
        } else {
            usage_fail("run", fmt::format("--workloads: unknown workload '{}'; valid: {}, the groups seed, classic and all, "
                                          "trace:FILE for a recorded trace, or spec:FILE for a spec file",
                                          w, fmt::join(workload_names(), ", ")));
        }
    }
    return chosen;
}

std::vector<unsigned> thread_counts(const std::string& text) {
    std::vector<unsigned> counts;
    const char* const example = ", e.g. --threads 1,2,4";
    for (const auto& item : list_option("run", "--threads", text, example))
        counts.push_back(parse_number("run", "--threads", item, 1u, max_threads, example));
    for (std::size_t i = 1; i < counts.size(); ++i)  // "1,01" names 1 twice too
        if (std::find(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(i), counts[i]) != counts.begin() + static_cast<std::ptrdiff_t>(i))
            usage_fail("run", fmt::format("--threads {}: {} is named twice; name each once{}", text, counts[i], example));
    return counts;
}

/// --latency N|off: one operation in N timed (a power of two, so the check is a mask); 0: off.
std::uint64_t latency_every(const std::string& text) {
    if (text == "off") return 0;
    const char* const what = ", a power of two (e.g. 64: one operation in 64 is timed), or off";
    const std::uint64_t n = parse_number<std::uint64_t>("run", "--latency", text, 1, max_latency_every, what);
    if ((n & (n - 1)) != 0) usage_fail("run", "--latency " + text + ": give a power of two (e.g. 64: one operation in 64 is timed) or off");
    return n;
}

double sample_interval_ms(const std::string& text) {
    const double ms = parse_number("run", "--sample-ms", text, 0.0, max_sample_ms, ", e.g. --sample-ms 5 (0: off)");
    if (ms > 0 && ms < 0.1) usage_fail("run", "--sample-ms below 0.1 would cost more than it shows; use 0.1 or more");
    return ms;
}

/// --replay: one order or a list of them, each once.
std::vector<trace::replay_order> replay_orders(const std::string& text) {
    const char* const example = ", e.g. --replay threads,timed";
    std::vector<trace::replay_order> orders;
    for (const std::string& item : list_option("run", "--replay", text, example)) {
        const auto order = trace::parse_replay_order(item);
        if (!order)
            usage_fail("run", fmt::format("--replay {}: expected threads, timed or serial, or a list of them{}",
                                          item == text ? text : text + ": '" + item + "'", example));
        orders.push_back(*order);
    }
    return orders;
}

/// --pmu-events, each name checked by libpfm4 now rather than in every cell.
std::vector<std::string> pmu_event_names(const std::string& text) {
    std::vector<std::string> names = split_list(text);
    for (const std::string& e : names) {
        std::string error;
        if (!encode_event(e, error)) usage_fail("run", "--pmu-events: " + error);
    }
    return names;
}

/// --measure and what it implies. Under callgrind nothing else may run in the timed region,
/// since its instructions would count (latency and RSS sampling, perf counters; --verify's
/// checks would count as the allocator's), and valgrind must be there before anything runs.
void measure_with(const run_arguments& a, run_options& o) {
    if (a.measure == "time") {
        if (a.branch_sim) usage_fail("run", "--branch-sim is for --measure callgrind; drop it, or add --measure callgrind");
        return;
    }
    if (a.measure != "callgrind") usage_fail("run", "--measure " + a.measure + ": expected time or callgrind");
    const run_arguments defaults;
    if (a.verify)
        usage_fail("run", "--verify with --measure callgrind: its checks would count as the allocator's instructions; "
                          "run --verify on its own (with --measure time)");
    if (!a.pmu_events.empty()) usage_fail("run", "--pmu-events with --measure callgrind: callgrind counts instead; drop one");
    if (a.latency != defaults.latency && a.latency != "off")
        usage_fail("run", "--latency with --measure callgrind: times under valgrind mean nothing, and the timing would "
                          "count as the harness's instructions; drop it");
    if (a.sample_ms != defaults.sample_ms && a.sample_ms != "0")
        usage_fail("run", "--sample-ms with --measure callgrind: the sampler's instructions would count; drop it");
    for (const std::string& order : split_list(a.replay))
        if (order == "timed")
            usage_fail("run", "--replay timed with --measure callgrind: its gaps are waited out on the host's clock, so "
                              "the harness's count would follow valgrind's speed; use --replay threads or serial");
#if ALLOCMETER_NO_BOUNDARY_RUNNERS
    usage_fail("run", "--measure callgrind: this allocmeter was built with sanitizers, whose binaries valgrind cannot "
                      "run; use a build without ALLOCMETER_SANITIZE (make build)");
#endif
#if !ALLOCMETER_HAVE_CALLGRIND_H
    usage_fail("run", "--measure callgrind: this allocmeter was built without valgrind/callgrind.h; install Debian's "
                      "valgrind package (make deps does) and build again");
#endif
    const std::optional<std::string> valgrind = find_valgrind();
    if (!valgrind)
        usage_fail("run", "--measure callgrind: valgrind is not on PATH; install Debian's valgrind package "
                          "(apt-get install valgrind, or make deps)");
    const std::optional<std::string> clock = find_preload(virtual_clock_library);
    if (!clock) {
        const std::vector<std::string> looked = preload_candidates(virtual_clock_library);
        usage_fail("run", fmt::format("--measure callgrind: the cells' virtual clock is missing (looked for {} and {}); "
                                      "rebuild allocmeter (make build) or reinstall it (make install)",
                                      looked[0], looked[1]));
    }
    callgrind_settings c;
    c.valgrind = *valgrind;
    c.virtual_clock = *clock;
    c.branch_sim = a.branch_sim;
    o.callgrind = c;
    o.latency_every = 0;
    o.sample_ms = 0;
}

/// --budget: seconds, or a number with s, m or h.
double budget_seconds(const std::string& text) {
    const char* const units = "smh";
    const double scale[] = {1, 60, 3600};
    const std::size_t unit = text.empty() ? std::string::npos : std::string_view(units).find(text.back());
    const std::string_view number = std::string_view(text).substr(0, text.size() - (unit == std::string::npos ? 0 : 1));
    double n = 0;
    const auto [stop, error] = std::from_chars(number.data(), number.data() + number.size(), n);
    const double seconds = n * (unit == std::string::npos ? 1 : scale[unit]);
    if (number.empty() || error != std::errc{} || stop != number.data() + number.size() || !(seconds > 0 && seconds <= max_budget_s))
        usage_fail("run", fmt::format("--budget {}: give seconds, or a number with s, m or h (e.g. 600, 90s, 10m, 2h), more "
                                      "than 0 and at most 30 days",
                                      text));
    return seconds;
}

/// --reps N, or --reps auto with --target-ci, --max-reps and --budget (which apply to auto only).
void repetitions(const run_arguments& a, run_options& o) {
    const std::pair<const char*, const std::optional<std::string>&> auto_only[] = {
        {"--target-ci", a.target_ci}, {"--max-reps", a.max_reps}, {"--budget", a.budget}};
    if (a.reps != "auto") {
        for (const auto& [name, value] : auto_only)
            if (value) usage_fail("run", fmt::format("{} applies to --reps auto only: add --reps auto, or drop {}", name, name));
        o.reps = a.reps.empty() ? run_options{}.reps  // not given: measure_with() may lower it
                                : parse_number("run", "--reps", a.reps, 1u, max_reps, ", e.g. --reps 5, or --reps auto");
        return;
    }
    if (a.measure == "callgrind")
        usage_fail("run", "--reps auto with --measure callgrind: its counts do not drift, so one repetition says what "
                          "they are; drop --reps auto");
    auto_reps_settings s;
    if (a.target_ci)
        s.target_ci = parse_number("run", "--target-ci", *a.target_ci, min_target_ci, max_target_ci,
                                   " (a fraction of the median), e.g. --target-ci 0.03 for 3%");
    if (a.max_reps) {
        s.max_reps = parse_number("run", "--max-reps", *a.max_reps, 1u, max_reps, ", e.g. --max-reps 30");
        if (const std::size_t least = reps_for_ci_target(); s.max_reps < least)
            usage_fail("run", fmt::format("--max-reps {}: an interval with 95% coverage needs {} rounds, so no group could "
                                          "reach the target; give {} or more, or use --reps {} for that many",
                                          *a.max_reps, least, least, *a.max_reps));
    }
    if (a.budget) s.budget_s = budget_seconds(*a.budget);
    o.reps = 0;
    o.auto_reps = s;
}

/// --pin-cpus: a CPU list, each CPU one this process may run on.
std::vector<unsigned> pinned_cpus(const std::optional<std::string>& text) {
    if (!text) return {};
    std::vector<unsigned> cpus;
    try {
        cpus = parse_cpu_list(*text);
    } catch (const std::invalid_argument& e) {
        usage_fail("run", fmt::format("--pin-cpus {}: {}; give CPU numbers and ranges, e.g. --pin-cpus 1, 0-1 or 1,3",
                                      text->empty() ? "''" : *text, e.what()));
    }
    const std::vector<unsigned> allowed = allowed_cpus();  // empty: the kernel did not say; the cell will
    for (const unsigned c : cpus)
        if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), c) == allowed.end())
            usage_fail("run", fmt::format("--pin-cpus {}: CPU {} is not one this process may run on (it may use {}); "
                                          "pick CPUs from those",
                                          *text, c, cpu_list_text(allowed)));
    return cpus;
}

/// The harness row: a run --measure time measures the do-nothing allocator too, last in every
/// group (so it takes its turn in each round), whatever --allocators says, so the summary can take
/// the harness's own cost off each row. Not under callgrind, whose boundary already tells the
/// harness's instructions from the allocator's, nor under --verify, whose tags the do-nothing
/// allocator's aliasing blocks would fail.
void with_harness_row(run_options& o) {
    const bool measured = !o.callgrind && !o.verify;
    const auto named = std::find(o.allocators.begin(), o.allocators.end(), harness_allocator_name);
    if (named != o.allocators.end()) {
        if (!measured)
            usage_fail("run", fmt::format("--allocators {}: the harness row is measured with --measure time only, and not "
                                          "with --verify (its blocks overlap by design); drop it from --allocators",
                                          harness_allocator_name));
        o.allocators.erase(named);
    }
    if (o.allocators.empty())
        usage_fail("run", fmt::format("--allocators {}: the harness row comes with every run by itself; name the allocators "
                                      "to measure beside it, e.g. --allocators system,bump",
                                      harness_allocator_name));
    if (measured) o.allocators.emplace_back(harness_allocator_name);
}

/// Every option checked and converted; what a mistake says names the option and its value.
run_options validate_run(const run_arguments& a, const allocator_catalog& catalog) {
    run_options o;
    o.allocators = chosen_allocators(a, catalog);
    o.latency_every = latency_every(a.latency);
    o.pmu_events = pmu_event_names(a.pmu_events);
    const auto touch = trace::parse_touch(a.touch);
    if (!touch) usage_fail("run", "--touch " + a.touch + ": expected none, page, full, auto or part:F (F from 0 to 1)");
    o.touch = *touch;
    o.replays = replay_orders(a.replay);
    o.workloads = chosen_workloads(a.workloads);
    o.threads = thread_counts(a.threads);
    const auto size = parse_scale(a.scale);
    if (!size) usage_fail("run", "--scale " + a.scale + ": expected quick, default or full");
    o.size = *size;
    if (o.allocators.empty() || o.workloads.empty() || o.threads.empty())
        usage_fail("run", "nothing to run: give at least one allocator, workload and thread count");
    repetitions(a, o);
    o.pin_cpus = pinned_cpus(a.pin_cpus);
    o.seed = parse_number<std::uint64_t>("run", "--seed", a.seed, 0, UINT64_MAX);
    o.out = a.out;
    o.timeout_s = parse_number("run", "--timeout", a.timeout, min_timeout_s, max_timeout_s, " seconds, e.g. --timeout 60");
    o.sample_ms = sample_interval_ms(a.sample_ms);
    o.report = a.report;
    o.verify = a.verify;
    measure_with(a, o);
    if (o.callgrind && a.reps.empty()) o.reps = 1;  // the counts do not drift: one repetition says it
    with_harness_row(o);
    return o;
}

/// What run says of a trace workload it planned: its calls, threads and peak; and, replayed
/// serially, what that drops.
void describe_trace(const trace_workload& t) {
    std::fprintf(stderr, "allocmeter run: %s: %llu calls on %u replay thread%s, %llu bytes live at the recorded peak\n",
                 t.name.c_str(), static_cast<unsigned long long>(t.events), t.threads, t.threads == 1 ? "" : "s",
                 static_cast<unsigned long long>(t.peak_live_bytes));
    if (t.order == trace::replay_order::serial && t.recorded_threads > 1)
        std::fprintf(stderr, "allocmeter run: note: %s was recorded on %u threads; --replay serial drops what threads do "
                     "to an allocator (per-thread caches, frees by another thread, contention), so its ranking may not "
                     "be the program's: it is for single-threaded allocators ('allocmeter fidelity' measures the difference)\n",
                     t.spec.c_str(), t.recorded_threads);
}

/// Reads and plans each trace:FILE workload (a spec:FILE generated into a trace first) once per replay order, each plan saved in `plans`
/// for the cells; a missing or damaged trace, or an order it cannot replay in, is a usage
/// error. Last, once every other option is known good. Timed plans are made first, so a trace
/// without timestamps is refused after one pass over it rather than after another order's
/// plan; o.traces then takes the options' order: trace by trace, each in --replay's order.
void plan_traces(run_options& o, std::optional<trace_plan_dir>& plans) {
    std::vector<std::pair<std::string, trace::replay_order>> planned;
    for (const auto& w : o.workloads)
        if (replays_a_trace(w))
            for (const trace::replay_order order : o.replays) planned.emplace_back(w, order);
    std::stable_partition(planned.begin(), planned.end(), [](const auto& p) { return p.second == trace::replay_order::timed; });
    for (const auto& [spec, order] : planned) {
        if (stop_signals::received() != 0) return;  // the caller ends the run
        try {
            if (!plans) plans.emplace();
            o.plan_dir = plans->path();
            o.traces.push_back(spec.starts_with(spec_prefix) ? load_spec_workload(spec, order, o.plan_dir, o.seed, o.size)
                                                             : load_trace_workload(spec, order, o.plan_dir));
        } catch (const std::exception& e) {  // std::invalid_argument naming the trace, or a file system error
            usage_fail("run", e.what());
        }
    }
    const auto rank = [&o](const trace_workload& t) {
        const auto w = std::find(o.workloads.begin(), o.workloads.end(), t.spec) - o.workloads.begin();
        return std::pair(w, std::find(o.replays.begin(), o.replays.end(), t.order) - o.replays.begin());
    };
    std::stable_sort(o.traces.begin(), o.traces.end(),
                     [&](const trace_workload& a, const trace_workload& b) { return rank(a) < rank(b); });
    for (trace_workload& t : o.traces) {
        describe_trace(t);
        std::string touch_said;
        t.touch = touch_for(t, o.touch, touch_said);
        if (!touch_said.empty()) std::fprintf(stderr, "allocmeter run: %s\n", touch_said.c_str());
    }
}

/// Each --allocator library loaded first in a child (a bad constructor cannot harm the run):
/// one that does not load, or defines no malloc, is a mistake in the options, found before
/// any cell runs.
void check_user_libraries(const run_options& o, const allocator_catalog& catalog) {
    constexpr double load_timeout_s = 30;
    for (const std::string& name : o.allocators) {
        const allocator_entry* e = catalog.find(name);
        if (e->from != allocator_entry::origin::custom) continue;
        child_spec spec{self_exe(), {check_library_command, e->library}, {}, {"LD_PRELOAD"}, load_timeout_s};
        spec.stop_fd = stop_signals::fd();
        const child_outcome r = run_child(spec);
        if (r.how == child_outcome::ending::exited && r.code == 0) continue;
        if (r.how == child_outcome::ending::stopped) return;  // the caller sees the stop
        std::string why = r.stderr_tail.substr(0, r.stderr_tail.find_last_not_of('\n') + 1);
        if (const auto nl = why.rfind('\n'); nl != std::string::npos) why = why.substr(nl + 1);
        if (r.how == child_outcome::ending::signaled) why = "loading it killed the process with " + describe_signal(r.code);
        if (r.how == child_outcome::ending::timed_out) why = fmt::format("loading it did not finish within {:g} s", load_timeout_s);
        if (r.how == child_outcome::ending::spawn_failed) why = "cannot check it: " + r.spawn_error;
        usage_fail("run", fmt::format("--allocator {}={}: {}; give a shared library that defines malloc and free "
                                      "(a malloc replacement such as libjemalloc.so)",
                                      name, e->library, why.empty() ? "it cannot serve malloc" : why));
    }
}

/// The stopped run in `dir` (a run folder or its results.json), checked to be one this build
/// can carry on: incomplete, recorded with its arguments, made by this build on this host.
/// nullopt when it is already complete.
std::optional<resumed_run> stopped_run(const std::string& dir) {
    loaded_results loaded;
    try {
        loaded = read_results(dir);
    } catch (const results_error& e) {
        usage_fail("run", std::string("--resume: ") + e.what());
    }
    // The run's own folder, not a link to it: the resumed run points OUT/latest at its folder's
    // name, which for a run resumed as OUT/latest would be the link itself.
    std::error_code ec;
    std::filesystem::path run_dir = std::filesystem::canonical(loaded.path.parent_path(), ec);
    if (ec) run_dir = loaded.path.parent_path();
    results_document& doc = loaded.doc;
    if (doc.complete) {
        std::fprintf(stderr, "allocmeter run: %s is complete (%zu cells); nothing to resume\n", run_dir.c_str(), doc.cells.size());
        return std::nullopt;
    }
    if (!doc.env.arguments)
        usage_fail("run", "--resume " + dir + ": its results do not record the run's arguments (an older allocmeter wrote them); start a new run");
    const host_env now = collect_host_env();
    const host_env& then = doc.env.host;
    if (then.build_id != now.build_id || then.allocmeter_version != now.allocmeter_version)
        usage_fail("run", fmt::format("--resume {}: the run was made by another build of allocmeter ({} build {}, this is {} build {}); "
                                      "cells of two builds do not compare: resume it with that build, or start a new run",
                                      dir, then.allocmeter_version, then.build_id.empty() ? "?" : then.build_id.substr(0, 12),
                                      now.allocmeter_version, now.build_id.empty() ? "?" : now.build_id.substr(0, 12)));
    if (then.host != now.host || then.cpu_model != now.cpu_model || then.cpus != now.cpus)
        usage_fail("run", fmt::format("--resume {}: the run was made on {} ({}, {} CPUs), this is {} ({}, {} CPUs); "
                                      "cells of two hosts do not compare: resume it there, or start a new run",
                                      dir, then.host, then.cpu_model, then.cpus, now.host, now.cpu_model, now.cpus));
    return resumed_run{run_dir, std::move(doc)};
}

/// With --resume, an option given again must say what the run was started with (`then`,
/// validated from the recorded arguments `then_a`). The options typed now are validated only
/// when there are some to compare.
void check_same_options(const std::vector<std::string>& given, const run_arguments& now_a, const run_arguments& then_a,
                        const run_options& then, const std::string& dir) {
    if (std::all_of(given.begin(), given.end(), [](const std::string& n) { return n == "resume" || n == "report"; })) return;
    const run_options now = validate_run(now_a, catalog_with_user_libraries(now_a.custom, "run"));
    struct option_pair {
        const char* name;
        bool same;
        std::string now, then;
    };
    const auto join = [](const std::vector<std::string>& v) { return fmt::format("{}", fmt::join(v, " ")); };
    // An --reps auto setting: both runs auto with the same value (a run of --reps N has none).
    const auto same_auto = [&](auto member) {
        return now.auto_reps.has_value() == then.auto_reps.has_value() &&
               (!now.auto_reps || (*now.auto_reps).*member == (*then.auto_reps).*member);
    };
    const option_pair options[] = {
        {"allocators", now.allocators == then.allocators, now_a.allocators.value_or(""), then_a.allocators.value_or("(all)")},
        {"allocator", now_a.custom == then_a.custom, join(now_a.custom), join(then_a.custom)},
        {"workloads", now.workloads == then.workloads, now_a.workloads, then_a.workloads},
        {"threads", now.threads == then.threads, now_a.threads, then_a.threads},
        {"reps", now.reps == then.reps, now_a.reps, then_a.reps},
        {"target-ci", same_auto(&auto_reps_settings::target_ci), now_a.target_ci.value_or(""),
         then_a.target_ci.value_or(fmt::format("{:g}", auto_reps_settings{}.target_ci))},
        {"max-reps", same_auto(&auto_reps_settings::max_reps), now_a.max_reps.value_or(""),
         then_a.max_reps.value_or(fmt::to_string(auto_reps_settings{}.max_reps))},
        {"budget", same_auto(&auto_reps_settings::budget_s), now_a.budget.value_or(""), then_a.budget.value_or("(none)")},
        {"pin-cpus", now.pin_cpus == then.pin_cpus, now_a.pin_cpus.value_or(""), then_a.pin_cpus.value_or("(none)")},
        {"scale", now.size == then.size, now_a.scale, then_a.scale},
        {"seed", now.seed == then.seed, now_a.seed, then_a.seed},
        {"timeout", now.timeout_s == then.timeout_s, now_a.timeout, then_a.timeout},
        {"touch", now.touch == then.touch, now_a.touch, then_a.touch},
        {"replay", now.replays == then.replays, now_a.replay, then_a.replay},
        {"latency", now.latency_every == then.latency_every, now_a.latency, then_a.latency},
        {"sample-ms", now.sample_ms == then.sample_ms, now_a.sample_ms, then_a.sample_ms},
        {"pmu-events", now.pmu_events == then.pmu_events, now_a.pmu_events, then_a.pmu_events},
        {"verify", now.verify == then.verify, now_a.verify ? "on" : "off", then_a.verify ? "on" : "off"},
        {"measure", now_a.measure == then_a.measure, now_a.measure, then_a.measure},
        {"branch-sim", now_a.branch_sim == then_a.branch_sim, now_a.branch_sim ? "on" : "off", then_a.branch_sim ? "on" : "off"},
    };
    for (const std::string& name : given) {
        if (name == "resume" || name == "report") continue;
        if ((name == "verify" && !now_a.verify) || (name == "branch-sim" && !now_a.branch_sim)) continue;  // a switch left off was not given
        if (name == "out") usage_fail("run", "--resume " + dir + ": a resumed run stays in its own folder; drop --out");
        for (const option_pair& o : options)
            if (name == o.name && !o.same)
                usage_fail("run", fmt::format("--resume {}: --{} {} is not what the run was started with (--{} {}); "
                                              "give its options or none: they are recorded",
                                              dir, o.name, o.now.empty() ? "''" : o.now, o.name, o.then.empty() ? "''" : o.then));
    }
}

/// A resumed run's traces must be the ones it started with: same calls, threads and peak.
void check_same_traces(const run_options& o, const run_env& then, const std::string& dir) {
    for (const trace_env& t : then.traces)
        for (const trace_workload& now : o.traces)
            if (now.name == t.workload && (now.events != t.steps || now.threads != t.threads ||
                                           now.peak_live_bytes != t.recorded_peak_live_bytes))
                usage_fail("run", fmt::format("--resume {}: {} changed since the run started ({} calls on {} threads then, "
                                              "{} on {} now); start a new run",
                                              dir, t.path, t.steps, t.threads, now.events, now.threads));
}

/// A note when a cell would run more threads than --pin-cpus gives it: they share the CPUs.
void note_pinned_threads(const run_options& o) {
    if (o.pin_cpus.empty()) return;
    unsigned most = 0;
    for (const std::string& w : o.workloads)
        if (!replays_a_trace(w)) most = std::max(most, *std::max_element(o.threads.begin(), o.threads.end()));
    for (const trace_workload& t : o.traces) most = std::max(most, t.threads);
    if (most > o.pin_cpus.size())
        std::fprintf(stderr,
                     "allocmeter run: note: cells of up to %u threads on %zu pinned CPU%s (--pin-cpus %s): their threads share them\n",
                     most, o.pin_cpus.size(), o.pin_cpus.size() == 1 ? "" : "s", cpu_list_text(o.pin_cpus).c_str());
}

/// The end of a run that a signal stopped before its first cell (while traces were planned).
int stopped_before_the_matrix(int sig) {
    std::fprintf(stderr, "allocmeter run: stopped by %s before any cell ran; nothing written\n", describe_signal(sig).c_str());
    return stop_signals::exit_status(sig);
}

}  // namespace

allocator_catalog catalog_with_user_libraries(const std::vector<std::string>& specs, std::string_view command) {
    allocator_catalog catalog = allocator_catalog::standard();
    try {
        for (const auto& spec : specs) catalog.add_custom(spec);
    } catch (const std::invalid_argument& e) {
        usage_fail(command, e.what());
    }
    return catalog;
}

int run_command(const std::vector<std::string>& args, const std::string& full_command) {
    run_arguments a;
    std::vector<std::string> given;
    if (!parse_run(args, a, &given)) return 0;
    const stop_signals stops;  // from here, ^C or SIGTERM ends the run in order
    if (const stale_plans stale = remove_stale_plan_dirs(); stale.folders > 0)
        std::fprintf(stderr, "allocmeter run: note: removed %u trace plan folder%s (%s) left by a run that was killed\n",
                     stale.folders, stale.folders == 1 ? "" : "s", mib_text(stale.bytes).c_str());

    std::optional<resumed_run> resumed;
    std::vector<std::string> arguments = args;
    run_arguments typed;  // with --resume: the options as typed, checked against the recorded ones
    if (!a.resume.empty()) {
        resumed = stopped_run(a.resume);
        if (!resumed) return 0;
        run_arguments recorded;
        if (!parse_run(*resumed->doc.env.arguments, recorded)) usage_fail("run", "--resume " + a.resume + ": the run's arguments ask for --help");
        recorded.report = recorded.report || a.report;
        recorded.resume = a.resume;
        arguments = *resumed->doc.env.arguments;
        typed = std::exchange(a, std::move(recorded));
    }
    const allocator_catalog catalog = catalog_with_user_libraries(a.custom, "run");
    run_options o = validate_run(a, catalog);
    if (resumed) check_same_options(given, typed, a, o, a.resume);
    o.command_line = full_command;
    o.arguments = arguments;
    check_user_libraries(o, catalog);
    std::optional<trace_plan_dir> plans;  // the trace plans' folder, removed when the run ends
    plan_traces(o, plans);
    if (resumed) check_same_traces(o, resumed->doc.env, a.resume);
    note_pinned_threads(o);
    if (const int sig = stop_signals::received(); sig != 0) return stopped_before_the_matrix(sig);
    try {
        const run_outcome run = run_matrix(o, catalog, resumed ? &*resumed : nullptr);
        if (run.stopped_by != 0) return stop_signals::exit_status(run.stopped_by);
        const int report = o.report ? report_for_run(run.dir.string()) : 0;
        if (run.failed == 0) return report;
        std::fprintf(stderr, "allocmeter run: %zu cell%s failed or timed out (their reasons are in the results); exit %d\n",
                     run.failed, run.failed == 1 ? "" : "s", exit_cells_failed);
        return exit_cells_failed;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "allocmeter run: %s\n", e.what());
        return 1;
    }
}

}  // namespace allocmeter
