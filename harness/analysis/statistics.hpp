// Statistics for repeated measurements: the median with a distribution-free 95% confidence
// interval, the coefficient of variation, and the two-sided Mann-Whitney U test that
// `allocmeter compare` uses to say whether one set of timings differs from another.
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

}  // namespace allocmeter
