// The registry: every (allocator type, workload) pair that can run has a runner and every one
// that cannot is skipped with a reason, never silently missing; a runner really runs.
#include <gtest/gtest.h>

#include "harness/cell/registry.hpp"

using namespace allocmeter;

// Runnable on one thread <=> a runner exists, for every reference allocator, malloc and workload.
TEST(Registry, RunnerExactlyWhenNothingIsMissing) {
    ASSERT_FALSE(workloads().empty());
    for (const workload_info& w : workloads()) {
        EXPECT_EQ(find_workload(w.name), &w);
        EXPECT_NE(find_runner(malloc_runner_name, w.name), nullptr) << w.name;
        for (const reference_info& r : reference_allocators()) {
            const bool runnable = skip_reason(r.caps, w.needs, 1).empty();
            EXPECT_EQ(find_runner(r.name, w.name) != nullptr, runnable) << r.name << " x " << w.name;
            // run --verify and run --measure callgrind have their own runner for every pair that
            // runs, and each is another one.
            for (const runner_kind kind : {runner_kind::verified, runner_kind::boundary}) {
                EXPECT_EQ(find_runner(r.name, w.name, kind) != nullptr, runnable) << r.name << " x " << w.name;
                if (runnable) {
                    EXPECT_NE(find_runner(r.name, w.name, kind), find_runner(r.name, w.name)) << r.name;
                }
            }
        }
    }
    EXPECT_EQ(find_workload("nosuch"), nullptr);
    EXPECT_EQ(find_runner("nosuch", "frame"), nullptr);
    EXPECT_EQ(find_runner("bump", "nosuch"), nullptr);
}

// A trace needs individual frees in any order: bump and stack have no trace runner, malloc has.
TEST(Registry, TraceRunners) {
    EXPECT_NE(find_trace_runner(malloc_runner_name), nullptr);
    EXPECT_EQ(find_trace_runner("bump"), nullptr);
    EXPECT_EQ(find_trace_runner("stack"), nullptr);
    EXPECT_EQ(find_trace_runner("nosuch"), nullptr);
    for (const reference_info& r : reference_allocators()) {
        if (r.caps.individual_free && !r.caps.lifo_free_only) {
            EXPECT_NE(find_trace_runner(r.name), nullptr) << r.name;
            EXPECT_NE(find_trace_runner(r.name, runner_kind::verified), nullptr) << r.name;
            EXPECT_NE(find_trace_runner(r.name, runner_kind::boundary), nullptr) << r.name;
        }
    }
}

// A runner runs its workload at quick scale and reports operations and time.
TEST(Registry, RunnerRuns) {
    const cell_runner run = find_runner("bump", "frame");
    ASSERT_NE(run, nullptr);
    const workload_result r = run({scale::quick, 1, 1, 0}, nullptr);
    EXPECT_GT(r.ops, 0u);
    EXPECT_GT(r.wall_s, 0);
    EXPECT_GT(r.peak_live_bytes, 0);
    // Verified, the same operations.
    const workload_result v = find_runner("bump", "frame", runner_kind::verified)({scale::quick, 1, 1, 0}, nullptr);
    EXPECT_EQ(v.checksum, r.checksum);
    EXPECT_EQ(v.ops, r.ops);
    // Behind the callgrind boundary, the same operations too.
    const workload_result b = find_runner("bump", "frame", runner_kind::boundary)({scale::quick, 1, 1, 0}, nullptr);
    EXPECT_EQ(b.checksum, r.checksum);
    EXPECT_EQ(b.ops, r.ops);
}
