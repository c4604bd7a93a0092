// The OS layer for a process's own counters: rusage (CPU time, faults) and /proc/self/status
// (resident set and its high-water mark). A cell reads these around its timed region.
#pragma once

#include <cstdint>
#include <optional>

namespace allocmeter {

/// CPU time and page faults of this process so far, all threads.
struct usage_snapshot {
    double user_s = 0;
    double sys_s = 0;
    std::uint64_t minor_faults = 0;
    std::uint64_t major_faults = 0;
    std::uint64_t voluntary_switches = 0;    ///< the thread blocked (ru_nvcsw)
    std::uint64_t involuntary_switches = 0;  ///< the scheduler took the CPU away (ru_nivcsw)
};

/// getrusage(RUSAGE_SELF).
usage_snapshot read_usage() noexcept;

/// Resident set now and its high-water mark since exec (VmRSS, VmHWM), in bytes.
struct rss_snapshot {
    std::uint64_t rss_bytes = 0;
    std::uint64_t hwm_bytes = 0;
};

/// Reads /proc/self/status; nullopt when it cannot be read.
std::optional<rss_snapshot> read_rss() noexcept;

/// Restarts the high-water mark (VmHWM) from the current resident set, by writing 5 to
/// /proc/self/clear_refs (Linux 4.0+), so a set-up peak (e.g. loading a trace) is not the
/// cell's. False when the kernel refuses.
bool reset_peak_rss() noexcept;

}  // namespace allocmeter
