// Statistics against answers worked out by hand: the median's order-statistic interval and
// its coverage, the CV, and Mann-Whitney U p-values (exact and approximate).
#include "harness/analysis/statistics.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace allocmeter;

// Five values: the interval is min..max, which covers the median with 1 - 2/32.
TEST(Statistics, FiveRepetitions) {
    const sample_summary s = summarize({5, 1, 4, 2, 3});
    EXPECT_EQ(s.n, 5u);
    EXPECT_EQ(s.median, 3);
    EXPECT_EQ(s.ci_low, 1);
    EXPECT_EQ(s.ci_high, 5);
    EXPECT_DOUBLE_EQ(s.ci_level, 1 - 2.0 / 32);
    EXPECT_NEAR(s.cv, std::sqrt(2.5) / 3, 1e-12);  // sample standard deviation over the mean
}

// Ten values: x(2)..x(9) is the narrowest interval with at least 95% (it has 1 - 22/1024).
TEST(Statistics, TenRepetitionsReach95Percent) {
    const sample_summary s = summarize({10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
    EXPECT_EQ(s.median, 5.5);
    EXPECT_EQ(s.ci_low, 2);
    EXPECT_EQ(s.ci_high, 9);
    EXPECT_NEAR(s.ci_level, 1 - 22.0 / 1024, 1e-12);
    EXPECT_GE(s.ci_level, 0.95);
    EXPECT_EQ(summarize({}).n, 0u);
    EXPECT_EQ(summarize({7}).cv, 0);
}

// Completely separated samples of five: U is 0 or 25, p = 2/252 exactly, either way round.
TEST(MannWhitney, SeparatedSamplesExact) {
    const std::vector<double> low{1, 2, 3, 4, 5}, high{6, 7, 8, 9, 10};
    const mann_whitney a = mann_whitney_u(high, low), b = mann_whitney_u(low, high);
    EXPECT_TRUE(a.exact);
    EXPECT_EQ(a.u, 25);
    EXPECT_EQ(b.u, 0);
    EXPECT_NEAR(a.p_value, 2.0 / 252, 1e-12);
    EXPECT_NEAR(b.p_value, 2.0 / 252, 1e-12);
}

// Interleaved samples: no evidence of a difference. U = 10 of 25, near the middle (12.5):
// p = 2 * P(U <= 10) over the 252 arrangements, well above 0.5.
TEST(MannWhitney, InterleavedSamplesDoNotDiffer) {
    const mann_whitney r = mann_whitney_u({1, 3, 5, 7, 9}, {2, 4, 6, 8, 10});
    EXPECT_EQ(r.u, 10);
    EXPECT_GT(r.p_value, 0.5);
    EXPECT_LE(r.p_value, 1.0);
}

// Identical samples (all ties): the normal approximation with tie correction gives p = 1.
TEST(MannWhitney, IdenticalSamplesGivePOne) {
    const std::vector<double> same(8, 42.0);
    const mann_whitney r = mann_whitney_u(same, same);
    EXPECT_FALSE(r.exact);
    EXPECT_EQ(r.p_value, 1.0);
}

// Large samples shifted by a little use the normal approximation and still find the shift.
TEST(MannWhitney, LargeShiftedSamplesApproximate) {
    std::vector<double> a, b;
    for (int i = 0; i < 40; ++i) {
        a.push_back(100 + i % 10);
        b.push_back(103 + i % 10);
    }
    const mann_whitney r = mann_whitney_u(b, a);
    EXPECT_FALSE(r.exact);  // ties and sizes above 30
    EXPECT_LT(r.p_value, 0.01);
    EXPECT_GT(r.u, 40.0 * 40 / 2);
}
