// Size laws of the classic benchmarks, drawn from a workload's rng: glibc's inverse-square
// (bench-malloc-thread), alloc-test's halving power-of-two bands, and rptest's linear falloff.
// Each reproduces the published law from its description; none uses the suites' tables.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "workloads/rng.hpp"

namespace allocmeter {

/// A uniform double in [0, 1) from the top 53 bits of one draw.
inline double unit_interval(rng& r) noexcept { return static_cast<double>(r.next() >> 11) * 0x1.0p-53; }

/// A size in [lo, hi] with density proportional to 1/size^2 (glibc bench-malloc-thread's law),
/// by inverting the CDF: 1/size is uniform between 1/hi and 1/lo, and the result is truncated
/// to whole bytes as glibc's cast to unsigned does. Each doubling of size is half as likely as
/// the one below, so [lo, 2 lo) takes about half of all draws.
inline std::size_t inverse_square(rng& r, std::size_t lo, std::size_t hi) noexcept {
    const double inv_lo = 1.0 / static_cast<double>(lo);
    const double inv_hi = 1.0 / static_cast<double>(hi);
    const double x = 1.0 / (inv_lo - unit_interval(r) * (inv_lo - inv_hi));
    const auto s = static_cast<std::size_t>(x);
    return s > hi ? hi : s;
}

/// The share of inverse_square(lo, hi) draws that fall in [a, b) (lo <= a <= b <= hi): what
/// a test compares an observed histogram with.
constexpr double inverse_square_share(double lo, double hi, double a, double b) noexcept {
    return (1.0 / a - 1.0 / b) / (1.0 / lo - 1.0 / hi);
}

/// alloc-test's sizes (OLogN's "stats-adjusted" law): `bands` power-of-two bands (4, 8],
/// (8, 16], ..., each half as likely as the one below (the top two equally likely, as the
/// geometric tail is folded into the last), uniform within a band. bands = 8 gives 5 B-1 KiB
/// with half of all sizes at most 8 bytes. One draw: its low bits pick the band (trailing
/// zeros), its high half the size within it.
inline std::size_t halving_bands(rng& r, unsigned bands) noexcept {
    const std::uint64_t x = r.next();
    const auto band = static_cast<unsigned>(std::countr_zero(x | (std::uint64_t{1} << (bands - 1))));
    const std::size_t below = std::size_t{4} << band;  // the band is (below, 2 below]
    return below + 1 + static_cast<std::size_t>(((x >> 32) * below) >> 32);
}

/// rptest's "linear dropoff" sizes: lo plus the range scaled by the product of a uniform and
/// a variable with density 2(1 - t) on [0, 1] (|u1 + u2 - 1| for uniforms u1, u2). The mean is
/// lo + (hi - lo) / 6, and about 5.7% of draws lie above the midpoint.
inline std::size_t linear_falloff(rng& r, std::size_t lo, std::size_t hi) noexcept {
    const double even = unit_interval(r);
    const double u1 = unit_interval(r), u2 = unit_interval(r);
    const double t = u1 + u2 > 1.0 ? u1 + u2 - 1.0 : 1.0 - u1 - u2;
    return lo + static_cast<std::size_t>(static_cast<double>(hi - lo) * even * t);
}

}  // namespace allocmeter
