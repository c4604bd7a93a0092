// The parent's side of `allocmeter run`: expands allocators x workloads x threads x reps
// into cells, interleaves repetitions across allocators, runs each cell in a child
// process, and records every cell (ok, failed, timeout or skipped) as it finishes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "harness/allocator_catalog.hpp"
#include "workloads/workload.hpp"

namespace allocmeter {

struct run_options {
    std::vector<std::string> allocators;  ///< names, validated against the catalog
    std::vector<std::string> workloads;   ///< names, validated against the registry
    std::vector<unsigned> threads{1, 2};
    unsigned reps = 5;
    scale size = scale::standard;
    std::uint64_t seed = 1;
    std::filesystem::path out = "results";
    double timeout_s = 300;
    std::string command_line;
};

/// Runs the matrix, prints progress and the summary; returns the process exit code.
int run_matrix(const run_options& options, const allocator_catalog& catalog);

}  // namespace allocmeter
