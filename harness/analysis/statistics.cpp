// Order statistics, the exact null distributions of U and of the signed-rank sum W+ by
// counting, the normal approximations for large (or, for U, tied) samples, and ratios paired
// by round.
#include "harness/analysis/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace allocmeter {

namespace {

/// P(X <= k) for X ~ Binomial(n, 1/2).
double binomial_half_cdf(std::size_t n, std::size_t k) {
    double term = std::pow(0.5, static_cast<double>(n)), sum = 0;  // C(n, 0) / 2^n
    for (std::size_t i = 0; i <= k && i <= n; ++i) {
        sum += term;
        term = term * static_cast<double>(n - i) / static_cast<double>(i + 1);
    }
    return sum;
}

/// Number of arrangements of m values of one sample and n of the other with U = u, for u in
/// 0..m*n, by the recurrence f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u).
std::vector<double> u_counts(std::size_t m, std::size_t n) {
    // f[j][u] for the current i, built up from i = 0.
    std::vector<std::vector<double>> f(n + 1, std::vector<double>(m * n + 1, 0));
    for (std::size_t j = 0; j <= n; ++j) f[j][0] = 1;  // i = 0: one arrangement, U = 0
    for (std::size_t i = 1; i <= m; ++i) {
        std::vector<std::vector<double>> g(n + 1, std::vector<double>(m * n + 1, 0));
        g[0][0] = 1;
        for (std::size_t j = 1; j <= n; ++j)
            for (std::size_t u = 0; u <= i * j; ++u) g[j][u] = (u >= j ? f[j][u - j] : 0) + g[j - 1][u];
        f = std::move(g);
    }
    return f[n];
}

double normal_two_sided(double z) { return std::erfc(std::fabs(z) / std::sqrt(2.0)); }

/// Above this many non-zero differences the signed-rank test takes the normal approximation;
/// up to it the counts of its 2^n sign patterns stay exact in a double (2^50 < 2^53).
constexpr std::size_t signed_rank_exact_limit = 50;

/// Under the null each rank's sign is + or - with one half, apart. Counts of the sign patterns
/// by their doubled W+ (mean ranks are whole or half, so doubled they are whole), for
/// s in 0..sum(doubled), by adding one rank at a time.
std::vector<double> signed_rank_counts(const std::vector<std::size_t>& doubled_ranks) {
    std::size_t total = 0;
    for (const std::size_t r : doubled_ranks) total += r;
    std::vector<double> count(total + 1, 0);
    count[0] = 1;
    std::size_t reach = 0;  // the largest sum so far
    for (const std::size_t r : doubled_ranks) {
        for (std::size_t s = reach + 1; s-- > 0;)  // downwards, so each rank joins a pattern at most once
            if (count[s] != 0) count[s + r] += count[s];
        reach += r;
    }
    return count;
}

/// The sum of t^3 - t over the groups of tied values (t values each): what ties take from a
/// rank statistic's variance, in Mann-Whitney's U and in the signed-rank test.
double tie_sum(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    double sum = 0;
    for (std::size_t i = 0; i < values.size();) {
        std::size_t j = i;
        while (j < values.size() && values[j] == values[i]) ++j;
        const double t = static_cast<double>(j - i);
        sum += t * t * t - t;
        i = j;
    }
    return sum;
}

}  // namespace

std::size_t reps_for_ci_target() {
    std::size_t n = 2;
    while (1 - 2 * binomial_half_cdf(n, 0) < ci_target) ++n;
    return n;
}

sample_summary summarize(std::vector<double> v) {
    sample_summary s;
    s.n = v.size();
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    // The widest symmetric pair of order statistics (x(k), x(n-k+1)), k as large as 95% allows.
    std::size_t k = 1;
    while (k + 1 <= n / 2 && 1 - 2 * binomial_half_cdf(n, k) >= ci_target) ++k;  // coverage of (x(k+1), x(n-k))
    s.ci_low = v[k - 1];
    s.ci_high = v[n - k];
    s.ci_level = 1 - 2 * binomial_half_cdf(n, k - 1);
    if (n >= 2) {
        const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(n);
        double ss = 0;
        for (const double x : v) ss += (x - mean) * (x - mean);
        s.cv = mean != 0 ? std::sqrt(ss / static_cast<double>(n - 1)) / std::fabs(mean) : 0;
    }
    return s;
}

mann_whitney mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b) {
    mann_whitney r;
    const std::size_t m = a.size(), n = b.size();
    if (m == 0 || n == 0) return r;
    bool ties = false;
    for (const double x : a)
        for (const double y : b) {
            if (x > y) r.u += 1;
            else if (x == y) r.u += 0.5, ties = true;
        }
    const double mn = static_cast<double>(m * n);
    if (!ties && m <= 30 && n <= 30) {
        const std::vector<double> counts = u_counts(m, n);
        const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
        const auto u = static_cast<std::size_t>(r.u);
        const double below = std::accumulate(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(u) + 1, 0.0);
        const double above = std::accumulate(counts.begin() + static_cast<std::ptrdiff_t>(u), counts.end(), 0.0);
        r.p_value = std::min(1.0, 2 * std::min(below, above) / total);
        r.exact = true;
        return r;
    }
    // Normal approximation, with the variance corrected for ties and a continuity correction.
    std::vector<double> all(a);
    all.insert(all.end(), b.begin(), b.end());
    const double tie_term = tie_sum(std::move(all));
    const double N = static_cast<double>(m + n);
    const double var = mn / 12 * ((N + 1) - tie_term / (N * (N - 1)));
    if (var <= 0) return r;  // every value equal: no difference
    const double z = (std::fabs(r.u - mn / 2) - 0.5) / std::sqrt(var);
    r.p_value = z <= 0 ? 1.0 : std::min(1.0, normal_two_sided(z));
    return r;
}

std::vector<double> average_ranks(const std::vector<double>& values) {
    std::vector<std::size_t> order(values.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
    std::vector<double> ranks(values.size());
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;  // [i, j) is one run of equal values: ranks i+1..j, shared as their mean
        while (j < order.size() && values[order[j]] == values[order[i]]) ++j;
        const double shared = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
        for (std::size_t k = i; k < j; ++k) ranks[order[k]] = shared;
        i = j;
    }
    return ranks;
}

signed_rank wilcoxon_signed_rank(const std::vector<double>& differences) {
    signed_rank r;
    r.pairs = differences.size();
    std::vector<double> size;  // |d| of the non-zero differences
    std::vector<bool> positive;
    for (const double d : differences)
        if (d != 0) size.push_back(std::fabs(d)), positive.push_back(d > 0);
    r.n = size.size();
    if (r.n == 0) return r;  // no difference has a sign: no evidence either way
    const std::vector<double> ranks = average_ranks(size);
    for (std::size_t i = 0; i < r.n; ++i)
        if (positive[i]) r.w_plus += ranks[i];
    if (r.n <= signed_rank_exact_limit) {
        std::vector<std::size_t> doubled;
        for (const double rank : ranks) doubled.push_back(static_cast<std::size_t>(std::lround(2 * rank)));
        const std::vector<double> counts = signed_rank_counts(doubled);
        const auto w = static_cast<std::size_t>(std::lround(2 * r.w_plus));
        const double below = std::accumulate(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(w) + 1, 0.0);
        const double above = std::accumulate(counts.begin() + static_cast<std::ptrdiff_t>(w), counts.end(), 0.0);
        r.p_value = std::min(1.0, 2 * std::min(below, above) / std::ldexp(1.0, static_cast<int>(r.n)));
        r.exact = true;
        return r;
    }
    // Normal approximation, the variance less the ties' share, with a continuity correction.
    const double n = static_cast<double>(r.n);
    const double tie_term = tie_sum(size);
    const double var = n * (n + 1) * (2 * n + 1) / 24 - tie_term / 48;
    if (var <= 0) return r;
    const double z = (std::fabs(r.w_plus - n * (n + 1) / 4) - 0.5) / std::sqrt(var);
    r.p_value = z <= 0 ? 1.0 : std::min(1.0, normal_two_sided(z));
    return r;
}

double smallest_signed_rank_p(std::size_t pairs) {
    return pairs == 0 ? 1.0 : std::min(1.0, std::ldexp(2.0, -static_cast<int>(std::min<std::size_t>(pairs, 1000))));
}

bool paired_test_decides(std::size_t pairs, double alpha) { return pairs > 0 && smallest_signed_rank_p(pairs) < alpha; }

std::size_t rounds_for_paired_test(double alpha) {
    std::size_t n = 1;
    while (!paired_test_decides(n, alpha) && n < 1000) ++n;
    return n;
}

std::vector<double> ratios_by_round(const std::vector<round_value>& mine, const std::vector<round_value>& base) {
    std::vector<double> ratios;
    std::vector<unsigned> seen;
    for (const round_value& m : mine) {
        if (std::find(seen.begin(), seen.end(), m.round) != seen.end()) continue;
        seen.push_back(m.round);
        const auto b = std::find_if(base.begin(), base.end(), [&](const round_value& v) { return v.round == m.round; });
        if (b != base.end() && m.value > 0 && b->value > 0) ratios.push_back(m.value / b->value);
    }
    return ratios;
}

std::vector<double> log_ratios(const std::vector<double>& ratios) {
    std::vector<double> logs;
    for (const double r : ratios) logs.push_back(std::log(r));
    return logs;
}

const char* verdict(const mann_whitney& test, double alpha, double first_median, double second_median) {
    if (test.p_value >= alpha) return "no significant difference";
    return second_median < first_median ? "faster" : "slower";
}

const char* verdict(const signed_rank& test, double alpha) {
    if (test.p_value >= alpha) return "no significant difference";
    const double n = static_cast<double>(test.n);
    return test.w_plus > n * (n + 1) / 4 ? "slower" : "faster";
}

}  // namespace allocmeter
