// The results files of a run: the writer's folder, results.json read back through the reader
// with every cell, one CSV row per cell, summary.json, the latest link; the reader's errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "harness/analysis/summary.hpp"
#include "harness/results/results_reader.hpp"
#include "harness/results/results_writer.hpp"
#include "harness/results/tests/sample_results.hpp"

using namespace allocmeter;
using namespace allocmeter::testing;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
    const fs::path dir = fs::path(::testing::TempDir()) / ("allocmeter-results-files-" + name);
    fs::remove_all(dir);
    return dir;
}

std::size_t lines_in(const fs::path& p) {
    std::ifstream in(p);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
}

}  // namespace

// Each cell is on disk as soon as it is added; the reader gets back what was written.
TEST(ResultsFiles, WrittenAsCellsFinishAndReadBack) {
    const fs::path out = scratch("write");
    results_writer writer(out, sample_document({}).env, 1);
    EXPECT_EQ(writer.link_latest(), "");
    EXPECT_TRUE(fs::is_symlink(out / "latest"));
    EXPECT_EQ(read_results((out / "latest").string()).doc.cells.size(), 0u);
    writer.add(ok_cell("system", "frame", 1, 1, 10));
    writer.add(not_run_cell("bump", "churn", 1, 1, cell_status::skipped, "no free"));
    const loaded_results back = read_results((out / "latest").string());
    EXPECT_EQ(back.path, out / "latest" / "results.json");
    ASSERT_EQ(back.doc.cells.size(), 2u);
    EXPECT_EQ(back.doc.run_id, writer.dir().filename().string());
    EXPECT_EQ(to_json_text(back.doc), to_json_text(writer.document()));
    EXPECT_EQ(lines_in(writer.dir() / "results.csv"), 3u);  // the header and two cells
    writer.write_summary(summarize_run(writer.document()));
    EXPECT_TRUE(fs::is_regular_file(writer.dir() / "summary.json"));
    EXPECT_FALSE(fs::exists(writer.dir() / "results.json.tmp"));
}

// A run is incomplete until finish(); a resumed one keeps its cells, rebuilds a cut-off CSV,
// and is complete once it finishes.
TEST(ResultsFiles, IncompleteUntilFinishedAndResumable) {
    const fs::path out = scratch("resume");
    fs::path dir;
    {
        results_writer writer(out, sample_document({}).env, 2);
        writer.add(ok_cell("system", "frame", 1, 1, 10));
        dir = writer.dir();
    }
    results_document doc = read_results(dir.string()).doc;
    EXPECT_FALSE(doc.complete);
    EXPECT_EQ(doc.cells_planned, 2u);
    std::ofstream(dir / "results.csv", std::ios::trunc) << "cut";  // as a kill mid-write would leave it
    std::ofstream(dir / "results.json.tmp") << "{";
    results_writer again = results_writer::resume(dir, std::move(doc));
    EXPECT_EQ(lines_in(dir / "results.csv"), 2u);
    EXPECT_FALSE(fs::exists(dir / "results.json.tmp"));
    again.add(ok_cell("system", "frame", 1, 2, 11));
    EXPECT_FALSE(read_results(dir.string()).doc.complete);
    again.finish();
    const results_document back = read_results(dir.string()).doc;
    EXPECT_TRUE(back.complete);
    EXPECT_EQ(back.cells.size(), 2u);
    EXPECT_EQ(lines_in(dir / "results.csv"), 3u);
}

// Two runs in the same second get two folders.
TEST(ResultsFiles, NeverReusesARunFolder) {
    const fs::path out = scratch("twice");
    results_writer a(out, sample_document({}).env, 1), b(out, sample_document({}).env, 1);
    EXPECT_NE(a.dir(), b.dir());
}

// The reader names what it was given and what to give instead.
TEST(ResultsFiles, ReaderErrors) {
    const fs::path dir = scratch("reader");
    fs::create_directories(dir);
    const auto error_of = [](const std::string& given) -> std::string {
        try {
            read_results(given);
        } catch (const results_error& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_NE(error_of((dir / "missing.json").string()).find("missing.json: cannot open"), std::string::npos);
    EXPECT_NE(error_of(dir.string()).find("results.json: cannot open"), std::string::npos);
    std::ofstream(dir / "other.json") << R"({"not": "results"})";
    EXPECT_NE(error_of((dir / "other.json").string()).find("not an allocmeter results file"), std::string::npos);
}

// A folder named latest is left alone and said so, with nothing left behind.
TEST(ResultsFiles, LatestThatIsAFolderIsNotReplaced) {
    const fs::path out = scratch("latest-folder");
    fs::create_directories(out / "latest");
    results_writer writer(out, sample_document({}).env, 1);
    EXPECT_NE(writer.link_latest().find("latest is not the link allocmeter keeps"), std::string::npos);
    EXPECT_TRUE(fs::is_directory(fs::symlink_status(out / "latest")));
    EXPECT_FALSE(fs::exists(fs::symlink_status(out / ".latest.tmp")));
}
