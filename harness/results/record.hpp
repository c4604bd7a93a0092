// The typed results record: a run's environment, its cells and their metrics, and the
// per-group summary derived from them. Everything that reads or writes results (the cell, the
// parent, the CSV, the table, compare, the report and the charts) uses these types; their JSON
// form (schema allocmeter-results/1) lives in record_json.cpp alone.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/analysis/statistics.hpp"

namespace allocmeter {

inline constexpr std::string_view results_schema = "allocmeter-results/1";

/// The allocator of the harness row: the do-nothing allocator (harness/cell/do_nothing_allocator.hpp)
/// that every run --measure time adds to each group, so that the summary can take the harness's
/// own cost off every other row (net figures). Its cells are ordinary cells under this name.
inline constexpr std::string_view harness_allocator_name = "harness";

/// How a cell ended.
enum class cell_status { ok, failed, timeout, skipped };

std::string_view to_string(cell_status s);

/// The library that served malloc in a cell, as the cell found it.
struct library_info {
    std::string path;
    std::optional<std::string> version;  ///< as the library reports it; none when it has no way to
    std::string version_source;          ///< the call it came from
    std::string free_function;           ///< the free the cell called (sized where the library has one)
};

/// One perf counter: its value, or none and the reason.
struct counter_value {
    std::string name;
    std::optional<double> value, per_op, running;  ///< running: the share of the region it counted
    std::optional<std::string> reason;
};

struct pmu_metrics {
    std::vector<counter_value> counters;
    std::optional<double> ipc;  ///< instructions per cycle, where both counted
};

/// Sampled latency of one operation, in ns.
struct latency_percentiles {
    std::uint64_t samples = 0;
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

struct latency_metrics {
    std::uint64_t every = 0;  ///< one operation in this many was timed
    double ticks_per_ns = 0;
    std::optional<latency_percentiles> alloc, free;
};

/// RSS and live requested bytes over the timed region.
struct rss_series {
    double interval_ms = 0;
    std::uint64_t samples = 0;  ///< taken; the vectors hold at most a thinned subset
    std::vector<double> t_ms;
    std::vector<std::int64_t> rss_bytes, live_bytes;
};

struct smaps_metrics {
    std::optional<std::int64_t> rss_bytes, anonymous_bytes, lazy_free_bytes, anon_huge_pages_bytes;
};

/// RSS growth over peak live bytes: at the peak, time-weighted, and after the purge.
struct fragmentation_metrics {
    std::optional<double> peak, time_weighted_mean, post_purge;
};

struct context_switches {
    std::uint64_t voluntary = 0, involuntary = 0;
};

/// Counts callgrind simulated (run --measure callgrind).
struct callgrind_counts {
    std::uint64_t instructions = 0;
    std::uint64_t l1d_read_misses = 0, l1d_write_misses = 0;  ///< first-level data cache (D1mr, D1mw)
    std::uint64_t ll_read_misses = 0, ll_write_misses = 0;    ///< last level, data accesses (DLmr, DLmw)
    std::optional<std::uint64_t> branches, branch_mispredicts;  ///< with --branch-sim only

    bool operator==(const callgrind_counts&) const = default;
};

/// What callgrind counted in a cell's timed region: all of it, and inside the allocator (the
/// inclusive counts of the calls into its out-of-line boundary: harness/cell/callgrind_boundary.hpp).
/// The harness's share is the difference.
struct callgrind_metrics {
    callgrind_counts region, allocator;
    std::uint64_t allocator_calls = 0;  ///< calls into the boundary: allocations, frees and resets
    bool threads_serialised = false;    ///< more than one thread ran, one at a time under valgrind: no contention
    std::string profile;                ///< the callgrind profile, relative to the run's folder

    bool operator==(const callgrind_metrics&) const = default;
};

/// What a cell measured in its timed region.
struct cell_metrics {
    double wall_s = 0, user_s = 0, sys_s = 0;
    std::uint64_t ops = 0;
    std::optional<double> ns_per_op;  ///< none when the cell made no operations
    std::optional<std::uint64_t> peak_rss_bytes;
    std::uint64_t minor_faults = 0, major_faults = 0;
    context_switches switches;
    std::int64_t peak_live_bytes = 0;
    pmu_metrics pmu;
    std::optional<latency_metrics> latency;
    std::optional<rss_series> series;
    smaps_metrics smaps;
    std::optional<std::uint64_t> post_purge_rss_bytes;
    std::optional<std::string> purge;  ///< the call that returned free memory, if any
    fragmentation_metrics fragmentation;
    std::optional<callgrind_metrics> callgrind = std::nullopt;  ///< run --measure callgrind only
};

/// What the allocator says about its heap: a reference allocator's counters, or the serving
/// library's own statistics call (source) with its named fields, or the reason it has none.
struct allocator_report {
    bool from_library = false;
    std::optional<std::string> source;
    std::vector<std::pair<std::string, std::uint64_t>> fields;
    std::optional<std::string> reason;
};

/// How a trace cell replayed.
struct trace_cell {
    std::string path, replay, touch;
    std::uint64_t replay_threads = 0, steps = 0, dependencies = 0, recorded_peak_live_bytes = 0;
    std::uint64_t leaked_objects = 0;
    bool complete = false;
    /// The plan's mapping resident at the region's start, left out of the cell's RSS figures;
    /// none when smaps could not say (those figures are none then too) and in older results.
    std::optional<std::uint64_t> plan_resident_bytes = std::nullopt;
    /// The recorded program's peak RSS (the trace's RSS samples), beside the cell's own
    /// peak_rss_bytes; none for a trace without samples, and in older results.
    std::optional<std::uint64_t> recorded_peak_rss_bytes = std::nullopt;
    /// A timed replay's threads' time, summed over them: their lives (first step to last), and
    /// within them the recorded gaps spent as the program's work and the waits for another
    /// thread. What is left is the allocator's (its calls, plus the replay's own cost per call).
    struct time_split {
        double thread_s = 0, gap_s = 0, wait_s = 0;
    };
    std::optional<time_split> timed = std::nullopt;  ///< --replay timed only
};

/// What a child process reports for a cell that ran (the child -> parent half of the protocol).
struct cell_measurement {
    cell_metrics metrics;
    std::string op_checksum;
    std::optional<std::uint64_t> baseline_rss_bytes;
    std::string peak_rss_from;  ///< "workload start", or "process start" when the reset was refused
    std::optional<allocator_report> allocator_stats;
    std::optional<library_info> library;
    std::optional<trace_cell> trace;
};

/// One allocator x workload x threads x repetition.
struct cell_record {
    std::string allocator, workload;
    unsigned threads = 1, rep = 1;
    std::uint64_t seed = 0;
    std::string scale;
    cell_status status = cell_status::ok;
    std::optional<std::string> reason;
    std::optional<cell_measurement> measured;  ///< present when the cell ran to a result
    std::optional<double> cell_wall_s;         ///< the child process's lifetime; none when skipped
    /// A trace cell's replay order (threads, timed, serial), whatever its status; none for a
    /// synthetic workload.
    std::optional<std::string> replay = std::nullopt;

    bool ok() const { return status == cell_status::ok && measured.has_value(); }
};

/// A trace workload of the run: one trace in one replay order.
struct trace_env {
    std::string workload, path;
    unsigned threads = 1;
    std::uint64_t steps = 0, recorded_peak_live_bytes = 0;
    std::string replay = "threads";  ///< its order (older results: the run's one order)
    /// The recorded program's peak RSS, and its RSS at the first sample (as it started); none
    /// for a trace without RSS samples, and in older results.
    std::optional<std::uint64_t> recorded_peak_rss_bytes = std::nullopt, recorded_start_rss_bytes = std::nullopt;
    /// What its replays wrote into each block: the run's --touch, or with auto what it chose
    /// for this trace (part:F, or page for a trace without samples); none in older results.
    std::optional<std::string> touch = std::nullopt;
};

/// This host and build.
struct host_env {
    std::string host, kernel, machine, cpu_model;
    unsigned cpus = 0;
    std::optional<std::string> thp, cpu_governor;
    long page_size = 0;
    std::optional<int> perf_event_paranoid;
    std::string compiler, compiler_flags, build_type, allocmeter_version, started_at;
    std::string build_id;  ///< the allocmeter executable's GNU build id (hex); "" when it has none
};

/// How a run --measure callgrind ran its cells.
struct callgrind_env {
    std::string valgrind, version;              ///< the executable and what `valgrind --version` said
    std::map<std::string, std::string> caches;  ///< "I1", "D1", "LL" -> callgrind's description of the simulated cache
    bool branch_sim = false;                    ///< branches and mispredictions simulated
    std::string boundary;                       ///< how the allocator's share is told from the harness's
    std::string clock;                          ///< what the cells' clock was (virtual_clock.hpp); empty in older files
};

/// A run with --reps auto: the rule's settings, and each group's rounds and why it stopped.
struct auto_reps_env {
    double target_ci = 0;            ///< an ok row's interval width over its median to get below
    unsigned max_reps = 0;           ///< the most rounds a group gets
    std::optional<double> budget_s;  ///< no round starts that would end past this; none: no budget
    double spent_s = 0;              ///< the rounds' wall-clock seconds over every session of the run (what the budget counts)
    struct group {
        std::string workload;
        unsigned threads = 1;
        unsigned rounds = 0;  ///< rounds every allocator of the group finished
        std::string end;      ///< target, max-reps, budget, no-ok-row; running until the run ends
    };
    std::vector<group> groups;  ///< in run order
};

/// The run's settings and what it learned about the host and libraries.
struct run_env {
    host_env host;
    std::string command_line;
    std::optional<std::vector<std::string>> arguments;  ///< run's own arguments as given: what --resume runs again
    std::uint64_t seed = 0;
    std::string scale;
    unsigned reps = 0;  ///< repetitions of every cell; 0 with --reps auto, where each group has its own (reps_auto)
    std::optional<auto_reps_env> reps_auto;    ///< --reps auto (absent otherwise, and in older files)
    std::optional<std::vector<unsigned>> pin_cpus;  ///< --pin-cpus: the CPUs each cell ran on (absent: not pinned)
    std::vector<unsigned> threads;
    std::vector<std::string> pmu_events;
    double sample_ms = 0;
    std::uint64_t latency_every = 0;
    bool verify = false;                        ///< run --verify: block tags checked (absent in older files: off)
    std::string measure = "time";               ///< run --measure: time or callgrind (absent in older files: time)
    std::optional<callgrind_env> callgrind;     ///< with --measure callgrind
    std::optional<std::string> touch, replay;  ///< set when the run has traces; replay: the orders, comma-separated
    std::vector<trace_env> traces;
    std::map<std::string, library_info> allocators;  ///< external ones, by name, from their first ok cell
    std::map<std::string, std::string> allocator_kinds;  ///< every allocator run: reference, external, user or harness
    std::optional<std::vector<std::string>> pmu_opened;  ///< counters that gave a value in the first ok cell
};

// ----- the summary: per workload x threads x allocator, computed once (analysis/summary.cpp)

/// A metric's repetitions against the baseline's.
struct metric_summary {
    sample_summary stats;
    std::optional<double> ratio, ratio_low, ratio_high;  ///< median and CI ends over the baseline's median (unpaired)
    std::optional<mann_whitney> test;                     ///< against the baseline; none on the baseline's row
    /// Paired by round: for each round in which this row and the baseline both have an ok cell,
    /// this rep over the baseline's rep; n (the rounds paired), the median ratio and its interval,
    /// CV. None when no round has both.
    std::optional<sample_summary> paired = std::nullopt;
    std::optional<signed_rank> paired_test = std::nullopt;  ///< of the rounds' log ratios; none on the baseline's row
    bool verdict_paired = false;  ///< the verdict reads paired_test (its rounds can reach alpha), else test
};

/// run --measure callgrind's figures of one allocator in a group.
struct callgrind_row {
    std::map<std::string, double> per_op;  ///< each callgrind_metric_names() figure the cells have: its median over the ok reps
    /// instructions_per_op and allocator_instructions_per_op over the baseline's; none on a group without it
    std::optional<double> ratio, allocator_ratio;
    bool threads_serialised = false;  ///< valgrind ran the cell's threads one at a time: contention not represented
};

/// One allocator in one workload x threads group.
struct summary_row {
    std::string allocator;
    cell_status status = cell_status::ok;  ///< ok when any rep is; else the commonest status
    std::string not_ok;                    ///< "skipped: why", from the first cell that did not run
    std::vector<double> ns_per_op;         ///< the ok reps, in run order
    std::vector<double> peak_rss_bytes;
    metric_summary time, rss;
    sample_summary throughput;                  ///< operations per second
    std::optional<latency_percentiles> latency_alloc, latency_free;  ///< each percentile's median over the ok reps
    std::optional<rss_series> median_rep_series;  ///< the series of the rep with the median ns/op
    bool few_reps = false, noisy = false;
    std::optional<callgrind_row> callgrind = std::nullopt;  ///< run --measure callgrind only
    /// Net of the harness's own cost, in a group with an ok harness row (none on that row): the
    /// median ns/op minus the harness row's median, and that over the baseline row's net (none
    /// where either net is not positive; net_note then says which).
    std::optional<double> net_ns_per_op = std::nullopt, net_ratio = std::nullopt;
    std::string net_note = {};  ///< why there is no net_ratio; "" when there is one or no net figures at all

    bool ok() const { return !ns_per_op.empty(); }
    /// The harness row: the do-nothing allocator, shown apart, never compared with the baseline.
    bool is_harness() const { return allocator == harness_allocator_name; }
};

struct summary_group {
    std::string workload;
    unsigned threads = 1;
    std::vector<summary_row> rows;  ///< in the order the allocators first ran, the harness row last
    unsigned rounds = 0;            ///< the rounds (reps) with a cell of this group, whatever its status
};

/// How an allocator is named on every table and chart.
struct allocator_label {
    std::string name;
    std::string kind;     ///< reference, external, user or harness
    std::string version;  ///< the serving library's, shortened; "" for reference allocators
    std::string label;    ///< "jemalloc 5.3.0", "system (glibc 2.36)", "bump (reference)"
};

/// One allocator in a trace's replays side by side: its own time (--replay threads) and its
/// weight in the program (--replay timed). Each figure is none when that side has no ok cell.
struct side_by_side_row {
    std::string allocator;
    std::optional<double> own_ns_per_op, own_ratio;   ///< threads: median ns/op, and over the baseline's
    std::optional<double> timed_wall_s, timed_ratio;  ///< timed: median duration, and over the baseline's
    /// timed: the median over the reps of (thread_s - gap_s - wait_s) / thread_s, the threads'
    /// time spent neither on the program's work nor waiting; and of wait_s / thread_s.
    std::optional<double> allocator_share, wait_share;
    std::string not_ok;  ///< why a side has no figures ("timed: skipped: ..."), else ""
};

/// A trace the run replayed both in threads and in timed order.
struct side_by_side {
    std::string path;                              ///< the trace file
    std::string threads_workload, timed_workload;  ///< the two workloads' names
    unsigned threads = 1;                          ///< replay threads
    std::vector<side_by_side_row> rows;            ///< in the order the allocators first ran
};

struct run_summary {
    std::string measure = "time";  ///< the run's --measure: time or callgrind
    std::string baseline;  ///< system when the run has it, else the first allocator that ran (never the harness row)
    double alpha = 0;
    std::size_t few_repetitions = 0;
    double high_cv = 0;
    unsigned reps = 0;
    std::uint64_t latency_every = 0;          ///< the run's --latency: one operation in this many timed; 0 = off
    std::vector<allocator_label> allocators;  ///< in run order
    std::vector<std::string> workloads;       ///< in run order
    std::vector<summary_group> groups;
    std::vector<side_by_side> replays;  ///< each trace replayed both in threads and in timed order
};

/// A whole results file.
struct results_document {
    std::string schema{results_schema};
    std::string run_id;
    bool complete = false;                       ///< every planned cell has a record
    std::optional<std::uint64_t> cells_planned;  ///< the matrix's size (absent in older files)
    run_env env;
    std::vector<cell_record> cells;
    std::optional<run_summary> summary;
};

/// A results file that is not what it should be; the message names the file, the cell and the field.
struct results_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// ----- JSON (record_json.cpp)

/// The document as JSON text, indented.
std::string to_json_text(const results_document& doc);
/// Parses a results file's text; throws results_error naming `file` (and the cell and field).
results_document results_from_json_text(const std::string& text, const std::string& file);

/// A child's measurement as JSON text, and back (the result channel of the cell protocol).
std::string to_json_text(const cell_measurement& m);
cell_measurement measurement_from_json_text(const std::string& text);

/// The summary alone, as JSON text (the chart script's input, schema allocmeter-summary/1).
std::string summary_json_text(const run_summary& s, const std::string& results_path);

/// The CSV header and one cell's row (the same names as the JSON).
const std::vector<std::string>& csv_columns();
std::vector<std::string> csv_row(const cell_record& cell);

/// A top-level numeric metric of a cell by its results name (ns_per_op, peak_rss_bytes, ...),
/// for `compare --metric`; none when the name is unknown or the cell has no value.
std::optional<double> metric_by_name(const cell_metrics& m, std::string_view name);
/// The names metric_by_name knows, ns_per_op first.
std::vector<std::string> metric_names();

/// The callgrind figures per operation that metric_by_name knows (instructions_per_op first).
std::vector<std::string> callgrind_metric_names();

/// One env field for a reader: its results name, its value as text, and what it means.
struct env_setting {
    std::string name, value, meaning;
};
/// The run's settings, for the report's method table.
std::vector<env_setting> env_settings(const run_env& env);
/// How many repetitions the run made, for a reader: "5", or with --reps auto the range over
/// its groups, "6 to 30" (env_settings' reps_auto says how they were chosen).
std::string repetitions_text(const run_env& env);
/// The host's facts, for the report's environment table.
std::vector<env_setting> host_facts(const host_env& host);

}  // namespace allocmeter
