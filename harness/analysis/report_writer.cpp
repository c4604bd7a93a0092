// Builds the report page as one string: a short stylesheet, then the sections in the order a
// reviewer reads them. Charts come from plot_runner and are embedded as base64 PNG, so the
// page can be mailed or attached on its own; the SVGs stay beside it for slides.
#include "harness/analysis/report_writer.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "harness/analysis/plot_runner.hpp"
#include "harness/analysis/summary_table.hpp"

namespace allocmeter {

namespace {

const char* const style = R"(
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 0 auto;
       max-width: 1320px; padding: 0 24px 48px; }
h1 { font-size: 26px; margin: 28px 0 4px; } h2 { font-size: 20px; margin: 36px 0 10px; border-bottom: 1px solid #ddd; }
h3 { font-size: 16px; margin: 22px 0 6px; }
.sub { color: #555; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13.5px; }
th, td { padding: 3px 7px; text-align: right; border-bottom: 1px solid #eee; white-space: nowrap; }
th { background: #f4f4f6; font-weight: 600; } td.l, th.l { text-align: left; } tr:hover td { background: #fafafa; }
.faster { color: #0a7a32; font-weight: 600; } .slower { color: #b3261e; font-weight: 600; } .same { color: #666; }
.note { background: #fff7e0; border-left: 4px solid #e0a400; padding: 8px 12px; margin: 12px 0; }
.error { background: #fdecea; border-left: 4px solid #b3261e; padding: 8px 12px; margin: 12px 0; white-space: pre-wrap; }
figure { margin: 18px 0 30px; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #333; font-size: 14px; max-width: 1000px; } code { font-size: 13px; background: #f4f4f6; padding: 1px 4px; }
table.full { width: 100%; } nav a { margin-right: 14px; } .muted { color: #777; } td.wrap { white-space: normal; }
)";

std::string escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

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

/// An env value as text: strings as they are, arrays joined, null as "n/a".
std::string text(const nlohmann::json& v) {
    if (v.is_null()) return "n/a";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string s;
        for (const auto& e : v) s += (s.empty() ? "" : ", ") + text(e);
        return s.empty() ? "none" : s;
    }
    return v.dump();
}

std::string label(const summary_group& g) {
    return g.workload + ", " + std::to_string(g.threads) + " thread" + (g.threads == 1 ? "" : "s");
}

/// "lower, p 0.0079" in its colour: the test of a row against the baseline, as a table cell.
std::string significance(const std::optional<mann_whitney>& test, double base_median, double median) {
    if (!test) return "<td class=\"l muted\">baseline</td>";
    const std::string v = verdict(*test, report_alpha, base_median, median);
    const char* cls = v == "faster" ? "faster" : v == "slower" ? "slower" : "same";
    const std::string shown = v == "faster" ? "lower" : v == "slower" ? "higher" : "no sig. diff.";
    return "<td class=\"l " + std::string(cls) + "\">" + shown + format_text(", p %.2g", test->p_value) + "</td>";
}

const summary_row* baseline_row(const summary_group& g, const std::string& baseline) {
    for (const summary_row& r : g.rows)
        if (r.allocator == baseline && r.ok()) return &r;
    return nullptr;
}

void at_a_glance(std::ostream& o, const run_summary& run) {
    o << "<h2 id=\"glance\">At a glance</h2>\n<p>Per workload and thread count: the fastest allocator by median "
         "ns/op and the one with the smallest median peak RSS, each against <b>"
      << escape(run.baseline) << "</b>, and whether the difference is significant (two-sided Mann-Whitney U, alpha "
      << report_alpha << ").</p>\n<table><tr><th class=\"l\">workload</th><th class=\"l\">fastest</th><th>ns/op</th><th>vs "
      << escape(run.baseline) << "</th><th class=\"l\">test</th><th class=\"l\">least memory</th><th>peak RSS</th><th>vs "
      << escape(run.baseline) << "</th><th class=\"l\">test</th></tr>\n";
    for (const summary_group& g : run.groups) {
        const summary_row *fast = nullptr, *small = nullptr;
        for (const summary_row& r : g.rows) {
            if (!r.ok()) continue;
            if (!fast || r.time.median < fast->time.median) fast = &r;
            if (r.rss.n && (!small || r.rss.median < small->rss.median)) small = &r;
        }
        if (!fast) continue;
        const summary_row* base = baseline_row(g, run.baseline);
        o << "<tr><td class=\"l wrap\">" << escape(label(g)) << "</td><td class=\"l\">" << escape(fast->allocator) << "</td><td>"
          << format_text("%.2f", fast->time.median) << "</td><td>" << (fast->time_ratio ? format_text("%.2fx", *fast->time_ratio) : "-")
          << "</td>" << (base ? significance(fast->time_test, base->time.median, fast->time.median) : "<td></td>");
        if (small)
            o << "<td class=\"l\">" << escape(small->allocator) << "</td><td>" << mib_text(small->rss.median) << "</td><td>"
              << (small->rss_ratio ? format_text("%.2fx", *small->rss_ratio) : "-") << "</td>"
              << (base && base->rss.n ? significance(small->rss_test, base->rss.median, small->rss.median) : "<td></td>");
        o << "</tr>\n";
    }
    o << "</table>\n";
}

void detail_tables(std::ostream& o, const run_summary& run) {
    o << "<h2 id=\"tables\">Every comparison</h2>\n<p>Medians over the repetitions, the median's confidence interval "
         "from order statistics (its coverage: "
      << ci_coverage_text(run) << "), the coefficient of variation, and each allocator against <b>" << escape(run.baseline) << "</b> in the same workload and thread count: the ratio of medians and the two-sided "
         "Mann-Whitney U test (\"lower\"/\"higher\" when p &lt; "
      << report_alpha << "). <i>check</i> flags a CV above " << format_text("%.0f%%", 100 * high_cv) << " or fewer than "
      << few_repetitions << " repetitions.</p>\n";
    for (const summary_group& g : run.groups) {
        const summary_row* base = baseline_row(g, run.baseline);
        o << "<h3>" << escape(label(g)) << "</h3>\n<table class=\"full\"><tr><th class=\"l\">allocator</th><th class=\"l\">library</th>"
             "<th>reps</th><th>ns/op</th><th>CI</th><th>CV</th><th>vs base</th><th class=\"l\">time test</th>"
             "<th>peak RSS</th><th>vs base</th><th class=\"l\">RSS test</th><th class=\"l\">check</th></tr>\n";
        for (const summary_row& r : g.rows) {
            o << "<tr><td class=\"l\">" << escape(r.allocator) << "</td>";
            if (!r.ok()) {
                o << "<td class=\"l muted\" colspan=\"12\">" << escape(r.not_ok) << "</td></tr>\n";
                continue;
            }
            const std::string check = std::string(r.noisy() ? "high CV " : "") + (r.few_reps() ? "few reps" : "");
            o << "<td class=\"l\">" << escape(r.version.empty() ? "reference" : r.version) << "</td><td>" << r.time.n
              << "</td><td>" << format_text("%.2f", r.time.median) << "</td><td>" << format_text("%.2f", r.time.ci_low) << " &ndash; "
              << format_text("%.2f", r.time.ci_high) << "</td><td>"
              << format_text("%.1f%%", 100 * r.time.cv) << "</td><td>" << (r.time_ratio ? format_text("%.2fx", *r.time_ratio) : "-")
              << "</td>" << (base ? significance(r.time_test, base->time.median, r.time.median) : "<td></td>") << "<td>"
              << (r.rss.n ? mib_text(r.rss.median) : "-") << "</td><td>" << (r.rss_ratio ? format_text("%.2fx", *r.rss_ratio) : "-")
              << "</td>"
              << (base && base->rss.n && r.rss.n ? significance(r.rss_test, base->rss.median, r.rss.median) : "<td></td>")
              << "<td class=\"l slower\">" << check << "</td></tr>\n";
        }
        o << "</table>\n";
    }
}

void charts_section(std::ostream& o, const std::vector<chart>& charts, const std::filesystem::path& html) {
    o << "<h2 id=\"charts\">Charts</h2>\n";
    for (const chart& c : charts) {
        const auto png = c.files.find("png");
        if (png == c.files.end()) continue;
        o << "<figure id=\"chart-" << escape(c.name) << "\"><img alt=\"" << escape(c.title)
          << "\" src=\"data:image/png;base64," << base64(read_file(png->second)) << "\">\n<figcaption><b>"
          << escape(c.title) << ".</b> " << escape(c.caption);
        if (const auto svg = c.files.find("svg"); svg != c.files.end())
            o << " <a href=\"" << escape(std::filesystem::relative(svg->second, html.parent_path()).string())
              << "\">SVG</a>";
        o << "</figcaption></figure>\n";
    }
}

void not_ok_section(std::ostream& o, const nlohmann::json& cells) {
    using key = std::tuple<std::string, std::string, unsigned, std::string, std::string>;
    std::map<key, unsigned> count;
    std::vector<key> order;
    for (const auto& c : cells) {
        if (c["status"] == "ok") continue;
        const key k{c["status"], c["allocator"], c["threads"], c["workload"], c.value("reason", std::string())};
        if (count[k]++ == 0) order.push_back(k);
    }
    o << "<h2 id=\"notok\">Cells that did not run or failed</h2>\n";
    if (order.empty()) {
        o << "<p>None: every cell is ok.</p>\n";
        return;
    }
    o << "<table><tr><th class=\"l\">status</th><th class=\"l\">allocator</th><th class=\"l\">workload</th><th>threads</th>"
         "<th>reps</th><th class=\"l\">reason</th></tr>\n";
    for (const key& k : order) {
        const auto& [status, allocator, threads, workload, reason] = k;
        o << "<tr><td class=\"l " << (status == "skipped" ? "muted" : "slower") << "\">" << escape(status)
          << "</td><td class=\"l\">" << escape(allocator) << "</td><td class=\"l\">" << escape(workload) << "</td><td>"
          << threads << "</td><td>" << count[k] << "</td><td class=\"l\" style=\"white-space: normal\">" << escape(reason)
          << "</td></tr>\n";
    }
    o << "</table>\n";
}

void method_section(std::ostream& o, const nlohmann::json& env, const run_summary& run, std::size_t comparisons) {
    o << "<h2 id=\"method\">Method</h2>\n<p>Command: <code>" << escape(text(env.value("command_line", nlohmann::json())))
      << "</code></p>\n<table>";
    const std::pair<const char*, const char*> settings[] = {
        {"reps", "repetitions of each cell, interleaved across allocators"},
        {"scale", "operations per cell"},
        {"seed", "the same seed gives the same operations on every allocator"},
        {"threads", "thread counts"},
        {"sample_ms", "RSS sampling interval (ms)"},
        {"latency_every", "one allocation and one free in this many timed"},
        {"touch", "what a trace replay writes into each new block"},
        {"replay", "trace replay order"},
        {"pmu_events", "counters asked for (empty: the default set)"},
        {"pmu_opened", "counters that gave a value"},
    };
    for (const auto& [k, what] : settings)
        if (env.contains(k))
            o << "<tr><td class=\"l\">" << k << "</td><td class=\"l\">" << escape(text(env[k]))
              << "</td><td class=\"l muted\">" << what << "</td></tr>\n";
    o << "</table>\n<p>Each cell runs in its own process; external allocators are preloaded. ns/op is the timed "
         "region's wall time over its operations (allocations plus frees), all threads together; peak RSS is the "
         "process's high-water mark from the workload's start. Per workload and thread count the report takes the "
         "median of the repetitions, its distribution-free confidence interval from order statistics (at least 95% "
         "from 6 repetitions), and the CV. Each allocator is compared with "
      << escape(run.baseline) << " by a two-sided Mann-Whitney U test on its repetitions (exact without ties, up to 30 "
         "a side; otherwise the normal approximation with tie correction). The "
      << comparisons << " tests are not corrected for multiplicity: at alpha " << report_alpha << ", about "
      << format_text("%.1f", comparisons * report_alpha) << " could come out significant by chance alone. "
         "<code>allocmeter compare</code> tests any two allocators, or two runs.</p>\n";
}

void environment_section(std::ostream& o, const nlohmann::json& env) {
    o << "<h2 id=\"env\">Environment</h2>\n<table>";
    const char* const keys[] = {"host", "cpu_model", "cpus", "machine", "kernel", "thp", "page_size", "cpu_governor",
                                "perf_event_paranoid", "compiler", "compiler_flags", "build_type", "allocmeter_version",
                                "started_at"};
    for (const char* k : keys)
        if (env.contains(k))
            o << "<tr><td class=\"l\">" << k << "</td><td class=\"l\">" << escape(text(env[k])) << "</td></tr>\n";
    o << "</table>\n";
    if (env.contains("allocators") && env["allocators"].is_object() && !env["allocators"].empty()) {
        o << "<h3>External allocators</h3>\n<table><tr><th class=\"l\">allocator</th><th class=\"l\">version</th>"
             "<th class=\"l\">from</th><th class=\"l\">library</th><th class=\"l\">free used</th></tr>\n";
        for (const auto& [name, lib] : env["allocators"].items())
            o << "<tr><td class=\"l\">" << escape(name) << "</td><td class=\"l\">" << escape(text(lib.value("version", nlohmann::json())))
              << "</td><td class=\"l\">" << escape(text(lib.value("version_source", nlohmann::json()))) << "</td><td class=\"l\">"
              << escape(text(lib.value("path", nlohmann::json()))) << "</td><td class=\"l\">"
              << escape(text(lib.value("free_function", nlohmann::json()))) << "</td></tr>\n";
        o << "</table>\n";
    }
    if (env.contains("traces") && env["traces"].is_array() && !env["traces"].empty()) {
        o << "<h3>Traces</h3>\n<table><tr><th class=\"l\">workload</th><th>threads</th><th>steps</th>"
             "<th>recorded peak live</th></tr>\n";
        for (const auto& t : env["traces"])
            o << "<tr><td class=\"l\">" << escape(text(t.value("workload", nlohmann::json()))) << "</td><td>"
              << text(t.value("threads", nlohmann::json())) << "</td><td>" << text(t.value("steps", nlohmann::json()))
              << "</td><td>" << text(t.value("recorded_peak_live_bytes", nlohmann::json())) << " B</td></tr>\n";
        o << "</table>\n";
    }
}

}  // namespace

report_outcome write_report(const loaded_results& results, const std::filesystem::path& html,
                            const std::filesystem::path& charts_dir) {
    const nlohmann::json& doc = results.doc;
    const nlohmann::json env = doc.value("env", nlohmann::json::object());
    const run_summary run = summarize_run(doc);
    report_outcome outcome;
    std::vector<chart> charts;
    try {
        charts = make_charts(results.path, charts_dir);
        outcome.charts = charts.size();
    } catch (const plot_error& e) {
        outcome.charts_problem = e.what();
    }

    std::map<std::string, unsigned> status;
    std::set<std::string> allocators, workloads;
    for (const auto& c : doc["cells"]) {
        ++status[c.value("status", "")];
        allocators.insert(c.value("allocator", ""));
        workloads.insert(c.value("workload", ""));
    }
    std::size_t comparisons = 0, flagged = 0, rows = 0;
    for (const summary_group& g : run.groups)
        for (const summary_row& r : g.rows) {
            comparisons += r.time_test.has_value() + r.rss_test.has_value();
            rows += r.ok();
            flagged += r.noisy() || r.few_reps();
        }

    std::ostringstream o;
    const std::string run_id = doc.value("run_id", results.path.parent_path().filename().string());
    o << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>allocmeter report " << escape(run_id)
      << "</title>\n<style>" << style << "</style></head><body>\n<h1>allocmeter report: run " << escape(run_id) << "</h1>\n"
      << "<p class=\"sub\">" << escape(text(env.value("started_at", nlohmann::json()))) << " on "
      << escape(text(env.value("host", nlohmann::json()))) << " (" << escape(text(env.value("cpu_model", nlohmann::json())))
      << ", " << escape(text(env.value("cpus", nlohmann::json()))) << " CPUs, "
      << escape(text(env.value("kernel", nlohmann::json()))) << ")</p>\n<p>" << allocators.size() << " allocators &times; "
      << workloads.size() << " workloads, threads " << escape(text(env.value("threads", nlohmann::json()))) << ", "
      << escape(text(env.value("reps", nlohmann::json()))) << " repetitions at scale "
      << escape(text(env.value("scale", nlohmann::json()))) << ", seed " << escape(text(env.value("seed", nlohmann::json())))
      << ": " << status["ok"] << " cells ok, " << status["skipped"] << " skipped, " << status["failed"] << " failed, "
      << status["timeout"] << " timed out. Results: <code>" << escape(results.path.string()) << "</code></p>\n"
      << "<nav><a href=\"#glance\">At a glance</a><a href=\"#charts\">Charts</a><a href=\"#tables\">Every comparison</a>"
         "<a href=\"#notok\">Not run</a><a href=\"#method\">Method</a><a href=\"#env\">Environment</a></nav>\n";
    if (flagged)
        o << "<p class=\"note\">" << flagged << " of " << rows << " results have a CV above " << format_text("%.0f%%", 100 * high_cv)
          << " or fewer than " << few_repetitions << " repetitions (marked in <a href=\"#tables\">Every comparison</a>): "
             "read their ratios with care, and rerun with more <code>--reps</code> on a quieter machine to firm them up.</p>\n";
    if (!outcome.charts_problem.empty())
        o << "<p class=\"error\">No charts: " << escape(outcome.charts_problem) << "</p>\n";
    at_a_glance(o, run);
    if (!charts.empty()) charts_section(o, charts, html);
    detail_tables(o, run);
    not_ok_section(o, doc["cells"]);
    method_section(o, env, run, comparisons);
    environment_section(o, env);
    o << "<p class=\"muted\">Written by allocmeter " << escape(text(env.value("allocmeter_version", nlohmann::json())))
      << " from " << escape(results.path.string()) << ".</p>\n</body></html>\n";

    if (!html.parent_path().empty()) std::filesystem::create_directories(html.parent_path());
    const std::filesystem::path tmp = html.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary);
        out << o.str();
        if (!out.flush()) throw std::runtime_error(html.string() + ": cannot write the report (" + std::strerror(errno) + ")");
    }
    std::filesystem::rename(tmp, html);
    return outcome;
}

}  // namespace allocmeter
