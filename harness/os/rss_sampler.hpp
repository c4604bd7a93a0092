// rss_sampler: a thread that samples a resident set (/proc/self/statm for a cell, or a child's
// /proc/PID/statm for `record`, read with pread) and the workload's live requested bytes at a
// set interval during the timed region, into memory mapped up front: the sampler allocates
// nothing while it runs. Past its capacity it keeps every other sample and doubles its
// interval, so a long run stays bounded; the highest sample is kept apart (peak()).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace allocmeter {

/// One sample: time since the region began, resident bytes, live requested bytes.
struct rss_sample {
    std::uint64_t t_ns;
    std::uint64_t rss_bytes;
    std::int64_t live_bytes;
};

class rss_sampler {
public:
    /// Starts the (idle) sampler thread; create it before the threads a perf counter should
    /// count, so the sampler's own work is not in them. `interval` of zero: sampling off.
    /// `pid`: the process sampled, 0 for this one. A process that has exited, or whose statm
    /// reads no resident pages (a zombie), gives no sample; one that execs is sampled as what
    /// it became (the statm file follows the pid, not the image).
    explicit rss_sampler(std::chrono::microseconds interval, std::size_t capacity = 4096, int pid = 0);
    rss_sampler(const rss_sampler&) = delete;
    rss_sampler& operator=(const rss_sampler&) = delete;
    ~rss_sampler();

    /// Samples from now on, reading live bytes from `live`: one sample here, then one per
    /// interval from the sampler thread, and a last one at stop(), so at least two.
    void start(const std::atomic<std::int64_t>* live) noexcept;
    /// Takes a last sample and stops.
    void stop() noexcept;

    /// The samples taken, in time order.
    std::vector<rss_sample> samples() const;
    /// The sample with the most resident bytes of all taken since start(), even one that
    /// thinning dropped from samples(); t_ns and rss_bytes 0 when none was taken.
    rss_sample peak() const noexcept { return peak_; }
    /// When start() began the region (sample times count from here).
    std::chrono::steady_clock::time_point started() const noexcept { return t0_; }
    /// The interval between samples at the end (doubled each time the capacity filled).
    std::chrono::microseconds interval() const noexcept { return interval_; }
    /// False when the statm file could not be opened (no samples then).
    bool available() const noexcept { return statm_fd_ >= 0; }

private:
    void run() noexcept;
    void take(std::uint64_t t_ns) noexcept;

    std::chrono::microseconds interval_;
    std::size_t capacity_;
    rss_sample* buffer_ = nullptr;  ///< mapped, capacity_ entries
    std::size_t count_ = 0;         ///< written by the sampler thread only while running
    rss_sample peak_{};             ///< the highest sample since start()
    int statm_fd_ = -1;
    long page_bytes_;
    std::chrono::steady_clock::time_point t0_;
    const std::atomic<std::int64_t>* live_ = nullptr;
    std::atomic<int> state_{0};     ///< 0 idle, 1 sampling, 2 stopping a run, 3 quit
    std::thread thread_;
};

/// The smaps_rollup breakdown of this process now, in bytes; fields are -1 where unreadable.
struct smaps_rollup {
    std::int64_t rss = -1, anonymous = -1, lazy_free = -1, anon_huge_pages = -1;
};

/// Reads /proc/self/smaps_rollup.
smaps_rollup read_smaps_rollup() noexcept;

/// The resident bytes (smaps `Rss:`) of this process's mapping that starts at `start`, read
/// from /proc/self/smaps with a fixed buffer; -1 when no mapping starts there or smaps cannot
/// be read. A cell subtracts its trace plan's mapping with it (that memory is the harness's).
std::int64_t read_mapping_rss(const void* start) noexcept;

}  // namespace allocmeter
