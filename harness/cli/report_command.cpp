// `allocmeter report RESULTS [-o FILE]`: its arguments and messages; the page is written by
// analysis/report_writer.
#include "harness/cli/report_command.hpp"

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "harness/analysis/report_writer.hpp"
#include "harness/analysis/summary.hpp"
#include "harness/cli/command_line.hpp"
#include "harness/results/results_reader.hpp"

namespace allocmeter {

namespace {

const char* const about = R"(allocmeter report: one self-contained HTML page for a design review

usage: allocmeter report RESULTS [-o FILE]

RESULTS is a results.json or a run folder (results/latest). The page (default: report.html
beside results.json) has the findings at a glance, every chart embedded, each allocator's
median, confidence interval and CV per workload with a Mann-Whitney U test against system,
the cells that did not run, the method (command line, repetitions, scale, seed) and the
environment. The charts' PNG and SVG files go to charts/ beside the run's own report.html,
or to NAME-charts/ beside a page NAME.html written elsewhere (see 'allocmeter plot --help');
without matplotlib the page is still written, says why it has no charts, and the command
exits 1.
)";

const char* const examples = R"(
examples:
  allocmeter report results/latest
  allocmeter report results/20261201-101500 -o review/allocators.html
  allocmeter report results/latest --out=review/allocators.html
)";

/// Where a page's chart files go: charts/ for a run's own report.html, else a folder named
/// after the page (review/allocators.html: review/allocators-charts/), so that two pages in
/// one folder never share, and overwrite, each other's charts.
std::filesystem::path charts_dir_for(const std::filesystem::path& html, const std::filesystem::path& run_dir) {
    namespace fs = std::filesystem;
    const fs::path folder = html.parent_path();
    std::error_code ec;
    if (html.filename() == "report.html" && fs::weakly_canonical(folder, ec) == fs::weakly_canonical(run_dir, ec))
        return folder / "charts";
    return folder / (html.stem().string() + "-charts");
}

/// Writes the page and its charts, and says where they are.
int write_and_say(const loaded_results& results, const std::filesystem::path& page) {
    const std::filesystem::path html = std::filesystem::absolute(page);
    const std::filesystem::path charts = charts_dir_for(html, results.path.parent_path());
    std::fprintf(stderr, "allocmeter report: drawing the charts into %s\n", charts.c_str());
    const report_outcome r = write_report(results, summarize_run(results.doc), html, charts);
    if (!r.charts_problem.empty()) {
        std::fprintf(stderr, "allocmeter report: no charts: %s\n", r.charts_problem.c_str());
        std::printf("report (without charts): %s\n", html.c_str());
        return 1;
    }
    std::printf("report: %s (%zu charts; PNG and SVG in %s)\n", html.c_str(), r.charts, charts.c_str());
    return 0;
}

}  // namespace

int report_command(const std::vector<std::string>& args) {
    results_arguments a;
    if (!parse_results_arguments("report", about, examples, "FILE", "where the page goes", args, a)) return 0;
    try {
        const loaded_results results = read_results(a.results);
        return write_and_say(results, a.out.empty() ? results.path.parent_path() / "report.html" : std::filesystem::path(a.out));
    } catch (const results_error& e) {
        std::fprintf(stderr, "allocmeter report: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "allocmeter report: %s\n", e.what());
        return 1;
    }
}

int report_for_run(const std::string& run_dir) {
    try {
        const loaded_results results = read_results(run_dir);
        return write_and_say(results, results.path.parent_path() / "report.html");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "allocmeter report: %s\n", e.what());
        return 1;
    }
}

}  // namespace allocmeter
