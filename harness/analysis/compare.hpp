// Compares groups of repetitions: the same allocator x workload x threads in two results
// files, by a two-sided Mann-Whitney U test on a chosen metric; or two allocators per workload
// x threads in one, also paired by round (the Wilcoxon signed-rank test of the rounds' ratios).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "harness/results/record.hpp"

namespace allocmeter {

struct compare_options {
    std::vector<std::string> files;       ///< one or two results files or run folders
    std::vector<std::string> allocators;  ///< with one file: the two allocators, first then second
    std::string metric = metric_names().front();  ///< a numeric metric of the cells; lower is better
    double alpha = 0.05;                  ///< significance level
};

/// Prints the comparison table to `out`. Throws results_error when a file is unusable and
/// std::invalid_argument when the request does not fit the files (no such allocator or
/// metric, or no group in common: nothing to compare).
void compare_results(const compare_options& options, std::FILE* out);

}  // namespace allocmeter
