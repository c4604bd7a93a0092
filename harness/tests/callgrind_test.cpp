// run --measure callgrind end to end: a quick cell counts the same instructions on two runs
// (within 0.5%), for system and a reference allocator; the allocator's and the harness's
// shares are apart and add up; a multithreaded cell is marked serialised; one repetition is
// the default; the cells read the virtual clock; the report shows the counts; and what the
// mode cannot do is refused before anything runs, naming the package, the option or the file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

// Two repetitions of each cell are two runs of it, each its own process under valgrind.
TEST(Callgrind, RepeatedCellsCountTheSame) {
    const auto out = fresh_dir("callgrind-repeat");
    const auto r = run_allocmeter("run --measure callgrind --scale quick --reps 2 --allocators system,segregated "
                                  "--workloads churn --threads 1 --out " + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("instr/op"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(" in the allocator"), std::string::npos) << r.output;  // the progress line's counts
    EXPECT_EQ(r.output.find(" ns/op"), std::string::npos) << r.output;             // not the virtual clock's times
    const auto doc = latest_results(out);
    EXPECT_EQ(doc["env"]["measure"], "callgrind");
    // No harness row: the boundary already tells the harness's instructions from the allocator's.
    EXPECT_FALSE(doc["env"]["allocator_kinds"].contains("harness")) << doc["env"].dump();
    EXPECT_EQ(doc["env"]["callgrind"]["caches"]["D1"], "32768 B, 8-way, 64 B lines");
    EXPECT_NE(doc["env"]["callgrind"]["clock"].get<std::string>().find("100 ns per allocator call"), std::string::npos);
    std::map<std::string, std::vector<double>> instructions;
    for (const auto& c : doc["cells"]) {
        ASSERT_EQ(c["status"], "ok") << c.dump();
        const auto& cg = c["metrics"]["callgrind"];
        const double all = cg["region"]["instructions"], inside = cg["allocator"]["instructions"];
        EXPECT_GT(inside, 0) << c["allocator"];
        EXPECT_LT(inside, all) << c["allocator"];
        EXPECT_NEAR(cg["instructions_per_op"].get<double>(),
                    cg["allocator_instructions_per_op"].get<double>() + cg["harness_instructions_per_op"].get<double>(), 1e-6);
        EXPECT_EQ(cg["threads_serialised"], false);
        EXPECT_GT(cg["allocator_calls"].get<double>(), 0);
        EXPECT_TRUE(std::filesystem::is_regular_file(out / "latest" / cg["profile"].get<std::string>())) << cg["profile"];
        // The cell timed itself on the virtual clock, which ticks 100 ns per allocator call (and
        // per read: a few, by the harness's start and finish lines).
        const double wall_ns = c["metrics"]["wall_s"].get<double>() * 1e9;
        EXPECT_NEAR(wall_ns, cg["allocator_calls"].get<double>() * 100, 1000) << c["allocator"];
        instructions[c["allocator"]].push_back(all);
    }
    ASSERT_EQ(instructions.size(), 2u);
    for (const auto& [allocator, runs] : instructions) {
        ASSERT_EQ(runs.size(), 2u) << allocator;
        EXPECT_LE(std::abs(runs[0] - runs[1]) / runs[0], 0.005) << allocator << ": " << runs[0] << " and " << runs[1];
    }
    // The reference allocator runs fewer instructions inside than glibc's malloc on this workload.
    const auto& cells = doc["cells"];
    EXPECT_LT(cells[1]["metrics"]["callgrind"]["allocator_instructions_per_op"].get<double>(),
              cells[0]["metrics"]["callgrind"]["allocator_instructions_per_op"].get<double>());
    // compare reads counts as counts: no test, a verdict from the difference.
    const auto c = run_allocmeter("compare " + (out / "latest").string() +
                                  " --allocators system,segregated --metric allocator_instructions_per_op");
    ASSERT_EQ(c.exit_code, 0) << c.output;
    EXPECT_NE(c.output.find("callgrind counts, so no test: two runs of a single-threaded cell count the same within 0.5%"),
              std::string::npos)
        << c.output;
    EXPECT_NE(c.output.find("x  fewer"), std::string::npos) << c.output;
}

// A trace recorded on three threads replays on three: valgrind runs them one at a time, and
// the cell says so. Without --reps, one repetition.
TEST(Callgrind, ThreadedCellIsMarkedSerialised) {
    const auto out = fresh_dir("callgrind-threads");
    const auto r = run_allocmeter("run --measure callgrind --allocators system --workloads trace:" ALLOCMETER_SOURCE_DIR
                                  "/workloads/traces/python-json-threads.trace --out " + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("threads serialised"), std::string::npos) << r.output;
    const auto doc = latest_results(out);
    EXPECT_EQ(doc["env"]["reps"], 1);
    ASSERT_EQ(doc["cells"].size(), 1u);
    EXPECT_EQ(doc["cells"][0]["metrics"]["callgrind"]["threads_serialised"], true) << doc["cells"][0].dump();
    // The report shows the counts, the mark, and the instruction heat maps in place of time's charts.
    const auto report = run_allocmeter("report " + (out / "latest").string());
    ASSERT_EQ(report.exit_code, 0) << report.output;
    std::ifstream in(out / "latest" / "report.html");
    const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(html.find("Instructions and simulated cache misses"), std::string::npos);
    EXPECT_NE(html.find("threads serialised: contention not represented"), std::string::npos);
    EXPECT_NE(html.find("chart-heatmap-allocator-instructions"), std::string::npos);
    EXPECT_EQ(html.find("chart-heatmap-time"), std::string::npos);
}

// What cannot be measured this way is refused before any cell runs.
TEST(Callgrind, RefusedBeforeAnythingRuns) {
    const auto out = fresh_dir("callgrind-refused");
    const std::string base = " --scale quick --allocators system --workloads frame --threads 1 --out " + out.string();
    const auto refused = [](const command_result& r, const std::string& says) {
        EXPECT_EQ(r.exit_code, 2) << r.output;
        EXPECT_NE(r.output.find(says), std::string::npos) << r.output;
    };
    refused(run_shell("env PATH=/nonexistent " ALLOCMETER_BIN " run --measure callgrind" + base),
            "valgrind is not on PATH; install Debian's valgrind package");
    refused(run_allocmeter("run --measure callgrind --verify" + base), "--verify with --measure callgrind");
    refused(run_allocmeter("run --measure callgrind --allocators system,harness --workloads frame --threads 1 --scale quick "
                           "--out " + out.string()),
            "--allocators harness: the harness row is measured with --measure time only");
    refused(run_allocmeter("run --measure callgrind --latency 16" + base), "--latency with --measure callgrind");
    refused(run_allocmeter("run --measure cycles" + base), "--measure cycles: expected time or callgrind");
    refused(run_allocmeter("run --branch-sim" + base), "--branch-sim is for --measure callgrind");
    refused(run_allocmeter("run --measure callgrind --replay serial,timed" + base), "--replay timed with --measure callgrind");
    // A binary without its virtual clock beside it (nor installed): named, with what to do.
    const auto lone = fresh_dir("callgrind-lone-binary");
    std::filesystem::copy_file(ALLOCMETER_BIN, lone / "allocmeter");
    refused(run_shell((lone / "allocmeter").string() + " run --measure callgrind" + base),
            "the cells' virtual clock is missing (looked for " + (lone / "liballocmeter_virtual_clock.so").string());
    EXPECT_FALSE(std::filesystem::exists(out / "latest"));
}
