// The table a run prints when it ends: per workload and thread count, each allocator's
// median ns/op, its spread over repetitions, median peak RSS, and the ratio to `system`.
#pragma once

#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

namespace allocmeter {

/// Prints the summary of a results document.
void print_summary(const nlohmann::json& doc, std::FILE* out);

}  // namespace allocmeter
