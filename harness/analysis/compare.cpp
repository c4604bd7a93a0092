// Groups the ok cells of results files by (allocator, workload, threads, replay order), pairs
// the groups to compare, and prints for each pair the medians, their ratio, the p-value and the
// verdict.
#include "harness/analysis/compare.hpp"

#include <fmt/format.h>

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
    std::map<group_key, std::vector<double>> groups;
    std::vector<group_key> order;  ///< as the groups first appear
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
        l.groups[k].push_back(*v);
    }
    return l;
}

struct row {
    std::string label_a, label_b, workload;
    unsigned threads;
    std::vector<double> a, b;
};

void print(const std::vector<row>& rows, const std::string& metric, double alpha, const std::string& title, std::FILE* out) {
    fmt::print(out, "{}\nmetric {} (lower is better), two-sided Mann-Whitney U, alpha {}\n\n", title, metric, alpha);
    fmt::print(out, "  {:<26} {:>3}  {:<24} {:>12} {:>12} {:>8} {:>8}  {}\n", "workload", "thr", "compared", "first (med)",
               "second (med)", "ratio", "p-value", "verdict");
    bool few = false, noisy = false;
    for (const row& r : rows) {
        const sample_summary sa = summarize(r.a), sb = summarize(r.b);
        const mann_whitney t = mann_whitney_u(r.b, r.a);
        std::string mark;
        if (sa.n < few_repetitions || sb.n < few_repetitions) mark += " [few reps]", few = true;
        if (sa.cv > high_cv || sb.cv > high_cv) mark += " [high CV]", noisy = true;
        const std::string compared = r.label_a == r.label_b ? r.label_a : r.label_b + " vs " + r.label_a;
        fmt::print(out, "  {:<26} {:>3}  {:<24} {:>12.4g} {:>12.4g} {:>7.3f}x {:>8.4f}  {}{}\n", r.workload, r.threads, compared,
                   sa.median, sb.median, sa.median != 0 ? sb.median / sa.median : 0.0, t.p_value,
                   verdict(t, alpha, sa.median, sb.median), mark);
    }
    if (few)
        fmt::print(out, "\n[few reps]: fewer than {} repetitions on a side; the test can hardly reach significance.\n",
                   few_repetitions);
    if (noisy) fmt::print(out, "[high CV]: a side's coefficient of variation is above {:g}%; read the verdict with care.\n", 100 * high_cv);
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
    print(rows, o.metric, o.alpha, title, out);
}

}  // namespace allocmeter
