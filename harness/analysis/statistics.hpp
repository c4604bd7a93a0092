// Statistics for repeated measurements: the median with a distribution-free 95% confidence
// interval, the coefficient of variation, the two-sided Mann-Whitney U test that says whether
// one set of timings differs from another, and for repetitions run in rounds, the ratios within
// a round and the Wilcoxon signed-rank test of their logs.
#pragma once

#include <cstddef>
#include <vector>

namespace allocmeter {

/// What repetitions of one measurement say together.
struct sample_summary {
    std::size_t n = 0;
    double median = 0;
    double ci_low = 0, ci_high = 0;  ///< an interval around the median from order statistics
    double ci_level = 0;             ///< its coverage: at least 0.95 when n allows (n >= 6), less otherwise
    double cv = 0;                   ///< standard deviation over mean (0 for fewer than 2 values)
};

/// Median, confidence interval and CV of `values` (any order; empty gives n = 0).
sample_summary summarize(std::vector<double> values);

/// The two-sided Mann-Whitney U test of `a` against `b`.
struct mann_whitney {
    double u = 0;        ///< U of `a`: pairs (x in a, y in b) with x > y, ties counting one half
    double p_value = 1;  ///< exact without ties and for sizes up to 30, else the normal approximation with tie correction
    bool exact = false;
};

mann_whitney mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b);

/// Ranks 1..n of `values` (the smallest ranked 1), ties sharing the mean of the ranks they span.
std::vector<double> average_ranks(const std::vector<double>& values);

/// The two-sided Wilcoxon signed-rank test of paired differences against 0. The p-value is
/// exact up to 50 non-zero differences (with ties too, over their mean ranks), beyond that the
/// normal approximation with tie correction.
struct signed_rank {
    std::size_t pairs = 0;  ///< differences given
    std::size_t n = 0;      ///< of them not zero: the ones ranked (a zero has no sign; dropped, as Wilcoxon did)
    double w_plus = 0;      ///< the sum of the ranks of |d| over the positive d, tied |d| sharing their mean rank
    double p_value = 1;
    bool exact = false;
};

signed_rank wilcoxon_signed_rank(const std::vector<double>& differences);

/// The smallest p-value `pairs` differences can give (every one of one sign): 2 / 2^pairs.
double smallest_signed_rank_p(std::size_t pairs);

/// Whether a verdict reads the paired test: there are pairs, enough of them to reach `alpha`
/// (6 at 0.05; five rounds cannot go below p = 1/16, the unpaired test then decides).
bool paired_test_decides(std::size_t pairs, double alpha);

/// The fewest pairs with which the paired test decides at `alpha` (6 at 0.05).
std::size_t rounds_for_paired_test(double alpha);

/// One measurement in one round: the run's repetition number, which every allocator of a
/// workload x threads group shares within a round.
struct round_value {
    unsigned round = 0;
    double value = 0;
};

/// For each round in which both `mine` and `base` have a positive value, mine / base, in the
/// order of `mine`; a round given twice on a side counts its first value.
std::vector<double> ratios_by_round(const std::vector<round_value>& mine, const std::vector<round_value>& base);

/// The log of each ratio: what the signed-rank test of paired ratios ranks.
std::vector<double> log_ratios(const std::vector<double>& ratios);

/// The coverage the median's interval aims at.
inline constexpr double ci_target = 0.95;
/// The significance level of the report's and compare's tests, unless told otherwise.
inline constexpr double default_alpha = 0.05;

/// The fewest repetitions whose [min, max] interval covers the median with ci_target (6).
std::size_t reps_for_ci_target();

/// Fewer repetitions than this are flagged: the test can hardly reach significance.
inline constexpr std::size_t few_repetitions = 5;
/// A coefficient of variation above this is flagged: the timings are noisy.
inline constexpr double high_cv = 0.05;

/// "faster", "slower" or "no significant difference": `second` against `first` (lower is
/// better) at significance level `alpha`, from the test and the two medians.
const char* verdict(const mann_whitney& test, double alpha, double first_median, double second_median);

/// The same from the signed-rank test of log(second / first) within rounds: the direction is
/// the side the ranks fall on (W+ above its mean n(n+1)/4: second is higher, "slower").
const char* verdict(const signed_rank& test, double alpha);

}  // namespace allocmeter
