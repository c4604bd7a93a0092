// The `compare` command's arguments; the comparison itself is analysis/compare.
#include "harness/cli/compare_command.hpp"

#include <cstdio>
#include <stdexcept>

#include "harness/analysis/compare.hpp"
#include "harness/cli/command_line.hpp"

namespace allocmeter {

namespace {

const char* const about = R"(allocmeter compare: is a difference in the timings real?

usage: allocmeter compare BEFORE AFTER [options]          each allocator x workload x threads in both
       allocmeter compare RESULTS --allocators A,B [options]   B against A, per workload x threads

BEFORE, AFTER and RESULTS are results.json files or run folders (results/latest). Each pair of
groups of repetitions is compared with a two-sided Mann-Whitney U test: "faster" or "slower"
when p < alpha, else "no significant difference". The ratio is the second median over the first.

Two allocators of one run are also paired by round (a run's rep r of every allocator ran in
one round): "paired" is the median over the rounds of second over first within the round,
with its interval; drift between rounds cancels. The verdict then reads the two-sided
Wilcoxon signed-rank test of those ratios' logs, where enough rounds pair for it to reach
alpha (6 at 0.05; with 5 its smallest p is 1/16), else Mann-Whitney U; the table says which.
)";

const char* const examples = R"(
examples:
  allocmeter compare results/20261201-101500 results/latest
  allocmeter compare results/latest --allocators system,jemalloc
  allocmeter compare before.json after.json --metric peak_rss_bytes --alpha=0.01
)";

// The range of --alpha: above 0.5, more than half of all pairs with no real difference would
// be called different; the floor leaves room for a corrected level (0.05 / 1000 tests).
constexpr double min_alpha = 1e-6, max_alpha = 0.5;

/// The options as typed; to_compare_options checks them.
struct compare_arguments {
    std::vector<std::string> files;
    std::string metric = compare_options{}.metric;
    std::string allocators;
    std::string alpha = fmt::to_string(compare_options{}.alpha);
};

/// Declares compare's options and parses `args`; false when --help was shown.
bool parse_compare(const std::vector<std::string>& args, compare_arguments& a) {
    command_grammar g("compare", about, examples);
    g.options.add_options()("metric", po::value(&a.metric)->default_value(a.metric)->value_name("NAME"),
                            "a numeric metric of the cells; lower is better")(
        "alpha", po::value(&a.alpha)->default_value(a.alpha)->value_name("A"), "significance level, from 1e-06 to 0.5")(
        "allocators", po::value(&a.allocators)->value_name("A,B"), "with one results file: compare B against A");
    g.positionals.add_options()("results", po::value(&a.files));
    g.order.add("results", 2);
    return parse_arguments(g, args);
}

/// One file and two allocators, or two files and no allocators; alpha in its range.
compare_options to_compare_options(const compare_arguments& a) {
    compare_options o;
    o.files = a.files;
    if (!a.allocators.empty()) o.allocators = list_option("compare", "--allocators", a.allocators, ", e.g. --allocators system,jemalloc");
    o.metric = a.metric;
    o.alpha = parse_number("compare", "--alpha", a.alpha, min_alpha, max_alpha, ", e.g. 0.05");
    const bool two_files = o.files.size() == 2 && o.allocators.empty();
    const bool two_allocators = o.files.size() == 1 && o.allocators.size() == 2;
    if (!two_files && !two_allocators)
        usage_fail("compare", "give two results files, or one and --allocators A,B; see 'allocmeter compare --help'");
    return o;
}

}  // namespace

int compare_command(const std::vector<std::string>& args) {
    compare_arguments a;
    if (!parse_compare(args, a)) return 0;
    const compare_options options = to_compare_options(a);
    try {
        compare_results(options, stdout);
    } catch (const std::exception& e) {  // results_error or std::invalid_argument: the input, named
        std::fprintf(stderr, "allocmeter compare: %s\n", e.what());
        return exit_usage;
    }
    return 0;
}

}  // namespace allocmeter
