// Writes a run's results as cells finish: results/<run-id>/results.json (rewritten
// atomically after every cell, schema allocmeter-results/1), results.csv (a row per cell),
// and the results/latest link. An interrupted run keeps every finished cell.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace allocmeter {

inline constexpr const char* results_schema = "allocmeter-results/1";

/// This host and build: CPU, kernel, THP mode, compiler (the `env` object minus the run's own fields).
nlohmann::json collect_host_env();

class results_writer {
public:
    /// Creates `out_dir`/<run-id>/ (a new one, never reusing a folder) and writes an empty run.
    results_writer(const std::filesystem::path& out_dir, nlohmann::json env);

    /// Records a finished cell and rewrites the files.
    void add(const nlohmann::json& cell);

    /// Sets env[key] (learned during the run, e.g. from the first ok cell); written with the next cell.
    void set_env(const std::string& key, nlohmann::json value) { doc_["env"][key] = std::move(value); }

    /// Points `out_dir`/latest at this run.
    void link_latest();

    const nlohmann::json& document() const { return doc_; }
    const std::filesystem::path& dir() const { return dir_; }

private:
    void write_json() const;
    void append_csv(const nlohmann::json& cell) const;

    std::filesystem::path out_dir_;
    std::filesystem::path dir_;
    nlohmann::json doc_;
};

/// The results.json that `given` names: the file itself, or the one in a run folder
/// (results/latest), with the document; throws std::invalid_argument naming the file and what
/// to give instead when it cannot be read or is not an allocmeter results file.
struct loaded_results {
    std::filesystem::path path;
    nlohmann::json doc;
};
loaded_results read_results(const std::string& given);

/// The CSV columns, in order.
const std::vector<std::string>& csv_columns();

}  // namespace allocmeter
