// Argument parsing and messages for `plot` and `report`; the work is in plot_runner and
// report_writer.
#include "harness/cli/report_command.hpp"

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "harness/analysis/plot_runner.hpp"
#include "harness/analysis/report_writer.hpp"
#include "harness/analysis/summary.hpp"

namespace allocmeter {

namespace {

const char* const plot_usage = R"(allocmeter plot: the charts of a results file, PNG and SVG, for slides and reviews

usage: allocmeter plot RESULTS [-o DIR]

RESULTS is a results.json or a run folder (results/latest). The charts go to DIR (default:
charts/ beside results.json), with charts.json listing them:
  heatmap-time, heatmap-rss   allocator x workload, median ns/op and peak RSS relative to system
  time-WORKLOAD               ns/op and peak RSS relative to system, error bars from the repetitions
  scaling                     throughput against threads, for workloads run at several thread counts
  latency-WORKLOAD            sampled latency percentiles, p50 to max (when the run timed them)
  rss-WORKLOAD                RSS and live bytes over time (when the run sampled them)

The charts are drawn by plots/allocmeter_plots.py with matplotlib: allocmeter uses the first
Python that has it ($ALLOCMETER_PYTHON, else python3 on PATH, else /usr/bin/python3). On Debian:
apt-get install python3-matplotlib (or 'make deps').

options:
  -o DIR   where the charts go

examples:
  allocmeter plot results/latest
  allocmeter plot results/20261201-101500/results.json -o /tmp/charts
)";

const char* const report_usage = R"(allocmeter report: one self-contained HTML page for a design review

usage: allocmeter report RESULTS [-o FILE]

RESULTS is a results.json or a run folder (results/latest). The page (default: report.html
beside results.json) has the findings at a glance, every chart embedded, each allocator's
median, confidence interval and CV per workload with a Mann-Whitney U test against system,
the cells that did not run, the method (command line, repetitions, scale, seed) and the
environment. The charts' PNG and SVG files go to charts/ beside the page (see 'allocmeter plot
--help'); without matplotlib the page is still written, says why it has no charts, and the
command exits 1.

options:
  -o FILE  where the page goes

examples:
  allocmeter report results/latest
  allocmeter report results/20261201-101500 -o review/allocators.html
)";

struct parsed {
    std::string results, out;
    int exit = -1;  ///< >= 0: stop with this code (help, or a usage error)
};

parsed parse(const std::string& command, const char* usage, const std::vector<std::string>& args) {
    parsed p;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") {
            std::fputs(usage, stdout);
            return {{}, {}, 0};
        } else if (a == "-o" || a == "--out") {
            if (i + 1 == args.size()) {
                std::fprintf(stderr, "allocmeter %s: %s needs a path; see 'allocmeter %s --help'\n", command.c_str(), a.c_str(),
                             command.c_str());
                return {{}, {}, 2};
            }
            p.out = args[++i];
        } else if (a.rfind("-", 0) == 0) {
            std::fprintf(stderr, "allocmeter %s: unknown option '%s'; see 'allocmeter %s --help'\n", command.c_str(), a.c_str(),
                         command.c_str());
            return {{}, {}, 2};
        } else if (p.results.empty()) {
            p.results = a;
        } else {
            std::fprintf(stderr, "allocmeter %s: give one results file ('%s' is a second); see 'allocmeter %s --help'\n",
                         command.c_str(), a.c_str(), command.c_str());
            return {{}, {}, 2};
        }
    }
    if (p.results.empty()) {
        std::fprintf(stderr, "allocmeter %s: give a results file or run folder, e.g. 'allocmeter %s results/latest'\n",
                     command.c_str(), command.c_str());
        p.exit = 2;
    }
    return p;
}

int write_and_say(const loaded_results& results, const std::filesystem::path& html) {
    const std::filesystem::path charts = (html.has_parent_path() ? html.parent_path() : ".") / std::filesystem::path("charts");
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

int plot_command(const std::vector<std::string>& args) {
    const parsed p = parse("plot", plot_usage, args);
    if (p.exit >= 0) return p.exit;
    try {
        const loaded_results results = read_results(p.results);
        const std::filesystem::path dir = p.out.empty() ? results.path.parent_path() / "charts" : std::filesystem::path(p.out);
        std::fprintf(stderr, "allocmeter plot: drawing the charts into %s\n", dir.c_str());
        const std::vector<chart> charts = make_charts(summarize_run(results.doc), results.path, dir);
        for (const chart& c : charts) std::printf("  %-24s %s\n", c.name.c_str(), c.title.c_str());
        std::printf("%zu charts (PNG and SVG) in %s\n", charts.size(), dir.c_str());
        return 0;
    } catch (const results_error& e) {
        std::fprintf(stderr, "allocmeter plot: %s\n", e.what());
        return 2;
    } catch (const plot_error& e) {
        std::fprintf(stderr, "allocmeter plot: %s\n", e.what());
        return 1;
    }
}

int report_command(const std::vector<std::string>& args) {
    const parsed p = parse("report", report_usage, args);
    if (p.exit >= 0) return p.exit;
    try {
        const loaded_results results = read_results(p.results);
        return write_and_say(results, p.out.empty() ? results.path.parent_path() / "report.html" : std::filesystem::path(p.out));
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
