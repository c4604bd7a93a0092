// Groups the ok cells of results files by (allocator, workload, threads, replay order), pairs
// the groups to compare, and prints for each pair the medians, their ratio, the p-value and the
// verdict. Two allocators of one run are also paired by round (each rep of the second over the
// first's rep of the same round), and the verdict reads the signed-rank test of those ratios
// when there are rounds enough for it to reach alpha; two runs are compared unpaired.
#include "harness/analysis/compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <tuple>

#include "harness/analysis/statistics.hpp"
#include "harness/results/results_reader.hpp"

namespace allocmeter {

namespace {

// allocator, workload, threads, and a trace's replay order: a trace workload is named for its
// order, but in results of older runs a timed or serial replay carries the plain trace:FILE name.
using group_key = std::tuple<std::string, std::string, unsigned, std::string>;

struct loaded {
    std::string path;
    std::map<group_key, std::vector<round_value>> groups;  ///< each ok cell's value with its round (rep), in run order
    std::vector<group_key> order;                          ///< as the groups first appear
};

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

loaded load(const std::string& given, const std::string& metric) {
    const loaded_results results = read_results(given);
    loaded l{results.path.string(), {}, {}};
    for (const cell_record& c : results.doc.cells) {
        if (!c.ok()) continue;
        const std::optional<double> v = metric_by_name(c.measured->metrics, metric);
        if (!v) fail(fmt::format("{}: the cells have no numeric metric '{}' (one of: {})", l.path, metric,
                                 fmt::join(metric_names(), ", ")));
        const group_key k{c.allocator, c.workload, c.threads, c.replay.value_or("")};
        if (!l.groups.contains(k)) l.order.push_back(k);
        l.groups[k].push_back({c.rep, *v});
    }
    return l;
}

std::vector<double> values_of(const std::vector<round_value>& v) {
    std::vector<double> out;
    for (const round_value& x : v) out.push_back(x.value);
    return out;
}

struct row {
    std::string label_a, label_b, workload;
    unsigned threads;
    std::vector<round_value> a, b;
};

/// One row's figures: the medians, the unpaired test and, when paired, the rounds' ratios and
/// their test; the verdict from the test chosen.
struct compared {
    sample_summary a, b;
    mann_whitney unpaired;
    std::optional<sample_summary> ratios;  ///< b over a within each round both ran
    std::optional<signed_rank> paired;
    bool paired_decides = false;
    const char* verdict = "";
    double p_value = 1;
};

compared compare_row(const row& r, bool pair_rounds, double alpha) {
    compared c;
    c.a = summarize(values_of(r.a));
    c.b = summarize(values_of(r.b));
    c.unpaired = mann_whitney_u(values_of(r.b), values_of(r.a));
    const std::vector<double> ratios = pair_rounds ? ratios_by_round(r.b, r.a) : std::vector<double>{};
    if (!ratios.empty()) {
        c.ratios = summarize(ratios);
        c.paired = wilcoxon_signed_rank(log_ratios(ratios));
        c.paired_decides = paired_test_decides(ratios.size(), alpha);
    }
    c.verdict = c.paired_decides ? verdict(*c.paired, alpha) : verdict(c.unpaired, alpha, c.a.median, c.b.median);
    c.p_value = c.paired_decides ? c.paired->p_value : c.unpaired.p_value;
    return c;
}

/// The table; `paired`: both sides come from one run, so the rows have rounds to pair.
void print(const std::vector<row>& rows, const std::string& metric, double alpha, const std::string& title, bool paired,
           std::FILE* out) {
    if (paired)
        fmt::print(out, "{}\nmetric {} (lower is better), alpha {}; one run, so paired by round\ntest: two-sided Wilcoxon "
                        "signed-rank of log(second / first) over the rounds where {} or more pair, else two-sided Mann-Whitney U\n\n",
                   title, metric, alpha, rounds_for_paired_test(alpha));
    else
        fmt::print(out, "{}\nmetric {} (lower is better), two runs, unpaired: two-sided Mann-Whitney U, alpha {}\n\n", title, metric,
                   alpha);
    fmt::print(out, "  {:<26} {:>3}  {:<24} {:>12} {:>12} {:>8}", "workload", "thr", "compared", "first (med)", "second (med)", "ratio");
    if (paired) fmt::print(out, " {:>8}  {:<16} {:>6}  {:<11}", "paired", "paired CI", "rounds", "test");
    fmt::print(out, " {:>8}  {}\n", "p-value", "verdict");
    bool few = false, noisy = false, unpaired_verdict = false;
    for (const row& r : rows) {
        const compared c = compare_row(r, paired, alpha);
        std::string mark;
        if (c.a.n < few_repetitions || c.b.n < few_repetitions) mark += " [few reps]", few = true;
        if (c.a.cv > high_cv || c.b.cv > high_cv) mark += " [high CV]", noisy = true;
        const std::string compared_text = r.label_a == r.label_b ? r.label_a : r.label_b + " vs " + r.label_a;
        fmt::print(out, "  {:<26} {:>3}  {:<24} {:>12.4g} {:>12.4g} {:>7.3f}x", r.workload, r.threads, compared_text, c.a.median,
                   c.b.median, c.a.median != 0 ? c.b.median / c.a.median : 0.0);
        if (paired) {
            unpaired_verdict = unpaired_verdict || !c.paired_decides;
            fmt::print(out, " {:>8}  {:<16} {:>6}  {:<11}", c.ratios ? fmt::format("{:.3f}x", c.ratios->median) : "-",
                       c.ratios ? fmt::format("[{:.3f}, {:.3f}]", c.ratios->ci_low, c.ratios->ci_high) : "-",
                       c.ratios ? c.ratios->n : 0, c.paired_decides ? "signed-rank" : "U");
        }
        fmt::print(out, " {:>8.4f}  {}{}\n", c.p_value, c.verdict, mark);
    }
    if (paired) {
        fmt::print(out, "\nratio: second median over first median; paired: the median over the rounds in which both ran of\n"
                        "second over first in that round, and its distribution-free CI; drift between rounds cancels.\n");
        if (unpaired_verdict)
            fmt::print(out, "test U: Mann-Whitney U, where the rounds paired are too few for the signed-rank test to reach p < {}\n"
                            "(its smallest p is 2 / 2^rounds: {} rounds or more).\n",
                       alpha, rounds_for_paired_test(alpha));
    }
    if (few)
        fmt::print(out, "\n[few reps]: fewer than {} repetitions on a side; the test can hardly reach significance.\n",
                   few_repetitions);
    if (noisy) fmt::print(out, "[high CV]: a side's coefficient of variation is above {:g}%; read the verdict with care.\n", 100 * high_cv);
}

/// The tolerance within which two callgrind counts are the same: what two runs of a
/// single-threaded cell can differ by (harness/tests/callgrind_test.cpp checks 0.5%; make
/// callgrind-check measured 0.3% at most; multithreaded cells vary more: README).
constexpr double count_tolerance = 0.005;

/// The table for a run --measure callgrind figure: counts, which do not drift, so no test; a
/// difference beyond what two runs of a cell differ by is the allocators'.
void print_counts(const std::vector<row>& rows, const std::string& metric, const std::string& title, std::FILE* out) {
    fmt::print(out, "{}\nmetric {} (lower is better): callgrind counts, so no test: two runs of a single-threaded cell count "
                    "the same within {:g}%\n(of a multithreaded one whose threads exchange blocks, within a few percent)\n\n",
               title, metric, 100 * count_tolerance);
    fmt::print(out, "  {:<26} {:>3}  {:<24} {:>12} {:>12} {:>8}  {}\n", "workload", "thr", "compared", "first (med)", "second (med)",
               "ratio", "verdict");
    for (const row& r : rows) {
        const double a = summarize(values_of(r.a)).median, b = summarize(values_of(r.b)).median;
        const double ratio = a != 0 ? b / a : 0.0;
        const char* verdict = std::abs(ratio - 1) <= count_tolerance ? "the same" : ratio < 1 ? "fewer" : "more";
        const std::string compared_text = r.label_a == r.label_b ? r.label_a : r.label_b + " vs " + r.label_a;
        fmt::print(out, "  {:<26} {:>3}  {:<24} {:>12.4g} {:>12.4g} {:>7.3f}x  {}\n", r.workload, r.threads, compared_text, a, b, ratio,
                   verdict);
    }
    fmt::print(out, "\nratio: second over first; fewer or more: beyond the {:g}% by which two runs of a single-threaded cell "
                    "can differ.\n",
               100 * count_tolerance);
}

}  // namespace

void compare_results(const compare_options& o, std::FILE* out) {
    std::vector<row> rows;
    std::string title;
    if (o.files.size() == 2) {
        const loaded before = load(o.files[0], o.metric), after = load(o.files[1], o.metric);
        for (const group_key& k : before.order)
            if (const auto it = after.groups.find(k); it != after.groups.end())
                rows.push_back({std::get<0>(k), std::get<0>(k), std::get<1>(k), std::get<2>(k), before.groups.at(k), it->second});
        title = "compare: " + after.path + " (second) against " + before.path + " (first)";
        if (rows.empty())
            fail(fmt::format("{} and {} have no allocator x workload x threads with ok cells in common: nothing to compare; "
                             "give two runs of the same matrix, or one file and --allocators A,B",
                             before.path, after.path));
    } else {
        const loaded l = load(o.files.at(0), o.metric);
        const std::string& first = o.allocators.at(0);
        const std::string& second = o.allocators.at(1);
        for (const std::string& name : {first, second}) {
            bool found = false;
            for (const group_key& k : l.order) found = found || std::get<0>(k) == name;
            if (!found) fail(l.path + ": no ok cells of allocator '" + name + "'");
        }
        for (const group_key& k : l.order) {
            if (std::get<0>(k) != first) continue;
            const group_key other{second, std::get<1>(k), std::get<2>(k), std::get<3>(k)};
            if (const auto it = l.groups.find(other); it != l.groups.end())
                rows.push_back({first, second, std::get<1>(k), std::get<2>(k), l.groups.at(k), it->second});
        }
        title = "compare: " + second + " (second) against " + first + " (first) in " + l.path;
        if (rows.empty())
            fail(fmt::format("{}: {} and {} have no workload x threads with ok cells in common: nothing to compare", l.path,
                             first, second));
    }
    const std::vector<std::string> counts = callgrind_metric_names();
    if (std::find(counts.begin(), counts.end(), o.metric) != counts.end())
        print_counts(rows, o.metric, title, out);
    else
        print(rows, o.metric, o.alpha, title, o.files.size() == 1, out);
}

}  // namespace allocmeter
