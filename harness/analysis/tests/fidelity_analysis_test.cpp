// fidelity's statistics against answers worked out by hand: Spearman's rho (with and without
// ties, undefined cases), the agreement of two calls, and the verdict with its rule for rho.
#include "harness/analysis/fidelity_analysis.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace allocmeter;

namespace {

allocator_sides row(const std::string& name, double direct, double replay, side_call d, side_call r) {
    return {name, direct, replay, d, r};
}

constexpr side_call better = side_call::better, worse = side_call::worse, ns = side_call::not_significant;

}  // namespace

// The same order gives 1, the reverse -1.
TEST(Spearman, SameAndReversedOrder) {
    EXPECT_DOUBLE_EQ(*spearman_rho({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
    EXPECT_DOUBLE_EQ(*spearman_rho({1, 2, 3, 4}, {40, 30, 20, 10}), -1.0);
}

// Without ties rho = 1 - 6 sum(d^2) / (n (n^2 - 1)): two swapped pairs of five, sum d^2 = 4,
// rho = 1 - 24/120 = 0.8; one swap of three, sum d^2 = 2, rho = 1 - 12/24 = 0.5.
TEST(Spearman, SwapsWithoutTies) {
    EXPECT_NEAR(*spearman_rho({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}), 0.8, 1e-12);
    EXPECT_NEAR(*spearman_rho({0.5, 0.7, 0.9}, {7, 5, 9}), 0.5, 1e-12);
}

// With a tie, Pearson on average ranks: x ranks 1,2,3,4, y ranks 1,2.5,2.5,4; deviations from
// 2.5 give sxy = 4.5, sxx = 5, syy = 4.5, so rho = 4.5 / sqrt(22.5) = sqrt(0.9).
TEST(Spearman, TieUsesAverageRanks) { EXPECT_NEAR(*spearman_rho({1, 2, 3, 4}, {1, 2, 2, 3}), std::sqrt(0.9), 1e-12); }

// Fewer than two pairs, unequal lengths, or one side all equal: no rho.
TEST(Spearman, UndefinedCases) {
    EXPECT_FALSE(spearman_rho({1}, {1}));
    EXPECT_FALSE(spearman_rho({1, 2}, {1, 2, 3}));
    EXPECT_FALSE(spearman_rho({1, 2, 3}, {4, 4, 4}));
}

// Every pairing of two calls, and a missing side.
TEST(Agreement, EveryCase) {
    EXPECT_EQ(agreement_of(better, better), agreement::same_direction);
    EXPECT_EQ(agreement_of(worse, worse), agreement::same_direction);
    EXPECT_EQ(agreement_of(better, worse), agreement::reversed);
    EXPECT_EQ(agreement_of(ns, ns), agreement::both_not_significant);
    EXPECT_EQ(agreement_of(better, ns), agreement::direct_only);
    EXPECT_EQ(agreement_of(ns, worse), agreement::replay_only);
    EXPECT_EQ(agreement_of(std::nullopt, better), agreement::not_compared);
}

// A throughput's call: higher is better, so a significantly higher median is "better".
TEST(SideSummary, ThroughputHigherIsBetter) {
    const std::vector<double> base{100, 101, 102, 103, 104}, fast{200, 201, 202, 203, 204};
    const side_summary s = summarize_side(fast, &base, false, true, default_alpha);
    ASSERT_TRUE(s.call);
    EXPECT_EQ(*s.call, side_call::better);
    EXPECT_NEAR(*s.ratio, 202.0 / 102.0, 1e-12);
    EXPECT_LT(*s.cost(true), *summarize_side(base, &base, true, true, default_alpha).cost(true));
    // The same numbers as times: slower.
    EXPECT_EQ(*summarize_side(fast, &base, false, false, default_alpha).call, side_call::worse);
}

// Four allocators, each called the same way on both sides, in the same order: trusted, rho 1
// judged over all four.
TEST(Verdict, AgreesWhenRankingsMatch) {
    const fidelity_judgement j = judge_fidelity({row("system", 1.0, 100, ns, ns), row("jemalloc", 0.7, 60, better, better),
                                                 row("tcmalloc", 0.8, 70, better, better), row("mimalloc", 1.3, 130, worse, worse)},
                                                "system");
    EXPECT_EQ(j.kind, verdict_kind::agrees);
    EXPECT_EQ(j.verdict, "replay ranks allocators as the program does");
    ASSERT_TRUE(j.judged_rho);
    EXPECT_DOUBLE_EQ(*j.judged_rho, 1.0);
    EXPECT_EQ(j.judged.size(), 4u);
}

// One allocator significantly better directly and significantly worse in the replay.
TEST(Verdict, ReversedIsNotTrusted) {
    const fidelity_judgement j = judge_fidelity({row("system", 1.0, 100, ns, ns), row("jemalloc", 0.7, 120, better, worse),
                                                 row("tcmalloc", 0.9, 90, better, better)},
                                                "system");
    EXPECT_EQ(j.kind, verdict_kind::do_not_trust);
    EXPECT_EQ(j.verdict, "do not trust: reversed on jemalloc");
    EXPECT_EQ(j.agreements[1], agreement::reversed);
}

// Significant on one side only: trusted with the exception named.
TEST(Verdict, OneSidedDifferenceIsAnException) {
    const fidelity_judgement j = judge_fidelity({row("system", 1.0, 100, ns, ns), row("jemalloc", 0.7, 98, better, ns)}, "system");
    EXPECT_EQ(j.kind, verdict_kind::agrees_except);
    EXPECT_EQ(j.verdict, "replay ranks allocators as the program does, except jemalloc (significant only directly)");
}

// No direct difference is significant: rho is printed but not judged, however it comes out.
TEST(Verdict, RhoNotJudgedWithoutDirectDifferences) {
    const fidelity_judgement j = judge_fidelity({row("system", 1.0, 100, ns, ns), row("jemalloc", 1.01, 90, ns, ns),
                                                 row("tcmalloc", 0.99, 110, ns, ns)},
                                                "system");
    ASSERT_TRUE(j.rho);
    EXPECT_DOUBLE_EQ(*j.rho, -1.0);  // the replay's order is the reverse: noise, not judged
    EXPECT_FALSE(j.judged_rho);
    EXPECT_NE(j.rho_note.find("noise"), std::string::npos) << j.rho_note;
    EXPECT_EQ(j.kind, verdict_kind::agrees);
    EXPECT_NE(j.verdict.find("no allocator differs significantly from system"), std::string::npos) << j.verdict;
}

// Only one allocator told apart directly: two in the ranking, fewer than rho needs.
TEST(Verdict, RhoNotJudgedOverTwo) {
    const fidelity_judgement j = judge_fidelity({row("system", 1.0, 100, ns, ns), row("jemalloc", 0.7, 70, better, better),
                                                 row("tcmalloc", 1.0, 95, ns, ns)},
                                                "system");
    EXPECT_FALSE(j.judged_rho);
    EXPECT_NE(j.rho_note.find("only 2"), std::string::npos) << j.rho_note;
    EXPECT_EQ(j.kind, verdict_kind::agrees);
}

// Both better than system on both sides, but the replay swaps the two: over three allocators
// the judged rho is 0.5, below the bar, though no single allocator is reversed.
TEST(Verdict, SwappedOrderAmongTheSignificantIsNotTrusted) {
    const fidelity_judgement j = judge_fidelity({row("system", 1.0, 100, ns, ns), row("jemalloc", 0.8, 90, better, better),
                                                 row("tcmalloc", 0.9, 80, better, better)},
                                                "system");
    ASSERT_TRUE(j.judged_rho);
    EXPECT_NEAR(*j.judged_rho, 0.5, 1e-12);
    EXPECT_EQ(j.kind, verdict_kind::do_not_trust);
    EXPECT_NE(j.verdict.find("orders system, jemalloc, tcmalloc otherwise"), std::string::npos) << j.verdict;
}

// An allocator without a replay result is named, and left out of rho.
TEST(Verdict, MissingReplayIsNotCompared) {
    const fidelity_judgement j = judge_fidelity({row("system", 1.0, 100, ns, ns), {"tbbmalloc", 0.9, std::nullopt, better, std::nullopt}},
                                                "system");
    EXPECT_EQ(j.agreements[1], agreement::not_compared);
    EXPECT_EQ(j.kind, verdict_kind::agrees_except);
    EXPECT_NE(j.verdict.find("tbbmalloc (not compared)"), std::string::npos) << j.verdict;
    EXPECT_FALSE(j.rho);  // one pair only
}
