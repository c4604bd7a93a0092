// Requested bytes live: each thread's own count and peak (live_meter), folded in batches into
// a total shared by all threads (live_board), which the harness's sampler reads while a run is
// timed. Workloads and trace replays both count through it.
#pragma once

#include <atomic>
#include <cstdint>

namespace allocmeter {

/// Live bytes summed across threads (a sampler reads it too). Threads fold their changes in
/// batches, so the peak is exact to within threads x live_meter::flush_bytes.
struct live_board {
    alignas(64) std::atomic<std::int64_t> live{0};
    alignas(64) std::atomic<std::int64_t> peak{0};

    void add(std::int64_t delta) noexcept {
        const std::int64_t now = live.fetch_add(delta, std::memory_order_relaxed) + delta;
        std::int64_t seen = peak.load(std::memory_order_relaxed);
        while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
        }
    }
};

/// Requested bytes live on one thread and their peak; with a board, changes are folded into
/// the cross-thread total in batches of flush_bytes.
class live_meter {
public:
    static constexpr std::int64_t flush_bytes = 64 * 1024;

    explicit live_meter(live_board* board) noexcept : board_(board) {}

    void change(std::int64_t delta) noexcept {
        live_ += delta;
        if (live_ > peak_) peak_ = live_;
        if (board_ != nullptr) {
            pending_ += delta;
            if (pending_ >= flush_bytes || pending_ <= -flush_bytes) flush();
        }
    }
    /// Folds pending bytes into the shared board.
    void flush() noexcept {
        if (board_ != nullptr && pending_ != 0) board_->add(pending_);
        pending_ = 0;
    }
    std::int64_t peak() const noexcept { return peak_; }

private:
    live_board* board_;
    std::int64_t live_ = 0;
    std::int64_t peak_ = 0;
    std::int64_t pending_ = 0;
};

}  // namespace allocmeter
