// summarize_run on the committed fixture (a real quick run) and on documents built here:
// the baseline, ratios and tests, skipped rows with their reasons, the labels every table and
// chart shares, and the figures the charts draw (throughput, latency medians, the median rep).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "harness/analysis/summary.hpp"
#include "harness/analysis/summary_table.hpp"
#include "harness/results/results_reader.hpp"
#include "harness/results/tests/sample_results.hpp"

using namespace allocmeter;
using namespace allocmeter::testing;

namespace {

const summary_row& row_of(const summary_group& g, const std::string& allocator) {
    for (const summary_row& r : g.rows)
        if (r.allocator == allocator) return r;
    throw std::out_of_range(allocator);
}

}  // namespace

// On the fixture: system is the baseline at 1.00x and untested; others are tested against it;
// a skipped allocator keeps its row with the reason.
TEST(Summary, OnTheFixture) {
    const run_summary run = summarize_run(read_results(PLOTS_FIXTURE).doc);
    EXPECT_EQ(run.baseline, "system");
    EXPECT_EQ(run.reps, 5u);
    EXPECT_EQ(run.latency_every, 64u);  // the latency charts' captions say it
    ASSERT_EQ(run.groups.size(), 5u);
    std::set<std::string> groups;
    for (const summary_group& g : run.groups) {
        groups.insert(g.workload + "/" + std::to_string(g.threads));
        ASSERT_EQ(g.rows.size(), 6u) << g.workload;
        EXPECT_EQ(g.rows[0].allocator, "system");
        ASSERT_TRUE(g.rows[0].time.ratio.has_value());
        EXPECT_DOUBLE_EQ(*g.rows[0].time.ratio, 1.0);
        EXPECT_FALSE(g.rows[0].time.test.has_value());
        for (const summary_row& r : g.rows) {
            if (!r.ok()) {
                EXPECT_EQ(r.not_ok.rfind("skipped: ", 0), 0u) << r.allocator;
                EXPECT_EQ(r.status, cell_status::skipped);
                EXPECT_FALSE(r.time.ratio.has_value());
                continue;
            }
            EXPECT_EQ(r.time.stats.n, 5u);
            EXPECT_LE(r.time.stats.ci_low, r.time.stats.median);
            EXPECT_GE(r.time.stats.ci_high, r.time.stats.median);
            EXPECT_LE(*r.time.ratio_low, *r.time.ratio);
            EXPECT_GE(*r.time.ratio_high, *r.time.ratio);
            EXPECT_EQ(r.throughput.n, 5u);
            EXPECT_TRUE(r.latency_alloc.has_value()) << r.allocator;
            if (r.allocator != "system") {
                EXPECT_TRUE(r.time.test.has_value()) << r.allocator;
            }
        }
    }
    EXPECT_EQ(groups, (std::set<std::string>{"frame/1", "frame/2", "churn/1", "churn/2",
                                             "trace:workloads/traces/sqlite-index.trace/1"}));
    // bump frees nothing one by one: skipped on churn, ok on frame.
    EXPECT_FALSE(run.groups[2].rows[5].ok());
    EXPECT_TRUE(run.groups[0].rows[5].ok());
}

// One label per allocator, used by the table, the report and the charts alike.
TEST(Summary, Labels) {
    const run_summary run = summarize_run(read_results(PLOTS_FIXTURE).doc);
    EXPECT_EQ(label_of(run, "system").label, "system (glibc 2.36)");
    EXPECT_EQ(label_of(run, "jemalloc").version, "5.3.0");  // the git suffix cut
    EXPECT_EQ(label_of(run, "jemalloc").label, "jemalloc 5.3.0");
    EXPECT_EQ(label_of(run, "mimalloc").label, "mimalloc 2.0.9");
    EXPECT_EQ(label_of(run, "bump").label, "bump (reference)");
    EXPECT_EQ(label_of(run, "bump").kind, "reference");
    EXPECT_EQ(short_version("5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c"), "5.3.0");
    EXPECT_EQ(short_version("4.2-g1234567"), "4.2");
    EXPECT_EQ(short_version("glibc 2.36"), "glibc 2.36");
}

// Without system in the results the first allocator is the baseline.
TEST(Summary, BaselineWithoutSystem) {
    std::vector<cell_record> cells;
    for (const auto& [name, ns] : {std::pair{"jemalloc", 10.0}, {"mimalloc", 5.0}})
        for (unsigned rep = 0; rep < 5; ++rep) cells.push_back(ok_cell(name, "frame", 1, rep + 1, ns + rep));
    const run_summary run = summarize_run(sample_document(cells));
    EXPECT_EQ(run.baseline, "jemalloc");
    ASSERT_EQ(run.groups.size(), 1u);
    const summary_row& mimalloc = row_of(run.groups[0], "mimalloc");
    ASSERT_TRUE(mimalloc.time.ratio.has_value());
    EXPECT_DOUBLE_EQ(*mimalloc.time.ratio, 7.0 / 12.0);
    ASSERT_TRUE(mimalloc.time.test.has_value());
    EXPECT_NEAR(mimalloc.time.test->p_value, 2.0 / 252, 1e-12);  // every mimalloc rep below every jemalloc one
    EXPECT_EQ(run.reps, 5u);  // env says 0: the largest group
}

// A group with no ok rep takes the commonest status (ties to the first seen) and the first reason.
TEST(Summary, StatusOfAGroupWithoutOkReps) {
    const run_summary run = summarize_run(sample_document({
        ok_cell("system", "frame", 1, 1, 10),
        not_run_cell("mine", "frame", 1, 1, cell_status::failed, "crashed"),
        not_run_cell("mine", "frame", 1, 2, cell_status::timeout, "slow"),
        not_run_cell("mine", "frame", 1, 3, cell_status::timeout, "slow again"),
    }));
    const summary_row& mine = row_of(run.groups[0], "mine");
    EXPECT_FALSE(mine.ok());
    EXPECT_EQ(mine.status, cell_status::timeout);
    EXPECT_EQ(mine.not_ok, "failed: crashed");
}

// The median rep's series is the one whose ns/op is the median (the lower middle for an even count).
TEST(Summary, MedianRepSeries) {
    std::vector<cell_record> cells;
    for (const double ns : {30.0, 10.0, 20.0, 40.0}) {
        cell_record c = ok_cell("system", "frame", 1, static_cast<unsigned>(cells.size() + 1), ns);
        c.measured->metrics.series = rss_series{2, 1, {0.0}, {static_cast<std::int64_t>(ns)}, {0}};
        cells.push_back(c);
    }
    const run_summary run = summarize_run(sample_document(cells));
    ASSERT_TRUE(run.groups[0].rows[0].median_rep_series.has_value());
    EXPECT_EQ(run.groups[0].rows[0].median_rep_series->rss_bytes[0], 20);
}

// After the table, a trace with RSS samples gets one line: the program's growth over its first
// sample, and each allocator's median replayed peak over its cell's baseline, x the program's;
// a trace without samples (or a synthetic workload) gets none.
TEST(Summary, RecordedRssBesideTheReplayed) {
    const auto cell = [](const std::string& allocator, const std::string& workload, unsigned rep, std::uint64_t peak_mib) {
        cell_record c = ok_cell(allocator, workload, 1, rep, 10, peak_mib << 20);
        c.measured->baseline_rss_bytes = std::uint64_t{8} << 20;
        return c;
    };
    results_document doc = sample_document({cell("system", "trace:a.trace", 1, 28), cell("system", "trace:a.trace", 2, 32),
                                            cell("system", "trace:a.trace", 3, 29), cell("jemalloc", "trace:a.trace", 1, 48),
                                            cell("system", "trace:old.trace", 1, 20), cell("system", "frame", 1, 9)});
    doc.env.touch = "auto";
    doc.env.traces = {{"trace:a.trace", "a.trace", 1, 100, 200u << 20, "threads", std::uint64_t{22} << 20, std::uint64_t{2} << 20,
                       "part:0.1"},
                      {"trace:old.trace", "old.trace", 1, 100, 1u << 20, "threads", std::nullopt, std::nullopt, "page"}};
    const run_summary run = summarize_run(doc);
    char* text = nullptr;
    std::size_t size = 0;
    std::FILE* out = ::open_memstream(&text, &size);
    print_recorded_rss(run, doc, out);
    std::fclose(out);
    const std::string printed(text, size);
    std::free(text);
    EXPECT_NE(printed.find("RSS growth: the recorded program's peak over its first sample"), std::string::npos) << printed;
    // system grew 20, 24 and 21 MiB over its 8 MiB baseline: median 21, over the program's 20.
    EXPECT_NE(printed.find("  trace:a.trace, 1 thread, touch part:0.1: program 20.0 MiB (peak 22.0 MiB); system 21.0 MiB 1.05x; "
                           "jemalloc 40.0 MiB 2.00x\n"),
              std::string::npos)
        << printed;
    EXPECT_EQ(printed.find("old.trace"), std::string::npos) << printed;
    EXPECT_EQ(printed.find("frame"), std::string::npos) << printed;

    doc.env.traces.pop_back();
    doc.env.traces.back().recorded_peak_rss_bytes.reset();
    out = ::open_memstream(&text, &size);
    print_recorded_rss(summarize_run(doc), doc, out);
    std::fclose(out);
    EXPECT_EQ(size, 0u) << "no trace with samples, no lines";
    std::free(text);
}

namespace {

const side_by_side_row& side_row(const side_by_side& p, const std::string& allocator) {
    for (const side_by_side_row& r : p.rows)
        if (r.allocator == allocator) return r;
    throw std::out_of_range(allocator);
}

}  // namespace

// A trace replayed in threads and timed order: per allocator its threads-order median ns/op and
// ratio, its timed median duration and ratio, and the medians of its threads' shares of time
// outside the gaps and waits, and in waits. An allocator skipped in both keeps its reason.
TEST(Summary, ThreadsAndTimedSideBySide) {
    const run_summary run = summarize_run(threads_and_timed_document());
    ASSERT_EQ(run.replays.size(), 1u);
    const side_by_side& p = run.replays[0];
    EXPECT_EQ(p.path, "x.trace");
    EXPECT_EQ(p.threads_workload, "trace:x.trace");
    EXPECT_EQ(p.timed_workload, "trace:x.trace@timed");
    EXPECT_EQ(p.threads, 2u);
    ASSERT_EQ(p.rows.size(), 3u);
    EXPECT_EQ(p.rows[0].allocator, "system");

    const side_by_side_row& system = side_row(p, "system");
    EXPECT_DOUBLE_EQ(*system.own_ns_per_op, 110);
    EXPECT_DOUBLE_EQ(*system.own_ratio, 1);
    EXPECT_DOUBLE_EQ(*system.timed_wall_s, 1200e-6);
    EXPECT_DOUBLE_EQ(*system.timed_ratio, 1);
    EXPECT_NEAR(*system.allocator_share, 0.28, 1e-12);  // 1 - 0.7 - 0.02, the middle rep
    EXPECT_NEAR(*system.wait_share, 0.02, 1e-12);
    EXPECT_EQ(system.not_ok, "");

    const side_by_side_row& jemalloc = side_row(p, "jemalloc");
    EXPECT_DOUBLE_EQ(*jemalloc.own_ns_per_op, 88);
    EXPECT_DOUBLE_EQ(*jemalloc.own_ratio, 0.8);
    EXPECT_DOUBLE_EQ(*jemalloc.timed_wall_s, 1000e-6);
    EXPECT_DOUBLE_EQ(*jemalloc.timed_ratio, 1000.0 / 1200);
    EXPECT_NEAR(*jemalloc.allocator_share, 0.3, 1e-12);
    EXPECT_NEAR(*jemalloc.wait_share, 0.1, 1e-12);

    const side_by_side_row& segregated = side_row(p, "segregated");
    EXPECT_FALSE(segregated.own_ns_per_op || segregated.timed_wall_s || segregated.allocator_share);
    EXPECT_EQ(segregated.not_ok, "skipped: not thread-safe");
}

// Only a trace replayed in both threads and timed order gets the side by side: not one
// replayed in threads order alone, nor in threads and serial.
TEST(Summary, NoSideBySideWithoutBothOrders) {
    results_document doc = threads_and_timed_document();
    doc.env.traces.pop_back();
    EXPECT_TRUE(summarize_run(doc).replays.empty());
    doc.env.traces.push_back({"trace:x.trace@serial", "x.trace", 1, 1000, 4096, "serial"});
    EXPECT_TRUE(summarize_run(doc).replays.empty());
}

// The terminal's side by side: a header, a row per allocator within 100 columns, the skipped
// one with its reason, and what the columns mean.
TEST(Summary, SideBySideTable) {
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    print_summary(summarize_run(threads_and_timed_document()), f);
    std::rewind(f);
    std::string text;
    for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
    std::fclose(f);
    const auto at = text.find("\nx.trace, 2 threads, threads and timed replay side by side\n");
    ASSERT_NE(at, std::string::npos) << text;
    std::istringstream lines(text.substr(at + 1));
    std::vector<std::string> table;
    for (std::string line; std::getline(lines, line) && !line.empty();) table.push_back(line);
    ASSERT_EQ(table.size(), 5u) << text;
    EXPECT_EQ(table[1], "  allocator          threads ns/op  vs system    timed run  vs system  allocator share  waiting");
    EXPECT_EQ(table[2], "  system                    110.00      1.00x       1.2 ms      1.00x            28.0%     2.0%");
    EXPECT_EQ(table[3], "  jemalloc                   88.00      0.80x       1.0 ms      0.83x            30.0%    10.0%");
    EXPECT_EQ(table[4], "  segregated         skipped: not thread-safe");
    for (const std::string& line : table) EXPECT_LE(line.size(), 100u) << line;
    EXPECT_NE(text.find("allocator share: of the timed replay threads' time"), std::string::npos) << text;
    // A reason too long for the row is cut to keep it within 100 columns.
    results_document doc = threads_and_timed_document();
    for (cell_record& c : doc.cells)
        if (c.allocator == "segregated") c.reason = std::string(120, 'x');
    f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    print_summary(summarize_run(doc), f);
    std::rewind(f);
    text.clear();
    for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
    std::fclose(f);
    const auto cut = text.find("  segregated         skipped: x", text.find("side by side"));
    ASSERT_NE(cut, std::string::npos) << text;
    EXPECT_EQ(text.find('\n', cut) - cut, 100u) << text.substr(cut, text.find('\n', cut) - cut);
}
