// The `compare` command's arguments; the comparison itself is analysis/compare.
#include "harness/cli/compare_command.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <tuple>

#include "harness/cli/command_line.hpp"
#include "harness/analysis/compare.hpp"

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
        compare_results({files, pair, metric, alpha}, stdout);
    } catch (const std::exception& e) {  // results_error or std::invalid_argument: the input, named
        std::fprintf(stderr, "allocmeter compare: %s\n", e.what());
        return 2;
    }
    return 0;
}

}  // namespace allocmeter
