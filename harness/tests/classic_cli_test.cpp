// The classic workloads end to end: `run --workloads classic` runs every workload of the group,
// each ok on malloc, and on an allocator that is not thread-safe skips exactly those that free
// blocks across threads, saying why.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

TEST(ClassicCli, EveryClassicWorkloadRunsOrSkipsWithItsReason) {
    const auto dir = fresh_dir("classic-run");
    const auto listed = run_allocmeter("list --scale quick");
    ASSERT_EQ(listed.exit_code, 0) << listed.output;
    const std::set<std::string> classic{"larson", "xmalloc", "cache-scratch", "cache-thrash", "mstress",
                                        "glibc-simple", "glibc-thread", "sh6bench", "sh8bench", "alloc-test",
                                        "rptest", "malloc-large", "realloc-growth"};
    for (const auto& w : classic) EXPECT_NE(listed.output.find("\n  " + w + " "), std::string::npos) << w;

    const auto r = run_allocmeter("run --workloads classic --allocators system,segregated --scale quick --reps 1 --threads 2 "
                                  "--latency off --sample-ms 0 --out " + (dir / "out").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto doc = latest_results(dir / "out");
    std::map<std::string, std::string> system, segregated;  // workload -> status (or skip reason)
    for (const auto& c : doc["cells"]) {
        const std::string status = c["status"];
        const std::string said = status == "skipped" ? c["reason"].get<std::string>() : status;
        if (c["allocator"] == "system") system[c["workload"]] = said;
        if (c["allocator"] == "segregated") segregated[c["workload"]] = said;
    }
    // Those that share one instance and free blocks another thread made.
    const std::set<std::string> cross{"larson", "xmalloc", "cache-scratch", "mstress", "sh8bench", "rptest"};
    for (const auto& w : classic) {
        EXPECT_EQ(system[w], "ok") << w;
        if (cross.count(w) != 0)
            EXPECT_NE(segregated[w].find("frees blocks across threads and the allocator is not thread-safe"), std::string::npos)
                << w << ": " << segregated[w];
        else
            EXPECT_EQ(segregated[w], "ok") << w;
    }
    EXPECT_EQ(system.size(), classic.size());
}

// realloc-growth on gperftools' tcmalloc: a realloc that shrinks a block in place keeps its size
// class, which the later sized free must not contradict (this cell, default scale and seed,
// was killed by SIGSEGV before the malloc adapter moved such shrinks).
TEST(ClassicCli, ReallocGrowthOnTcmalloc) {
    const auto listed = run_allocmeter("list");
    if (listed.output.find("libtcmalloc") == std::string::npos) {
        GTEST_SKIP() << "tcmalloc is not installed (make deps installs it)";
    }
    const auto dir = fresh_dir("classic-tcmalloc");
    const auto r = run_allocmeter("run --workloads realloc-growth --allocators tcmalloc --reps 1 --threads 1 --latency off "
                                  "--sample-ms 0 --out " + (dir / "out").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    bool seen = false;
    const auto doc = latest_results(dir / "out");
    for (const auto& c : doc["cells"]) {
        if (c["allocator"] != "tcmalloc") continue;
        seen = true;
        EXPECT_EQ(c["status"], "ok") << c.dump(2);
    }
    EXPECT_TRUE(seen);
}
