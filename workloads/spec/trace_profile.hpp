// trace_profile: what a trace's allocations look like as the numbers of a spec (its size and
// lifetime histograms, the share of frees by another thread, the realloc share, the alignment
// mix, threads and operations), and the one-phase spec that `allocmeter trace profile` writes
// from them. The tests measure a generated trace the same way, so spec and trace compare.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "workloads/spec/workload_spec.hpp"

namespace allocmeter::spec {

/// The upper bound of the histogram bin that holds `x` (x >= 1): 1 to 8 each a bin of their
/// own, then every power-of-two band (2^k, 2^(k+1)] split in four equal bins, so a bin is at
/// most a quarter of its values wide.
std::uint64_t bin_upper(std::uint64_t x) noexcept;

/// A trace's allocation pattern, measured in global order.
struct trace_shape {
    std::map<std::uint64_t, std::uint64_t> size_bins;   ///< bin_upper(bytes) -> allocations and realloc results
    std::vector<std::uint64_t> lifetimes;               ///< of each object freed, in operations, sorted
    std::uint64_t never_freed = 0;                      ///< objects live at the end of the trace
    std::uint64_t allocations = 0;                      ///< new objects (malloc, calloc, aligned, new)
    std::uint64_t reallocs = 0;                         ///< resizes of a live object
    std::uint64_t frees = 0;                            ///< objects released (not by realloc)
    std::uint64_t remote_frees = 0;                     ///< of those, by a thread other than the allocating one
    std::map<std::uint64_t, std::uint64_t> alignments;  ///< alignment (16 for a plain malloc) -> allocations
    std::uint32_t threads = 0;
    std::uint64_t operations = 0;                       ///< allocations + reallocs + frees

    /// Share of the allocations and realloc results whose size is in (2^(k-1), 2^k], for k = band.
    double band_share(unsigned band) const;
    /// The q-quantile (0..1) of the freed objects' lifetimes; 0 when none was freed.
    std::uint64_t lifetime_quantile(double q) const;
};

/// Measures the trace at `path` (validated first). An object's lifetime runs from its
/// allocation to its free, through any reallocs; a free of it by another thread than the one
/// that allocated (or last reallocated) it is remote. Null results and free(NULL) do not count.
/// Throws trace::trace_error.
trace_shape measure_trace(const std::string& path);

/// The one-phase spec with `shape`'s numbers, named `name`. Objects never freed become the
/// phase-end share, and the phase keeps them live at its end, as the program did.
workload_spec profile_of(const trace_shape& shape, const std::string& name);

}  // namespace allocmeter::spec
