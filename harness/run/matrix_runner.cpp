// Cell scheduling, child outcomes turned into cell records, and the progress line.
#include "harness/run/matrix_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
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

/// Repetition outermost, allocator innermost: A B C A B C ..., so drift hits all alike. A
/// trace replays with its own thread count, once per repetition and replay order.
std::vector<planned_cell> plan(const run_options& o, const allocator_catalog& catalog) {
    std::vector<planned_cell> cells;
    for (unsigned rep = 1; rep <= o.reps; ++rep)
        for (const auto& w : o.workloads) {
            if (w.rfind(trace_prefix, 0) == 0) {
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
    // as without it: valgrind keeps LD_PRELOAD for its client).
    const std::filesystem::path profile = o.callgrind ? profile_path(c) : std::filesystem::path();
    if (o.callgrind) {
        std::filesystem::create_directories(run_dir / profile.parent_path());
        spec.exe = o.callgrind->valgrind;
        spec.args = callgrind_arguments(*o.callgrind, run_dir / profile);
        spec.args.insert(spec.args.end(), {exe, std::string(cell_command)});
    }
    spec.stop_fd = stop_signals::fd();
    spec.env_unset.push_back("LD_PRELOAD");
    const auto args = request_for(c, o).to_args();
    spec.args.insert(spec.args.end(), args.begin(), args.end());
    if (!c.allocator->library.empty()) spec.env_set.emplace_back("LD_PRELOAD", c.allocator->library);
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

std::string cell_label(const planned_cell& c, const run_options& o) {
    return fmt::format("rep {}/{}  {:<8} t={:<2} {:<18}", c.rep, o.reps, c.workload, c.threads, c.allocator->name);
}

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

}  // namespace

run_outcome run_matrix(const run_options& o, const allocator_catalog& catalog, const resumed_run* resumed) {
    const std::vector<planned_cell> all = plan(o, catalog);
    std::vector<planned_cell> cells;  // those still to run: every one, or what a resumed run lacks
    std::optional<results_writer> writer_store;
    if (resumed != nullptr) {
        std::set<decltype(cell_key("", "", 0, 0))> done;
        for (const cell_record& c : resumed->doc.cells) done.insert(cell_key(c.allocator, c.workload, c.threads, c.rep));
        for (const planned_cell& c : all)
            if (!done.contains(cell_key(c.allocator->name, c.workload, c.threads, c.rep))) cells.push_back(c);
        writer_store.emplace(results_writer::resume(resumed->dir, resumed->doc));
    } else {
        cells = all;
        writer_store.emplace(o.out, env_of(o, catalog), all.size());
    }
    results_writer& writer = *writer_store;
    if (const std::string problem = writer.link_latest(); !problem.empty()) fmt::print(stderr, "allocmeter run: note: {}\n", problem);

    const std::size_t traces = static_cast<std::size_t>(std::count_if(
                          o.workloads.begin(), o.workloads.end(), [](const std::string& w) { return w.rfind(trace_prefix, 0) == 0; })),
                      synthetic = o.workloads.size() - traces;
    std::string shape = fmt::format("{} allocators x ", o.allocators.size());
    if (synthetic > 0) shape += fmt::format("{} workloads x {} thread counts", synthetic, o.threads.size());
    if (synthetic > 0 && traces > 0) shape += " + ";
    if (traces > 0 && o.replays.size() > 1)
        shape += fmt::format("{} traces x {} replay orders (each on its own threads)", traces, o.replays.size());
    else if (traces > 0)
        shape += fmt::format("{} traces (each on its own threads)", traces);
    if (resumed != nullptr)
        fmt::print(stderr, "allocmeter run: resuming {}: {} of {} cells done, {} to run\n", resumed->dir.string(),
                   all.size() - cells.size(), all.size(), cells.size());
    else
        fmt::print(stderr, "allocmeter run: {} cells ({}, x {} reps), scale {}, seed {}\n  results: {}\n", cells.size(), shape,
                   o.reps, to_string(o.size), o.seed, (writer.dir() / "results.json").string());
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    const std::string exe = self_exe();
    std::map<cell_status, int> counts;
    for (const cell_record& c : writer.document().cells) ++counts[c.status];
    bool pmu_noted = writer.document().env.pmu_opened.has_value();
    const std::size_t first = all.size() - cells.size();  // the progress counts the whole matrix
    for (std::size_t i = 0; i < cells.size() && stop_signals::received() == 0; ++i) {
        const std::string label = cell_label(cells[i], o);
        if (tty) fmt::print(stderr, "\r\033[K[{:3}/{}] {} running", first + i + 1, all.size(), label);
        const std::optional<cell_record> cell = run_one(cells[i], o, exe, writer.dir());
        if (!cell) break;  // a stop ended it: no record, so a resume runs it again
        ++counts[cell->status];
        if (cell->ok() && !pmu_noted) {
            note_missing_counters(*cell, tty, writer);
            pmu_noted = true;
        }
        writer.add(*cell);
        std::string detail(to_string(cell->status));
        if (cell->ok())
            detail = fmt::format("ok  {:.2f} ns/op", *cell->measured->metrics.ns_per_op);
        else if (cell->status != cell_status::skipped || !tty)
            detail += ": " + cell->reason.value_or("");
        const bool keep_line = !tty || cell->status == cell_status::failed || cell->status == cell_status::timeout;
        fmt::print(stderr, "{}[{:3}/{}] {} {}{}", tty ? "\r\033[K" : "", first + i + 1, all.size(), label, detail,
                   keep_line ? "\n" : "");
    }
    if (tty) fmt::print(stderr, "\n");
    const std::size_t failed = static_cast<std::size_t>(counts[cell_status::failed] + counts[cell_status::timeout]);
    if (const int sig = stop_signals::received(); sig != 0) {
        fmt::print(stderr,
                   "allocmeter run: stopped by {}: {} of {} cells have results, kept in {}\n"
                   "  resume with: allocmeter run --resume {}\n",
                   describe_signal(sig), writer.document().cells.size(), all.size(), (writer.dir() / "results.json").string(),
                   writer.dir().string());
        return {writer.dir(), failed, sig};
    }
    writer.finish();
    const run_summary summary = summarize_run(writer.document());
    writer.write_summary(summary);
    print_summary(summary, stdout);
    print_recorded_rss(summary, writer.document(), stdout);
    fmt::print("\n{} ok, {} skipped, {} failed, {} timeout\nresults: {}\n         {}\n", counts[cell_status::ok],
               counts[cell_status::skipped], counts[cell_status::failed], counts[cell_status::timeout],
               (writer.dir() / "results.json").string(), (writer.dir() / "results.csv").string());
    std::fflush(stdout);
    return {writer.dir(), failed, 0};
}

}  // namespace allocmeter
