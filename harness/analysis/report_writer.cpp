// Builds the report page: first the data a reader sees, as plain strings and lists taken from
// the summary and the record (every figure formatted here, every choice made here), then the
// page from report_page.mustache, which holds all the markup and none of the logic. Charts
// come from plot_runner and are embedded as base64 PNG, so the page can be mailed on its own;
// the SVGs stay beside it for slides.
#include "harness/analysis/report_writer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <kainjow/mustache.hpp>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "harness/analysis/plot_runner.hpp"
#include "harness/analysis/summary.hpp"
#include "harness/analysis/summary_table.hpp"
#include "harness/results/results_writer.hpp"

namespace allocmeter {

/// The page's template, embedded at build time from report_page.mustache (CMake).
extern const char* const report_page_template;

namespace {

using kainjow::mustache::data;
using kainjow::mustache::list;
using kainjow::mustache::mustache;
using kainjow::mustache::object;

std::string base64(std::string_view bytes) {
    static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t v = 0;
        for (std::size_t j = 0; j < 3; ++j) v = v << 8 | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0);
        for (std::size_t j = 0; j < 4; ++j) out += j <= n ? digits[(v >> (18 - 6 * j)) & 63] : '=';
    }
    return out;
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string group_name(const summary_group& g) { return fmt::format("{}, {} thread{}", g.workload, g.threads, g.threads == 1 ? "" : "s"); }

std::string percent(double share) { return fmt::format("{:g}%", 100 * share); }

/// The test of `row`'s `metric` (&summary_row::time or ::rss) against the baseline row `base`
/// as a table cell: "lower, p 0.0079 (U)" or "lower, p 0.031 (paired)" in its colour, "baseline"
/// on the baseline's own row, nothing (false) when there is no baseline to test against.
data test_cell(const summary_row& row, const summary_row* base, metric_summary summary_row::*metric) {
    const metric_summary& m = row.*metric;
    if (base == nullptr || (base->*metric).stats.n == 0 || m.stats.n == 0) return data(false);
    const std::optional<metric_verdict> v = verdict_of(m, base->*metric, default_alpha);
    if (!v) return object{{"class", "muted"}, {"text", "baseline"}};
    const std::string said = v->verdict;
    const bool lower = said == "faster", higher = said == "slower";
    return object{{"class", lower ? "faster" : higher ? "slower" : "same"},
                  {"text", fmt::format("{}, p {:.2g} ({})", lower ? "lower" : higher ? "higher" : "no sig. diff.", v->p_value,
                                       v->paired ? "paired" : "U")}};
}

/// An interval of ratios as a table cell: "0.36 - 0.39" (an en dash); "" without one.
std::string ratio_interval(const std::optional<double>& low, const std::optional<double>& high) {
    return low && high ? fmt::format("{:.2f} \u2013 {:.2f}", *low, *high) : "";
}

const summary_row* baseline_row(const summary_group& g, const std::string& baseline) {
    for (const summary_row& r : g.rows)
        if (r.allocator == baseline && r.ok()) return &r;
    return nullptr;
}

data glance_rows(const run_summary& run) {
    data rows{data::type::list};
    for (const summary_group& g : run.groups) {
        const summary_row *fast = nullptr, *small = nullptr;
        for (const summary_row& r : g.rows) {
            if (!r.ok() || r.is_harness()) continue;  // the harness row is no allocator to pick
            if (!fast || r.time.stats.median < fast->time.stats.median) fast = &r;
            if (r.rss.stats.n && (!small || r.rss.stats.median < small->rss.stats.median)) small = &r;
        }
        if (!fast) continue;
        const summary_row* base = baseline_row(g, run.baseline);
        data least = data(false);
        if (small)
            least = object{{"allocator", small->allocator},
                           {"peak_rss", mib_text(small->rss.stats.median)},
                           {"rss_ratio", ratio_text(small->rss.ratio)},
                           {"rss_test", test_cell(*small, base, &summary_row::rss)}};
        rows << object{{"group", group_name(g)},
                       {"fastest", fast->allocator},
                       {"time_median", fmt::format("{:.2f}", fast->time.stats.median)},
                       {"time_ratio", ratio_text(fast->time.ratio)},
                       {"time_test", test_cell(*fast, base, &summary_row::time)},
                       {"least_memory", least}};
    }
    return rows;
}

data comparison_groups(const run_summary& run) {
    data groups{data::type::list};
    for (const summary_group& g : run.groups) {
        const summary_row* base = baseline_row(g, run.baseline);
        data rows{data::type::list};
        for (const summary_row& r : g.rows) {
            if (!r.ok()) {
                rows << object{{"allocator", r.allocator}, {"not_ok", object{{"why", r.not_ok}}}};
                continue;
            }
            const std::string& version = label_of(run, r.allocator).version;
            const bool is_base = r.allocator == run.baseline;
            const std::optional<sample_summary>& paired = r.time.paired;
            // The harness row is shown apart, its own cost only: no test against the baseline.
            const bool harness = r.is_harness();
            std::string check = std::string(r.noisy ? "high CV " : "") + (r.few_reps ? "few reps" : "");
            if (harness) check = std::string(harness_row_note) + (check.empty() ? "" : "; " + check);
            if (!r.net_note.empty()) check += (check.empty() ? "" : "; ") + r.net_note;
            rows << object{{"allocator", r.allocator},
                           {"not_ok", data(false)},
                           {"harness_row", data(harness)},
                           {"library_version", harness ? "do-nothing" : version.empty() ? "reference" : version},
                           {"reps", std::to_string(r.time.stats.n)},
                           {"time_median", fmt::format("{:.2f}", r.time.stats.median)},
                           {"ci_low", fmt::format("{:.2f}", r.time.stats.ci_low)},
                           {"ci_high", fmt::format("{:.2f}", r.time.stats.ci_high)},
                           {"cv", fmt::format("{:.1f}%", 100 * r.time.stats.cv)},
                           {"time_ratio", ratio_text(r.time.ratio)},
                           {"time_ratio_ci", is_base ? "" : ratio_interval(r.time.ratio_low, r.time.ratio_high)},
                           {"paired_ratio", ratio_text(paired ? std::optional<double>(paired->median) : std::nullopt)},
                           {"paired_ci", is_base || !paired ? "" : ratio_interval(paired->ci_low, paired->ci_high)},
                           {"paired_rounds", paired ? std::to_string(paired->n) : "0"},
                           {"net_ns", r.net_ns_per_op ? fmt::format("{:.2f}", *r.net_ns_per_op) : "-"},
                           {"net_ratio", ratio_text(r.net_ratio)},
                           {"net_note", r.net_note},
                           {"time_test", harness ? data(false) : test_cell(r, base, &summary_row::time)},
                           {"peak_rss", r.rss.stats.n ? mib_text(r.rss.stats.median) : "-"},
                           {"rss_ratio", ratio_text(r.rss.ratio)},
                           {"rss_test", harness ? data(false) : test_cell(r, base, &summary_row::rss)},
                           {"check", check}};
        }
        groups << object{{"group", group_name(g)}, {"rounds", fmt::format("{} round{}", g.rounds, g.rounds == 1 ? "" : "s")}, {"rows", rows}};
    }
    return groups;
}

/// Each trace replayed both in threads and in timed order: per allocator its own time and its
/// weight in the program.
data side_by_side_tables(const run_summary& run) {
    const auto text = [](const std::optional<double>& v, std::string_view format, double scale = 1) {
        return v ? fmt::format(fmt::runtime(format), *v * scale) : std::string("-");
    };
    data tables{data::type::list};
    for (const side_by_side& p : run.replays) {
        data rows{data::type::list};
        for (const side_by_side_row& r : p.rows) {
            if (!r.own_ns_per_op && !r.timed_wall_s) {
                rows << object{{"allocator", r.allocator}, {"not_ok", object{{"why", r.not_ok}}}};
                continue;
            }
            rows << object{{"allocator", r.allocator},
                           {"not_ok", data(false)},
                           {"own_ns", text(r.own_ns_per_op, "{:.2f}")},
                           {"own_ratio", ratio_text(r.own_ratio)},
                           {"timed_run", text(r.timed_wall_s, "{:.1f} ms", 1e3)},
                           {"timed_ratio", ratio_text(r.timed_ratio)},
                           {"allocator_share", text(r.allocator_share, "{:.1f}%", 100)},
                           {"wait_share", text(r.wait_share, "{:.1f}%", 100)},
                           {"partly", r.not_ok}};
        }
        tables << object{{"trace", p.path},
                         {"threads_workload", p.threads_workload},
                         {"timed_workload", p.timed_workload},
                         {"thread_count", fmt::format("{} thread{}", p.threads, p.threads == 1 ? "" : "s")},
                         {"rows", rows}};
    }
    return tables;
}

data chart_figures(const std::vector<chart>& charts, const std::filesystem::path& html) {
    data figures{data::type::list};
    for (const chart& c : charts) {
        const auto png = c.files.find("png");
        if (png == c.files.end()) continue;
        const auto svg = c.files.find("svg");
        figures << object{{"name", c.name},
                          {"title", c.title},
                          {"caption", c.caption},
                          {"png_base64", base64(read_file(png->second))},
                          {"svg", svg == c.files.end() ? data(false) : data(std::filesystem::relative(svg->second, html.parent_path()).string())}};
    }
    return figures;
}

/// run --measure callgrind's tables: per group, each allocator's instructions per operation
/// (all, inside the allocator, in the harness), their ratios to the baseline's, and simulated
/// data-cache misses; empty for a run measured by time.
data callgrind_groups(const run_summary& run) {
    data groups{data::type::list};
    for (const summary_group& g : run.groups) {
        data rows{data::type::list};
        for (const summary_row& r : g.rows) {
            if (!r.ok() || !r.callgrind) {
                rows << object{{"allocator", r.allocator}, {"not_ok", object{{"why", r.not_ok.empty() ? "no callgrind figures" : r.not_ok}}}};
                continue;
            }
            const callgrind_row& c = *r.callgrind;
            const std::string& version = label_of(run, r.allocator).version;
            rows << object{{"allocator", r.allocator},
                           {"not_ok", data(false)},
                           {"library_version", version.empty() ? "reference" : version},
                           {"instructions", per_op_text(c, "instructions_per_op", "{:.1f}")},
                           {"allocator_instructions", per_op_text(c, "allocator_instructions_per_op", "{:.1f}")},
                           {"harness_instructions", per_op_text(c, "harness_instructions_per_op", "{:.1f}")},
                           {"ratio", ratio_text(c.ratio)},
                           {"allocator_ratio", ratio_text(c.allocator_ratio)},
                           {"l1d", per_op_text(c, "l1d_misses_per_op", "{:.2f}")},
                           {"allocator_l1d", per_op_text(c, "allocator_l1d_misses_per_op", "{:.2f}")},
                           {"ll", per_op_text(c, "ll_misses_per_op", "{:.3f}")},
                           {"allocator_ll", per_op_text(c, "allocator_ll_misses_per_op", "{:.3f}")},
                           {"note", c.threads_serialised ? "threads serialised: contention not represented" : ""}};
        }
        groups << object{{"group", group_name(g)}, {"rows", rows}};
    }
    return groups;
}

/// The simulated caches of a run --measure callgrind, for the report's text.
std::string callgrind_caches(const run_env& env) {
    if (!env.callgrind) return "";
    std::string text;
    for (const auto& [name, cache] : env.callgrind->caches) text += fmt::format("{}{} {}", text.empty() ? "" : "; ", name, cache);
    return text;
}

/// The cells that did not run, one row per (status, allocator, threads, workload, reason).
data not_run_rows(const std::vector<cell_record>& cells) {
    using key = std::tuple<cell_status, std::string, unsigned, std::string, std::string>;
    std::map<key, unsigned> count;
    std::vector<key> order;
    for (const cell_record& c : cells) {
        if (c.ok()) continue;
        const key k{c.status, c.allocator, c.threads, c.workload, c.reason.value_or("")};
        if (count[k]++ == 0) order.push_back(k);
    }
    data rows{data::type::list};
    for (const key& k : order) {
        const auto& [status, allocator, threads, workload, reason] = k;
        rows << object{{"class", status == cell_status::skipped ? "muted" : "slower"}, {"outcome", std::string(to_string(status))},
                       {"allocator", allocator}, {"workload_name", workload}, {"thread_count", std::to_string(threads)},
                       {"reps", std::to_string(count[k])}, {"why", reason}};
    }
    return rows;
}

data settings_rows(const run_env& env) {
    data rows{data::type::list};
    for (const env_setting& e : env_settings(env)) rows << object{{"name", e.name}, {"value", e.value}, {"meaning", e.meaning}};
    return rows;
}

data environment(const run_env& env, object& page) {
    data facts{data::type::list};
    for (const env_setting& e : host_facts(env.host)) facts << object{{"name", e.name}, {"value", e.value}};
    data libraries{data::type::list};
    for (const auto& [name, lib] : env.allocators)
        libraries << object{{"name", name}, {"version", lib.version.value_or("n/a")}, {"source", lib.version_source},
                            {"path", lib.path}, {"free_function", lib.free_function}};
    data traces{data::type::list};
    for (const trace_env& t : env.traces)
        traces << object{{"workload_name", t.workload}, {"replay", t.replay}, {"thread_count", std::to_string(t.threads)},
                         {"steps", std::to_string(t.steps)},
                         {"peak_live", std::to_string(t.recorded_peak_live_bytes)}};
    page.emplace("has_libraries", data(!env.allocators.empty()));
    page.emplace("libraries", libraries);
    page.emplace("has_traces", data(!env.traces.empty()));
    page.emplace("traces", traces);
    return facts;
}

}  // namespace

report_outcome write_report(const loaded_results& results, const run_summary& run, const std::filesystem::path& html,
                            const std::filesystem::path& charts_dir) {
    const results_document& doc = results.doc;
    const run_env& env = doc.env;
    report_outcome outcome;
    std::vector<chart> charts;
    try {
        charts = make_charts(run, results.path, charts_dir);
        outcome.charts = charts.size();
    } catch (const plot_error& e) {
        outcome.charts_problem = e.what();
    }

    std::map<cell_status, unsigned> status;
    std::set<std::string> allocators, workloads;
    for (const cell_record& c : doc.cells) {
        ++status[c.status];
        allocators.insert(c.allocator);
        workloads.insert(c.workload);
    }
    std::size_t comparisons = 0, flagged = 0, rows = 0;
    for (const summary_group& g : run.groups)
        for (const summary_row& r : g.rows) {
            comparisons += r.time.test.has_value() + r.rss.test.has_value();
            rows += r.ok();
            flagged += r.noisy || r.few_reps;
        }
    const bool net = has_net_figures(run);  // the tables get net columns

    object page{
        {"run_name", doc.run_id},
        {"started_at", env.host.started_at},
        {"host", env.host.host},
        {"cpu_model", env.host.cpu_model},
        {"cpus", std::to_string(env.host.cpus)},
        {"kernel", env.host.kernel},
        {"allocator_count", std::to_string(allocators.size())},
        {"workload_count", std::to_string(workloads.size())},
        {"thread_counts", fmt::format("{}", fmt::join(env.threads, ", "))},
        {"reps", repetitions_text(env)},
        {"scale", env.scale},
        {"seed", std::to_string(env.seed)},
        {"ok", std::to_string(status[cell_status::ok])},
        {"skipped", std::to_string(status[cell_status::skipped])},
        {"failed", std::to_string(status[cell_status::failed])},
        {"timed_out", std::to_string(status[cell_status::timeout])},
        {"results_path", results.path.string()},
        {"flagged", flagged == 0 ? data(false) : data(object{{"count", std::to_string(flagged)}, {"rows", std::to_string(rows)}})},
        {"charts_problem", outcome.charts_problem.empty() ? data(false) : data(outcome.charts_problem)},
        {"baseline", run.baseline},
        {"alpha", fmt::format("{:g}", run.alpha)},
        {"high_cv", percent(run.high_cv)},
        {"few_repetitions", std::to_string(run.few_repetitions)},
        {"glance", glance_rows(run)},
        {"has_charts", data(!charts.empty())},
        {"charts", chart_figures(charts, html)},
        {"ci_coverage", ci_coverage_text(run)},
        {"tight_intervals", tight_intervals_text(run).empty()
                                ? data(false)
                                : data(object{{"text", tight_intervals_text(run)}, {"within", percent(tight_within)},
                                              {"low", fmt::format("{:g}", 1 - tight_within)},
                                              {"high", fmt::format("{:g}", 1 + tight_within)}})},
        {"rounds_for_paired_test", std::to_string(rounds_for_paired_test(run.alpha))},
        {"groups", comparison_groups(run)},
        {"has_net", data(net)},
        {"harness_name", std::string(harness_allocator_name)},
        {"row_span", net ? "17" : "15"},
        {"has_replays", data(!run.replays.empty())},
        {"replays", side_by_side_tables(run)},
        {"command_line", env.command_line},
        {"settings", settings_rows(env)},
        {"ci_target", percent(ci_target)},
        {"reps_for_ci_target", std::to_string(reps_for_ci_target())},
        {"comparisons", std::to_string(comparisons)},
        {"chance_hits", fmt::format("{:.1f}", static_cast<double>(comparisons) * run.alpha)},
        {"allocmeter_version", env.host.allocmeter_version},
    };
    const data not_run = not_run_rows(doc.cells);
    page.emplace("not_run", not_run);
    page.emplace("has_not_run", data(!not_run.list_value().empty()));
    page.emplace("host_facts", environment(env, page));
    const bool by_callgrind = run.measure == "callgrind";
    page.emplace("measured_by_time", data(!by_callgrind));
    page.emplace("measured_by_callgrind",
                 by_callgrind ? data(object{{"groups", callgrind_groups(run)}, {"caches", callgrind_caches(env)},
                                            {"valgrind", env.callgrind ? env.callgrind->version : std::string("valgrind")}})
                              : data(false));

    mustache page_template{report_page_template};
    if (!page_template.is_valid()) throw std::logic_error("report_page.mustache: " + page_template.error_message());
    const std::string text = page_template.render(page);
    if (!html.parent_path().empty()) std::filesystem::create_directories(html.parent_path());
    write_file_atomically(html, text);
    return outcome;
}

}  // namespace allocmeter
