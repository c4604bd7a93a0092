// The table a run prints when it ends: per workload and thread count, each allocator's
// median ns/op, its spread over repetitions, median peak RSS, and the ratio to `system`.
#pragma once

#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

namespace allocmeter {

/// The median of `v` (the mean of the middle two for an even count); 0 for none.
double median(std::vector<double> v);

/// Prints the summary of a results document.
void print_summary(const nlohmann::json& doc, std::FILE* out);

}  // namespace allocmeter
