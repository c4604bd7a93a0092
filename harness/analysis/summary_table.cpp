// Groups cells by (workload, threads, allocator) in the order they first appear, summarizes
// each group's repetitions, and prints one table per workload x threads.
#include "harness/analysis/summary_table.hpp"

#include <algorithm>
#include <map>
#include <regex>
#include <utility>

namespace allocmeter {

namespace {

/// "[38.10, 40.22]": the interval with as many decimals as the median's column shows.
std::string interval(const sample_summary& s) { return format_text("[%.2f, %.2f]", s.ci_low, s.ci_high); }

std::string pad(const std::string& s, int width) {
    return s.size() >= static_cast<std::size_t>(width) ? s : s + std::string(static_cast<std::size_t>(width) - s.size(), ' ');
}

}  // namespace

std::string mib_text(double bytes) { return format_text("%.1f MiB", bytes / (1024.0 * 1024.0)); }

std::string short_version(const std::string& version) {
    static const std::regex git_suffix("-[0-9]+-g[0-9a-f]{7,}$");
    return std::regex_replace(version, git_suffix, "");
}

run_summary summarize_run(const nlohmann::json& doc) {
    run_summary run;
    const auto& cells = doc["cells"];
    const bool has_system = std::any_of(cells.begin(), cells.end(), [](const auto& c) { return c["allocator"] == "system"; });
    if (!cells.empty()) run.baseline = has_system ? "system" : cells[0]["allocator"].get<std::string>();
    std::map<std::pair<std::string, unsigned>, std::size_t> group_of;
    for (const auto& cell : cells) {
        const std::string name = cell["allocator"];
        const std::pair<std::string, unsigned> key{cell["workload"], cell["threads"]};
        auto [slot, added] = group_of.try_emplace(key, run.groups.size());
        if (added) run.groups.push_back({key.first, key.second, {}});
        auto& rows = run.groups[slot->second].rows;
        auto it = std::find_if(rows.begin(), rows.end(), [&](const summary_row& r) { return r.allocator == name; });
        if (it == rows.end()) {
            it = rows.emplace(rows.end());
            it->allocator = name;
        }
        if (cell["status"] == "ok") {
            const auto& m = cell["metrics"];
            it->ns_per_op.push_back(m["ns_per_op"]);
            if (m["peak_rss_bytes"].is_number()) it->peak_rss_bytes.push_back(m["peak_rss_bytes"]);
            if (cell["library"].is_object() && cell["library"]["version"].is_string())
                it->version = short_version(cell["library"]["version"]);
        } else if (it->not_ok.empty()) {
            it->not_ok = cell["status"].get<std::string>() + ": " + cell.value("reason", std::string());
        }
    }
    for (summary_group& g : run.groups) {
        for (summary_row& r : g.rows) r.time = summarize(r.ns_per_op), r.rss = summarize(r.peak_rss_bytes);
        const auto base = std::find_if(g.rows.begin(), g.rows.end(),
                                       [&](const summary_row& r) { return r.allocator == run.baseline && r.ok(); });
        if (base == g.rows.end()) continue;
        for (summary_row& r : g.rows) {
            if (!r.ok()) continue;
            if (base->time.median > 0) r.time_ratio = r.time.median / base->time.median;
            if (base->rss.n > 0 && r.rss.n > 0 && base->rss.median > 0) r.rss_ratio = r.rss.median / base->rss.median;
            if (&r == &*base) continue;
            r.time_test = mann_whitney_u(r.ns_per_op, base->ns_per_op);
            if (r.rss.n > 0 && base->rss.n > 0) r.rss_test = mann_whitney_u(r.peak_rss_bytes, base->peak_rss_bytes);
        }
    }
    return run;
}

std::string ci_coverage_text(const run_summary& run) {
    std::map<std::size_t, double> levels;  // repetitions -> the interval's coverage
    for (const summary_group& g : run.groups)
        for (const summary_row& r : g.rows)
            if (r.ok()) levels[r.time.n] = r.time.ci_level;
    std::string text;
    for (const auto& [n, level] : levels)
        text += format_text("%s%.1f%% at %zu rep%s", text.empty() ? "" : ", ", 100 * level, n, n == 1 ? "" : "s");
    return text;
}

void print_summary(const nlohmann::json& doc, std::FILE* out) {
    const run_summary run = summarize_run(doc);
    bool any_few = false, any_noisy = false;
    const std::string vs = "vs " + run.baseline;
    for (const summary_group& g : run.groups) {
        int library_width = 7;
        for (const summary_row& r : g.rows) library_width = std::max(library_width, static_cast<int>(r.version.size()));
        std::fprintf(out, "\n%s, %u thread%s\n", g.workload.c_str(), g.threads, g.threads == 1 ? "" : "s");
        std::fprintf(out, "  %-18s %11s  %-17s %6s %10s %10s  %-*s  %s\n", "allocator", "ns/op (med)", "CI", "CV",
                     "peak RSS", vs.c_str(), library_width, "library", "check");
        for (const summary_row& r : g.rows) {
            if (!r.ok()) {
                const std::string why = r.not_ok.size() > 100 ? r.not_ok.substr(0, 97) + "..." : r.not_ok;
                std::fprintf(out, "  %-18s %s\n", r.allocator.c_str(), why.c_str());
                continue;
            }
            any_few = any_few || r.few_reps();
            any_noisy = any_noisy || r.noisy();
            const std::string check = r.noisy() && r.few_reps() ? "high CV, few reps"
                                      : r.noisy()                ? "high CV"
                                      : r.few_reps()             ? "few reps"
                                                                 : "";
            const std::string ratio = r.time_ratio ? format_text("%.2fx", *r.time_ratio) : "-";
            const std::string line = "  " + pad(r.allocator, 18) + " " + format_text("%11.2f", r.time.median) + "  " +
                                     pad(interval(r.time), 17) + " " + format_text("%5.1f%%", 100 * r.time.cv) + " " +
                                     format_text("%10s", r.rss.n ? mib_text(r.rss.median).c_str() : "-") + " " + format_text("%10s", ratio.c_str()) +
                                     "  " + pad(r.version, library_width) + "  " + check;
            std::fprintf(out, "%s\n", line.substr(0, line.find_last_not_of(' ') + 1).c_str());
        }
    }
    std::fprintf(out, "\nCI: the interval of order statistics around the median ns/op, distribution-free; its coverage is "
                      "%s (95%% needs 6 or more).\nCV: standard deviation over mean. %s: median ns/op over %s's. "
                      "Median peak RSS.\n", ci_coverage_text(run).c_str(), vs.c_str(), run.baseline.c_str());
    if (any_noisy || any_few)
        std::fprintf(out, "check: %s%s%s: read those ratios with care; 'allocmeter compare' tests a difference.\n",
                     any_noisy ? "high CV, above 5%" : "", any_noisy && any_few ? "; " : "",
                     any_few ? "few reps, fewer than 5" : "");
}

}  // namespace allocmeter
