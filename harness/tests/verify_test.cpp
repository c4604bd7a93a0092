// run --verify end to end: an allocator library that hands out overlapping blocks gets an ok
// churn cell without it and a failed one with it, the reason naming the block, its size and
// the operations; and every allocator passes a quick matrix (the seed workloads at 1 and 2
// threads, and a sample trace) with it on. The run records whether it verified.
#include <gtest/gtest.h>

#include <regex>

#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

namespace {

const char* const churn_on_bad = " --allocator bad=" OVERLAPPING_MALLOC_SO
                                 " --allocators bad --workloads churn --threads 1 --reps 1 --scale quick --out ";

}  // namespace

// Without --verify the overlapping blocks go unnoticed: the cell is ok and the run says it did
// not verify (the harness row, which only such a run has, is ok too).
TEST(Verify, OverlappingBlocksPassUnverified) {
    const auto out = fresh_dir("verify-off");
    const auto r = run_allocmeter(std::string("run") + churn_on_bad + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto doc = latest_results(out);
    ASSERT_EQ(doc["cells"].size(), 2u);
    EXPECT_EQ(doc["cells"][0]["status"], "ok") << doc["cells"][0].dump();
    EXPECT_EQ(doc["cells"][1]["allocator"], "harness");
    EXPECT_EQ(doc["cells"][1]["status"], "ok") << doc["cells"][1].dump();
    EXPECT_EQ(doc["env"]["verify"], false);
}

// With --verify the same cell fails: the reason names the overlapped block, its size, the
// operation that allocated it and the one that was freeing it, and whose tag lies over it. No
// harness row: its blocks overlap by design.
TEST(Verify, OverlappingBlocksFailVerified) {
    const auto out = fresh_dir("verify-on");
    const auto r = run_allocmeter(std::string("run --verify") + churn_on_bad + out.string());
    ASSERT_EQ(r.exit_code, 3) << r.output;  // finished, a cell failed
    const auto doc = latest_results(out);
    ASSERT_EQ(doc["cells"].size(), 1u);
    const auto& cell = doc["cells"][0];
    EXPECT_EQ(cell["status"], "failed");
    const std::string reason = cell["reason"];
    const std::regex expected(
        R"(^verify: block #0:(\d+) of (\d+) bytes at 0x[0-9a-f]+ \(alignment 16, allocated at operation \1 of thread 0\) )"
        R"(was overwritten before it was freed at operation \d+ of thread 0: bytes 16\.\.23 hold another block's tag )"
        R"(\(#0:\d+\); \d+ of the \d+ tagged bytes differ \(exit code 71\)$)");
    EXPECT_TRUE(std::regex_match(reason, expected)) << reason;
    EXPECT_EQ(doc["env"]["verify"], true);
}

// The harness row cannot be asked for with --verify: its blocks overlap by design.
TEST(Verify, HarnessRowIsRefused) {
    const auto out = fresh_dir("verify-harness");
    const auto r = run_allocmeter("run --verify --allocators system,harness --workloads frame --threads 1 --reps 1 "
                                  "--scale quick --out " + out.string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--allocators harness: the harness row is measured with --measure time only"), std::string::npos)
        << r.output;
    EXPECT_FALSE(std::filesystem::exists(out / "latest"));
}

// Every allocator (the reference ones, system and the external libraries installed) passes a
// quick matrix with --verify: the four seed workloads at 1 and 2 threads and a sample trace.
TEST(Verify, EveryAllocatorPassesAQuickMatrix) {
    const auto out = fresh_dir("verify-matrix");
    const auto r = run_allocmeter(
        "run --verify --scale quick --reps 1 --threads 1,2 --workloads frame,request,parser,churn,trace:" ALLOCMETER_SOURCE_DIR
        "/workloads/traces/sqlite-index.trace --out " +
        out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto doc = latest_results(out);
    EXPECT_EQ(doc["env"]["verify"], true);
    EXPECT_FALSE(doc["env"]["allocator_kinds"].contains("harness"));
    std::size_t ok = 0;
    for (const auto& c : doc["cells"]) {
        EXPECT_NE(c["status"], "failed") << c.dump();
        EXPECT_NE(c["allocator"], "harness") << "no harness row under --verify";
        ok += c["status"] == "ok" ? 1 : 0;
    }
    EXPECT_GE(ok, 100u) << r.output;  // 19 allocators: about 105 of the cells run on a full Debian install
}
