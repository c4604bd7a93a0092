// Writes a run's results as cells finish: results/<run-id>/results.json (rewritten
// atomically after every cell), results.csv (a row per cell), summary.json at the end, and
// the results/latest link. An interrupted run keeps every finished cell.
#pragma once

#include <filesystem>
#include <string>

#include "harness/results/record.hpp"

namespace allocmeter {

class results_writer {
public:
    /// Creates `out_dir`/<run-id>/ (a new one, never reusing a folder) and writes an empty run.
    results_writer(const std::filesystem::path& out_dir, run_env env);

    /// Records a finished cell and rewrites the files.
    void add(const cell_record& cell);

    /// The env, to record what the run learns (e.g. from the first ok cell); written with the next cell.
    run_env& env() { return doc_.env; }

    /// Writes summary.json beside results.json.
    void write_summary(const run_summary& summary) const;

    /// Points `out_dir`/latest at this run; "" when done, else why not (the run goes on).
    std::string link_latest();

    const results_document& document() const { return doc_; }
    const std::filesystem::path& dir() const { return dir_; }

private:
    void write_json() const;

    std::filesystem::path out_dir_;
    std::filesystem::path dir_;
    results_document doc_;
};

/// Writes `text` to `path` through a temporary file renamed over it, so a reader never sees
/// half a file; throws std::runtime_error naming the file and the errno's text.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace allocmeter
