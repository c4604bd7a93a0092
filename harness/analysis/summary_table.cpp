// Formats the summary for a terminal; every figure comes from analysis/summary.
#include "harness/analysis/summary_table.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "harness/analysis/statistics.hpp"
#include "harness/analysis/summary.hpp"

namespace allocmeter {

std::string mib_text(double bytes) { return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0)); }

std::string ratio_text(const std::optional<double>& ratio) { return ratio ? fmt::format("{:.2f}x", *ratio) : "-"; }

namespace {

/// `v` as `format` writes it, scaled by `scale`; "-" when there is none.
std::string figure(const std::optional<double>& v, std::string_view format, double scale = 1) {
    return v ? fmt::format(fmt::runtime(format), *v * scale) : "-";
}

/// Per trace replayed in both orders: the allocator's own time and its weight in the program.
void print_side_by_side(const run_summary& run, std::FILE* out) {
    const std::string vs = "vs " + run.baseline;
    for (const side_by_side& p : run.replays) {
        fmt::print(out, "\n{}, {} thread{}, threads and timed replay side by side\n", p.path, p.threads,
                   p.threads == 1 ? "" : "s");
        fmt::print(out, "  {:<18} {:>13} {:>10} {:>12} {:>10} {:>16} {:>8}\n", "allocator", "threads ns/op", vs, "timed run", vs,
                   "allocator share", "waiting");
        for (const side_by_side_row& r : p.rows) {
            if (!r.own_ns_per_op && !r.timed_wall_s) {  // the reason cut to keep the line within 100 columns
                const std::string why = r.not_ok.size() > 79 ? r.not_ok.substr(0, 76) + "..." : r.not_ok;
                fmt::print(out, "  {:<18} {}\n", r.allocator, why);
                continue;
            }
            fmt::print(out, "  {:<18} {:>13} {:>10} {:>12} {:>10} {:>16} {:>8}\n", r.allocator, figure(r.own_ns_per_op, "{:.2f}"),
                       ratio_text(r.own_ratio), figure(r.timed_wall_s, "{:.1f} ms", 1e3), ratio_text(r.timed_ratio),
                       figure(r.allocator_share, "{:.1f}%", 100), figure(r.wait_share, "{:.1f}%", 100));
        }
    }
    if (run.replays.empty()) return;
    fmt::print(out,
               "\nSide by side, medians over the reps. threads ns/op: the replay without the program's work, the\n"
               "allocator's own cost. timed run: the replay with the recorded gaps between a thread's calls spent as\n"
               "work, the program's time with this allocator. allocator share: of the timed replay threads' time,\n"
               "what was neither a recorded gap nor a wait for another thread (the allocator's calls, the touches,\n"
               "the replay's own few ns a call); waiting: the time they waited.\n");
}

}  // namespace

void print_summary(const run_summary& run, std::FILE* out) {
    if (run.measure == "callgrind") return print_callgrind_summary(run, out);
    bool any_few = false, any_noisy = false, any_short = false;
    const std::string vs = "vs " + run.baseline;
    const bool net = has_net_figures(run);
    // The net columns, the gross ones' width apart from them; none for a run without a harness row.
    const auto net_columns = [&](const std::string& ns, const std::string& ratio) {
        return net ? fmt::format("  {:>9} {:>{}}", ns, ratio, vs.size() + 4) : std::string();
    };
    for (const summary_group& g : run.groups) {
        std::size_t library_width = 7;
        for (const summary_row& r : g.rows) library_width = std::max(library_width, label_of(run, r.allocator).version.size());
        fmt::print(out, "\n{}, {} thread{}, {} round{}\n", g.workload, g.threads, g.threads == 1 ? "" : "s", g.rounds,
                   g.rounds == 1 ? "" : "s");
        fmt::print(out, "  {:<18} {:>11}  {:<17} {:>6} {:>10} {:>10}  {:<14} {:>7}  {:<14}{}  {:<{}}  {}\n", "allocator", "ns/op (med)",
                   "CI", "CV", "peak RSS", vs, "unpaired CI", "paired", "paired CI", net_columns("net ns/op", "net " + vs), "library",
                   library_width, "check");
        for (const summary_row& r : g.rows) {
            if (!r.ok()) {
                const std::string why = r.not_ok.size() > 100 ? r.not_ok.substr(0, 97) + "..." : r.not_ok;
                fmt::print(out, "  {:<18} {}\n", r.allocator, why);
                continue;
            }
            any_few = any_few || r.few_reps;
            any_noisy = any_noisy || r.noisy;
            const bool is_base = r.allocator == run.baseline;
            const std::optional<sample_summary>& paired = r.time.paired;
            std::vector<std::string> checks;
            if (r.is_harness()) checks.emplace_back(harness_row_note);
            if (!r.net_note.empty()) checks.push_back(r.net_note);
            if (r.noisy) checks.push_back("high CV");
            if (r.few_reps) checks.push_back("few reps");
            if (r.time.ratio && !is_base && (!paired || paired->n < g.rounds)) {
                checks.push_back(fmt::format("{} of {} rounds paired", paired ? paired->n : 0, g.rounds));
                any_short = true;
            }
            const sample_summary& t = r.time.stats;
            const std::string line = fmt::format(
                "  {:<18} {:>11.2f}  {:<17} {:>5.1f}% {:>10} {:>10}  {:<14} {:>7}  {:<14}{}  {:<{}}  {}", r.allocator, t.median,
                fmt::format("[{:.2f}, {:.2f}]", t.ci_low, t.ci_high), 100 * t.cv, r.rss.stats.n ? mib_text(r.rss.stats.median) : "-",
                ratio_text(r.time.ratio),
                is_base || !r.time.ratio ? "" : fmt::format("[{:.2f}, {:.2f}]", *r.time.ratio_low, *r.time.ratio_high),
                paired ? fmt::format("{:.2f}x", paired->median) : "-",
                is_base || !paired ? "" : fmt::format("[{:.2f}, {:.2f}]", paired->ci_low, paired->ci_high),
                net_columns(figure(r.net_ns_per_op, "{:.2f}"), ratio_text(r.net_ratio)), label_of(run, r.allocator).version,
                library_width, fmt::format("{}", fmt::join(checks, ", ")));
            fmt::print(out, "{}\n", line.substr(0, line.find_last_not_of(' ') + 1));
        }
    }
    print_side_by_side(run, out);
    fmt::print(out,
               "\nCI: the interval of order statistics around the median ns/op, distribution-free; its coverage is {} ({:g}% needs {} "
               "or more).\nCV: standard deviation over mean. Median peak RSS.\n"
               "{vs}: median ns/op over {base}'s; unpaired CI: the row's CI over {base}'s median ({base}'s own spread left out).\n"
               "paired: in each round, where both ran, the row's ns/op over {base}'s in that round; the median of those ratios\n"
               "and its CI (the same order statistics over the rounds paired): drift between rounds cancels.\n",
               ci_coverage_text(run), 100 * ci_target, reps_for_ci_target(), fmt::arg("vs", vs), fmt::arg("base", run.baseline));
    if (net)
        fmt::print(out,
                   "net ns/op: the row's median ns/op minus the {harness} row's, the same operations on a do-nothing allocator\n"
                   "(the harness's own cost: drawing sizes, writing blocks); net {vs}: net ns/op over {base}'s net ns/op, none\n"
                   "where either is not positive. The columns before them are gross, harness included.\n",
                   fmt::arg("harness", harness_allocator_name), fmt::arg("vs", vs), fmt::arg("base", run.baseline));
    if (any_noisy || any_few)
        fmt::print(out, "check: {}{}{}: read those ratios with care; 'allocmeter compare' tests a difference.\n",
                   any_noisy ? fmt::format("high CV, above {:g}%", 100 * high_cv) : "", any_noisy && any_few ? "; " : "",
                   any_few ? fmt::format("few reps, fewer than {}", few_repetitions) : "");
    if (any_short)
        fmt::print(out, "check: N of M rounds paired: the row or {} lacks an ok cell in the other rounds of its group.\n",
                   run.baseline);
    if (const std::string tight = tight_intervals_text(run); !tight.empty()) fmt::print(out, "{}\n", tight);
}

void print_recorded_rss(const run_summary& run, const results_document& doc, std::FILE* out) {
    bool headed = false;
    for (const summary_group& g : run.groups) {
        const auto t = std::find_if(doc.env.traces.begin(), doc.env.traces.end(),
                                    [&](const trace_env& e) { return e.workload == g.workload; });
        if (t == doc.env.traces.end() || !t->recorded_peak_rss_bytes || !t->recorded_start_rss_bytes) continue;
        if (!headed)
            fmt::print(out, "\nRSS growth: the recorded program's peak over its first sample, and each allocator's replayed "
                            "peak over the cell's baseline (median; x the program's):\n");
        headed = true;
        const double recorded = static_cast<double>(*t->recorded_peak_rss_bytes - std::min(*t->recorded_peak_rss_bytes, *t->recorded_start_rss_bytes));
        std::string line = fmt::format("  {}, {} thread{}, touch {}: program {} (peak {})", g.workload, g.threads,
                                       g.threads == 1 ? "" : "s", t->touch.value_or(doc.env.touch.value_or("?")), mib_text(recorded),
                                       mib_text(static_cast<double>(*t->recorded_peak_rss_bytes)));
        for (const summary_row& r : g.rows) {
            std::vector<double> growth;
            for (const cell_record& c : doc.cells)
                if (c.ok() && c.allocator == r.allocator && c.workload == g.workload && c.threads == g.threads &&
                    c.measured->metrics.peak_rss_bytes && c.measured->baseline_rss_bytes)
                    growth.push_back(static_cast<double>(*c.measured->metrics.peak_rss_bytes) -
                                     static_cast<double>(*c.measured->baseline_rss_bytes));
            if (growth.empty()) continue;
            const double median = summarize(growth).median;
            line += fmt::format("; {} {}", r.allocator, mib_text(median));
            if (recorded > 0) line += fmt::format(" {:.2f}x", median / recorded);
        }
        fmt::print(out, "{}\n", line);
    }
}

}  // namespace allocmeter
