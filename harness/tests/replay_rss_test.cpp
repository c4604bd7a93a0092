// A replay cell's RSS is the allocator's, not the harness's plan: a recorded program with
// many calls and few live bytes has a plan (16 bytes a call) far larger than anything it
// holds, and the cell's peak and series stay far below the plan on every allocator.
#include <gtest/gtest.h>

#include <algorithm>

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
    ASSERT_EQ(doc["cells"].size(), 2u);
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
