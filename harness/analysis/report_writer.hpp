// The design-review report: one self-contained HTML page per results file, with the findings
// at a glance, the charts (embedded), each comparison's significance, the cells that did not
// run, the method and the environment.
#pragma once

#include <filesystem>
#include <string>

#include "harness/results/results_reader.hpp"

namespace allocmeter {

struct report_outcome {
    std::size_t charts = 0;      ///< embedded
    std::string charts_problem;  ///< why there are none ("" when the charts were made)
};

/// Writes the report of `results` (whose summary is `run`) to `html`, the charts (PNG and
/// SVG) into `charts_dir`.
/// When the charts cannot be made (no matplotlib) the page is still written, without them,
/// and says why; throws std::runtime_error when `html` cannot be written.
report_outcome write_report(const loaded_results& results, const run_summary& run, const std::filesystem::path& html,
                            const std::filesystem::path& charts_dir);

}  // namespace allocmeter
