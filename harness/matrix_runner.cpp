// Cell scheduling, child outcomes turned into cell records, and the progress line.
#include "harness/matrix_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "harness/cell.hpp"
#include "harness/child_process.hpp"
#include "harness/library_probe.hpp"
#include "harness/registry.hpp"
#include "harness/results_writer.hpp"
#include "harness/report_command.hpp"
#include "harness/summary_table.hpp"
#include "workloads/trace/replay/replay_plan_file.hpp"

namespace allocmeter {

namespace {

struct planned_cell {
    const allocator_entry* allocator;
    std::string workload;            ///< a registered name, or a trace spec
    workload_needs needs;
    const trace_workload* trace;     ///< nullptr for a synthetic workload
    unsigned threads;
    unsigned rep;
};

/// Repetition outermost, allocator innermost: A B C A B C ..., so drift hits all alike. A
/// trace replays with its own thread count, once per repetition.
std::vector<planned_cell> plan(const run_options& o, const allocator_catalog& catalog) {
    std::vector<planned_cell> cells;
    for (unsigned rep = 1; rep <= o.reps; ++rep)
        for (const auto& w : o.workloads) {
            const auto t = std::find_if(o.traces.begin(), o.traces.end(), [&](const trace_workload& x) { return x.spec == w; });
            if (t != o.traces.end()) {
                for (const auto& a : o.allocators) cells.push_back({catalog.find(a), w, t->needs, &*t, t->threads, rep});
                continue;
            }
            const workload_info* info = find_workload(w);
            for (const unsigned threads : o.threads)
                for (const auto& a : o.allocators) cells.push_back({catalog.find(a), w, info->needs, nullptr, threads, rep});
        }
    return cells;
}

/// Why an allocator cannot replay a trace; empty when it can.
std::string trace_skip_reason(const capabilities& caps, const trace_workload& t) {
    if (first_missing(caps, t.needs, t.threads) == missing_capability::thread_safety)
        return "the trace replays on " + std::to_string(t.threads) +
               " threads sharing one instance and the allocator is not thread-safe (--replay serial replays it on one thread)";
    return skip_reason(caps, t.needs, t.threads, "the trace");
}

/// The last few non-empty lines of a child's stderr, joined, for a failure reason.
std::string last_lines(const std::string& text, std::size_t lines = 3) {
    std::vector<std::string> kept;
    std::size_t end = text.size();
    while (end > 0 && kept.size() < lines) {
        const std::size_t start = text.rfind('\n', end - 1);
        const std::size_t from = start == std::string::npos ? 0 : start + 1;
        std::string line = text.substr(from, end - from);
        if (!line.empty() && line.rfind("TBBmalloc:", 0) != 0) kept.insert(kept.begin(), line);
        if (start == std::string::npos) break;
        end = start;
    }
    std::string out;
    for (const auto& l : kept) out += (out.empty() ? "" : " | ") + l;
    return out.size() > 400 ? out.substr(out.size() - 400) : out;
}

nlohmann::json skipped(nlohmann::json cell, const std::string& reason) {
    cell["status"] = "skipped";
    cell["reason"] = reason;
    return cell;
}

nlohmann::json run_one(const planned_cell& c, const run_options& o, const std::string& exe) {
    nlohmann::json cell = {{"allocator", c.allocator->name}, {"workload", c.workload},
                           {"threads", c.threads},          {"rep", c.rep},
                           {"seed", o.seed},                {"scale", to_string(o.size)},
                           {"status", "ok"},                {"reason", nullptr},
                           {"metrics", nullptr},            {"library", nullptr}};
    if (!c.allocator->available()) return skipped(cell, "unavailable: " + c.allocator->unavailable);
    const std::string why = c.trace != nullptr ? trace_skip_reason(c.allocator->caps, *c.trace)
                                               : skip_reason(c.allocator->caps, c.needs, c.threads);
    if (!why.empty()) return skipped(cell, why);

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
    if (c.trace != nullptr) {
        request.workload = std::string(trace_workload_name);
        request.trace = {c.trace->path, c.trace->plan_path, o.touch, o.replay};
    }
    child_spec spec{exe, {cell_command}, c.allocator->env, {"LD_PRELOAD", "TBB_VERSION"}, o.timeout_s};
    const auto args = request.to_args();
    spec.args.insert(spec.args.end(), args.begin(), args.end());
    if (!c.allocator->library.empty()) spec.env_set.emplace_back("LD_PRELOAD", c.allocator->library);

    const child_outcome r = run_child(spec);
    const std::string said = last_lines(r.stderr_tail);
    using ending = child_outcome::ending;
    if (r.how == ending::spawn_failed) {
        cell["status"] = "failed";
        cell["reason"] = "could not start the cell process: " + r.spawn_error;
    } else if (r.how == ending::timed_out) {
        cell["status"] = "timeout";
        char why[96];
        std::snprintf(why, sizeof why, "no result within %g s (--timeout); killed", o.timeout_s);
        cell["reason"] = why;
    } else if (r.how == ending::signaled) {
        cell["status"] = "failed";
        cell["reason"] = "killed by " + describe_signal(r.code) + (said.empty() ? "" : ": " + said);
    } else if (r.code != 0) {
        cell["status"] = "failed";
        cell["reason"] = (said.empty() ? "the cell process failed" : said) + " (exit code " + std::to_string(r.code) + ")";
    } else {
        const auto result = nlohmann::json::parse(r.result, nullptr, false);
        if (result.is_discarded() || !result.contains("metrics")) {
            cell["status"] = "failed";
            cell["reason"] = "the cell process exited without a result" + (said.empty() ? "" : ": " + said);
        } else {
            for (const auto& [k, v] : result.items()) cell[k] = v;
            if (cell["library"].is_object() && cell["library"]["version"].is_null()) {
                if (std::string v = tbbmalloc_banner_version(r.stderr_tail); !v.empty()) {
                    cell["library"]["version"] = v;
                    cell["library"]["version_source"] = "TBB_VERSION banner";
                }
            }
        }
    }
    cell["cell_wall_s"] = r.wall_s;
    return cell;
}

std::string cell_label(const planned_cell& c, const run_options& o) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "rep %u/%u  %-8s t=%-2u %-18s", c.rep, o.reps, c.workload.c_str(),
                  c.threads, c.allocator->name.c_str());
    return buf;
}

unsigned plan_number() {
    static unsigned n = 0;
    return ++n;
}

/// Says once per run which perf counters this host cannot give (their metrics are null, with
/// the reason in each cell), and records in env which ones opened. True once the first ok
/// cell has been looked at.
bool note_missing_counters(const nlohmann::json& cell, bool tty, results_writer& writer) {
    const auto& pmu = cell["metrics"]["pmu"];
    if (!pmu.is_object()) return true;
    std::string names, reason;
    nlohmann::json opened = nlohmann::json::array();
    for (const auto& [name, c] : pmu.items()) {
        if (!c.is_object()) continue;
        if (!c["value"].is_null()) {
            opened.push_back(name);
            continue;
        }
        names += (names.empty() ? "" : ", ") + name;
        if (reason.empty()) reason = c["reason"].get<std::string>();
    }
    writer.set_env("pmu_opened", opened);
    if (!names.empty())
        std::fprintf(stderr, "%sallocmeter run: note: %s: null in these results: %s\n", tty ? "\r\033[K" : "",
                     names.c_str(), reason.c_str());
    return true;
}

}  // namespace

trace_workload load_trace_workload(const std::string& spec, trace::replay_order order,
                                   const std::filesystem::path& plan_dir) {
    trace_workload t;
    t.spec = spec;
    t.path = spec.substr(trace_prefix.size());
    if (t.path.empty())
        throw usage_error("--workloads " + spec + ": no file after 'trace:'; give a trace recorded with 'allocmeter record', e.g. trace:app.trace");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(t.path, ec))
        throw usage_error("--workloads " + spec + ": " + t.path +
                          " is not a file; record one with 'allocmeter record -o " + t.path + " -- PROGRAM'");
    try {
        const trace::replay_plan p = trace::replay_plan::load(t.path, order);
        t.needs = p.needs();
        t.threads = std::max<unsigned>(1, static_cast<unsigned>(p.threads.size()));
        t.events = p.steps;
        t.peak_live_bytes = p.peak_live_bytes;
        t.plan_path = (plan_dir / ("plan-" + std::to_string(plan_number()) + ".bin")).string();
        trace::save_plan(p, t.plan_path);
    } catch (const trace::trace_error& e) {
        if (e.file != t.path) throw usage_error("--workloads " + spec + ": " + e.what());
        throw usage_error("--workloads " + spec + ": not a valid trace: " + e.what() +
                          "; check it with 'allocmeter trace validate " + t.path + "'");
    }
    return t;
}

int run_matrix(const run_options& o, const allocator_catalog& catalog) {
    const std::vector<planned_cell> cells = plan(o, catalog);
    nlohmann::json env = collect_host_env();
    env["command_line"] = o.command_line;
    env["seed"] = o.seed;
    env["scale"] = to_string(o.size);
    env["reps"] = o.reps;
    env["threads"] = o.threads;
    env["pmu_events"] = o.pmu_events;
    env["sample_ms"] = o.sample_ms;
    env["latency_every"] = o.latency_every;
    if (!o.traces.empty()) {
        env["touch"] = trace::to_string(o.touch);
        env["replay"] = trace::to_string(o.replay);
        env["traces"] = nlohmann::json::array();
        for (const trace_workload& t : o.traces)
            env["traces"].push_back({{"workload", t.spec}, {"path", t.path}, {"threads", t.threads},
                                     {"steps", t.events}, {"recorded_peak_live_bytes", t.peak_live_bytes}});
    }
    env["allocators"] = nlohmann::json::object();
    results_writer writer(o.out, env);
    writer.link_latest();

    const std::size_t traces = o.traces.size(), synthetic = o.workloads.size() - traces;
    std::string shape = std::to_string(o.allocators.size()) + " allocators x ";
    if (synthetic > 0)
        shape += std::to_string(synthetic) + " workloads x " + std::to_string(o.threads.size()) + " thread counts";
    if (synthetic > 0 && traces > 0) shape += " + ";
    if (traces > 0) shape += std::to_string(traces) + " traces (each on its own threads)";
    std::fprintf(stderr, "allocmeter run: %zu cells (%s, x %u reps), scale %s, seed %llu\n  results: %s\n", cells.size(),
                 shape.c_str(), o.reps, std::string(to_string(o.size)).c_str(), static_cast<unsigned long long>(o.seed),
                 (writer.dir() / "results.json").c_str());
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    const std::string exe = self_exe();
    std::map<std::string, int> counts;
    bool pmu_noted = false;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        const std::string label = cell_label(cells[i], o);
        if (tty) std::fprintf(stderr, "\r\033[K[%3zu/%zu] %s running", i + 1, cells.size(), label.c_str());
        const nlohmann::json cell = run_one(cells[i], o, exe);
        const std::string status = cell["status"];
        ++counts[status];
        if (status == "ok" && !pmu_noted) pmu_noted = note_missing_counters(cell, tty, writer);
        writer.add(cell);
        std::string detail = status;
        if (status == "ok") {
            char buf[64];
            std::snprintf(buf, sizeof buf, "ok  %.2f ns/op", cell["metrics"]["ns_per_op"].get<double>());
            detail = buf;
        } else if (status != "skipped" || !tty) {
            detail += ": " + cell["reason"].get<std::string>();
        }
        const bool keep_line = !tty || status == "failed" || status == "timeout";
        std::fprintf(stderr, "%s[%3zu/%zu] %s %s%s", tty ? "\r\033[K" : "", i + 1, cells.size(), label.c_str(),
                     detail.c_str(), keep_line ? "\n" : "");
    }
    if (tty) std::fprintf(stderr, "\n");
    print_summary(writer.document(), stdout);
    std::printf("\n%d ok, %d skipped, %d failed, %d timeout\nresults: %s\n         %s\n", counts["ok"], counts["skipped"],
                counts["failed"], counts["timeout"], (writer.dir() / "results.json").c_str(),
                (writer.dir() / "results.csv").c_str());
    return o.report ? report_for_run(writer.dir().string()) : 0;
}

}  // namespace allocmeter
