// summarize_run on the committed fixture (a real quick run) and on documents built here:
// the baseline, ratios and tests, skipped rows with their reasons, the labels every table and
// chart shares, and the figures the charts draw (throughput, latency medians, the median rep).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "harness/analysis/summary.hpp"
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
