// `allocmeter compare` on results files written here with known samples: identical samples
// give no difference, clearly shifted ones a significant difference in the right direction,
// for two files and for two allocators in one (paired by round there); bad input is refused
// with exit 2.
#include <gtest/gtest.h>

#include <fstream>

#include "harness/results/tests/sample_results.hpp"
#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

namespace {

/// A results file with one ok cell per value: (allocator, workload, threads 1, ns_per_op).
std::string write_results(const std::filesystem::path& dir, const std::string& name,
                          const std::vector<std::tuple<std::string, std::string, double>>& cells) {
    std::vector<allocmeter::cell_record> records;
    unsigned rep = 0;
    for (const auto& [allocator, workload, ns] : cells) records.push_back(ok_cell(allocator, workload, 1, ++rep, ns));
    records.push_back(not_run_cell("system", "frame", 1, 1, allocmeter::cell_status::skipped, "not counted"));
    return write_document(sample_document(records), (dir / name).string());
}

std::vector<std::tuple<std::string, std::string, double>> samples(const std::string& a, const std::string& w,
                                                                  std::initializer_list<double> v) {
    std::vector<std::tuple<std::string, std::string, double>> out;
    for (const double x : v) out.emplace_back(a, w, x);
    return out;
}

/// The output line of workload `w`.
std::string line_of(const std::string& out, const std::string& w) {
    const auto at = out.find("\n  " + w);
    if (at == std::string::npos) return {};
    return out.substr(at + 1, out.find('\n', at + 1) - at - 1);
}

}  // namespace

// Before and after: identical samples, no difference (p = 1); shifted down, faster; up, slower.
TEST(Compare, TwoFilesKnownAnswers) {
    const auto dir = fresh_dir("compare");
    auto before = samples("system", "frame", {20, 21, 22, 23, 24});
    auto more = samples("system", "churn", {50, 51, 52, 53, 54});
    before.insert(before.end(), more.begin(), more.end());
    more = samples("system", "parser", {30, 31, 32, 33, 34});
    before.insert(before.end(), more.begin(), more.end());
    auto after = samples("system", "frame", {20, 21, 22, 23, 24});  // identical
    more = samples("system", "churn", {40, 41, 42, 43, 44});          // clearly lower
    after.insert(after.end(), more.begin(), more.end());
    more = samples("system", "parser", {40, 41, 42, 43, 44});         // clearly higher
    after.insert(after.end(), more.begin(), more.end());
    const auto r = run_allocmeter("compare " + write_results(dir, "before.json", before) + " " +
                                  write_results(dir, "after.json", after));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string frame = line_of(r.output, "frame"), churn = line_of(r.output, "churn"), parser = line_of(r.output, "parser");
    EXPECT_NE(frame.find("no significant difference"), std::string::npos) << r.output;
    EXPECT_NE(frame.find("1.0000"), std::string::npos) << frame;  // the p-value
    EXPECT_NE(frame.find("1.000x"), std::string::npos) << frame;
    EXPECT_NE(churn.find("faster"), std::string::npos) << r.output;
    EXPECT_NE(churn.find("0.0079"), std::string::npos) << churn;  // 2/252, exact
    EXPECT_NE(churn.find("0.808x"), std::string::npos) << churn;  // 42 / 52
    EXPECT_NE(parser.find("slower"), std::string::npos) << r.output;
}

// Two allocators in one file, in a run folder: the second against the first.
TEST(Compare, TwoAllocatorsInOneFile) {
    const auto dir = fresh_dir("compare-one");
    auto cells = samples("system", "frame", {30, 31, 32, 33, 34});
    auto more = samples("jemalloc", "frame", {20, 21, 22, 23, 24});
    cells.insert(cells.end(), more.begin(), more.end());
    std::filesystem::create_directories(dir / "run");
    write_results(dir / "run", "results.json", cells);
    const auto r = run_allocmeter("compare " + (dir / "run").string() + " --allocators system,jemalloc");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string frame = line_of(r.output, "frame");
    EXPECT_NE(frame.find("jemalloc vs system"), std::string::npos) << r.output;
    EXPECT_NE(frame.find("faster"), std::string::npos) << frame;
    EXPECT_EQ(frame.find("[few reps]"), std::string::npos) << frame;

    // Three repetitions a side: flagged, and the test cannot reach 0.05 (the least p is 0.1).
    const auto three = write_results(dir, "three.json", samples("system", "frame", {30, 31, 32}));
    const auto three_b = write_results(dir, "three_b.json", samples("system", "frame", {20, 21, 22}));
    const auto t = run_allocmeter("compare " + three + " " + three_b);
    EXPECT_NE(t.output.find("[few reps]"), std::string::npos) << t.output;
    EXPECT_NE(t.output.find("no significant difference"), std::string::npos) << t.output;
}

// Two allocators of one run, in rounds under a common drift: paired by round, every ratio is
// 0.8 and the signed-rank test decides (9 rounds: p = 2/512), where Mann-Whitney U on the
// drifting values sees no difference. With five rounds the paired test cannot reach 0.05:
// U decides, and the table says so. Two files are compared unpaired.
TEST(Compare, OneRunPairedByRound) {
    const auto dir = fresh_dir("compare-paired");
    const double drift[] = {1.0, 1.5, 0.75, 1.25, 0.5, 2.0, 0.875, 1.125, 1.75};
    std::vector<allocmeter::cell_record> cells;
    for (unsigned round = 1; round <= 9; ++round) {
        cells.push_back(ok_cell("system", "frame", 1, round, 100 * drift[round - 1]));
        cells.push_back(ok_cell("jemalloc", "frame", 1, round, 80 * drift[round - 1]));
    }
    const auto nine = write_document(sample_document(cells), (dir / "nine.json").string());
    auto r = run_allocmeter("compare " + nine + " --allocators system,jemalloc");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("one run, so paired by round"), std::string::npos) << r.output;
    std::string frame = line_of(r.output, "frame");
    EXPECT_NE(frame.find("0.800x  [0.800, 0.800]        9  signed-rank   0.0039  faster"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("test U:"), std::string::npos) << r.output;

    cells.resize(10);  // rounds 1..5
    const auto five = write_document(sample_document(cells), (dir / "five.json").string());
    r = run_allocmeter("compare " + five + " --allocators system,jemalloc");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    frame = line_of(r.output, "frame");
    EXPECT_NE(frame.find("0.800x  [0.800, 0.800]        5  U"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("test U: Mann-Whitney U, where the rounds paired are too few"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("6 rounds or more"), std::string::npos) << r.output;

    r = run_allocmeter("compare " + nine + " " + five);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("two runs, unpaired"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("signed-rank"), std::string::npos) << r.output;
}

// Mistakes: exit 2 with the input named.
TEST(Compare, BadInput) {
    const auto dir = fresh_dir("compare-bad");
    const std::string junk = (dir / "junk.json").string();
    std::ofstream(junk) << "{ not json";
    const auto good = write_results(dir, "good.json", samples("system", "frame", {1, 2, 3, 4, 5}));
    auto apart = samples("system", "frame", {1, 2, 3});
    for (const auto& c : samples("jemalloc", "churn", {1, 2, 3})) apart.push_back(c);
    const auto disjoint = write_results(dir, "apart.json", apart);
    const std::pair<std::string, std::string> cases[] = {
        {"compare", "give two results files"},
        {"compare " + junk + " " + good, "junk.json: not JSON"},
        {"compare " + (dir / "missing.json").string() + " " + good, "missing.json: cannot open"},
        {"compare " + good + " --allocators system,nosuch", "no ok cells of allocator 'nosuch'"},
        {"compare " + good + " " + good + " --metric bogus", "no numeric metric 'bogus'"},
        {"compare " + good + " " + good + " --alpha 2", "--alpha 2"},
        {"compare " + good + " " + write_results(dir, "other.json", samples("jemalloc", "churn", {1, 2, 3})),
         "no allocator x workload x threads with ok cells in common: nothing to compare"},
        {"compare " + good + " --allocators system,system", "'system' is named twice"},
        {"compare " + disjoint + " --allocators system,jemalloc", "system and jemalloc have no workload x threads with ok cells in common"},
    };
    for (const auto& [args, must_say] : cases) {
        const auto r = run_allocmeter(args);
        EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
        EXPECT_NE(r.output.find(must_say), std::string::npos) << args << "\n" << r.output;
    }
    EXPECT_EQ(run_allocmeter("compare --help").exit_code, 0);
}

// A trace workload pairs only with the same replay order. Results of runs before --replay took
// a list named a timed replay trace:FILE, as a threads one is named: those two are not paired.
TEST(Compare, TraceReplayOrdersApart) {
    using allocmeter::cell_record;
    const auto dir = fresh_dir("compare-orders");
    std::vector<cell_record> before, after;
    for (unsigned rep = 1; rep <= 5; ++rep) {
        before.push_back(as_trace_cell(ok_cell("system", "trace:x.trace", 1, rep, 900.0 + rep), "timed"));  // an older run's
        after.push_back(as_trace_cell(ok_cell("system", "trace:x.trace", 1, rep, 90.0 + rep), "threads"));
        after.push_back(as_trace_cell(ok_cell("system", "trace:x.trace@timed", 1, rep, 900.0 + rep), "timed"));
    }
    const std::string after_file = write_document(sample_document(after), (dir / "after.json").string());
    auto r = run_allocmeter("compare " + write_document(sample_document(before), (dir / "before.json").string()) + " " + after_file);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("nothing to compare"), std::string::npos) << r.output;

    // A threads replay in the first file pairs with the second's, at the same name and order.
    for (unsigned rep = 1; rep <= 5; ++rep)
        before.push_back(as_trace_cell(ok_cell("system", "trace:x.trace", 1, rep, 90.0 + rep), "threads"));
    r = run_allocmeter("compare " + write_document(sample_document(before), (dir / "before.json").string()) + " " + after_file);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string line = line_of(r.output, "trace:x.trace ");
    EXPECT_NE(line.find("1.000x"), std::string::npos) << r.output;
    EXPECT_EQ(line_of(r.output, "trace:x.trace@timed"), "") << r.output;
}
