// Deterministic random numbers for workloads: xoshiro256** (Blackman and Vigna, 2018)
// seeded through splitmix64, plus the size distributions workloads draw from.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace allocmeter {

/// splitmix64: expands one 64-bit seed into well-mixed words.
constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// A small, fast generator; the same seed gives the same stream on every host.
class rng {
public:
    /// Seeds from (seed, stream): each worker thread takes its own stream.
    explicit rng(std::uint64_t seed, std::uint64_t stream = 0) noexcept {
        std::uint64_t sm = seed ^ (stream * 0xd1342543de82ef95ULL);
        for (auto& w : s_) w = splitmix64(sm);
    }

    /// The next 64 random bits.
    std::uint64_t next() noexcept {
        const std::uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = std::rotl(s_[3], 45);
        return result;
    }

    /// Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32 here).
    std::uint64_t below(std::uint64_t n) noexcept {
        __extension__ using u128 = unsigned __int128;
        return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
    }

    /// Uniform in [lo, hi].
    std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept { return lo + below(hi - lo + 1); }

    /// True with probability 1/n.
    bool one_in(std::uint64_t n) noexcept { return below(n) == 0; }

    /// True with probability p (0..1).
    bool chance(double p) noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

    /// Log-uniform size in [lo, hi]: every power-of-two band is equally likely, so small
    /// sizes dominate the count, as they do in real programs. One draw: the high half picks
    /// the band, the low half the size within it (both by multiply-shift).
    [[gnu::always_inline]] std::size_t log_uniform(std::size_t lo, std::size_t hi) noexcept {
        const std::uint64_t x = next();
        const auto lo_bits = static_cast<unsigned>(std::bit_width(lo) - 1);
        const auto hi_bits = static_cast<unsigned>(std::bit_width(hi) - 1);
        const auto band = lo_bits + static_cast<unsigned>(((x >> 32) * (hi_bits - lo_bits + 1)) >> 32);
        const std::size_t band_lo = std::max<std::size_t>(std::size_t{1} << band, lo);
        const std::size_t band_hi = std::min<std::size_t>((std::size_t{2} << band) - 1, hi);
        return band_lo + static_cast<std::size_t>(((x & 0xffffffffULL) * (band_hi - band_lo + 1)) >> 32);
    }

private:
    std::uint64_t s_[4];
};

}  // namespace allocmeter
