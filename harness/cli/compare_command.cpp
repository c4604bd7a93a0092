// Groups the ok cells of results files by (allocator, workload, threads), pairs the groups to
// compare, and prints for each pair the medians, their ratio, the p-value and the verdict.
#include "harness/cli/compare_command.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <tuple>

#include "harness/run/allocator_catalog.hpp"
#include "harness/results/results_writer.hpp"
#include "harness/analysis/statistics.hpp"

namespace allocmeter {

namespace {

const char* const usage = R"(allocmeter compare: is a difference in the timings real?

usage: allocmeter compare BEFORE AFTER [options]          each allocator x workload x threads in both
       allocmeter compare RESULTS --allocators A,B [options]   B against A, per workload x threads

BEFORE, AFTER and RESULTS are results.json files or run folders (results/latest). Each pair of
groups of repetitions is compared with a two-sided Mann-Whitney U test: "faster" or "slower"
when p < alpha, else "no significant difference". The ratio is the second median over the first.

options:
  --metric NAME   a numeric metric of the cells (default ns_per_op; lower is better)
  --alpha A       significance level (default 0.05)

examples:
  allocmeter compare results/20261201-101500 results/latest
  allocmeter compare results/latest --allocators system,jemalloc
  allocmeter compare before.json after.json --metric peak_rss_bytes
)";

using group_key = std::tuple<std::string, std::string, unsigned>;  // allocator, workload, threads

struct loaded {
    std::string path;
    std::map<group_key, std::vector<double>> groups;
    std::vector<group_key> order;  ///< as the groups first appear
};

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

loaded load(const std::string& given, const std::string& metric) {
    const auto [p, doc] = read_results(given);
    loaded l{p.string(), {}, {}};
    for (const auto& c : doc["cells"]) {
        if (c.value("status", "") != "ok" || !c["metrics"].is_object()) continue;
        const auto& v = c["metrics"].value(metric, nlohmann::json());
        if (!v.is_number())
            fail(p.string() + ": the cells have no numeric metric '" + metric + "' (try ns_per_op or peak_rss_bytes)");
        const group_key k{c["allocator"].get<std::string>(), c["workload"].get<std::string>(), c["threads"].get<unsigned>()};
        if (!l.groups.contains(k)) l.order.push_back(k);
        l.groups[k].push_back(v.get<double>());
    }
    return l;
}

struct row {
    std::string label_a, label_b, workload;
    unsigned threads;
    std::vector<double> a, b;
};

void print(const std::vector<row>& rows, const std::string& metric, double alpha, const std::string& title) {
    std::printf("%s\nmetric %s (lower is better), two-sided Mann-Whitney U, alpha %g\n\n", title.c_str(), metric.c_str(), alpha);
    std::printf("  %-26s %3s  %-24s %12s %12s %8s %8s  %s\n", "workload", "thr", "compared", "first (med)", "second (med)",
                "ratio", "p-value", "verdict");
    bool few = false, noisy = false;
    for (const row& r : rows) {
        const sample_summary sa = summarize(r.a), sb = summarize(r.b);
        const mann_whitney t = mann_whitney_u(r.b, r.a);
        std::string mark;
        if (sa.n < few_repetitions || sb.n < few_repetitions) mark += " [few reps]", few = true;
        if (sa.cv > high_cv || sb.cv > high_cv) mark += " [high CV]", noisy = true;
        const std::string compared = r.label_a == r.label_b ? r.label_a : r.label_b + " vs " + r.label_a;
        std::printf("  %-26s %3u  %-24s %12.4g %12.4g %7.3fx %8.4f  %s%s\n", r.workload.c_str(), r.threads, compared.c_str(),
                    sa.median, sb.median, sa.median != 0 ? sb.median / sa.median : 0.0, t.p_value,
                    verdict(t, alpha, sa.median, sb.median), mark.c_str());
    }
    if (few) std::printf("\n[few reps]: fewer than 5 repetitions on a side; the test can hardly reach significance.\n");
    if (noisy) std::printf("[high CV]: a side's coefficient of variation is above 5%%; read the verdict with care.\n");
    if (rows.empty()) std::printf("  (no groups in common)\n");
}

}  // namespace

int compare_command(const std::vector<std::string>& args) {
    std::vector<std::string> files;
    std::string metric = "ns_per_op", allocators;
    double alpha = 0.05;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        const bool has_value = i + 1 < args.size();
        if (a == "-h" || a == "--help") {
            std::fputs(usage, stdout);
            return 0;
        } else if (a == "--metric" && has_value) {
            metric = args[++i];
        } else if (a == "--allocators" && has_value) {
            allocators = args[++i];
        } else if (a == "--alpha" && has_value) {
            char* end = nullptr;
            alpha = std::strtod(args[++i].c_str(), &end);
            if (*end != '\0' || !(alpha > 0 && alpha < 1)) {
                std::fprintf(stderr, "allocmeter compare: --alpha %s: give a number between 0 and 1, e.g. 0.05\n", args[i].c_str());
                return 2;
            }
        } else if (a.rfind("-", 0) == 0) {
            std::fprintf(stderr, "allocmeter compare: unknown option '%s'; see 'allocmeter compare --help'\n", a.c_str());
            return 2;
        } else {
            files.push_back(a);
        }
    }
    const std::vector<std::string> pair = split_list(allocators);
    const bool two_files = files.size() == 2 && pair.empty();
    const bool two_allocators = files.size() == 1 && pair.size() == 2;
    if (!two_files && !two_allocators) {
        std::fprintf(stderr, "allocmeter compare: give two results files, or one and --allocators A,B; see 'allocmeter compare --help'\n");
        return 2;
    }
    try {
        std::vector<row> rows;
        std::string title;
        if (two_files) {
            const loaded before = load(files[0], metric), after = load(files[1], metric);
            for (const group_key& k : before.order)
                if (const auto it = after.groups.find(k); it != after.groups.end())
                    rows.push_back({std::get<0>(k), std::get<0>(k), std::get<1>(k), std::get<2>(k), before.groups.at(k), it->second});
            title = "compare: " + after.path + " (second) against " + before.path + " (first)";
        } else {
            const loaded l = load(files[0], metric);
            for (const std::string& name : pair) {
                bool found = false;
                for (const group_key& k : l.order) found = found || std::get<0>(k) == name;
                if (!found) fail(l.path + ": no ok cells of allocator '" + name + "'");
            }
            for (const group_key& k : l.order) {
                if (std::get<0>(k) != pair[0]) continue;
                const group_key other{pair[1], std::get<1>(k), std::get<2>(k)};
                if (const auto it = l.groups.find(other); it != l.groups.end())
                    rows.push_back({pair[0], pair[1], std::get<1>(k), std::get<2>(k), l.groups.at(k), it->second});
            }
            title = "compare: " + pair[1] + " (second) against " + pair[0] + " (first) in " + l.path;
        }
        print(rows, metric, alpha, title);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "allocmeter compare: %s\n", e.what());
        return 2;
    }
    return 0;
}

}  // namespace allocmeter
