// `allocmeter plot RESULTS [-o DIR]`: its arguments and messages; the charts are drawn by
// analysis/plot_runner.
#include "harness/cli/plot_command.hpp"

#include <cstdio>
#include <filesystem>

#include "harness/analysis/plot_runner.hpp"
#include "harness/analysis/summary.hpp"
#include "harness/cli/command_line.hpp"
#include "harness/results/results_reader.hpp"

namespace allocmeter {

namespace {

const char* const about = R"(allocmeter plot: the charts of a results file, PNG and SVG, for slides and reviews

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
)";

const char* const examples = R"(
examples:
  allocmeter plot results/latest
  allocmeter plot results/20261201-101500/results.json -o /tmp/charts
  allocmeter plot results/latest --out=slides/charts
)";

}  // namespace

int plot_command(const std::vector<std::string>& args) {
    results_arguments a;
    if (!parse_results_arguments("plot", about, examples, "DIR", "where the charts go", args, a)) return 0;
    try {
        const loaded_results results = read_results(a.results);
        const std::filesystem::path dir = a.out.empty() ? results.path.parent_path() / "charts" : std::filesystem::path(a.out);
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

}  // namespace allocmeter
