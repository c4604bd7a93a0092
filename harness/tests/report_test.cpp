// `allocmeter plot` and `allocmeter report` on the fixture results file (a real quick run): every
// expected chart is written as a valid PNG and SVG and embedded in the page, the page has the
// tables, tests, method and environment; without matplotlib the page is still written and the
// command says how to get it; bad input exits 2.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "harness/results/tests/sample_results.hpp"
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

// The page embeds every expected chart as a valid PNG; the files (PNG and SVG) are beside it,
// in a folder named after the page, so another page written to the same folder keeps its own.
TEST(Report, FixtureHasEveryChartEmbeddedAndOnDisk) {
    const auto dir = fresh_dir("report");
    const auto r = run_allocmeter(std::string("report ") + PLOTS_FIXTURE + " -o " + (dir / "review.html").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("12 charts"), std::string::npos) << r.output;
    const std::string html = slurp(dir / "review.html");
    for (const std::string& name : fixture_charts) {
        SCOPED_TRACE(name);
        EXPECT_EQ(png_problem(embedded_png(html, name)), "");
        EXPECT_EQ(png_problem(slurp(dir / "review-charts" / (name + ".png"))), "");
        EXPECT_NE(html.find("href=\"review-charts/" + name + ".svg\""), std::string::npos);
        const std::string svg = slurp(dir / "review-charts" / (name + ".svg"));
        EXPECT_GT(svg.size(), 2000u);
        EXPECT_NE(svg.find("<svg"), std::string::npos);
        EXPECT_NE(svg.find("</svg>"), std::string::npos);
    }
    const auto listed = nlohmann::json::parse(slurp(dir / "review-charts" / "charts.json"));
    EXPECT_EQ(listed["charts"].size(), fixture_charts.size());
    EXPECT_EQ(html.find("No charts"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir / "charts"));
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
         {"run 20261201-220058", "--scale quick --reps 5", "Mann-Whitney U", "130 cells ok, 20 skipped",
          "<h3>frame, 2 threads, 5 rounds</h3>", "<h3>trace:workloads/traces/sqlite-index.trace, 1 thread, 5 rounds</h3>",
          "jemalloc</td><td class=\"l\">5.3.0</td>", "the workload frees objects one by one and the allocator has no individual free",
          "mi_version()", "its coverage: 93.8% at 5 reps", "lower, p 0.0079 (U)", "not corrected for multiplicity",
          // Paired by round, beside the unpaired figures; five rounds: U decides.
          "<th>unpaired CI</th><th>paired</th><th>paired CI</th><th>rounds</th>", "Wilcoxon signed-rank",
          "ratio intervals within \u00b15% of the ratio: paired 0 of 21 rows, unpaired 4 of 21 rows"})
        EXPECT_NE(html.find(expected), std::string::npos) << expected;
    EXPECT_EQ(html.find("id=\"replays\""), std::string::npos);  // one replay order: no side by side
    // Every allocator has a row in every group it ran in: 5 groups x 6 allocators.
    std::size_t rows = 0;
    for (std::size_t at = 0; (at = html.find("<tr><td class=\"l\">", at)) != std::string::npos; ++at)
        rows += html.compare(at, 30, "<tr><td class=\"l\">thread_cache") == 0;
    EXPECT_EQ(rows, 5u);
}

// Nine rounds under a common drift: the paired ratio is exact, its interval a point, and the
// paired test decides (8 rounds pair with system: p = 2/256) where U sees no difference.
TEST(Report, PairedTestDecidesWithEnoughRounds) {
    const auto dir = fresh_dir("report-paired");
    const std::string results = write_document(drifting_document(), (dir / "results.json").string());
    const auto r = run_shell("ALLOCMETER_PYTHON=/bin/false " + std::string(ALLOCMETER_BIN) + " report " + results + " -o " +
                             (dir / "r.html").string());
    const std::string html = slurp(dir / "r.html");
    ASSERT_FALSE(html.empty()) << r.output;
    for (const char* expected : {"<h3>frame, 1 thread, 9 rounds</h3>",
                                 "<td>0.76x</td><td>0.51 \u2013 1.18</td><td>0.80x</td><td>0.80 \u2013 0.80</td><td>8</td>"
                                 "<td class=\"l faster\">lower, p 0.0078 (paired)</td>",
                                 "paired 2 of 2 rows, unpaired 0 of 2 rows"})
        EXPECT_NE(html.find(expected), std::string::npos) << expected;
}

// A trace replayed in threads and in timed order: the page has a section with the two side by
// side, a row per allocator with its figures and the skipped one with its reason, linked from
// the top; the trace table says each workload's order.
TEST(Report, ThreadsAndTimedSideBySide) {
    const auto dir = fresh_dir("report-side-by-side");
    const std::string results = write_document(threads_and_timed_document(), (dir / "results.json").string());
    const auto r = run_shell("ALLOCMETER_PYTHON=/bin/false " + std::string(ALLOCMETER_BIN) + " report " + results + " -o " +
                             (dir / "r.html").string());
    const std::string html = slurp(dir / "r.html");
    ASSERT_FALSE(html.empty()) << r.output;
    for (const char* expected :
         {"<a href=\"#replays\">", "<h2 id=\"replays\">", "<h3>x.trace, 2 threads</h3>",
          "<tr><td class=\"l\">system</td><td>110.00</td><td>1.00x</td><td>1.2 ms</td><td>1.00x</td><td>28.0%</td><td>2.0%</td>",
          "<tr><td class=\"l\">jemalloc</td><td>88.00</td><td>0.80x</td><td>1.0 ms</td><td>0.83x</td><td>30.0%</td><td>10.0%</td>",
          "<tr><td class=\"l\">segregated</td><td class=\"l muted\" colspan=\"7\">skipped: not thread-safe</td></tr>",
          "<code>trace:x.trace@timed</code>", "<td class=\"l\">trace:x.trace@timed</td><td class=\"l\">timed</td>"})
        EXPECT_NE(html.find(expected), std::string::npos) << expected;
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
    nlohmann::json damaged = nlohmann::json::parse(slurp(PLOTS_FIXTURE));
    damaged["cells"][1].erase("workload");
    std::ofstream(dir / "damaged.json") << damaged.dump();
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
        EXPECT_NE(r.output.find("damaged.json: cell 1: field 'workload' is missing"), std::string::npos) << r.output;
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
