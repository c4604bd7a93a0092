// What a run's repetitions say per workload, thread count and allocator: the median ns/op and
// peak RSS with their confidence intervals and CVs, the ratios to the baseline allocator and
// the test against it. The terminal table a run prints and the HTML report both read this.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/analysis/statistics.hpp"

namespace allocmeter {

/// One allocator in one workload x threads group.
struct summary_row {
    std::string allocator;
    std::string version;                 ///< the serving library's, shortened; "" for reference allocators
    std::string not_ok;                  ///< "skipped: why" (first non-ok cell), shown when no rep is ok
    std::vector<double> ns_per_op;       ///< ok repetitions, in run order
    std::vector<double> peak_rss_bytes;  ///< ok repetitions that have it
    sample_summary time, rss;
    std::optional<double> time_ratio, rss_ratio;     ///< median over the baseline's median
    std::optional<mann_whitney> time_test, rss_test;  ///< against the baseline (not on the baseline's row)

    bool ok() const { return !ns_per_op.empty(); }
    bool few_reps() const { return ok() && time.n < few_repetitions; }
    bool noisy() const { return ok() && time.cv > high_cv; }
};

/// The rows of one workload x threads, in the order the allocators first ran.
struct summary_group {
    std::string workload;
    unsigned threads = 1;
    std::vector<summary_row> rows;
};

struct run_summary {
    std::string baseline;  ///< `system` when the run has it, else the first allocator that ran
    std::vector<summary_group> groups;
};

/// Groups the cells of a results document and summarizes each group.
run_summary summarize_run(const nlohmann::json& doc);

/// The confidence intervals' coverage for each number of repetitions in the run: "93.8% at 5 reps".
std::string ci_coverage_text(const run_summary& run);

/// printf-style formatting of a short text (a table cell) into a string.
template <typename... Args>
std::string format_text(const char* format, Args... args) {
    char buf[128];
    std::snprintf(buf, sizeof buf, format, args...);
    return buf;
}

/// Bytes as the tables show them: "7.5 MiB".
std::string mib_text(double bytes);

/// A library version short enough for a table: a git suffix ("5.3.0-0-g54eaed1d...") cut off.
std::string short_version(const std::string& version);

/// Prints the summary table of a results document.
void print_summary(const nlohmann::json& doc, std::FILE* out);

}  // namespace allocmeter
