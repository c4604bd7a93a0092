// Sampled operation latency: every Nth allocation and free of a thread (N a power of two, the
// phase drawn from the thread's seed) is timed with the time-stamp counter and counted in a
// per-thread log-linear histogram; the runner merges them and converts ticks to nanoseconds
// with a rate calibrated against the steady clock over the timed region.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace allocmeter {

/// The time-stamp counter (x86), or steady-clock nanoseconds elsewhere.
inline std::uint64_t read_ticks() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

/// Counts of values in buckets that are exact below 2^sub_bits and then split each power of
/// two into 2^sub_bits equal parts: a value is known to within 1/16 of itself.
class latency_histogram {
public:
    static constexpr unsigned sub_bits = 4;
    static constexpr unsigned sub_buckets = 1u << sub_bits;
    static constexpr std::size_t buckets = (64 - sub_bits + 1) * sub_buckets;

    void record(std::uint64_t v) noexcept {
        ++counts_[index(v)];
        ++total_;
        max_ = std::max(max_, v);
    }
    void merge(const latency_histogram& o) noexcept {
        for (std::size_t i = 0; i < buckets; ++i) counts_[i] += o.counts_[i];
        total_ += o.total_;
        max_ = std::max(max_, o.max_);
    }
    std::uint64_t count() const noexcept { return total_; }
    std::uint64_t max() const noexcept { return max_; }

    /// The value at quantile q (0..1): the middle of the bucket holding it, never above max().
    double quantile(double q) const noexcept {
        if (total_ == 0) return 0;
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(middle(i), static_cast<double>(max_));
        }
        return static_cast<double>(max_);
    }

    static constexpr std::size_t index(std::uint64_t v) noexcept {
        if (v < sub_buckets) return static_cast<std::size_t>(v);
        const unsigned shift = static_cast<unsigned>(std::bit_width(v)) - sub_bits - 1;  // keeps sub_bits + 1 top bits
        return (shift + 1) * sub_buckets + static_cast<std::size_t>((v >> shift) - sub_buckets);
    }
    static constexpr std::uint64_t lower_bound(std::size_t i) noexcept {
        if (i < sub_buckets) return i;
        const std::size_t shift = i / sub_buckets - 1;
        return (static_cast<std::uint64_t>(i % sub_buckets) + sub_buckets) << shift;
    }

private:
    static double middle(std::size_t i) noexcept {
        const double lo = static_cast<double>(lower_bound(i));
        const double width = i < sub_buckets ? 1.0 : static_cast<double>(std::uint64_t{1} << (i / sub_buckets - 1));
        return lo + (width - 1) / 2;
    }

    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
};

/// One thread's sampler: decides which operations to time and keeps their histograms.
/// Allocations and frees count down apart, so a workload that alternates them (free a victim,
/// allocate its replacement) has both sampled, whatever the phase.
class latency_recorder {
public:
    /// `every`: time one allocation in `every` and one free in `every` (a power of two), 0 for
    /// none; `phase` picks which.
    latency_recorder(std::uint64_t every, std::uint64_t phase)
        : every_(every),
          countdown_{start(every, phase), start(every, phase >> 32)},
          histograms_(every == 0 ? nullptr : new latency_histogram[2]) {
        if (every != 0) overhead_ = measure_overhead();
    }

    /// True when this allocation (free) is to be timed.
    bool alloc_due() noexcept { return due(countdown_[0]); }
    bool free_due() noexcept { return due(countdown_[1]); }
    /// The ticks an operation took between two read_ticks(), less the timer's own.
    void record_alloc(std::uint64_t ticks) noexcept { histograms_[0].record(ticks > overhead_ ? ticks - overhead_ : 0); }
    void record_free(std::uint64_t ticks) noexcept { histograms_[1].record(ticks > overhead_ ? ticks - overhead_ : 0); }

    bool enabled() const noexcept { return histograms_ != nullptr; }
    const latency_histogram& allocs() const noexcept { return histograms_[0]; }
    const latency_histogram& frees() const noexcept { return histograms_[1]; }

private:
    static std::uint64_t start(std::uint64_t every, std::uint64_t phase) noexcept {
        return every == 0 ? ~std::uint64_t{0} : 1 + (phase & (every - 1));
    }
    bool due(std::uint64_t& countdown) noexcept {
        if (--countdown != 0) [[likely]] return false;
        countdown = every_ == 0 ? ~std::uint64_t{0} : every_;
        return true;
    }

    /// The least ticks between two back-to-back reads: the timer's own cost.
    static std::uint64_t measure_overhead() noexcept {
        std::uint64_t least = ~std::uint64_t{0};
        for (int i = 0; i < 64; ++i) {
            const std::uint64_t a = read_ticks();
            const std::uint64_t b = read_ticks();
            least = std::min(least, b - a);
        }
        return least;
    }

    std::uint64_t every_;
    std::uint64_t countdown_[2];
    std::uint64_t overhead_ = 0;
    std::unique_ptr<latency_histogram[]> histograms_;
};

/// Which of every `latency_every` operations thread `index` times: from the seed, but not from
/// the thread's operation stream, which timing must not change.
constexpr std::uint64_t latency_phase(std::uint64_t seed, unsigned index) noexcept {
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (index + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

}  // namespace allocmeter
