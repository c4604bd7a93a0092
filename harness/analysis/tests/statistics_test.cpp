// Statistics against answers worked out by hand: the median's order-statistic interval and
// its coverage, the CV, Mann-Whitney U p-values (exact and approximate), average ranks, and
// the Wilcoxon signed-rank test and ratios paired by round.
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

// Distinct values: ranks are their order; a tie shares the mean of the ranks it spans.
TEST(AverageRanks, DistinctAndTied) {
    EXPECT_EQ(average_ranks({30, 10, 20}), (std::vector<double>{3, 1, 2}));
    EXPECT_EQ(average_ranks({10, 20, 20, 30}), (std::vector<double>{1, 2.5, 2.5, 4}));
    EXPECT_EQ(average_ranks({5, 5, 5}), (std::vector<double>{2, 2, 2}));
    EXPECT_TRUE(average_ranks({}).empty());
}

// Five differences of one sign: W+ = 15, the one pattern of 32 that far out on either side:
// p = 2/32, which no five pairs can beat; six reach 2/64, below 0.05.
TEST(SignedRank, OneSignExact) {
    const signed_rank five = wilcoxon_signed_rank({0.1, 0.2, 0.3, 0.4, 0.5});
    EXPECT_TRUE(five.exact);
    EXPECT_EQ(five.n, 5u);
    EXPECT_EQ(five.w_plus, 15);
    EXPECT_DOUBLE_EQ(five.p_value, 2.0 / 32);
    EXPECT_DOUBLE_EQ(smallest_signed_rank_p(5), 2.0 / 32);
    const signed_rank six = wilcoxon_signed_rank({-1, -2, -3, -4, -5, -6});
    EXPECT_EQ(six.w_plus, 0);
    EXPECT_DOUBLE_EQ(six.p_value, 2.0 / 64);
    EXPECT_STREQ(verdict(six, 0.05), "faster");
    EXPECT_STREQ(verdict(wilcoxon_signed_rank({1, 2, 3, 4, 5, 6}), 0.05), "slower");
    EXPECT_STREQ(verdict(five, 0.05), "no significant difference");
}

// Mixed signs, ranks 1..6, W+ = 2 + 3 + 5 + 6 = 16 (W- = 5). Patterns with W+ <= 5: sums 0, 1,
// 2, 3 (two ways), 4 (two), 5 (three) = 10 of 64; by symmetry as many have W+ >= 16: p = 20/64.
TEST(SignedRank, MixedSignsExact) {
    const signed_rank r = wilcoxon_signed_rank({-1, 2, 3, -4, 5, 6});
    EXPECT_EQ(r.w_plus, 16);
    EXPECT_DOUBLE_EQ(r.p_value, 20.0 / 64);
    // The signs swapped: W+ = 5, the same p.
    EXPECT_DOUBLE_EQ(wilcoxon_signed_rank({1, -2, -3, 4, -5, -6}).p_value, 20.0 / 64);
}

// Zeros say nothing of the sign: dropped, so five non-zero of six pairs give five's p.
TEST(SignedRank, ZerosDropped) {
    const signed_rank r = wilcoxon_signed_rank({0, 1, 2, 3, 4, 5});
    EXPECT_EQ(r.pairs, 6u);
    EXPECT_EQ(r.n, 5u);
    EXPECT_DOUBLE_EQ(r.p_value, 2.0 / 32);
    const signed_rank none = wilcoxon_signed_rank({0, 0, 0});
    EXPECT_EQ(none.n, 0u);
    EXPECT_EQ(none.p_value, 1.0);
    EXPECT_EQ(wilcoxon_signed_rank({}).p_value, 1.0);
}

// Tied |d| share their mean rank: {1, 1, 2, -3} ranks 1.5, 1.5, 3, 4 and W+ = 6. Doubled, the
// ranks are 3, 3, 6, 8 and W+ 12; of the 16 sign patterns 6 have a doubled sum >= 12 (12, 14,
// 14, 17, 17, 20) and 11 one <= 12: p = 2 * 6/16, exact.
TEST(SignedRank, TiesExactOverMeanRanks) {
    const signed_rank r = wilcoxon_signed_rank({1, 1, 2, -3});
    EXPECT_TRUE(r.exact);
    EXPECT_EQ(r.w_plus, 6);
    EXPECT_DOUBLE_EQ(r.p_value, 12.0 / 16);
}

// Sixty positive differences: beyond the exact limit, W+ = 1830 against a mean of 915 and a
// variance of 60 * 61 * 121 / 24 = 18452.5, continuity corrected.
TEST(SignedRank, LargeSampleApproximate) {
    std::vector<double> d;
    for (int i = 1; i <= 60; ++i) d.push_back(i);
    const signed_rank r = wilcoxon_signed_rank(d);
    EXPECT_FALSE(r.exact);
    EXPECT_EQ(r.w_plus, 1830);
    EXPECT_NEAR(r.p_value, std::erfc((915 - 0.5) / std::sqrt(18452.5) / std::sqrt(2.0)), 1e-15);
    EXPECT_LT(r.p_value, 1e-9);
}

// The paired test decides from 6 pairs at alpha 0.05, from 8 at 0.01, never with none.
TEST(SignedRank, WhenThePairedTestDecides) {
    EXPECT_FALSE(paired_test_decides(0, 0.05));
    EXPECT_FALSE(paired_test_decides(5, 0.05));
    EXPECT_TRUE(paired_test_decides(6, 0.05));
    EXPECT_FALSE(paired_test_decides(7, 0.01));  // 2/128 = 0.0156
    EXPECT_TRUE(paired_test_decides(8, 0.01));   // 2/256 = 0.0078
    EXPECT_EQ(rounds_for_paired_test(0.05), 6u);
    EXPECT_EQ(rounds_for_paired_test(0.01), 8u);
}

// Pairs by round number, not by position: a round missing on either side is left out, a
// round given twice counts its first value, and a value that is not positive pairs with nothing.
TEST(RatiosByRound, PairsWithinRounds) {
    const std::vector<round_value> mine{{3, 30}, {1, 10}, {2, 20}, {5, 50}, {3, 99}, {6, 0}};
    const std::vector<round_value> base{{1, 5}, {2, 40}, {3, 10}, {4, 7}, {6, 3}};
    EXPECT_EQ(ratios_by_round(mine, base), (std::vector<double>{3.0, 2.0, 0.5}));
    EXPECT_TRUE(ratios_by_round(mine, {}).empty());
    const std::vector<double> logs = log_ratios({1.0, std::exp(2.0)});
    ASSERT_EQ(logs.size(), 2u);
    EXPECT_EQ(logs[0], 0.0);
    EXPECT_NEAR(logs[1], 2.0, 1e-15);
}
