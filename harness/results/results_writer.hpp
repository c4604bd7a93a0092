// Writes a run's results as cells finish: results/<run-id>/results.json (rewritten
// atomically after every cell, marked complete only by finish()), results.csv (a row per
// cell), summary.json at the end, and the results/latest link. An interrupted run keeps every
// finished cell, and `run --resume` carries on in the same folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "harness/results/record.hpp"

namespace allocmeter {

class results_writer {
public:
    /// Creates `out_dir`/<run-id>/ (a new one, never reusing a folder) and writes an empty,
    /// incomplete run of `cells_planned` cells (none: a run that decides as it goes, --reps auto).
    results_writer(const std::filesystem::path& out_dir, run_env env, std::optional<std::uint64_t> cells_planned);

    /// Carries on an interrupted run in `run_dir`, whose results.json held `doc`: its cells
    /// are kept, and results.csv is written again from them (a kill may have cut it short).
    static results_writer resume(const std::filesystem::path& run_dir, results_document doc);

    /// Records a finished cell and rewrites the files.
    void add(const cell_record& cell);

    /// Marks the run complete: every planned cell has its record (a run that decided as it
    /// went planned the cells it has).
    void finish();

    /// The env, to record what the run learns (e.g. from the first ok cell); written with the next cell.
    run_env& env() { return doc_.env; }

    /// Writes summary.json beside results.json.
    void write_summary(const run_summary& summary) const;

    /// Points `out_dir`/latest at this run; "" when done, else why not (the run goes on).
    std::string link_latest();

    const results_document& document() const { return doc_; }
    const std::filesystem::path& dir() const { return dir_; }

private:
    results_writer() = default;
    void write_json() const;

    std::filesystem::path out_dir_;
    std::filesystem::path dir_;
    results_document doc_;
};

/// Writes `text` to `path` through a temporary file renamed over it, so a reader never sees
/// half a file; throws std::runtime_error naming the file and the errno's text.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace allocmeter
