// Workloads are deterministic: the same seed gives the same operation stream (checksum,
// count, peak live bytes) on every allocator, whether it frees one by one or resets.
#include <gtest/gtest.h>

#include "allocators/arena_allocator.hpp"
#include "allocators/bump_allocator.hpp"
#include "allocators/malloc_allocator.hpp"
#include "allocators/pool_allocator.hpp"
#include "workloads/churn_workload.hpp"
#include "workloads/frame_workload.hpp"
#include "workloads/parser_workload.hpp"
#include "workloads/request_workload.hpp"
#include "workloads/scale.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

using namespace allocmeter;

namespace {

const workload_config quick1{scale::quick, 7, 1};

template <class W>
class seed_workloads : public ::testing::Test {};
using single_thread_workloads = ::testing::Types<frame_workload, request_workload, parser_workload, churn_workload>;
TYPED_TEST_SUITE(seed_workloads, single_thread_workloads);

}  // namespace

// Two runs with one seed give the same checksum, count and peak; another seed differs.
TYPED_TEST(seed_workloads, SameSeedSameStream) {
    const auto a = run_workload<TypeParam, malloc_allocator>(quick1);
    const auto b = run_workload<TypeParam, malloc_allocator>(quick1);
    EXPECT_EQ(a.checksum, b.checksum);
    EXPECT_EQ(a.ops, b.ops);
    EXPECT_EQ(a.peak_live_bytes, b.peak_live_bytes);
    EXPECT_GT(a.ops, 0u);
    EXPECT_GT(a.peak_live_bytes, 0);
    const auto c = run_workload<TypeParam, malloc_allocator>({scale::quick, 8, 1});
    EXPECT_NE(a.checksum, c.checksum);
}

// frame on bump (reset at frame end) and on malloc (a free per temporary) run identical streams.
TEST(WorkloadDeterminism, FrameSameStreamOnResetAndFree) {
    const auto m = run_workload<frame_workload, malloc_allocator>(quick1);
    const auto b = run_workload<frame_workload, bump_allocator>(quick1);
    const auto p = run_workload<frame_workload, pool_allocator<256>>(quick1);
    EXPECT_EQ(m.checksum, b.checksum);
    EXPECT_EQ(m.checksum, p.checksum);
    EXPECT_EQ(m.ops, b.ops);
    EXPECT_EQ(m.peak_live_bytes, b.peak_live_bytes);
}

// request and parser on region allocators (retiring dead objects) count what malloc frees.
TEST(WorkloadDeterminism, RetiringAllocatorsSeeTheSameStream) {
    EXPECT_EQ((run_workload<request_workload, malloc_allocator>(quick1).checksum),
              (run_workload<request_workload, arena_allocator>(quick1).checksum));
    const auto m = run_workload<parser_workload, malloc_allocator>(quick1);
    const auto a = run_workload<parser_workload, bump_allocator>(quick1);
    EXPECT_EQ(m.checksum, a.checksum);
    EXPECT_EQ(m.ops, a.ops);
    EXPECT_EQ(m.peak_live_bytes, a.peak_live_bytes);
}

// With two threads and cross-thread frees, the summed checksum and count still repeat.
TEST(WorkloadDeterminism, ChurnTwoThreadsRepeats) {
    const workload_config two{scale::quick, 3, 2};
    const auto a = run_workload<churn_workload, malloc_allocator>(two);
    const auto b = run_workload<churn_workload, malloc_allocator>(two);
    EXPECT_EQ(a.checksum, b.checksum);
    EXPECT_EQ(a.ops, b.ops);
    const auto p = churn_workload::params::for_scale(scale::quick);
    EXPECT_EQ(a.ops, 2 * (2 * p.iterations + 2 * p.working_set));
}

// The reference allocators report their own stats through the runner.
TEST(WorkloadDeterminism, ReferenceAllocatorStatsReported) {
    EXPECT_FALSE((run_workload<frame_workload, malloc_allocator>(quick1).stats.has_value()));
    const auto r = run_workload<frame_workload, arena_allocator>(quick1);
    ASSERT_TRUE(r.stats.has_value());
    EXPECT_GT(r.stats->bytes_reserved, 0u);
    EXPECT_GT(r.stats->chunks, 0u);
}

// log_uniform stays in its bounds and covers both ends of the range.
TEST(Rng, LogUniformBoundsAndSpread) {
    rng r(1);
    std::size_t lo_seen = ~std::size_t{0}, hi_seen = 0, below_64 = 0;
    for (int i = 0; i < 100000; ++i) {
        const std::size_t v = r.log_uniform(16, 32768);
        ASSERT_GE(v, 16u);
        ASSERT_LE(v, 32768u);
        lo_seen = std::min(lo_seen, v);
        hi_seen = std::max(hi_seen, v);
        below_64 += v < 64;
    }
    EXPECT_EQ(lo_seen, 16u);
    EXPECT_GT(hi_seen, 30000u);
    EXPECT_NEAR(static_cast<double>(below_64) / 100000, 2.0 / 12, 0.01);  // 2 of 12 bands
}

// skip_reason names what is missing, and is empty when the allocator can serve the workload.
TEST(SkipReason, NamesTheMissingCapability) {
    EXPECT_NE(skip_reason(bump_allocator::caps, churn_workload::needs, 1).find("no individual free"), std::string::npos);
    EXPECT_NE(skip_reason(pool_allocator<256>::caps, churn_workload::needs, 1).find("32768"), std::string::npos);
    EXPECT_NE(skip_reason(pool_allocator<65536>::caps, churn_workload::needs, 2).find("not thread-safe"),
              std::string::npos);
    EXPECT_EQ(skip_reason(pool_allocator<65536>::caps, churn_workload::needs, 1), "");
    EXPECT_EQ(skip_reason(bump_allocator::caps, frame_workload::needs, 4), "");
    EXPECT_EQ(skip_reason(malloc_allocator::caps, churn_workload::needs, 8), "");
}
