// Order statistics, the exact null distribution of U by counting, and the normal
// approximation for large or tied samples.
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
    std::sort(all.begin(), all.end());
    double tie_term = 0;
    for (std::size_t i = 0; i < all.size();) {
        std::size_t j = i;
        while (j < all.size() && all[j] == all[i]) ++j;
        const double t = static_cast<double>(j - i);
        tie_term += t * t * t - t;
        i = j;
    }
    const double N = static_cast<double>(m + n);
    const double var = mn / 12 * ((N + 1) - tie_term / (N * (N - 1)));
    if (var <= 0) return r;  // every value equal: no difference
    const double z = (std::fabs(r.u - mn / 2) - 0.5) / std::sqrt(var);
    r.p_value = z <= 0 ? 1.0 : std::min(1.0, normal_two_sided(z));
    return r;
}

const char* verdict(const mann_whitney& test, double alpha, double first_median, double second_median) {
    if (test.p_value >= alpha) return "no significant difference";
    return second_median < first_median ? "faster" : "slower";
}

}  // namespace allocmeter
