// `allocmeter plot` and `allocmeter report` on the fixture results file (a real quick run): every
// expected chart is written as a valid PNG and SVG and embedded in the page, the page has the
// tables, tests, method and environment; without matplotlib the page is still written and the
// command says how to get it; bad input exits 2. Also summarize_run() on the fixture.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "harness/analysis/summary_table.hpp"
#include "harness/tests/test_support.hpp"

using namespace allocmeter;
using namespace allocmeter::testing;

namespace {

const std::vector<std::string> fixture_charts{
    "heatmap-time", "heatmap-rss",   "time-frame",   "time-churn",           "time-sqlite-index", "scaling",
    "latency-frame", "latency-churn", "latency-sqlite-index", "rss-frame", "rss-churn",         "rss-sqlite-index"};

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::uint32_t big_endian(const std::string& b, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(b[at + i]);
    return v;
}

/// Empty when `bytes` is a PNG with a header chunk of non-zero size and some image data, else why not.
std::string png_problem(const std::string& bytes) {
    if (bytes.size() < 1024) return "only " + std::to_string(bytes.size()) + " bytes";
    if (bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return "no PNG signature";
    if (bytes.compare(12, 4, "IHDR") != 0) return "no IHDR first";
    if (big_endian(bytes, 16) < 200 || big_endian(bytes, 20) < 200) return "smaller than 200 x 200";
    if (bytes.find("IDAT") == std::string::npos) return "no image data";
    return {};
}

std::string decode_base64(std::string_view s) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : s) {
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
              : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (v < 0) continue;  // '=' padding
        acc = acc << 6 | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) bits -= 8, out += static_cast<char>(acc >> bits & 0xff);
    }
    return out;
}

/// The PNG embedded in the figure with id chart-NAME, decoded ("" when there is none).
std::string embedded_png(const std::string& html, const std::string& name) {
    const auto fig = html.find("<figure id=\"chart-" + name + "\"");
    if (fig == std::string::npos) return {};
    const std::string marker = "data:image/png;base64,";
    const auto at = html.find(marker, fig);
    if (at == std::string::npos) return {};
    const auto begin = at + marker.size();
    return decode_base64(std::string_view(html).substr(begin, html.find('"', begin) - begin));
}

}  // namespace

// The page embeds every expected chart as a valid PNG; the files (PNG and SVG) are beside it.
TEST(Report, FixtureHasEveryChartEmbeddedAndOnDisk) {
    const auto dir = fresh_dir("report");
    const auto r = run_allocmeter(std::string("report ") + PLOTS_FIXTURE + " -o " + (dir / "review.html").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("12 charts"), std::string::npos) << r.output;
    const std::string html = slurp(dir / "review.html");
    for (const std::string& name : fixture_charts) {
        SCOPED_TRACE(name);
        EXPECT_EQ(png_problem(embedded_png(html, name)), "");
        EXPECT_EQ(png_problem(slurp(dir / "charts" / (name + ".png"))), "");
        const std::string svg = slurp(dir / "charts" / (name + ".svg"));
        EXPECT_GT(svg.size(), 2000u);
        EXPECT_NE(svg.find("<svg"), std::string::npos);
        EXPECT_NE(svg.find("</svg>"), std::string::npos);
    }
    const auto listed = nlohmann::json::parse(slurp(dir / "charts" / "charts.json"));
    EXPECT_EQ(listed["charts"].size(), fixture_charts.size());
    EXPECT_EQ(html.find("No charts"), std::string::npos);
}

// The page's text: the run, the method and its statistics, a table row per allocator with its
// test against system, the cells that were skipped and why, and the libraries' versions.
TEST(Report, FixtureTablesMethodAndEnvironment) {
    const auto dir = fresh_dir("report-text");
    // ALLOCMETER_PYTHON pointing at a program that fails: the page without charts, quickly.
    const auto r = run_shell("ALLOCMETER_PYTHON=/bin/false " + std::string(ALLOCMETER_BIN) + " report " + PLOTS_FIXTURE +
                             " -o " + (dir / "r.html").string());
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("python3-matplotlib"), std::string::npos) << r.output;
    const std::string html = slurp(dir / "r.html");
    ASSERT_FALSE(html.empty()) << r.output;
    EXPECT_NE(html.find("No charts: ALLOCMETER_PYTHON=/bin/false cannot import matplotlib"), std::string::npos);
    for (const char* expected :
         {"run 20261201-220058", "--scale quick --reps 5", "Mann-Whitney U", "130 cells ok, 20 skipped", "<h3>frame, 2 threads</h3>",
          "<h3>trace:workloads/traces/sqlite-index.trace, 1 thread</h3>", "jemalloc</td><td class=\"l\">5.3.0</td>",
          "the workload frees objects one by one and the allocator has no individual free", "mi_version()",
          "its coverage: 93.8% at 5 reps", "lower, p 0.0079", "not corrected for multiplicity"})
        EXPECT_NE(html.find(expected), std::string::npos) << expected;
    // Every allocator has a row in every group it ran in: 5 groups x 6 allocators.
    std::size_t rows = 0;
    for (std::size_t at = 0; (at = html.find("<tr><td class=\"l\">", at)) != std::string::npos; ++at)
        rows += html.compare(at, 30, "<tr><td class=\"l\">thread_cache") == 0;
    EXPECT_EQ(rows, 5u);
}

// plot: the charts and charts.json in the folder asked for; a listed line per chart.
TEST(Report, PlotCommandWritesTheCharts) {
    const auto dir = fresh_dir("plot");
    // One workload of the fixture keeps this quick.
    auto doc = nlohmann::json::parse(slurp(PLOTS_FIXTURE));
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& c : doc["cells"])
        if (c["workload"] == "frame") kept.push_back(c);
    doc["cells"] = kept;
    std::ofstream(dir / "results.json") << doc.dump();
    const auto r = run_allocmeter("plot " + dir.string() + " -o " + (dir / "out").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const char* name : {"heatmap-time", "heatmap-rss", "time-frame", "scaling", "latency-frame", "rss-frame"}) {
        EXPECT_NE(r.output.find(std::string("  ") + name + " "), std::string::npos) << name << "\n" << r.output;
        EXPECT_EQ(png_problem(slurp(dir / "out" / (std::string(name) + ".png"))), "") << name;
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "out" / "time-churn.png"));
}

// Bad input: a missing file, a file that is not results, a damaged one, a second file, an
// unknown option, no file.
TEST(Report, BadInputExits2) {
    const auto dir = fresh_dir("report-bad");
    std::ofstream(dir / "other.json") << R"({"not": "results"})";
    std::ofstream(dir / "damaged.json") << R"({"cells": [{"allocator": "system", "workload": "frame", "threads": 1,
                                                "status": "ok", "metrics": {"ns_per_op": 5}},
                                               {"allocator": "system", "threads": 1, "status": "ok"}]})";
    for (const char* command : {"report", "plot"}) {
        SCOPED_TRACE(command);
        auto r = run_allocmeter(std::string(command) + " " + (dir / "missing.json").string());
        EXPECT_EQ(r.exit_code, 2);
        EXPECT_NE(r.output.find("missing.json: cannot open"), std::string::npos) << r.output;
        r = run_allocmeter(std::string(command) + " " + (dir / "other.json").string());
        EXPECT_EQ(r.exit_code, 2);
        EXPECT_NE(r.output.find("not an allocmeter results file"), std::string::npos) << r.output;
        r = run_allocmeter(std::string(command) + " " + (dir / "damaged.json").string());
        EXPECT_EQ(r.exit_code, 2);
        EXPECT_NE(r.output.find("damaged.json: cell 1 has no workload name"), std::string::npos) << r.output;
        r = run_allocmeter(std::string(command) + " a.json b.json");
        EXPECT_EQ(r.exit_code, 2);
        r = run_allocmeter(std::string(command) + " --frobnicate x");
        EXPECT_EQ(r.exit_code, 2);
        EXPECT_NE(r.output.find("unknown option '--frobnicate'"), std::string::npos) << r.output;
        r = run_allocmeter(command);
        EXPECT_EQ(r.exit_code, 2);
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "report.html"));
}

// summarize_run on the fixture: system is the baseline at 1.00x and untested; others are
// tested against it; a skipped allocator keeps its row with the reason.
TEST(Report, SummarizeRunOnTheFixture) {
    const run_summary run = summarize_run(nlohmann::json::parse(slurp(PLOTS_FIXTURE)));
    EXPECT_EQ(run.baseline, "system");
    ASSERT_EQ(run.groups.size(), 5u);
    std::set<std::string> labels;
    for (const summary_group& g : run.groups) {
        labels.insert(g.workload + "/" + std::to_string(g.threads));
        ASSERT_EQ(g.rows.size(), 6u) << g.workload;
        EXPECT_EQ(g.rows[0].allocator, "system");
        ASSERT_TRUE(g.rows[0].time_ratio.has_value());
        EXPECT_DOUBLE_EQ(*g.rows[0].time_ratio, 1.0);
        EXPECT_FALSE(g.rows[0].time_test.has_value());
        EXPECT_EQ(g.rows[0].version, "glibc 2.36");
        for (const summary_row& r : g.rows) {
            if (r.allocator == "jemalloc") {
                EXPECT_EQ(r.version, "5.3.0");  // the git suffix cut
            }
            if (!r.ok()) {
                EXPECT_EQ(r.not_ok.rfind("skipped: ", 0), 0u) << r.allocator;
                EXPECT_FALSE(r.time_ratio.has_value());
                continue;
            }
            EXPECT_EQ(r.time.n, 5u);
            EXPECT_LE(r.time.ci_low, r.time.median);
            EXPECT_GE(r.time.ci_high, r.time.median);
            if (r.allocator != "system") {
                EXPECT_TRUE(r.time_test.has_value()) << r.allocator;
            }
        }
    }
    EXPECT_EQ(labels, (std::set<std::string>{"frame/1", "frame/2", "churn/1", "churn/2",
                                             "trace:workloads/traces/sqlite-index.trace/1"}));
    // bump frees nothing one by one: skipped on churn, ok on frame.
    EXPECT_FALSE(run.groups[2].rows[5].ok());
    EXPECT_TRUE(run.groups[0].rows[5].ok());
}

// Without system in the results the first allocator is the baseline.
TEST(Report, BaselineWithoutSystem) {
    nlohmann::json doc = {{"cells", nlohmann::json::array()}};
    for (const auto& [name, ns] : {std::pair{"jemalloc", 10.0}, {"mimalloc", 5.0}})
        for (int rep = 0; rep < 5; ++rep)
            doc["cells"].push_back({{"allocator", name}, {"workload", "frame"}, {"threads", 1}, {"status", "ok"},
                                    {"metrics", {{"ns_per_op", ns + rep}, {"peak_rss_bytes", 1000}}}});
    const run_summary run = summarize_run(doc);
    EXPECT_EQ(run.baseline, "jemalloc");
    ASSERT_EQ(run.groups.size(), 1u);
    ASSERT_TRUE(run.groups[0].rows[1].time_ratio.has_value());
    EXPECT_DOUBLE_EQ(*run.groups[0].rows[1].time_ratio, 7.0 / 12.0);
    ASSERT_TRUE(run.groups[0].rows[1].time_test.has_value());
    EXPECT_NEAR(run.groups[0].rows[1].time_test->p_value, 2.0 / 252, 1e-12);  // every mimalloc rep below every jemalloc one
}
