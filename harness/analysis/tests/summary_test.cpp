// summarize_run on the committed fixture (a real quick run) and on documents built here:
// the baseline, ratios and tests (unpaired, and paired by round), skipped rows with their
// reasons, the labels every table and chart shares, and the figures the charts draw
// (throughput, latency medians, the median rep).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

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
            // Written before paired ratios: its cells' reps pair them. Five rounds cannot reach
            // p < 0.05 paired (2/32 at best), so the verdict reads Mann-Whitney U.
            ASSERT_TRUE(r.time.paired.has_value()) << r.allocator;
            EXPECT_EQ(r.time.paired->n, 5u) << r.allocator;
            EXPECT_LE(r.time.paired->ci_low, r.time.paired->median);
            EXPECT_GE(r.time.paired->ci_high, r.time.paired->median);
            EXPECT_EQ(r.time.paired_test.has_value(), r.allocator != "system") << r.allocator;
            EXPECT_FALSE(r.time.verdict_paired) << r.allocator;
            ASSERT_TRUE(r.rss.paired.has_value()) << r.allocator;
        }
    }
    for (const summary_group& g : run.groups) EXPECT_EQ(g.rounds, 5u) << g.workload;
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

// Drift common to a round cancels in its ratio: the paired ratios are exactly the costs' ratio,
// their interval a point, while the unpaired interval spans the drift. Only rounds where both
// sides are ok pair: jemalloc pairs 8 (not system's failed round 5), mimalloc 7 (nor its own
// round 2); paired by position instead, mimalloc's ratios would wander with the drift.
TEST(Summary, PairedRatiosCancelDrift) {
    const run_summary run = summarize_run(drifting_document());
    ASSERT_EQ(run.groups.size(), 1u);
    EXPECT_EQ(run.groups[0].rounds, 9u);
    const summary_row& jemalloc = row_of(run.groups[0], "jemalloc");
    const summary_row& mimalloc = row_of(run.groups[0], "mimalloc");
    for (const auto& [row, ratio, rounds] : {std::tuple{&jemalloc, 0.8, 8u}, {&mimalloc, 0.9, 7u}}) {
        const metric_summary& t = row->time;
        ASSERT_TRUE(t.paired.has_value()) << row->allocator;
        EXPECT_EQ(t.paired->n, rounds) << row->allocator;
        EXPECT_EQ(t.paired->median, ratio) << row->allocator;
        EXPECT_EQ(t.paired->ci_low, ratio) << row->allocator;
        EXPECT_EQ(t.paired->ci_high, ratio) << row->allocator;
        EXPECT_NEAR(t.paired->cv, 0, 1e-12) << row->allocator;
        // Unpaired: the row's interval over system's median, as wide as the drift makes it.
        EXPECT_GT(*t.ratio_high - *t.ratio_low, 0.4) << row->allocator;
        // Every log ratio is the same negative number: W+ = 0, p = 2 / 2^rounds, and with 6 or
        // more rounds the verdict reads it: faster, where Mann-Whitney U sees no difference.
        ASSERT_TRUE(t.paired_test.has_value());
        EXPECT_EQ(t.paired_test->w_plus, 0);
        EXPECT_DOUBLE_EQ(t.paired_test->p_value, std::ldexp(2.0, -static_cast<int>(rounds)));
        EXPECT_TRUE(t.verdict_paired);
        EXPECT_GT(t.test->p_value, 0.05) << row->allocator;
        const std::optional<metric_verdict> v = verdict_of(t, row_of(run.groups[0], "system").time, run.alpha);
        ASSERT_TRUE(v.has_value());
        EXPECT_STREQ(v->verdict, "faster");
        EXPECT_TRUE(v->paired);
    }
    // The baseline pairs with itself: ratio 1 in every round it ran, and no test.
    const summary_row& system = row_of(run.groups[0], "system");
    EXPECT_EQ(system.time.paired->n, 8u);
    EXPECT_EQ(system.time.paired->median, 1.0);
    EXPECT_FALSE(system.time.paired_test.has_value());
    EXPECT_FALSE(verdict_of(system.time, system.time, run.alpha).has_value());
    // Peak RSS pairs the same way: jemalloc 1.1x in every round; mimalloc 1.2x but 2.0x in round 9.
    EXPECT_DOUBLE_EQ(jemalloc.rss.paired->median, 1.1);
    EXPECT_EQ(jemalloc.rss.paired->n, 8u);
    EXPECT_DOUBLE_EQ(mimalloc.rss.paired->median, 1.2);
    EXPECT_DOUBLE_EQ(mimalloc.rss.paired->ci_high, 2.0);  // 7 rounds: [min, max]
}

// Rows, not groups: of the two rows but the baseline's, both paired intervals are within 5% of
// their ratio (points), neither unpaired one is; the baseline and a row without pairs are not counted.
TEST(Summary, TightIntervalsCounted) {
    results_document doc = drifting_document();
    for (unsigned round = 1; round <= 3; ++round)  // pairs nothing: system has no frame/2 cells
        doc.cells.push_back(ok_cell("jemalloc", "frame", 2, round, 10));
    const run_summary run = summarize_run(doc);
    const tight_ratio_intervals t = count_tight_intervals(run, tight_within);
    EXPECT_EQ(t.paired, 2u);
    EXPECT_EQ(t.paired_rows, 2u);
    EXPECT_EQ(t.unpaired, 0u);
    EXPECT_EQ(t.unpaired_rows, 2u);
    EXPECT_EQ(tight_intervals_text(run), "ratio intervals within \u00b15% of the ratio: paired 2 of 2 rows, unpaired 0 of 2 rows");
    // An interval exactly at the bounds counts; one a hair outside does not.
    std::vector<cell_record> cells;
    for (unsigned round = 1; round <= 5; ++round) {
        cells.push_back(ok_cell("system", "frame", 1, round, 64));
        cells.push_back(ok_cell("jemalloc", "frame", 1, round, round == 1 ? 60.8 : round == 5 ? 67.2 : 64));  // 0.95x .. 1.05x
    }
    EXPECT_EQ(count_tight_intervals(summarize_run(sample_document(cells)), tight_within).paired, 1u);
    cells[9] = ok_cell("jemalloc", "frame", 1, 5, 67.3);
    EXPECT_EQ(count_tight_intervals(summarize_run(sample_document(cells)), tight_within).paired, 0u);
}

// The terminal table: each group says its rounds; a row shows its ratio with the unpaired
// interval and its paired ratio and interval; a row that pairs fewer rounds than ran says so;
// the summary ends with the count of tight intervals.
TEST(Summary, TableShowsPairedIntervals) {
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    print_summary(summarize_run(drifting_document()), f);
    std::rewind(f);
    std::string text;
    for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
    std::fclose(f);
    std::istringstream lines(text);
    std::vector<std::string> all;
    for (std::string line; std::getline(lines, line);) all.push_back(line);
    ASSERT_GE(all.size(), 6u) << text;
    EXPECT_EQ(all[1], "frame, 1 thread, 9 rounds");
    EXPECT_EQ(all[2], "  allocator          ns/op (med)  CI                    CV   peak RSS  vs system  unpaired CI     "
                      "paired  paired CI       library  check");
    // system's 8 ok rounds: median (112.5 + 125) / 2, [min, max] at 8.
    EXPECT_EQ(all[3], "  system                  118.75  [75.00, 200.00]    34.1%    0.0 MiB      1.00x                   "
                      "1.00x                           high CV");
    // jemalloc: 90 over 118.75, its interval [60, 140] over 118.75; every round's ratio 0.8.
    EXPECT_EQ(all[4], "  jemalloc                 90.00  [60.00, 140.00]    40.6%    0.0 MiB      0.76x  [0.51, 1.18]     "
                      "0.80x  [0.80, 0.80]             high CV, 8 of 9 rounds paired");
    EXPECT_EQ(all.back(), "ratio intervals within \u00b15% of the ratio: paired 2 of 2 rows, unpaired 0 of 2 rows");
    EXPECT_NE(text.find("paired: in each round, where both ran"), std::string::npos) << text;
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

namespace {

/// Five rounds of frame at 1 thread: system at 40 + rep, bump at 20 + rep, the harness row at
/// 10 + rep, and `slow` (a row whose median sits under the harness row's) at 9 + rep; the harness
/// row written first in each round, as no run writes it, to show the summary puts it last.
results_document harness_document() {
    std::vector<cell_record> cells;
    for (unsigned rep = 1; rep <= 5; ++rep) {
        cells.push_back(ok_cell("harness", "frame", 1, rep, 10.0 + rep));
        cells.push_back(ok_cell("system", "frame", 1, rep, 40.0 + rep));
        cells.push_back(ok_cell("bump", "frame", 1, rep, 20.0 + rep));
        cells.push_back(ok_cell("below", "frame", 1, rep, 9.0 + rep));
    }
    results_document doc = sample_document(cells);
    doc.env.allocator_kinds = {{"system", "external"}, {"bump", "reference"}, {"below", "reference"}, {"harness", "harness"}};
    return doc;
}

std::string printed(const run_summary& run) {
    std::FILE* f = std::tmpfile();
    print_summary(run, f);
    std::rewind(f);
    std::string text;
    for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
    std::fclose(f);
    return text;
}

}  // namespace

// Net figures: each row's median less the harness row's (13); the net ratio over system's net
// (43 - 13 = 30); none where a net is not positive, with the reason. The harness row comes last,
// is compared with nothing, and is labelled as what it is.
TEST(Summary, NetOfTheHarnessRow) {
    const run_summary run = summarize_run(harness_document());
    EXPECT_EQ(run.baseline, "system");
    ASSERT_EQ(run.groups.size(), 1u);
    const summary_group& g = run.groups[0];
    ASSERT_EQ(g.rows.size(), 4u);
    EXPECT_EQ(g.rows.back().allocator, "harness");
    EXPECT_EQ(g.rows[0].allocator, "system");
    const summary_row& harness = g.rows.back();
    EXPECT_TRUE(harness.is_harness());
    EXPECT_FALSE(harness.time.ratio.has_value());
    EXPECT_FALSE(harness.time.test.has_value());
    EXPECT_FALSE(harness.time.paired.has_value());
    EXPECT_FALSE(harness.rss.ratio.has_value());
    EXPECT_FALSE(harness.net_ns_per_op.has_value());
    EXPECT_EQ(label_of(run, "harness").label, "harness (do-nothing)");

    const summary_row& system = row_of(g, "system");
    ASSERT_TRUE(system.net_ns_per_op.has_value());
    EXPECT_DOUBLE_EQ(*system.net_ns_per_op, 30.0);
    ASSERT_TRUE(system.net_ratio.has_value());
    EXPECT_DOUBLE_EQ(*system.net_ratio, 1.0);
    const summary_row& bump = row_of(g, "bump");
    EXPECT_DOUBLE_EQ(*bump.net_ns_per_op, 10.0);
    EXPECT_DOUBLE_EQ(*bump.net_ratio, 10.0 / 30.0);  // where the gross ratio says 23 / 43
    EXPECT_DOUBLE_EQ(*bump.time.ratio, 23.0 / 43.0);
    EXPECT_TRUE(bump.net_note.empty());
    const summary_row& below = row_of(g, "below");
    EXPECT_DOUBLE_EQ(*below.net_ns_per_op, -1.0);
    EXPECT_FALSE(below.net_ratio.has_value());
    EXPECT_NE(below.net_note.find("not positive"), std::string::npos) << below.net_note;
    // The tight-interval count takes bump's and below's ratios; the harness row has none.
    EXPECT_EQ(count_tight_intervals(run, tight_within).unpaired_rows, 2u);

    // The terminal: net columns beside the gross ones, the harness row marked.
    const std::string text = printed(run);
    EXPECT_NE(text.find("net ns/op net vs system"), std::string::npos) << text;
    EXPECT_NE(text.find("  bump                     23.00"), std::string::npos) << text;
    EXPECT_NE(text.find("10.00         0.33x"), std::string::npos) << text;
    EXPECT_NE(text.find("do-nothing allocator: the harness's own cost"), std::string::npos) << text;
    EXPECT_NE(text.find("net not positive"), std::string::npos) << text;
    EXPECT_NE(text.find("net ns/op: the row's median ns/op minus the harness row's"), std::string::npos) << text;
}

// Without system, the baseline is the first allocator run, never the harness row (even written
// first); a run without a harness row has no net figures and no net columns.
TEST(Summary, HarnessRowIsNeverTheBaseline) {
    results_document doc = harness_document();
    std::erase_if(doc.cells, [](const cell_record& c) { return c.allocator == "system"; });
    const run_summary run = summarize_run(doc);
    EXPECT_EQ(run.baseline, "bump");
    EXPECT_DOUBLE_EQ(*row_of(run.groups[0], "bump").net_ratio, 1.0);

    std::erase_if(doc.cells, [](const cell_record& c) { return c.allocator == "harness"; });
    const run_summary bare = summarize_run(doc);
    for (const summary_row& r : bare.groups[0].rows) EXPECT_FALSE(r.net_ns_per_op.has_value()) << r.allocator;
    EXPECT_EQ(printed(bare).find("net ns/op"), std::string::npos);
}
