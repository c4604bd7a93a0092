// A replay cell's RSS is the allocator's, not the harness's plan: a recorded program with
// many calls and few live bytes has a plan (16 bytes a call) far larger than anything it
// holds, and the cell's peak and series stay far below the plan on every allocator. And
// --touch auto: a replay's RSS grows as the recorded program's did.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

namespace {

/// 3.5 M allocation calls and as many frees over a working set of about 2 MiB: a 107 MiB plan.
constexpr const char* calls = "3500000";
constexpr std::uint64_t plan_bytes_per_call = 16;

}  // namespace

// On system and on a reference allocator, the peak RSS, every sampled RSS and the baseline
// are below a quarter of the plan, and the plan's resident pages are recorded beside them.
TEST(ReplayRss, PeakIsTheAllocatorsNotThePlans) {
    const auto dir = fresh_dir("replay-rss");
    const std::string trace = (dir / "many.trace").string();
    const auto rec = run_allocmeter("record -o " + trace + " -- " MANY_CALLS_TARGET " " + calls);
    ASSERT_EQ(rec.exit_code, 0) << rec.output;
    const auto r = run_allocmeter("run --workloads trace:" + trace + " --allocators system,segregated --reps 1 --out " +
                                  (dir / "out").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto doc = latest_results(dir / "out");
    ASSERT_EQ(doc["cells"].size(), 3u);  // and the harness row
    for (const auto& c : doc["cells"]) {
        const std::string who = c["allocator"];
        ASSERT_EQ(c["status"], "ok") << c.dump();
        const std::uint64_t plan = c["trace"]["steps"].get<std::uint64_t>() * plan_bytes_per_call;
        ASSERT_GT(plan, 100u << 20) << who;
        const auto& m = c["metrics"];
        const auto peak = m["peak_rss_bytes"].get<std::uint64_t>();
        EXPECT_LT(peak, plan / 4) << who << ": the plan is counted in the peak";
        EXPECT_GE(peak, static_cast<std::uint64_t>(m["peak_live_bytes"].get<std::int64_t>())) << who;
        EXPECT_LT(c["baseline_rss_bytes"].get<std::uint64_t>(), peak) << who;
        const auto& series = m["rss_series"]["rss_bytes"];
        ASSERT_FALSE(series.empty()) << who;
        EXPECT_LT(*std::max_element(series.begin(), series.end()), plan / 4) << who;
        EXPECT_LT(m["smaps_rollup"]["rss_bytes"].get<std::uint64_t>(), plan / 4) << who;
        // What was left out: the whole plan, resident since it was mapped.
        EXPECT_GE(c["trace"]["plan_resident_bytes"].get<std::uint64_t>(), plan) << who;
    }
}

// --touch auto on a program that allocates 200 MiB in blocks of 1 MiB and writes one byte a
// page in the first 10% of each: the replay's RSS grows about as far above the cell's baseline
// as the program's rose above its first sample (measured: 1.02x to 1.08x), while page and full
// touch every page (about 8.7x). The results carry the recorded peak beside the replayed one,
// and the run prints them side by side.
TEST(ReplayRss, TouchAutoFollowsTheRecordedRss) {
    if (thp_mode() == "always")
        GTEST_SKIP() << "transparent huge pages 'always': one byte written faults in 2 MiB, in the program and in the replay";
    const auto dir = fresh_dir("touch-auto");
    const std::string trace = (dir / "sparse.trace").string();
    const auto rec = run_allocmeter("record -o " + trace + " -- " SPARSE_TOUCH_TARGET " 200 10");
    ASSERT_EQ(rec.exit_code, 0) << rec.output;
    std::map<std::string, std::vector<double>> growth_ratio;  // by --touch: each cell's growth over the program's
    for (const std::string touch : {"page", "full", "auto"}) {
        const auto out = dir / touch;
        const auto r = run_allocmeter("run --workloads trace:" + trace + " --allocators system,segregated --reps 1 --touch " +
                                      touch + " --out " + out.string());
        ASSERT_EQ(r.exit_code, 0) << r.output;
        EXPECT_NE(r.output.find("RSS growth: the recorded program's peak over its first sample"), std::string::npos) << r.output;
        const auto doc = latest_results(out);
        EXPECT_EQ(doc["env"]["touch"], touch);
        const auto& t = doc["env"]["traces"][0];
        const auto recorded_peak = t["recorded_peak_rss_bytes"].get<std::uint64_t>();
        const double recorded_growth = static_cast<double>(recorded_peak - t["recorded_start_rss_bytes"].get<std::uint64_t>());
        EXPECT_GT(recorded_growth, 18.0 * (1 << 20)) << "about 10% of 200 MiB";
        EXPECT_LT(recorded_growth, 30.0 * (1 << 20)) << "about 10% of 200 MiB";
        ASSERT_EQ(doc["cells"].size(), 3u);  // and the harness row
        for (const auto& c : doc["cells"]) {
            ASSERT_EQ(c["status"], "ok") << c.dump();
            // The harness row's blocks overlap, so its RSS does not grow with what the replay touches.
            if (c["allocator"] == "harness") continue;
            EXPECT_EQ(c["trace"]["recorded_peak_rss_bytes"].get<std::uint64_t>(), recorded_peak);
            EXPECT_EQ(c["trace"]["touch"], t["touch"]);
            const double grew = static_cast<double>(c["metrics"]["peak_rss_bytes"].get<std::uint64_t>()) -
                                static_cast<double>(c["baseline_rss_bytes"].get<std::uint64_t>());
            growth_ratio[touch].push_back(grew / recorded_growth);
        }
        if (touch == "auto") {
            const std::string chosen = t["touch"];
            ASSERT_EQ(chosen.rfind("part:0.1", 0), 0u) << chosen << ": about 10% of each block";
            EXPECT_NE(r.output.find("--touch auto: " + chosen), std::string::npos) << r.output;
        } else {
            EXPECT_EQ(t["touch"], touch);
        }
    }
    for (const double x : growth_ratio["auto"]) {
        EXPECT_GT(x, 0.75) << "auto's replay grew less than the program";
        EXPECT_LT(x, 1.25) << "auto's replay grew more than the program";
    }
    for (const std::string touch : {"page", "full"})
        for (const double x : growth_ratio[touch]) EXPECT_GT(x, 5.0) << touch << " should touch every page";
}

// A trace without RSS samples (recorded before record took them) under --touch auto replays as
// page, with a note that says why, and no recorded RSS in its results.
TEST(ReplayRss, TouchAutoWithoutSamplesIsPage) {
    const auto dir = fresh_dir("touch-auto-old");
    const std::string trace = std::string(ALLOCMETER_SOURCE_DIR) + "/workloads/traces/sqlite-index.trace";
    const auto r = run_allocmeter("run --workloads trace:" + trace + " --allocators system --reps 1 --touch auto --out " +
                                  (dir / "out").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("sqlite-index.trace: it has no RSS samples (recorded by an older allocmeter, or imported), so "
                            "--touch auto replays it as page"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("RSS growth:"), std::string::npos) << r.output;
    const auto doc = latest_results(dir / "out");
    EXPECT_EQ(doc["env"]["touch"], "auto");
    EXPECT_EQ(doc["env"]["traces"][0]["touch"], "page");
    EXPECT_FALSE(doc["env"]["traces"][0].contains("recorded_peak_rss_bytes"));
    EXPECT_EQ(doc["cells"][0]["trace"]["touch"], "page");
    EXPECT_FALSE(doc["cells"][0]["trace"].contains("recorded_peak_rss_bytes"));
}
