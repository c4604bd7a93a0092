// `allocmeter fidelity` end to end on a test program (workloads/fidelity), small and quick: the
// progress lines, the table, fidelity.json's fields and the page; then its refusals, each
// exit 2 with a message naming the input or the run that failed.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

namespace {

struct fidelity_run : ::testing::Test {
    static void SetUpTestSuite() {
        dir = new std::filesystem::path(fresh_dir("fidelity"));
        result = new command_result(run_allocmeter("fidelity --allocators system,jemalloc --reps 3 -o " + dir->string() +
                                                   " -- " ALLOC_DOMINATED " 150000"));
        std::ifstream in(*dir / "fidelity.json");
        doc = new nlohmann::json(in.good() ? nlohmann::json::parse(in) : nlohmann::json());
    }
    static void TearDownTestSuite() {
        std::filesystem::remove_all(*dir);
        delete dir;
        delete result;
        delete doc;
    }
    static inline std::filesystem::path* dir = nullptr;
    static inline command_result* result = nullptr;
    static inline nlohmann::json* doc = nullptr;
};

}  // namespace

// It finishes, says each step, warns that 3 reps cannot reach significance, and prints the
// table with rho and a verdict.
TEST_F(fidelity_run, PrintsStepsTableAndVerdict) {
    ASSERT_EQ(result->exit_code, 0) << result->output;
    for (const char* step : {"[1/3] recording", "[2/3] running", "round 3/3: ", "[3/3] replaying the trace (threads"})
        EXPECT_NE(result->output.find(step), std::string::npos) << step << "\n" << result->output;
    EXPECT_NE(result->output.find("no difference can reach p < 0.05"), std::string::npos) << result->output;
    EXPECT_NE(result->output.find("Spearman's rho (direct vs threads replay)"), std::string::npos) << result->output;
    EXPECT_NE(result->output.find("verdict (threads): "), std::string::npos) << result->output;
    EXPECT_NE(result->output.find("jemalloc"), std::string::npos) << result->output;
}

// fidelity.json holds the run's settings, every direct measurement and every replayed one.
TEST_F(fidelity_run, JsonHasEveryField) {
    ASSERT_EQ(result->exit_code, 0) << result->output;
    const nlohmann::json& j = *doc;
    EXPECT_EQ(j["schema"], "allocmeter-fidelity/1");
    EXPECT_EQ(j["metric"], "wall_s");
    EXPECT_EQ(j["better"], "lower");
    EXPECT_TRUE(j["throughput_regex"].is_null());
    EXPECT_EQ(j["reps"], 3);
    EXPECT_EQ(j["baseline"], "system");
    EXPECT_EQ(j["allocators"], (nlohmann::json{"system", "jemalloc"}));
    EXPECT_EQ(j["command"].back(), "150000");
    EXPECT_TRUE(std::filesystem::exists(j["trace"].get<std::string>())) << j["trace"];
    ASSERT_EQ(j["direct"].size(), 2u);
    for (const auto& d : j["direct"]) {
        ASSERT_EQ(d["values"].size(), 3u) << d.dump();
        for (const auto& v : d["values"]) EXPECT_GT(v.get<double>(), 0) << d.dump();
        EXPECT_GT(d["median"].get<double>(), 0);
        EXPECT_TRUE(d["ratio"].is_number());
    }
    EXPECT_TRUE(j["direct"][0]["p_value"].is_null());  // the baseline is not tested against itself
    EXPECT_TRUE(j["direct"][1]["p_value"].is_number());
    // Three against three cannot reach 0.05: the calls are all "no significant difference".
    EXPECT_EQ(j["direct"][1]["call"], "no significant difference");

    ASSERT_EQ(j["replays"].size(), 1u);
    const auto& r = j["replays"][0];
    EXPECT_EQ(r["mode"], "threads");
    ASSERT_EQ(r["status"], "ok") << r.dump();
    EXPECT_TRUE(std::filesystem::exists(r["results"].get<std::string>())) << r["results"];
    ASSERT_EQ(r["allocators"].size(), 2u);
    const std::set<std::string> agreements{"same direction", "both not significant", "significant only directly",
                                           "significant only in the replay", "reversed", "not compared"};
    for (const auto& a : r["allocators"]) {
        EXPECT_EQ(a["values"].size(), 3u) << a.dump();
        EXPECT_TRUE(agreements.count(a["agreement"].get<std::string>())) << a.dump();
    }
    EXPECT_EQ(r["allocators"][1]["agreement"], "both not significant");
    EXPECT_TRUE(r["rho"].is_number() || r["rho"].is_null());
    EXPECT_TRUE(r["judged_rho"].is_null());  // nothing told apart directly
    EXPECT_TRUE(r["rho_note"].is_string());
    EXPECT_EQ(r["verdict_kind"], "agrees");
    EXPECT_EQ(r["verdict"].get<std::string>().rfind("replay ranks allocators as the program does", 0), 0u) << r["verdict"];
}

// The page is written beside the JSON, with the verdict.
TEST_F(fidelity_run, WritesThePage) {
    std::ifstream in(*dir / "fidelity.html");
    const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(page.find("Replay: threads"), std::string::npos);
    EXPECT_NE(page.find("replay ranks allocators as the program does"), std::string::npos);
}

// No program: exit 2, saying what to give.
TEST(FidelityErrors, NoCommand) {
    const auto r = run_allocmeter("fidelity --reps 2");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("give the program to run"), std::string::npos) << r.output;
}

// An unknown allocator, and a reference one (which cannot serve a program's malloc).
TEST(FidelityErrors, UnknownOrReferenceAllocator) {
    auto r = run_allocmeter("fidelity --allocators system,nosuch -- " ALLOC_DOMINATED);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("unknown allocator 'nosuch'"), std::string::npos) << r.output;
    r = run_allocmeter("fidelity --allocators system,bump -- " ALLOC_DOMINATED);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("'bump' is a reference allocator"), std::string::npos) << r.output;
}

// A program that does not exist, as a path and as a name on PATH.
TEST(FidelityErrors, NoSuchProgram) {
    auto r = run_allocmeter("fidelity -- /nonexistent/program");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("'/nonexistent/program': no such program"), std::string::npos) << r.output;
    r = run_allocmeter("fidelity -- allocmeter-no-such-program-on-path");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("not on PATH"), std::string::npos) << r.output;
}

// Options out of range, or a regex without exactly one group.
TEST(FidelityErrors, BadOptions) {
    auto r = run_allocmeter("fidelity --reps 0 -- " ALLOC_DOMINATED);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--reps 0"), std::string::npos) << r.output;
    r = run_allocmeter("fidelity --throughput '([0-9]+) (ops)' -- " ALLOC_DOMINATED);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("exactly one capture group"), std::string::npos) << r.output;
    const auto file = fresh_dir("fidelity-out") / "a-file";
    std::ofstream(file) << "x";
    r = run_allocmeter("fidelity -o " + file.string() + " -- " ALLOC_DOMINATED);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("exists and is not a folder"), std::string::npos) << r.output;
}

// A program that fails when recorded: exit 2, naming the recorded run.
TEST(FidelityErrors, ProgramFailsWhenRecorded) {
    const auto dir = fresh_dir("fidelity-false");
    const auto r = run_allocmeter("fidelity --allocators system,jemalloc --reps 1 -o " + dir.string() + " -- false");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("the recorded run of "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("exit status 1"), std::string::npos) << r.output;
}

// A program that fails under one allocator only: exit 2, naming the allocator and the round.
TEST(FidelityErrors, ProgramFailsUnderOneAllocator) {
    const auto dir = fresh_dir("fidelity-jemalloc-fails");
    const auto r = run_allocmeter("fidelity --allocators system,jemalloc --reps 1 -o " + dir.string() +
                                  " -- sh -c 'case \"$LD_PRELOAD\" in *jemalloc*) exit 3;; esac; exec " ALLOC_DOMINATED " 1000'");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("under jemalloc (round 1 of 1) exited with status 3"), std::string::npos) << r.output;
}

// --throughput on a program that prints no figure: exit 2, naming the option and the run.
TEST(FidelityErrors, ThroughputWithoutFigure) {
    const auto dir = fresh_dir("fidelity-throughput");
    const auto r = run_allocmeter("fidelity --allocators system,jemalloc --reps 1 --throughput '([0-9.]+) ops/s' -o " +
                                  dir.string() + " -- " ALLOC_DOMINATED " 1000");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--throughput '([0-9.]+) ops/s': the direct run of"), std::string::npos) << r.output;
}

// --throughput: the figure the program prints is what is measured, and fidelity.json says so.
// (sh's own echo makes no malloc call; the program it execs is what the trace holds.)
TEST(FidelityThroughput, MeasuresThePrintedFigure) {
    const auto dir = fresh_dir("fidelity-figure");
    const auto r = run_allocmeter("fidelity --allocators system,jemalloc --reps 2 --throughput 'done: ([0-9.]+) ops/s' -o " +
                                  dir.string() + " -- sh -c 'echo done: 1234.5 ops/s; exec " ALLOC_DOMINATED " 20000'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ifstream in(dir / "fidelity.json");
    const auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j["metric"], "throughput");
    EXPECT_EQ(j["better"], "higher");
    EXPECT_EQ(j["throughput_regex"], "done: ([0-9.]+) ops/s");
    for (const auto& d : j["direct"]) EXPECT_EQ(d["values"], (nlohmann::json{1234.5, 1234.5})) << d.dump();
}

// A program that makes no allocation call (sh's builtin echo): nothing to replay, exit 2.
TEST(FidelityErrors, NoAllocationCalls) {
    const auto dir = fresh_dir("fidelity-empty");
    const auto r = run_allocmeter("fidelity --allocators system,jemalloc --reps 1 -o " + dir.string() + " -- sh -c 'echo hi'");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("made no allocation calls"), std::string::npos) << r.output;
}
