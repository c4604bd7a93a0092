// op_meter: a worker thread's counters for a synthetic workload: operations, requested bytes
// live and their peak, the operation checksum, and the latency sampler that picks which
// operations to time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "workloads/latency.hpp"
#include "workloads/live_meter.hpp"
#include "workloads/operation_checksum.hpp"

namespace allocmeter {

/// Per-thread counters: operations, requested bytes live (and their peak), and a checksum
/// of the operation stream (kind, size, alignment; never addresses) that is the same on
/// every allocator for the same seed.
class op_meter {
public:
    static constexpr std::int64_t flush_bytes = live_meter::flush_bytes;

    explicit op_meter(live_board* board, std::uint64_t latency_every = 0, std::uint64_t latency_phase = 0,
                      unsigned thread = 0)
        : latency(latency_every, latency_phase), live_(board), thread_(thread) {}

    latency_recorder latency;  ///< which operations to time, and their histograms

    /// An allocation of `size` bytes succeeded.
    void allocated(std::size_t size, std::size_t align) noexcept {
        ++ops_;
        mix(1, size, align);
        live_.change(static_cast<std::int64_t>(size));
    }
    /// An object died here: freed, or retired until a reset (one operation either way).
    void died(std::size_t size, std::size_t align) noexcept {
        ++ops_;
        mix(2, size, align);
        live_.change(-static_cast<std::int64_t>(size));
    }
    /// A live object was resized (realloc) from old_size to new_size bytes: one operation.
    void resized(std::size_t old_size, std::size_t new_size, std::size_t align) noexcept {
        ++ops_;
        mix(4, new_size, align);
        mix(5, old_size, align);
        live_.change(static_cast<std::int64_t>(new_size) - static_cast<std::int64_t>(old_size));
    }
    /// An object was handed to another thread to free: the operation is this thread's,
    /// the bytes stay live until the other thread calls released().
    void handed_off(std::size_t size, std::size_t align) noexcept {
        ++ops_;
        mix(3, size, align);
    }
    /// Another thread's object was freed here.
    void released(std::size_t size) noexcept { live_.change(-static_cast<std::int64_t>(size)); }

    /// Folds pending bytes into the shared board.
    void flush() noexcept { live_.flush(); }

    std::uint64_t ops() const noexcept { return ops_; }
    std::uint64_t checksum() const noexcept { return hash_; }
    std::int64_t peak_live() const noexcept { return live_.peak(); }
    /// The worker thread these counters belong to (0 .. threads-1), for naming its blocks.
    unsigned thread() const noexcept { return thread_; }

private:
    void mix(std::uint64_t kind, std::size_t size, std::size_t align) noexcept {
        hash_ = mix_operation(hash_, kind, size, align);
    }

    live_meter live_;
    unsigned thread_;
    std::uint64_t ops_ = 0;
    std::uint64_t hash_ = operation_hash_seed;
};

}  // namespace allocmeter
