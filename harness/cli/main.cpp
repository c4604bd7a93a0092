// The allocmeter command line: `list`, `run`, and the hidden `__cell` that runs one
// matrix cell in a child process. Every command has --help with examples; every error
// names the input and what to do, and exits non-zero.
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "harness/cell/registry.hpp"
#include "harness/cell/run_cell.hpp"
#include "harness/cli/command_line.hpp"
#include "harness/cli/compare_command.hpp"
#include "harness/cli/record_command.hpp"
#include "harness/cli/report_command.hpp"
#include "harness/cli/trace_command.hpp"
#include "harness/os/perf_counters.hpp"
#include "harness/run/allocator_catalog.hpp"
#include "harness/run/matrix_runner.hpp"
#include "harness/run/trace_workloads.hpp"
#include "workloads/scale.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/trace_replay.hpp"

namespace po = boost::program_options;
using namespace allocmeter;

namespace {

constexpr int exit_usage = 2;

const char* const top_usage = R"(allocmeter: run memory allocators side by side on the same workloads and measure them.

usage: allocmeter <command> [options]

commands:
  list    allocators (with availability and capabilities) and workloads (with parameters)
  run     run the benchmark matrix: allocators x workloads x threads x repetitions
  record  record a program's allocations into a trace (LD_PRELOAD)
  trace   inspect a recorded allocation trace, or import one: info, validate, import
  compare is a difference real? two results files, or two allocators in one (Mann-Whitney U)
  plot    charts of a results file (PNG and SVG): heat maps, relative time and RSS, scaling, latency
  report  one self-contained HTML page for a design review: tables, tests, charts, method

examples:
  allocmeter list
  allocmeter run --scale quick
  allocmeter run --allocators system,jemalloc,bump --workloads frame --threads 1 --reps 5
  allocmeter run --allocator mine=./libmymalloc.so --allocators system,mine
  allocmeter record -o app.trace -- ./app --its-args
  allocmeter trace info app.trace
  allocmeter compare results/latest --allocators system,jemalloc
  allocmeter report results/latest
  allocmeter trace import --format mtrace app.mtrace

'allocmeter <command> --help' shows a command's options.
)";

const char* const run_examples = R"(
examples:
  allocmeter run                                   every allocator, every workload, default scale
  allocmeter run --scale quick --reps 3            a fast look
  allocmeter run --allocators system,bump,arena --workloads frame --threads 1
  allocmeter run --allocator mine=/opt/lib/libmine.so --allocators system,mine
  allocmeter run --out /tmp/results --timeout 60
  allocmeter run --scale quick --report            then the run's report.html, charts embedded
  allocmeter run --workloads trace:app.trace,frame --allocators system,jemalloc,segregated
  allocmeter run --workloads trace:app.trace --replay serial --touch full
  allocmeter run --pmu-events cycles,instructions,perf::PERF_COUNT_HW_CACHE_DTLB:READ:MISS

A trace workload (trace:FILE, from 'allocmeter record') replays the recorded calls: with
--replay threads (the default) one thread per recorded thread, ordered across threads only
where an object changes hands, so the allocator must be thread-safe when the trace has more
than one thread; with --replay serial every call on one thread in recorded order. --threads
and --scale do not apply to it.

Each cell runs in its own process (external allocators with LD_PRELOAD of their library);
a crash or a timeout marks that cell failed/timeout and the matrix goes on. Results are
written as cells finish to OUT/<run-id>/results.json and results.csv; OUT/latest points at
the newest run.
)";

[[noreturn]] void usage_fail(const std::string& command, const std::string& message) {
    std::fprintf(stderr, "allocmeter %s: %s\n", command.c_str(), message.c_str());
    std::exit(exit_usage);
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

std::vector<std::string> workload_names() {
    std::vector<std::string> names;
    for (const auto& w : workloads()) names.emplace_back(w.name);
    return names;
}

std::string caps_text(const capabilities& c) {
    std::string s;
    const auto add = [&](const std::string& t) { s += (s.empty() ? "" : ", ") + t; };
    add(c.individual_free ? "free" : "no free");
    if (c.reset) add("reset");
    if (c.lifo_free_only) add("LIFO free only");
    add(c.thread_safe ? "thread-safe" : "single-thread");
    if (c.fixed_size != 0) add("fixed " + std::to_string(c.fixed_size) + " B");
    else if (c.max_size < (std::size_t{1} << 32)) add("max " + std::to_string(c.max_size) + " B");
    return s;
}

allocator_catalog catalog_with(const std::vector<std::string>& custom, const std::string& command) {
    allocator_catalog catalog = allocator_catalog::standard();
    try {
        for (const auto& spec : custom) catalog.add_custom(spec);
    } catch (const std::invalid_argument& e) {
        usage_fail(command, e.what());
    }
    return catalog;
}

po::variables_map parse(const std::string& command, const po::options_description& opts, const std::vector<std::string>& args) {
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(opts).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        usage_fail(command, std::string(e.what()) + "; see 'allocmeter " + command + " --help'");
    }
    return vm;
}

int cmd_list(const std::vector<std::string>& args) {
    po::options_description opts("allocmeter list: show allocators and workloads\n\noptions");
    std::vector<std::string> custom;
    std::string scale_name = "default";
    opts.add_options()("help,h", "show this help")(
        "allocator", po::value(&custom)->composing(), "NAME=/path/lib.so: also list a user library (repeatable)")(
        "scale", po::value(&scale_name), "show workload parameters at quick|default|full");
    const auto vm = parse("list", opts, args);
    if (vm.count("help")) {
        std::cout << opts << "\nexample:\n  allocmeter list --scale quick --allocator mine=./libmine.so\n";
        return 0;
    }
    const auto size = parse_scale(scale_name);
    if (!size) usage_fail("list", "--scale " + scale_name + ": expected quick, default or full");
    const allocator_catalog catalog = catalog_with(custom, "list");

    std::printf("allocators:\n");
    for (const auto& e : catalog.entries()) {
        const char* origin = e.from == allocator_entry::origin::reference ? "reference"
                             : e.from == allocator_entry::origin::custom  ? "user library"
                                                                          : "external";
        std::printf("  %-18s %-12s %s\n", e.name.c_str(), origin, e.summary.c_str());
        std::printf("  %-18s %-12s %s\n", "", "", e.available() ? ("available; " + caps_text(e.caps)).c_str()
                                                               : ("unavailable: " + e.unavailable).c_str());
        if (!e.library.empty()) std::printf("  %-18s %-12s library %s\n", "", "", e.library.c_str());
    }
    std::printf("\nworkloads (parameters per thread at scale %s):\n", scale_name.c_str());
    for (const auto& w : workloads()) {
        std::printf("  %-10s %s\n", std::string(w.name).c_str(), std::string(w.summary).c_str());
        for (const auto& p : w.describe(*size))
            std::printf("  %-10s   %-22s %10llu  %s\n", "", std::string(p.name).c_str(),
                        static_cast<unsigned long long>(p.value), std::string(p.meaning).c_str());
    }
    std::printf("  %-10s %s\n", "trace:FILE", "replays a trace recorded with 'allocmeter record' (see 'allocmeter run --help')");
    return 0;
}

std::string command_line(int argc, char** argv) {
    std::string s = argv[0];
    for (int i = 1; i < argc; ++i) s.append(" ").append(argv[i]);
    return s;
}

int cmd_run(const std::vector<std::string>& args, const std::string& full_command) {
    po::options_description opts("allocmeter run: run the benchmark matrix\n\noptions");
    std::string allocators, workload_list = join(workload_names()), threads = "1,2", scale_name = "default";
    std::string touch = "page", replay = "threads", pmu_events, latency = "64";
    std::vector<std::string> custom;
    run_options o;
    opts.add_options()("help,h", "show this help")(
        "allocators", po::value(&allocators), "comma-separated allocators (default: all; see 'allocmeter list')")(
        "allocator", po::value(&custom)->composing(), "NAME=/path/lib.so: add a user library and run it (repeatable)")(
        "workloads", po::value(&workload_list), "comma-separated workloads, or trace:FILE (default: every synthetic one)")(
        "threads", po::value(&threads), "comma-separated thread counts (default: 1,2)")(
        "reps", po::value(&o.reps)->default_value(o.reps), "repetitions of each cell, interleaved across allocators")(
        "scale", po::value(&scale_name), "quick | default | full: operations per cell (default: default)")(
        "seed", po::value(&o.seed)->default_value(o.seed), "PRNG seed; the same seed gives the same operations")(
        "out", po::value(&o.out)->default_value(o.out), "results folder; each run gets OUT/<run-id>/")(
        "timeout", po::value(&o.timeout_s)->default_value(o.timeout_s), "seconds before a cell is killed")(
        "touch", po::value(&touch), "none | page | full: what a trace replay writes into each new block (default: page)")(
        "replay", po::value(&replay), "threads | serial: a trace replays on its recorded threads, or on one (default: threads)")(
        "latency", po::value(&latency), "N | off: time one allocation and free in every N (a power of two; default 64)")(
        "sample-ms", po::value(&o.sample_ms)->default_value(o.sample_ms),
        "RSS and live bytes sampled every this many ms during each cell (0: off)")(
        "pmu-events", po::value(&pmu_events),
        "comma-separated libpfm4 event names counted in place of the default hardware counters "
        "(cycles, instructions, L1d/LLC/dTLB misses, branch misses)")(
        "report", po::bool_switch(&o.report),
        "at the end, write the run's report.html and charts (as 'allocmeter report' does)");
    const auto vm = parse("run", opts, args);
    if (vm.count("help")) {
        std::cout << opts << run_examples;
        return 0;
    }
    const allocator_catalog catalog = catalog_with(custom, "run");

    o.allocators = split_list(allocators);
    if (allocators.empty())
        for (const auto& e : catalog.entries())
            if (e.from != allocator_entry::origin::custom) o.allocators.push_back(e.name);
    for (const auto& spec : custom) {
        const std::string name = spec.substr(0, spec.find('='));
        if (std::find(o.allocators.begin(), o.allocators.end(), name) == o.allocators.end()) o.allocators.push_back(name);
    }
    for (const auto& a : o.allocators)
        if (catalog.find(a) == nullptr)
            usage_fail("run", "--allocators: unknown allocator '" + a + "'; valid: " + catalog.names() +
                                  " (or add a library with --allocator NAME=/path/lib.so)");
    if (latency == "off") {
        o.latency_every = 0;
    } else {
        char* end = nullptr;
        const unsigned long long n = std::strtoull(latency.c_str(), &end, 10);
        if (*end != '\0' || n == 0 || (n & (n - 1)) != 0 || n > (1ull << 30))
            usage_fail("run", "--latency " + latency + ": give a power of two (e.g. 64: one operation in 64 is timed) or off");
        o.latency_every = n;
    }
    o.pmu_events = split_list(pmu_events);
    for (const std::string& e : o.pmu_events) {
        std::string error;
        if (!encode_event(e, error)) usage_fail("run", "--pmu-events: " + error);
    }
    const auto touch_policy = trace::parse_touch(touch);
    if (!touch_policy) usage_fail("run", "--touch " + touch + ": expected none, page or full");
    o.touch = *touch_policy;
    const auto order = trace::parse_replay_order(replay);
    if (!order) usage_fail("run", "--replay " + replay + ": expected threads or serial");
    o.replay = *order;
    o.workloads = split_list(workload_list);
    std::vector<std::string> trace_specs;
    for (const auto& w : o.workloads) {
        if (w.rfind(trace_prefix, 0) == 0) {
            if (std::find(trace_specs.begin(), trace_specs.end(), w) == trace_specs.end()) trace_specs.push_back(w);
        } else if (find_workload(w) == nullptr) {
            usage_fail("run", "--workloads: unknown workload '" + w + "'; valid: " + join(workload_names()) +
                                  ", or trace:FILE for a recorded trace");
        }
    }
    o.threads.clear();
    for (const auto& t : split_list(threads)) {
        char* end = nullptr;
        const unsigned long n = std::strtoul(t.c_str(), &end, 10);
        if (*end != '\0' || n < 1 || n > 1024)
            usage_fail("run", "--threads: '" + t + "' is not a thread count; give numbers from 1 to 1024, e.g. --threads 1,2,4");
        o.threads.push_back(static_cast<unsigned>(n));
    }
    const auto size = parse_scale(scale_name);
    if (!size) usage_fail("run", "--scale " + scale_name + ": expected quick, default or full");
    o.size = *size;
    if (o.allocators.empty() || o.workloads.empty() || o.threads.empty())
        usage_fail("run", "nothing to run: give at least one allocator, workload and thread count");
    if (o.reps < 1) usage_fail("run", "--reps must be at least 1");
    if (!(o.timeout_s > 0)) usage_fail("run", "--timeout must be a positive number of seconds");
    if (!(o.sample_ms >= 0) || o.sample_ms > 10000)
        usage_fail("run", "--sample-ms must be from 0 (off) to 10000, e.g. --sample-ms 5");
    if (o.sample_ms > 0 && o.sample_ms < 0.1) usage_fail("run", "--sample-ms below 0.1 would cost more than it shows; use 0.1 or more");
    o.command_line = full_command;
    // Last, once every other option is known good: each trace is read, planned and its plan
    // saved for the cells, in a folder removed when the run ends.
    std::optional<trace_plan_dir> plans;
    for (const std::string& spec : trace_specs) {
        try {
            if (!plans) plans.emplace();
            o.plan_dir = plans->path();
            o.traces.push_back(load_trace_workload(spec, o.replay, o.plan_dir));
        } catch (const std::exception& e) {
            plans.reset();  // usage_fail exits without unwinding
            usage_fail("run", e.what());
        }
        const trace_workload& t = o.traces.back();
        std::fprintf(stderr, "allocmeter run: %s: %llu calls on %u replay thread%s, %llu bytes live at the recorded peak\n",
                     t.spec.c_str(), static_cast<unsigned long long>(t.events), t.threads, t.threads == 1 ? "" : "s",
                     static_cast<unsigned long long>(t.peak_live_bytes));
    }
    try {
        const std::filesystem::path dir = run_matrix(o, catalog);
        return o.report ? report_for_run(dir.string()) : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "allocmeter run: %s\n", e.what());
        return 1;
    }
}

int cmd_cell(const std::vector<std::string>& args) {
    try {
        return run_cell(cell_request::from_args(args));
    } catch (const std::invalid_argument& e) {
        usage_fail(cell_command, e.what());
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fputs(top_usage, stderr);
        return exit_usage;
    }
    const std::string command = argv[1];
    const std::vector<std::string> rest(argv + 2, argv + argc);
    if (command == "-h" || command == "--help" || command == "help") {
        std::fputs(top_usage, stdout);
        return 0;
    }
    if (command == "--version") {
        std::printf("allocmeter %s\n", ALLOCMETER_VERSION);
        return 0;
    }
    if (command == "list") return cmd_list(rest);
    if (command == "run") return cmd_run(rest, command_line(argc, argv));
    if (command == "trace") return trace_command(rest);
    if (command == "record") return record_command(rest);
    if (command == "compare") return compare_command(rest);
    if (command == "plot") return plot_command(rest);
    if (command == "report") return report_command(rest);
    if (command == cell_command) return cmd_cell(rest);
    std::fprintf(stderr, "allocmeter: unknown command '%s'; commands: list, run, record, trace, compare, plot, report (see 'allocmeter --help')\n",
                 command.c_str());
    return exit_usage;
}
