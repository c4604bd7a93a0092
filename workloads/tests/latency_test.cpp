// The latency histogram against known distributions, and the sampler's choice of operations.
#include "workloads/latency.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

using namespace allocmeter;

namespace {

/// Within the histogram's resolution: 1/16 of the value (plus one for small values).
void expect_close(double got, double want) { EXPECT_NEAR(got, want, want / 16 + 1) << "want " << want; }

}  // namespace

// Buckets are exact below 32, then 16 per power of two; every value falls in the bucket whose
// bounds hold it.
TEST(LatencyHistogram, BucketsHoldTheirValues) {
    for (std::uint64_t v : {0ull, 1ull, 15ull, 16ull, 31ull, 32ull, 33ull, 100ull, 1000ull, 123456ull, 1ull << 40, ~0ull}) {
        const std::size_t i = latency_histogram::index(v);
        ASSERT_LT(i, latency_histogram::buckets) << v;
        EXPECT_LE(latency_histogram::lower_bound(i), v) << v;
        if (i + 1 < latency_histogram::buckets) {
            EXPECT_GT(latency_histogram::lower_bound(i + 1), v) << v;
        }
    }
    for (std::uint64_t v = 0; v < 32; ++v) EXPECT_EQ(latency_histogram::lower_bound(latency_histogram::index(v)), v);
}

// 1..10000 uniform: the quantiles are where they should be, and max is exact.
TEST(LatencyHistogram, UniformDistribution) {
    latency_histogram h;
    for (std::uint64_t v = 1; v <= 10000; ++v) h.record(v);
    EXPECT_EQ(h.count(), 10000u);
    EXPECT_EQ(h.max(), 10000u);
    expect_close(h.quantile(0.5), 5000);
    expect_close(h.quantile(0.9), 9000);
    expect_close(h.quantile(0.99), 9900);
    expect_close(h.quantile(0.999), 9990);
    EXPECT_LE(h.quantile(1.0), 10000.0);
}

// A long tail: 99% at 20 ticks, 0.9% at 1000, 0.1% at 50000. p50 and p90 see the body, p99
// the first tail, p99.9 the second; merging two halves changes nothing.
TEST(LatencyHistogram, TailAndMerge) {
    latency_histogram a, b;
    std::mt19937_64 g(3);
    std::vector<std::uint64_t> values;
    for (int i = 0; i < 99000; ++i) values.push_back(20);
    for (int i = 0; i < 900; ++i) values.push_back(1000);
    for (int i = 0; i < 100; ++i) values.push_back(50000);
    std::shuffle(values.begin(), values.end(), g);
    for (std::size_t i = 0; i < values.size(); ++i) (i % 2 ? a : b).record(values[i]);
    a.merge(b);
    EXPECT_EQ(a.count(), 100000u);
    EXPECT_EQ(a.quantile(0.5), 20.0);
    EXPECT_EQ(a.quantile(0.9), 20.0);
    expect_close(a.quantile(0.995), 1000);
    expect_close(a.quantile(0.9995), 50000);
    EXPECT_EQ(a.max(), 50000u);
    EXPECT_LE(a.quantile(0.5), a.quantile(0.99));
}

// One allocation in 64 and one free in 64 are due, whatever the interleaving; 0 turns it off.
TEST(LatencyRecorder, SamplesOneInEvery) {
    latency_recorder r(64, 12345);
    unsigned allocs = 0, frees = 0;
    for (int i = 0; i < 64 * 100; ++i) {
        allocs += r.alloc_due();
        frees += r.free_due();  // strictly alternating with the allocations
    }
    EXPECT_EQ(allocs, 100u);
    EXPECT_EQ(frees, 100u);
    EXPECT_TRUE(r.enabled());

    latency_recorder off(0, 1);
    EXPECT_FALSE(off.enabled());
    for (int i = 0; i < 100000; ++i) ASSERT_FALSE(off.alloc_due() || off.free_due());
}

// Two seeds give two phases, so threads do not all time the same operation numbers.
TEST(LatencyRecorder, PhaseFollowsTheSeed) {
    const auto first_due = [](std::uint64_t phase) {
        latency_recorder r(64, phase);
        for (int i = 1;; ++i)
            if (r.alloc_due()) return i;
    };
    EXPECT_NE(first_due(1), first_due(2));
    EXPECT_EQ(first_due(7), first_due(7));
}
