// Reads a results file given as a results.json or a run folder (results/latest) into the
// typed record, checking every field once, so each command meets either good data or a
// message that names the file, the cell and the field.
#pragma once

#include <filesystem>
#include <string>

#include "harness/results/record.hpp"

namespace allocmeter {

struct loaded_results {
    std::filesystem::path path;  ///< the results.json read
    results_document doc;
};

/// Throws results_error naming the file and what to give instead when it cannot be read, is
/// not an allocmeter results file, or is damaged.
loaded_results read_results(const std::string& given);

}  // namespace allocmeter
