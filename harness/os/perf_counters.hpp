// The OS layer for perf_event_open: the counters a cell reads around its timed region, in
// user space only (exclude_kernel, so perf_event_paranoid 2 allows them), inherited by every
// worker thread the cell starts after opening them, and scaled for multiplexing. A counter the
// host cannot give (no hardware PMU in a VM, a paranoid setting, an unknown event) is kept with
// the reason instead of a value, and the cell goes on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace allocmeter {

/// One counter to open: a perf_event_attr type and config, under the name results use.
struct counter_spec {
    std::string name;
    std::uint32_t type;    ///< PERF_TYPE_HARDWARE, PERF_TYPE_HW_CACHE, PERF_TYPE_SOFTWARE, ...
    std::uint64_t config;  ///< the event within the type
    bool hardware;         ///< counted by the CPU's PMU: opened together as one group
};

/// The default set: cycles, instructions, L1d read misses, last-level cache misses, dTLB
/// load misses and branch misses (one group, so ratios such as IPC compare like with like),
/// then minor and major page faults and task clock (software).
std::vector<counter_spec> default_counters();

/// Encodes a libpfm4 event name ("cycles", "PERF_COUNT_SW_PAGE_FAULTS_MIN",
/// "perf::PERF_COUNT_HW_CACHE_DTLB:READ:MISS", a PMU-specific event) for user-space counting.
/// Empty, with `error` set, for a name libpfm4 does not know or a build without libpfm4.
std::optional<counter_spec> encode_event(const std::string& name, std::string& error);

/// The counters a cell opens: default_counters(), or, when `events` is not empty, those
/// events (encode_event) in place of the default hardware group, beside the software ones.
/// Throws std::invalid_argument naming the first event that does not encode.
std::vector<counter_spec> cell_counters(const std::vector<std::string>& events);

/// What one counter read over the timed region.
struct counter_reading {
    std::string name;
    std::optional<double> value;  ///< scaled count (task clock: ns); empty when not available
    double running = 0;           ///< share of the enabled time it was counting (1: not multiplexed)
    std::string reason;           ///< why there is no value
};

/// The counters of one timed region. Open them before starting the threads to be counted.
class perf_counters {
public:
    explicit perf_counters(const std::vector<counter_spec>& specs);
    perf_counters(const perf_counters&) = delete;
    perf_counters& operator=(const perf_counters&) = delete;
    ~perf_counters();

    /// Resets and enables every counter that opened.
    void start() noexcept;
    /// Disables them.
    void stop() noexcept;
    /// One reading per spec, in the order given.
    std::vector<counter_reading> read() const;

private:
    struct counter {
        counter_spec spec;
        int fd = -1;
        bool leader = false;  ///< enabled and disabled on its own (a group leader or a software event)
        std::string error;    ///< why it did not open
    };
    std::vector<counter> counters_;
};

}  // namespace allocmeter
