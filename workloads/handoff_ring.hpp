// handoff_ring: blocks handed from one worker thread to another, which frees them (the
// cross-thread free): a single-producer, single-consumer ring, and handoff_mesh, a ring from
// each thread to each other one for workloads whose threads all hand blocks to each other.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace allocmeter {

/// A single-producer, single-consumer ring of blocks (records B) handed from one thread to the next.
template <class B>
class handoff_ring {
public:
    explicit handoff_ring(std::size_t capacity_pow2)
        : slots_(new B[capacity_pow2]), mask_(capacity_pow2 - 1) {}

    /// Producer side; false when full.
    bool try_push(const B& b) noexcept {
        const std::size_t tail = tail_.load(std::memory_order_relaxed);
        if (tail - head_.load(std::memory_order_acquire) > mask_) return false;
        slots_[tail & mask_] = b;
        tail_.store(tail + 1, std::memory_order_release);
        return true;
    }
    /// Consumer side; false when empty.
    bool try_pop(B& out) noexcept {
        const std::size_t head = head_.load(std::memory_order_relaxed);
        if (head == tail_.load(std::memory_order_acquire)) return false;
        out = slots_[head & mask_];
        head_.store(head + 1, std::memory_order_release);
        return true;
    }

private:
    std::unique_ptr<B[]> slots_;
    std::size_t mask_;
    alignas(64) std::atomic<std::size_t> head_{0};
    alignas(64) std::atomic<std::size_t> tail_{0};
};

/// A ring from each of `threads` threads to each other one (none to itself).
template <class B>
class handoff_mesh {
public:
    handoff_mesh(unsigned threads, std::size_t capacity_pow2) : threads_(threads == 0 ? 1 : threads) {
        rings_.resize(std::size_t{threads_} * threads_);
        for (unsigned from = 0; from < threads_; ++from)
            for (unsigned to = 0; to < threads_; ++to)
                if (from != to) rings_[from * threads_ + to] = std::make_unique<handoff_ring<B>>(capacity_pow2);
    }

    unsigned threads() const noexcept { return threads_; }
    /// The ring from thread `from` to thread `to` (from != to).
    handoff_ring<B>& ring(unsigned from, unsigned to) noexcept { return *rings_[from * threads_ + to]; }
    /// Hands every block waiting for thread `to` to `take`, the senders in index order.
    template <class F>
    void drain(unsigned to, F&& take) noexcept {
        for (unsigned from = 0; from < threads_; ++from)
            if (from != to)
                for (B b; ring(from, to).try_pop(b);) take(b);
    }

private:
    unsigned threads_;
    std::vector<std::unique_ptr<handoff_ring<B>>> rings_;  // [from * threads + to]; from == to: none
};

}  // namespace allocmeter
