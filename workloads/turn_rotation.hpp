// turn_rotation: the worker threads of a synthetic workload under valgrind take turns at the
// allocator, in a fixed order, a fixed number of calls each, so that the allocator sees the
// same sequence of calls on every run.
//
// Valgrind runs one thread at a time, and --fair-sched hands the CPU round in a fixed order,
// but only among threads that are waiting for it: a thread back from a system call that may
// block (madvise, a futex, sched_yield) queues when the host lets it run, so on a loaded host
// another thread's turn may come first. The interleaving of two threads' allocator calls then
// varies, and with it what a shared allocator does (tcmalloc's central free lists: its count on
// churn at 2 threads lay 3.14% apart over 10 runs beside two busy loops, by
// scripts/callgrind-repeat.sh; identical with the turns). Here the threads
// order themselves: one holds the turn, the others sleep (no thread races for the CPU), and
// the turn passes after calls_per_turn allocator calls (counted by callgrind_boundary), when
// the holder must wait for another thread (pass), or when it is done (leave).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

namespace allocmeter {

class turn_rotation;

namespace detail {
/// A worker's place in a rotation, kept by its thread.
struct turn_member {
    turn_rotation* rotation = nullptr;
    unsigned index = 0;
    unsigned calls_left = 0;
};
}  // namespace detail

class turn_rotation {
public:
    /// Allocator calls per turn: fine enough that threads interleave within every phase of a
    /// quick-scale workload (churn hands a thread's 1,000-call turn 125 blocks to free, in a
    /// ring of 1,024), coarse enough that passing (two futex calls) costs little.
    static constexpr unsigned calls_per_turn = 1000;

    explicit turn_rotation(unsigned workers) : seats_(new seat[workers == 0 ? 1 : workers]), workers_(workers), remaining_(workers) {}
    turn_rotation(const turn_rotation&) = delete;
    turn_rotation& operator=(const turn_rotation&) = delete;

    /// Worker `index`, before its timed work: joins the rotation on this thread and sleeps
    /// until its first turn.
    void join(unsigned index) noexcept {
        member_ = {this, index, calls_per_turn};
        sleep_until_turn(index);
    }
    /// Runner, once every worker has arrived: the first turn is worker 0's.
    void begin() noexcept { give(0); }
    /// Runner: sleeps until every worker has left.
    void wait_until_all_left() noexcept {
        for (std::uint32_t r; (r = remaining_.load(std::memory_order_acquire)) != 0;) futex_wait(remaining_, r);
    }

    /// The calling thread's worker, holding the turn: gives it to the next worker still in the
    /// rotation and sleeps until it comes back (at once, if no other worker is left). For
    /// a worker that waits for another's progress, and for the end of a turn.
    static void pass() noexcept {
        member& m = member_;
        m.calls_left = calls_per_turn;
        turn_rotation& r = *m.rotation;
        const unsigned next = r.next_after(m.index);
        if (next == m.index) return;
        r.seats_[m.index].turn.store(0, std::memory_order_relaxed);
        r.give(next);
        r.sleep_until_turn(m.index);
    }
    /// The calling thread's worker, holding the turn, is done (its teardown too): leaves the
    /// rotation and gives the turn to the next worker, for good.
    static void leave() noexcept {
        const member m = std::exchange(member_, {});
        turn_rotation& r = *m.rotation;
        r.seats_[m.index].gone = true;
        const unsigned next = r.next_after(m.index);
        if (next != m.index) r.give(next);
        if (r.remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) futex_wake(r.remaining_);
    }
    /// An allocator call on this thread (callgrind_boundary): the turn passes after
    /// calls_per_turn of them. Nothing on a thread outside a rotation.
    static void count_call() noexcept {
        member& m = member_;
        if (m.rotation != nullptr && --m.calls_left == 0) pass();
    }
    /// True on a thread that is in a rotation.
    static bool taking_turns() noexcept { return member_.rotation != nullptr; }

private:
    // One per worker, on its own cache line: `turn` is its futex word (1: its turn). `gone` is
    // read and written only by the turn's holder, ordered by the turn words' release/acquire.
    struct alignas(64) seat {
        std::atomic<std::uint32_t> turn{0};
        bool gone = false;
    };
    using member = detail::turn_member;

    unsigned next_after(unsigned index) const noexcept {
        for (unsigned k = 1; k < workers_; ++k) {
            const unsigned j = (index + k) % workers_;
            if (!seats_[j].gone) return j;
        }
        return index;
    }
    void give(unsigned index) noexcept {
        seats_[index].turn.store(1, std::memory_order_release);
        futex_wake(seats_[index].turn);
    }
    void sleep_until_turn(unsigned index) noexcept {
        while (seats_[index].turn.load(std::memory_order_acquire) == 0) futex_wait(seats_[index].turn, 0);
    }

    // Plain futex calls rather than std::atomic::wait, which spins and yields first: a yield
    // is a system call whose return races the other threads (see above).
    static void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t value) noexcept {
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
    }
    static void futex_wake(std::atomic<std::uint32_t>& word) noexcept {
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }

    std::unique_ptr<seat[]> seats_;
    unsigned workers_;
    std::atomic<std::uint32_t> remaining_;  ///< workers not yet left; the runner's futex word
    static inline thread_local member member_{};
};

}  // namespace allocmeter
