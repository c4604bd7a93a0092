// Groups cells by (workload, threads, allocator) in the order they first appear, then
// summarizes each group against the baseline's group in the same workload and thread count:
// unpaired (the medians) and paired by round (each rep against the baseline's rep of its round);
// where the group has a harness row, each row net of it too.
#include "harness/analysis/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <utility>

namespace allocmeter {

namespace {

/// The kind of an allocator: as the run recorded it, else inferred (older results files).
std::string kind_of(const results_document& doc, const std::string& name) {
    if (const auto it = doc.env.allocator_kinds.find(name); it != doc.env.allocator_kinds.end()) return it->second;
    if (doc.env.allocators.contains(name)) return "external";
    for (const cell_record& c : doc.cells)
        if (c.allocator == name && c.measured && c.measured->library) return "external";
    return "reference";
}

allocator_label make_label(const results_document& doc, const std::string& name) {
    allocator_label l{name, kind_of(doc, name), "", name};
    std::optional<std::string> version;
    if (const auto it = doc.env.allocators.find(name); it != doc.env.allocators.end()) version = it->second.version;
    for (const cell_record& c : doc.cells)
        if (!version && c.allocator == name && c.measured && c.measured->library) version = c.measured->library->version;
    if (version && !version->empty()) {
        l.version = short_version(*version);
        const bool numeric = std::isdigit(static_cast<unsigned char>(l.version.front())) != 0;
        l.label = numeric ? name + " " + l.version : name + " (" + l.version + ")";
    } else if (l.kind == "reference") {
        l.label = name + " (reference)";
    } else if (name == harness_allocator_name) {
        l.label = name + " (do-nothing)";
    }
    return l;
}

/// The commonest status among `cells`, ties to the first seen.
cell_status commonest(const std::vector<const cell_record*>& cells) {
    std::vector<std::pair<cell_status, int>> counts;
    for (const cell_record* c : cells) {
        auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& p) { return p.first == c->status; });
        if (it == counts.end()) counts.emplace_back(c->status, 1);
        else ++it->second;
    }
    return std::max_element(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second < b.second; })->first;
}

/// Per percentile, the median over the reps that sampled this side.
std::optional<latency_percentiles> latency_median(const std::vector<const cell_record*>& ok, bool alloc) {
    std::vector<double> samples, p50, p90, p99, p999, max;
    for (const cell_record* c : ok) {
        const auto& latency = c->measured->metrics.latency;
        if (!latency) continue;
        const auto& side = alloc ? latency->alloc : latency->free;
        if (!side) continue;
        samples.push_back(static_cast<double>(side->samples));
        p50.push_back(side->p50), p90.push_back(side->p90), p99.push_back(side->p99);
        p999.push_back(side->p999), max.push_back(side->max);
    }
    if (samples.empty()) return std::nullopt;
    return latency_percentiles{static_cast<std::uint64_t>(summarize(samples).median), summarize(p50).median,
                               summarize(p90).median, summarize(p99).median, summarize(p999).median, summarize(max).median};
}

/// The RSS series of the ok rep whose ns/op is the median one (the lower middle for an even count).
std::optional<rss_series> median_rep_series(const std::vector<const cell_record*>& ok) {
    std::vector<const cell_record*> with;
    for (const cell_record* c : ok)
        if (c->measured->metrics.series && !c->measured->metrics.series->t_ms.empty()) with.push_back(c);
    if (with.empty()) return std::nullopt;
    std::stable_sort(with.begin(), with.end(), [](const cell_record* a, const cell_record* b) {
        return *a->measured->metrics.ns_per_op < *b->measured->metrics.ns_per_op;
    });
    return with[(with.size() - 1) / 2]->measured->metrics.series;
}

/// The medians of the callgrind figures over the ok reps that have them; none when none has.
std::optional<callgrind_row> callgrind_medians(const std::vector<const cell_record*>& ok) {
    std::vector<const cell_metrics*> with;
    callgrind_row row;
    for (const cell_record* c : ok)
        if (const cell_metrics& m = c->measured->metrics; m.callgrind) {
            with.push_back(&m);
            row.threads_serialised = row.threads_serialised || m.callgrind->threads_serialised;
        }
    if (with.empty()) return std::nullopt;
    for (const std::string& name : callgrind_metric_names()) {
        std::vector<double> values;
        for (const cell_metrics* m : with)
            if (const auto v = metric_by_name(*m, name)) values.push_back(*v);
        if (!values.empty()) row.per_op[name] = summarize(values).median;
    }
    return row;
}

/// The ratios of a callgrind row's instructions to the baseline row's.
void compare_callgrind(callgrind_row& mine, const callgrind_row& base) {
    const auto ratio = [&](const char* name) -> std::optional<double> {
        const auto a = mine.per_op.find(name);
        const auto b = base.per_op.find(name);
        if (a == mine.per_op.end() || b == base.per_op.end() || !(b->second > 0)) return std::nullopt;
        return a->second / b->second;
    };
    mine.ratio = ratio("instructions_per_op");
    mine.allocator_ratio = ratio("allocator_instructions_per_op");
}

summary_row summarize_row(const std::string& allocator, const std::vector<const cell_record*>& cells) {
    summary_row r;
    r.allocator = allocator;
    std::vector<const cell_record*> ok;
    std::vector<double> throughput;
    for (const cell_record* c : cells) {
        if (!c->ok()) {
            if (r.not_ok.empty()) r.not_ok = fmt::format("{}: {}", to_string(c->status), c->reason.value_or(""));
            continue;
        }
        ok.push_back(c);
        const cell_metrics& m = c->measured->metrics;
        r.ns_per_op.push_back(*m.ns_per_op);
        if (m.peak_rss_bytes) r.peak_rss_bytes.push_back(static_cast<double>(*m.peak_rss_bytes));
        if (m.wall_s > 0) throughput.push_back(static_cast<double>(m.ops) / m.wall_s);
    }
    r.status = ok.empty() ? commonest(cells) : cell_status::ok;
    r.time.stats = summarize(r.ns_per_op);
    r.rss.stats = summarize(r.peak_rss_bytes);
    r.throughput = summarize(throughput);
    r.latency_alloc = latency_median(ok, true);
    r.latency_free = latency_median(ok, false);
    r.median_rep_series = median_rep_series(ok);
    r.callgrind = callgrind_medians(ok);
    r.few_reps = r.ok() && r.time.stats.n < few_repetitions;
    r.noisy = r.ok() && r.time.stats.cv > high_cv;
    return r;
}

/// The ok cells' values of `metric` (a results name), each with its round, in run order.
std::vector<round_value> by_round(const std::vector<const cell_record*>& cells, std::string_view metric) {
    std::vector<round_value> out;
    for (const cell_record* c : cells)
        if (c->ok())
            if (const std::optional<double> v = metric_by_name(c->measured->metrics, metric)) out.push_back({c->rep, *v});
    return out;
}

std::vector<double> values_of(const std::vector<round_value>& v) {
    std::vector<double> out;
    for (const round_value& x : v) out.push_back(x.value);
    return out;
}

/// Ratios of `mine` to the baseline's median (unpaired) and to the baseline's rep of the same
/// round (paired), and the tests against the baseline's values: Mann-Whitney U, and the
/// signed-rank test of the paired ratios, which the verdict reads when its rounds can reach `alpha`.
void compare_with(metric_summary& mine, const std::vector<round_value>& values, const metric_summary& base,
                  const std::vector<round_value>& base_values, bool is_baseline, double alpha) {
    if (mine.stats.n == 0 || base.stats.n == 0 || !(base.stats.median > 0)) return;
    mine.ratio = mine.stats.median / base.stats.median;
    mine.ratio_low = mine.stats.ci_low / base.stats.median;
    mine.ratio_high = mine.stats.ci_high / base.stats.median;
    const std::vector<double> ratios = ratios_by_round(values, base_values);
    if (!ratios.empty()) mine.paired = summarize(ratios);
    if (is_baseline) return;
    mine.test = mann_whitney_u(values_of(values), values_of(base_values));
    if (ratios.empty()) return;
    mine.paired_test = wilcoxon_signed_rank(log_ratios(ratios));
    mine.verdict_paired = paired_test_decides(ratios.size(), alpha);
}

/// The group's rows net of its harness row (when it has an ok one): each other ok row's median
/// ns/op minus the harness row's, and over the baseline row's net where both nets are positive
/// (a net at or below zero is the harness's noise, not a cost, so no ratio is made of it).
void add_net_figures(summary_group& g, const std::string& baseline) {
    const auto harness = std::find_if(g.rows.begin(), g.rows.end(), [](const summary_row& r) { return r.is_harness() && r.ok(); });
    if (harness == g.rows.end()) return;
    const double harness_median = harness->time.stats.median;
    for (summary_row& r : g.rows)
        if (r.ok() && !r.is_harness()) r.net_ns_per_op = r.time.stats.median - harness_median;
    const auto base = std::find_if(g.rows.begin(), g.rows.end(), [&](const summary_row& r) { return r.allocator == baseline && r.ok(); });
    // The loop below sets net_ratio only, so the baseline's net stays put while it runs.
    const double* base_net = base != g.rows.end() && base->net_ns_per_op ? &*base->net_ns_per_op : nullptr;
    for (summary_row& r : g.rows) {
        if (!r.net_ns_per_op) continue;
        if (!(*r.net_ns_per_op > 0))
            r.net_note = "net not positive: the median is within the harness row's";
        else if (base_net == nullptr)
            r.net_note = "no net figure for " + baseline + " in this group";
        else if (!(*base_net > 0))
            r.net_note = baseline + "'s net is not positive";
        else
            r.net_ratio = *r.net_ns_per_op / *base_net;
    }
}

/// Whether [low, high] lies within +-`within` of `ratio`.
bool within_of(double low, double high, double ratio, double within) {
    return low >= (1 - within) * ratio && high <= (1 + within) * ratio;
}

/// The summary group of `workload` (a trace has one thread count), or nullptr.
const summary_group* group_named(const run_summary& run, const std::string& workload) {
    for (const summary_group& g : run.groups)
        if (g.workload == workload) return &g;
    return nullptr;
}

const summary_row* row_named(const summary_group& g, const std::string& allocator) {
    for (const summary_row& r : g.rows)
        if (r.allocator == allocator) return &r;
    return nullptr;
}

/// An allocator's ok timed cells: their durations, and the shares of their threads' time
/// spent neither on the recorded gaps nor waiting (the allocator's), and waiting.
struct timed_figures {
    std::vector<double> wall_s, allocator_share, wait_share;
};

timed_figures timed_figures_of(const results_document& doc, const std::string& workload, const std::string& allocator) {
    timed_figures f;
    for (const cell_record& c : doc.cells) {
        if (c.workload != workload || c.allocator != allocator || !c.ok()) continue;
        f.wall_s.push_back(c.measured->metrics.wall_s);
        const auto& split = c.measured->trace ? c.measured->trace->timed : std::nullopt;
        if (!split || !(split->thread_s > 0)) continue;
        f.allocator_share.push_back((split->thread_s - split->gap_s - split->wait_s) / split->thread_s);
        f.wait_share.push_back(split->wait_s / split->thread_s);
    }
    return f;
}

std::optional<double> median_of(const std::vector<double>& values) {
    if (values.empty()) return std::nullopt;
    return summarize(values).median;
}

/// Why an allocator has no figures on a side: "timed: skipped: ...", or the one reason of both.
std::string not_ok_text(const summary_row* own, const summary_row* timed) {
    const std::string a = own == nullptr ? "no cells" : own->ok() ? "" : own->not_ok;
    const std::string b = timed == nullptr ? "no cells" : timed->ok() ? "" : timed->not_ok;
    if (a == b) return a;
    if (b.empty()) return "threads: " + a;
    if (a.empty()) return "timed: " + b;
    return "threads: " + a + "; timed: " + b;
}

/// One allocator's row: its threads-order time from the summary, its timed figures from the cells.
side_by_side_row side_by_side_of(const results_document& doc, const run_summary& run, const side_by_side& p,
                                 const std::string& allocator, const std::optional<double>& base_wall) {
    const summary_row* own = row_named(*group_named(run, p.threads_workload), allocator);
    const summary_row* timed = row_named(*group_named(run, p.timed_workload), allocator);
    side_by_side_row r{allocator, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                       not_ok_text(own, timed)};
    if (own != nullptr && own->ok()) {
        r.own_ns_per_op = own->time.stats.median;
        r.own_ratio = own->time.ratio;
    }
    const timed_figures f = timed_figures_of(doc, p.timed_workload, allocator);
    r.timed_wall_s = median_of(f.wall_s);
    if (r.timed_wall_s && base_wall && *base_wall > 0) r.timed_ratio = *r.timed_wall_s / *base_wall;
    r.allocator_share = median_of(f.allocator_share);
    r.wait_share = median_of(f.wait_share);
    return r;
}

/// Each trace the run replayed both in threads and in timed order (the run's env says which
/// workload is which), its allocators in run order.
std::vector<side_by_side> side_by_sides(const results_document& doc, const run_summary& run) {
    std::vector<side_by_side> out;
    const auto& traces = doc.env.traces;
    for (const trace_env& own : traces) {
        if (own.replay != "threads") continue;
        const auto timed = std::find_if(traces.begin(), traces.end(),
                                        [&](const trace_env& t) { return t.path == own.path && t.replay == "timed"; });
        if (timed == traces.end() || !group_named(run, own.workload) || !group_named(run, timed->workload)) continue;
        side_by_side p{own.path, own.workload, timed->workload, own.threads, {}};
        const std::optional<double> base_wall = median_of(timed_figures_of(doc, timed->workload, run.baseline).wall_s);
        for (const allocator_label& a : run.allocators)
            if (row_named(*group_named(run, own.workload), a.name) || row_named(*group_named(run, timed->workload), a.name))
                // The harness row's timed run is the program's time with no allocator at all: no ratio.
                p.rows.push_back(side_by_side_of(doc, run, p, a.name, a.name == harness_allocator_name ? std::nullopt : base_wall));
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace

std::string short_version(const std::string& version) {
    static const std::regex git_suffix("(-[0-9]+)?-g[0-9a-f]{6,}$");
    return std::regex_replace(version, git_suffix, "");
}

run_summary summarize_run(const results_document& doc) {
    run_summary run;
    run.measure = doc.env.measure;
    run.alpha = default_alpha;
    run.few_repetitions = few_repetitions;
    run.high_cv = high_cv;
    const auto& cells = doc.cells;
    // The baseline is an allocator: never the harness row, unless a run had nothing else.
    const bool has_system = std::any_of(cells.begin(), cells.end(), [](const cell_record& c) { return c.allocator == "system"; });
    const auto first_allocator =
        std::find_if(cells.begin(), cells.end(), [](const cell_record& c) { return c.allocator != harness_allocator_name; });
    if (!cells.empty()) run.baseline = has_system ? "system" : first_allocator != cells.end() ? first_allocator->allocator : cells[0].allocator;

    // Groups in first-seen order; each row's cells in run order.
    std::map<std::pair<std::string, unsigned>, std::size_t> group_of;
    std::vector<std::vector<std::pair<std::string, std::vector<const cell_record*>>>> members;
    std::size_t largest = 0;
    for (const cell_record& c : cells) {
        if (std::find(run.workloads.begin(), run.workloads.end(), c.workload) == run.workloads.end()) run.workloads.push_back(c.workload);
        if (std::none_of(run.allocators.begin(), run.allocators.end(), [&](const allocator_label& l) { return l.name == c.allocator; }))
            run.allocators.push_back(make_label(doc, c.allocator));
        auto [slot, added] = group_of.try_emplace({c.workload, c.threads}, run.groups.size());
        if (added) {
            run.groups.push_back({c.workload, c.threads, {}});
            members.emplace_back();
        }
        auto& rows = members[slot->second];
        auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.first == c.allocator; });
        if (it == rows.end()) it = rows.insert(rows.end(), {c.allocator, {}});
        it->second.push_back(&c);
        largest = std::max(largest, it->second.size());
    }
    run.reps = doc.env.reps > 0 ? doc.env.reps : static_cast<unsigned>(largest);
    run.latency_every = doc.env.latency_every;

    for (std::size_t g = 0; g < run.groups.size(); ++g) {
        auto& rows = run.groups[g].rows;
        // The harness row last, apart from the allocators, whatever order a resumed run wrote it in.
        std::stable_partition(members[g].begin(), members[g].end(), [](const auto& m) { return m.first != harness_allocator_name; });
        std::set<unsigned> rounds;
        for (const auto& [allocator, group_cells] : members[g]) {
            rows.push_back(summarize_row(allocator, group_cells));
            for (const cell_record* c : group_cells) rounds.insert(c->rep);
        }
        run.groups[g].rounds = static_cast<unsigned>(rounds.size());
        add_net_figures(run.groups[g], run.baseline);
        const auto base = std::find_if(rows.begin(), rows.end(), [&](const summary_row& r) { return r.allocator == run.baseline && r.ok(); });
        if (base == rows.end()) continue;
        const summary_row base_row = *base;
        const auto& base_cells = members[g][static_cast<std::size_t>(base - rows.begin())].second;
        const std::vector<round_value> base_time = by_round(base_cells, "ns_per_op"), base_rss = by_round(base_cells, "peak_rss_bytes");
        for (std::size_t i = 0; i < rows.size(); ++i) {
            summary_row& r = rows[i];
            if (!r.ok() || r.is_harness()) continue;  // the harness row is no allocator to test against the baseline
            const bool is_base = r.allocator == run.baseline;
            const auto& cells_of_row = members[g][i].second;
            compare_with(r.time, by_round(cells_of_row, "ns_per_op"), base_row.time, base_time, is_base, run.alpha);
            compare_with(r.rss, by_round(cells_of_row, "peak_rss_bytes"), base_row.rss, base_rss, is_base, run.alpha);
            if (r.callgrind && base_row.callgrind) compare_callgrind(*r.callgrind, *base_row.callgrind);
        }
    }
    run.replays = side_by_sides(doc, run);
    return run;
}

std::string ci_coverage_text(const run_summary& run) {
    std::map<std::size_t, double> levels;  // repetitions -> the interval's coverage
    for (const summary_group& g : run.groups)
        for (const summary_row& r : g.rows)
            if (r.ok()) levels[r.time.stats.n] = r.time.stats.ci_level;
    std::string text;
    for (const auto& [n, level] : levels)
        text += fmt::format("{}{:.1f}% at {} rep{}", text.empty() ? "" : ", ", 100 * level, n, n == 1 ? "" : "s");
    return text;
}

std::optional<metric_verdict> verdict_of(const metric_summary& m, const metric_summary& base, double alpha) {
    if (m.verdict_paired && m.paired_test) return metric_verdict{verdict(*m.paired_test, alpha), m.paired_test->p_value, true};
    if (m.test) return metric_verdict{verdict(*m.test, alpha, base.stats.median, m.stats.median), m.test->p_value, false};
    return std::nullopt;
}

tight_ratio_intervals count_tight_intervals(const run_summary& run, double within) {
    tight_ratio_intervals t;
    for (const summary_group& g : run.groups)
        for (const summary_row& r : g.rows) {
            const metric_summary& m = r.time;
            if (!r.ok() || r.allocator == run.baseline) continue;
            if (m.ratio && m.stats.n >= 2) {
                ++t.unpaired_rows;
                t.unpaired += within_of(*m.ratio_low, *m.ratio_high, *m.ratio, within);
            }
            if (m.paired && m.paired->n >= 2) {
                ++t.paired_rows;
                t.paired += within_of(m.paired->ci_low, m.paired->ci_high, m.paired->median, within);
            }
        }
    return t;
}

std::string tight_intervals_text(const run_summary& run) {
    const tight_ratio_intervals t = count_tight_intervals(run, tight_within);
    if (t.paired_rows == 0 && t.unpaired_rows == 0) return "";
    return fmt::format("ratio intervals within \u00b1{:g}% of the ratio: paired {} of {} rows, unpaired {} of {} rows",
                       100 * tight_within, t.paired, t.paired_rows, t.unpaired, t.unpaired_rows);
}

std::string per_op_text(const callgrind_row& row, const std::string& name, const char* format) {
    const auto it = row.per_op.find(name);
    return it == row.per_op.end() ? std::string("-") : fmt::format(fmt::runtime(format), it->second);
}

const allocator_label& label_of(const run_summary& run, const std::string& allocator) {
    for (const allocator_label& l : run.allocators)
        if (l.name == allocator) return l;
    static const allocator_label none;
    return none;
}

bool has_net_figures(const run_summary& run) {
    return std::any_of(run.groups.begin(), run.groups.end(), [](const summary_group& g) {
        return std::any_of(g.rows.begin(), g.rows.end(), [](const summary_row& r) { return r.net_ns_per_op.has_value(); });
    });
}

}  // namespace allocmeter
