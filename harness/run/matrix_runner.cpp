// Cell scheduling, child outcomes turned into cell records, and the progress line.
#include "harness/run/matrix_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness/analysis/summary.hpp"
#include "harness/analysis/summary_table.hpp"
#include "harness/cell/callgrind_boundary.hpp"
#include "harness/cell/virtual_clock.hpp"
#include "harness/os/host_info.hpp"
#include "harness/os/stop_signals.hpp"
#include "harness/run/cell_protocol.hpp"
#include "harness/run/external_allocators.hpp"
#include "harness/run/child_process.hpp"
#include "harness/cell/registry.hpp"
#include "harness/results/results_writer.hpp"

namespace allocmeter {

namespace {

struct planned_cell {
    const allocator_entry* allocator;
    std::string workload;            ///< a registered name, or a trace workload's name (one order)
    workload_needs needs;
    const trace_workload* trace;     ///< nullptr for a synthetic workload
    unsigned threads;
    unsigned rep;
};

/// Round `rep`: every (workload, threads) group's allocators once, allocator innermost
/// (A B C A B C ...), so drift hits all alike. A trace replays with its own thread count, once
/// per replay order.
std::vector<planned_cell> plan_round(const run_options& o, const allocator_catalog& catalog, unsigned rep) {
    std::vector<planned_cell> cells;
    for (const auto& w : o.workloads) {
        if (replays_a_trace(w)) {
            for (const trace_workload& t : o.traces)
                if (t.spec == w)
                    for (const auto& a : o.allocators) cells.push_back({catalog.find(a), t.name, t.needs, &t, t.threads, rep});
            continue;
        }
        const workload_info* info = find_workload(w);
        for (const unsigned threads : o.threads)
            for (const auto& a : o.allocators) cells.push_back({catalog.find(a), w, info->needs, nullptr, threads, rep});
    }
    return cells;
}

/// A fixed run's cells: its rounds, repetition outermost.
std::vector<planned_cell> plan(const run_options& o, const allocator_catalog& catalog) {
    std::vector<planned_cell> cells;
    for (unsigned rep = 1; rep <= o.reps; ++rep) {
        const std::vector<planned_cell> round = plan_round(o, catalog, rep);
        cells.insert(cells.end(), round.begin(), round.end());
    }
    return cells;
}

/// The (workload, threads) groups of a round's cells, in run order: what --reps auto decides on.
std::vector<auto_group> groups_of(const std::vector<planned_cell>& round) {
    std::vector<auto_group> groups;
    const auto known = [&groups](const planned_cell& c) {
        return std::any_of(groups.begin(), groups.end(), [&](const auto_group& g) { return g.workload == c.workload && g.threads == c.threads; });
    };
    for (const planned_cell& c : round)
        if (!known(c)) groups.push_back({c.workload, c.threads});
    return groups;
}

/// The last few non-empty lines of a child's stderr, joined, for a failure reason; a library's
/// banner is not one of them.
std::string last_lines(const std::string& text, std::size_t lines = 3) {
    std::vector<std::string> kept;
    std::size_t end = text.size();
    while (end > 0 && kept.size() < lines) {
        const std::size_t start = text.rfind('\n', end - 1);
        const std::size_t from = start == std::string::npos ? 0 : start + 1;
        std::string line = text.substr(from, end - from);
        if (!line.empty() && !is_library_banner(line)) kept.insert(kept.begin(), line);
        if (start == std::string::npos) break;
        end = start;
    }
    std::string out;
    for (const auto& l : kept) out += (out.empty() ? "" : " | ") + l;
    return out.size() > 400 ? out.substr(out.size() - 400) : out;
}

/// `cell`, ended with `status` for `reason`.
cell_record ended(cell_record cell, cell_status status, std::string reason) {
    cell.status = status;
    cell.reason = std::move(reason);
    return cell;
}

cell_record skipped(cell_record cell, std::string reason) { return ended(std::move(cell), cell_status::skipped, std::move(reason)); }
cell_record failed(cell_record cell, std::string reason) { return ended(std::move(cell), cell_status::failed, std::move(reason)); }

cell_request request_for(const planned_cell& c, const run_options& o) {
    cell_request request;
    request.allocator = c.allocator->name;
    request.runner = std::string(c.allocator->runner());
    request.workload = c.workload;
    request.expect_library = c.allocator->in_process()        ? ""
                             : c.allocator->library.empty() ? "libc"
                                                            : c.allocator->library;
    request.config = {o.size, o.seed, c.threads, o.latency_every};
    request.pmu_events = o.pmu_events;
    request.sample_interval = std::chrono::microseconds(static_cast<long long>(o.sample_ms * 1000));
    request.verify = o.verify;
    request.callgrind = o.callgrind.has_value();
    if (c.trace != nullptr) {
        request.workload = std::string(trace_workload_name);
        request.trace = {c.trace->path, c.trace->plan_path, c.trace->touch, c.trace->order};
    }
    return request;
}

/// The cell record for how the child ended.
cell_record outcome_of(cell_record cell, const child_outcome& r, const allocator_entry& allocator, const run_options& o) {
    const std::string said = last_lines(r.stderr_tail);
    using ending = child_outcome::ending;
    cell.cell_wall_s = r.wall_s;
    if (r.how == ending::spawn_failed) return failed(std::move(cell), "could not start the cell process: " + r.spawn_error);
    if (r.how == ending::timed_out)
        return ended(std::move(cell), cell_status::timeout, fmt::format("no result within {:g} s (--timeout); killed", o.timeout_s));
    if (r.how == ending::signaled)
        return failed(std::move(cell), "killed by " + describe_signal(r.code) + (said.empty() ? "" : ": " + said));
    if (r.code != 0)
        return failed(std::move(cell), fmt::format("{} (exit code {})", said.empty() ? "the cell process failed" : said, r.code));
    try {
        cell.measured = receive_result(r.result);
    } catch (const results_error&) {
        return failed(std::move(cell), "the cell process exited without a result" + (said.empty() ? "" : ": " + said));
    }
    if (!cell.measured->metrics.ns_per_op) {  // a failed cell carries no metrics (the results reader refuses them)
        cell.measured.reset();
        return failed(std::move(cell), "the workload made no operations, so the cell has no time per operation");
    }
    cell.status = cell_status::ok;
    if (library_info* lib = cell.measured->library ? &*cell.measured->library : nullptr; lib && !lib->version)
        if (const external_allocator* known = find_external(allocator.name); known && known->version_from_stderr)
            if (std::string v = known->version_from_stderr(r.stderr_tail); !v.empty()) {
                lib->version = v;
                lib->version_source = std::string(known->stderr_version_source);
            }
    return cell;
}

/// Where a cell's callgrind profile goes, relative to the run's folder: one file per cell, named
/// after it (with characters a file name should not have replaced).
std::filesystem::path profile_path(const planned_cell& c) {
    std::string name = fmt::format("{}-t{}-{}-r{}.callgrind", c.workload, c.threads, c.allocator->name, c.rep);
    for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_' && ch != '@') ch = '_';
    return std::filesystem::path("callgrind") / name;
}

/// The callgrind figures of a cell that ran under it, from its profile; a cell whose profile is
/// missing or unreadable fails, saying why.
cell_record with_profile(cell_record cell, const std::filesystem::path& run_dir, const std::filesystem::path& profile) {
    callgrind_profile p;
    try {
        p = read_callgrind_profile(run_dir / profile, callgrind_boundary_prefix);
    } catch (const std::exception& e) {
        cell.measured.reset();
        return failed(std::move(cell), std::string("callgrind's profile: ") + e.what());
    }
    const auto counts = [&p](const std::vector<std::uint64_t>& v) {
        const auto n = [&](std::string_view event) { return p.count(v, event).value_or(0); };
        callgrind_counts c{n("Ir"), n("D1mr"), n("D1mw"), n("DLmr"), n("DLmw"), std::nullopt, std::nullopt};
        if (p.count(v, "Bc")) {
            c.branches = n("Bc") + n("Bi");
            c.branch_mispredicts = n("Bcm") + n("Bim");
        }
        return c;
    };
    if (!p.count(p.total, "Ir") || !p.count(p.total, "D1mr")) {
        cell.measured.reset();
        return failed(std::move(cell), "callgrind's profile has no instruction or cache counts (was --cache-sim off?)");
    }
    const bool serialised = cell.threads > 1 || (cell.measured->trace && cell.measured->trace->replay_threads > 1);
    cell.measured->metrics.callgrind = callgrind_metrics{counts(p.total), counts(p.inside), p.boundary_calls, serialised, profile.string()};
    return cell;
}

/// The cell's record; nullopt when a stop ended it before it finished.
std::optional<cell_record> run_one(const planned_cell& c, const run_options& o, const std::string& exe,
                                   const std::filesystem::path& run_dir) {
    cell_record cell{c.allocator->name, c.workload, c.threads, c.rep, o.seed, std::string(to_string(o.size)),
                     cell_status::ok, std::nullopt, std::nullopt, std::nullopt,
                     c.trace != nullptr ? std::optional(std::string(trace::to_string(c.trace->order))) : std::nullopt};
    if (!c.allocator->available()) return skipped(std::move(cell), "unavailable: " + c.allocator->unavailable);
    const std::string why = c.trace != nullptr ? trace_skip_reason(c.allocator->caps, *c.trace)
                                               : skip_reason(c.allocator->caps, c.needs, c.threads);
    if (!why.empty()) return skipped(std::move(cell), why);

    // Only this allocator's own settings reach the child: the variables of the others are dropped.
    child_spec spec{exe, {cell_command}, c.allocator->env, external_environment_names(), o.timeout_s};
    // Under callgrind, valgrind runs the cell (the allocator's library preloaded into the cell,
    // as without it: valgrind keeps LD_PRELOAD for its client), with the virtual clock too.
    const std::filesystem::path profile = o.callgrind ? profile_path(c) : std::filesystem::path();
    if (o.callgrind) {
        std::filesystem::create_directories(run_dir / profile.parent_path());
        spec.exe = o.callgrind->valgrind;
        spec.args = callgrind_arguments(*o.callgrind, run_dir / profile);
        spec.args.insert(spec.args.end(), {exe, std::string(cell_command)});
    }
    spec.stop_fd = stop_signals::fd();
    spec.cpus = o.pin_cpus;
    spec.env_unset.push_back("LD_PRELOAD");
    const auto args = request_for(c, o).to_args();
    spec.args.insert(spec.args.end(), args.begin(), args.end());
    std::string preload = c.allocator->library;
    if (o.callgrind) preload += (preload.empty() ? "" : ":") + o.callgrind->virtual_clock;
    if (!preload.empty()) spec.env_set.emplace_back("LD_PRELOAD", std::move(preload));
    const child_outcome outcome = run_child(spec);
    if (outcome.how == child_outcome::ending::stopped) return std::nullopt;
    cell_record done = outcome_of(std::move(cell), outcome, *c.allocator, o);
    if (o.callgrind && done.ok()) return with_profile(std::move(done), run_dir, profile);
    return done;
}

/// What identifies a cell of the matrix.
auto cell_key(const std::string& allocator, const std::string& workload, unsigned threads, unsigned rep) {
    return std::tuple(allocator, workload, threads, rep);
}

/// The cell on a progress line, after where it stands in the run.
std::string cell_label(const planned_cell& c) { return fmt::format("{:<8} t={:<2} {:<18}", c.workload, c.threads, c.allocator->name); }

/// Says once per run which perf counters this host cannot give (their metrics are null, with
/// the reason in each cell), and records in env which ones opened. Called with the first ok cell.
void note_missing_counters(const cell_record& cell, bool tty, results_writer& writer) {
    std::vector<std::string> opened, missing;
    std::string reason;
    for (const counter_value& c : cell.measured->metrics.pmu.counters) {
        if (c.value) {
            opened.push_back(c.name);
            continue;
        }
        missing.push_back(c.name);
        if (reason.empty()) reason = c.reason.value_or("");
    }
    writer.env().pmu_opened = opened;
    if (!missing.empty())
        fmt::print(stderr, "{}allocmeter run: note: {}: null in these results: {}\n", tty ? "\r\033[K" : "",
                   fmt::join(missing, ", "), reason);
}

/// How the run's cells ran under callgrind: valgrind's version, the caches it simulates, and
/// how the allocator's instructions are told from the harness's.
callgrind_env callgrind_env_of(const callgrind_settings& s) {
    callgrind_env env;
    env.valgrind = s.valgrind;
    env.branch_sim = s.branch_sim;
    env.boundary = "the inclusive counts of calls into the allocator's out-of-line boundary "
                   "(callgrind_boundary: allocate, deallocate, reset)";
    env.clock = std::string(virtual_clock_description);
    const child_outcome v = run_child({s.valgrind, {"--version"}, {}, {}, 60});
    env.version = v.how == child_outcome::ending::exited && v.code == 0 ? v.stderr_tail : "unknown";
    while (!env.version.empty() && (env.version.back() == '\n' || env.version.back() == '\r')) env.version.pop_back();
    env.caches = {{"I1", describe_cache(s.caches.i1)}, {"D1", describe_cache(s.caches.d1)}, {"LL", describe_cache(s.caches.ll)}};
    return env;
}

/// The env of a run: this host, the options, the traces, and what kind each allocator is.
run_env env_of(const run_options& o, const allocator_catalog& catalog) {
    run_env env;
    env.host = collect_host_env();
    env.command_line = o.command_line;
    env.arguments = o.arguments;
    env.seed = o.seed;
    env.scale = std::string(to_string(o.size));
    env.reps = o.reps;
    if (o.auto_reps) {
        env.reps_auto.emplace();
        env.reps_auto->target_ci = o.auto_reps->target_ci;
        env.reps_auto->max_reps = o.auto_reps->max_reps;
        env.reps_auto->budget_s = o.auto_reps->budget_s;
        for (const auto_group& g : groups_of(plan_round(o, catalog, 1)))
            env.reps_auto->groups.push_back({g.workload, g.threads, 0, std::string(to_string(group_end::running))});
    }
    if (!o.pin_cpus.empty()) env.pin_cpus = o.pin_cpus;
    env.threads = o.threads;
    env.pmu_events = o.pmu_events;
    env.sample_ms = o.sample_ms;
    env.latency_every = o.latency_every;
    env.verify = o.verify;
    if (o.callgrind) {
        env.measure = "callgrind";
        env.callgrind = callgrind_env_of(*o.callgrind);
    }
    if (!o.traces.empty()) {
        env.touch = std::string(trace::to_string(o.touch));
        std::vector<std::string_view> orders;
        for (const trace::replay_order r : o.replays) orders.push_back(trace::to_string(r));
        env.replay = fmt::format("{}", fmt::join(orders, ","));
        for (const trace_workload& t : o.traces) {
            const bool rss = t.recorded_rss.samples != 0;
            env.traces.push_back({t.name, t.path, t.threads, t.events, t.peak_live_bytes, std::string(trace::to_string(t.order)),
                                  rss ? std::optional(t.recorded_rss.peak_bytes) : std::nullopt,
                                  rss ? std::optional(t.recorded_rss.first_bytes) : std::nullopt, trace::to_string(t.touch)});
        }
    }
    for (const std::string& name : o.allocators) env.allocator_kinds[name] = std::string(catalog.find(name)->kind());
    return env;
}

/// The matrix of one round, for the run's first line: "3 allocators + the harness row x 2
/// workloads x 2 thread counts + 1 trace (each on its own threads)".
std::string matrix_shape(const run_options& o) {
    const std::size_t traces = static_cast<std::size_t>(std::count_if(
                          o.workloads.begin(), o.workloads.end(), [](const std::string& w) { return replays_a_trace(w); })),
                      synthetic = o.workloads.size() - traces;
    const bool harness_row = std::find(o.allocators.begin(), o.allocators.end(), harness_allocator_name) != o.allocators.end();
    std::string shape = fmt::format("{} allocators{} x ", o.allocators.size() - harness_row, harness_row ? " + the harness row" : "");
    if (synthetic > 0) shape += fmt::format("{} workloads x {} thread counts", synthetic, o.threads.size());
    if (synthetic > 0 && traces > 0) shape += " + ";
    if (traces > 0 && o.replays.size() > 1)
        shape += fmt::format("{} traces x {} replay orders (each on its own threads)", traces, o.replays.size());
    else if (traces > 0)
        shape += fmt::format("{} traces (each on its own threads)", traces);
    return shape;
}

/// Runs cells one at a time, records each as it finishes and keeps the progress line: what a
/// run of a fixed number of repetitions and one of --reps auto share.
class cell_sequence {
public:
    cell_sequence(const run_options& o, results_writer& writer)
        : o_(o), writer_(writer), spent_before_s_(writer.env().reps_auto ? writer.env().reps_auto->spent_s : 0) {
        for (const cell_record& c : writer.document().cells) ++counts[c.status];
    }

    /// Runs `c` and records it, its progress line led by `position`; false when a stop ended
    /// it, unrecorded (a resume runs it again).
    bool run(const planned_cell& c, const std::string& position) {
        const std::string label = cell_label(c);
        if (tty_) fmt::print(stderr, "\r\033[K{} {} running", position, label);
        const std::optional<cell_record> cell = run_one(c, o_, exe_, writer_.dir());
        if (!cell) return false;
        ++counts[cell->status];
        if (cell->ok() && !pmu_noted_) {
            note_missing_counters(*cell, tty_, writer_);
            pmu_noted_ = true;
        }
        if (writer_.env().reps_auto) writer_.env().reps_auto->spent_s = spent_s();  // written with the cell
        writer_.add(*cell);
        std::string detail(to_string(cell->status));
        if (cell->ok() && cell->measured->metrics.callgrind)  // its times are on the virtual clock: no use
            detail = fmt::format("ok  {:.1f} instr/op, {:.1f} in the allocator",
                                 metric_by_name(cell->measured->metrics, "instructions_per_op").value_or(0),
                                 metric_by_name(cell->measured->metrics, "allocator_instructions_per_op").value_or(0));
        else if (cell->ok())
            detail = fmt::format("ok  {:.2f} ns/op", *cell->measured->metrics.ns_per_op);
        else if (cell->status != cell_status::skipped || !tty_)
            detail += ": " + cell->reason.value_or("");
        const bool keep_line = !tty_ || cell->status == cell_status::failed || cell->status == cell_status::timeout;
        fmt::print(stderr, "{}{} {} {}{}", tty_ ? "\r\033[K" : "", position, label, detail, keep_line ? "\n" : "");
        return true;
    }

    /// A line of its own between the cells' progress lines.
    void say(const std::string& line) const { fmt::print(stderr, "{}allocmeter run: {}\n", tty_ ? "\r\033[K" : "", line); }

    /// Ends the progress line.
    void done() const {
        if (tty_) fmt::print(stderr, "\n");
    }

    /// The wall-clock seconds of the run's rounds, this session's and the earlier ones' (--budget).
    double spent_s() const { return spent_before_s_ + std::chrono::duration<double>(clock::now() - started_).count(); }

    std::map<cell_status, int> counts;  ///< the run's cells by status, earlier sessions' too

private:
    using clock = std::chrono::steady_clock;
    const run_options& o_;
    results_writer& writer_;
    const bool tty_ = ::isatty(STDERR_FILENO) != 0;
    const std::string exe_ = self_exe();
    bool pmu_noted_ = writer_.document().env.pmu_opened.has_value();
    const double spent_before_s_;
    const clock::time_point started_ = clock::now();
};

/// A fixed number of repetitions: `cells`, every one of `all` or those a resumed run lacks, in
/// order; the progress counts the whole matrix.
void run_fixed(const std::vector<planned_cell>& all, const std::vector<planned_cell>& cells, const run_options& o,
               cell_sequence& runner) {
    const std::size_t first = all.size() - cells.size();
    for (std::size_t i = 0; i < cells.size() && stop_signals::received() == 0; ++i)
        if (!runner.run(cells[i], fmt::format("[{:3}/{}] rep {}/{} ", first + i + 1, all.size(), cells[i].rep, o.reps))) break;
}

/// "frame t=1, churn t=2": groups, for the lines between rounds.
std::string group_names(const std::vector<const auto_group*>& groups) {
    std::string text;
    for (const auto_group* g : groups) text += fmt::format("{}{} t={}", text.empty() ? "" : ", ", g->workload, g->threads);
    return text;
}

/// After a round: which groups it ended, and how many go on.
std::string round_news(unsigned round, const auto_schedule& schedule, const std::vector<group_end>& before) {
    std::map<group_end, std::vector<const auto_group*>> ended;
    for (std::size_t g = 0; g < before.size(); ++g)
        if (before[g] == group_end::running && schedule.groups()[g].end != group_end::running)
            ended[schedule.groups()[g].end].push_back(&schedule.groups()[g]);
    std::string news = fmt::format("round {} done", round);
    for (const auto& [end, groups] : ended) news += fmt::format("; {} {}", group_names(groups), end_phrase(end));
    return news + fmt::format("; {} group{} go{} on", schedule.running(), schedule.running() == 1 ? "" : "s",
                              schedule.running() == 1 ? "es" : "");
}

/// --reps auto: rounds of the groups still running, until the schedule ends every group. The
/// env records each group's standing after every round.
void run_auto(const run_options& o, const allocator_catalog& catalog, auto_schedule& schedule, std::optional<unsigned> round,
              results_writer& writer, cell_sequence& runner) {
    double last_round_s = 0;
    while (round && stop_signals::received() == 0) {
        const double round_started = runner.spent_s();
        std::set<decltype(cell_key("", "", 0, 0))> done;  // a resumed run's cells of this round
        for (const cell_record& c : writer.document().cells)
            if (c.rep == *round) done.insert(cell_key(c.allocator, c.workload, c.threads, c.rep));
        std::vector<planned_cell> cells;
        for (const planned_cell& c : plan_round(o, catalog, *round))
            if (schedule.in_round(c.workload, c.threads) && !done.contains(cell_key(c.allocator->name, c.workload, c.threads, c.rep)))
                cells.push_back(c);
        const std::size_t groups = schedule.running();
        for (std::size_t i = 0; i < cells.size() && stop_signals::received() == 0; ++i)
            if (!runner.run(cells[i], fmt::format("[round {}: {}/{}, {} group{} running]", *round, i + 1, cells.size(), groups,
                                                  groups == 1 ? "" : "s")))
                break;
        if (stop_signals::received() != 0) return;
        last_round_s = runner.spent_s() - round_started;
        std::vector<group_end> before;
        for (const auto_group& g : schedule.groups()) before.push_back(g.end);
        const unsigned finished = *round;
        round = schedule.next_round(writer.document().cells, runner.spent_s(), last_round_s);
        writer.env().reps_auto->groups = recorded_groups(schedule);
        writer.env().reps_auto->spent_s = runner.spent_s();
        runner.say(round_news(finished, schedule, before));
    }
}

}  // namespace

run_outcome run_matrix(const run_options& o, const allocator_catalog& catalog, const resumed_run* resumed) {
    const std::vector<planned_cell> all = o.auto_reps ? std::vector<planned_cell>() : plan(o, catalog);
    std::vector<planned_cell> cells;  // a fixed run's cells still to run: every one, or what a resumed run lacks
    std::optional<results_writer> writer_store;
    if (resumed != nullptr) {
        std::set<decltype(cell_key("", "", 0, 0))> done;
        for (const cell_record& c : resumed->doc.cells) done.insert(cell_key(c.allocator, c.workload, c.threads, c.rep));
        for (const planned_cell& c : all)
            if (!done.contains(cell_key(c.allocator->name, c.workload, c.threads, c.rep))) cells.push_back(c);
        writer_store.emplace(results_writer::resume(resumed->dir, resumed->doc));
    } else {
        cells = all;
        writer_store.emplace(o.out, env_of(o, catalog), o.auto_reps ? std::nullopt : std::optional<std::uint64_t>(all.size()));
    }
    results_writer& writer = *writer_store;
    if (const std::string problem = writer.link_latest(); !problem.empty()) fmt::print(stderr, "allocmeter run: note: {}\n", problem);

    // An auto run's standing so far (a resumed one's from its cells): its first round to run.
    std::optional<auto_schedule> schedule;
    std::optional<unsigned> round;
    cell_sequence runner(o, writer);
    if (o.auto_reps) {
        schedule.emplace(*o.auto_reps, groups_of(plan_round(o, catalog, 1)), o.allocators);
        round = schedule->next_round(writer.document().cells, runner.spent_s(), 0);
        writer.env().reps_auto->groups = recorded_groups(*schedule);
    }
    const std::size_t per_round = plan_round(o, catalog, 1).size();
    if (resumed != nullptr && o.auto_reps)
        fmt::print(stderr, "allocmeter run: resuming {} (--reps auto): {} cells done, {} of {} groups still running{}\n",
                   resumed->dir.string(), writer.document().cells.size(), schedule->running(), schedule->groups().size(),
                   round ? fmt::format(", from round {}", *round) : "");
    else if (resumed != nullptr)
        fmt::print(stderr, "allocmeter run: resuming {}: {} of {} cells done, {} to run\n", resumed->dir.string(),
                   all.size() - cells.size(), all.size(), cells.size());
    else if (o.auto_reps)
        fmt::print(stderr, "allocmeter run: rounds of {} cells ({}) until each group's intervals are narrower than {:g}% of "
                           "their medians: {} to {} rounds{}, scale {}, seed {}\n  results: {}\n",
                   per_round, matrix_shape(o), 100 * o.auto_reps->target_ci, reps_for_ci_target(), o.auto_reps->max_reps,
                   o.auto_reps->budget_s ? fmt::format(" within {:g} s", *o.auto_reps->budget_s) : "", to_string(o.size), o.seed,
                   (writer.dir() / "results.json").string());
    else
        fmt::print(stderr, "allocmeter run: {} cells ({}, x {} reps), scale {}, seed {}\n  results: {}\n", cells.size(), matrix_shape(o),
                   o.reps, to_string(o.size), o.seed, (writer.dir() / "results.json").string());

    if (schedule)
        run_auto(o, catalog, *schedule, round, writer, runner);
    else
        run_fixed(all, cells, o, runner);
    runner.done();
    std::map<cell_status, int>& counts = runner.counts;
    const std::size_t failed = static_cast<std::size_t>(counts[cell_status::failed] + counts[cell_status::timeout]);
    if (const int sig = stop_signals::received(); sig != 0) {
        fmt::print(stderr,
                   "allocmeter run: stopped by {}: {} cells have results{}, kept in {}\n"
                   "  resume with: allocmeter run --resume {}\n",
                   describe_signal(sig), writer.document().cells.size(), o.auto_reps ? "" : fmt::format(" of {}", all.size()),
                   (writer.dir() / "results.json").string(), writer.dir().string());
        return {writer.dir(), failed, sig};
    }
    writer.finish();
    const run_summary summary = summarize_run(writer.document());
    writer.write_summary(summary);
    print_summary(summary, stdout);
    print_recorded_rss(summary, writer.document(), stdout);
    if (schedule) print_auto_rounds(*schedule, stdout);
    fmt::print("\n{} ok, {} skipped, {} failed, {} timeout\nresults: {}\n         {}\n", counts[cell_status::ok],
               counts[cell_status::skipped], counts[cell_status::failed], counts[cell_status::timeout],
               (writer.dir() / "results.json").string(), (writer.dir() / "results.csv").string());
    std::fflush(stdout);
    return {writer.dir(), failed, 0};
}

}  // namespace allocmeter
