// trace_replay: replays an allocmeter trace (docs/trace-format.md) on any allocator adapter,
// from a replay_plan built outside the timed region (replay_plan.hpp). The replay runs one
// thread per recorded thread over a flat pointer table indexed by object id; a step with a
// dependency waits for the other thread's published progress, and only steps that some other
// step depends on publish (so the common path has no atomic store). On a verified<A> (run
// --verify) every block gets its tag (block_tag.hpp) in place of the touch, checked when it dies.
#pragma once

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <climits>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "allocators/adapter.hpp"
#include "allocators/os_pages.hpp"
#include "workloads/block_tag.hpp"
#include "workloads/latency.hpp"
#include "workloads/live_meter.hpp"
#include "workloads/start_gate.hpp"
#include "workloads/timed_allocation.hpp"
#include "workloads/timed_region.hpp"
#include "workloads/trace/replay/replay_plan.hpp"

namespace allocmeter::trace {

/// What a replay writes into a new block (run --touch): nothing (none); one byte in every 4096
/// (page); every byte (full); or one byte in every 4096 of the block's first `share` of bytes,
/// its first byte always (part: part(1) is page). A realloc carries the old contents over unless
/// the policy is none. `automatic` is run's --touch auto, which run resolves for each trace
/// before any cell runs (auto_touch); a replay given it unresolved touches as page.
struct touch_policy {
    enum class mode : std::uint8_t { none, page, full, part, automatic };
    mode how = mode::page;
    double share = 1;  ///< part: the share of each block whose pages are touched, 0 to 1

    static const touch_policy none, page, full, automatic;
    /// The first `share` of each block, clamped to 0..1 and kept to 4 decimals (so that its
    /// text, to_string, reads back as the same policy).
    static constexpr touch_policy part(double share) noexcept {
        const double s = share > 0 ? (share < 1 ? share : 1) : 0;
        return {mode::part, static_cast<double>(static_cast<std::int64_t>(s * 10000 + 0.5)) / 10000};
    }
    /// Whether a replay writes into new blocks at all (and so copies a realloc's contents).
    constexpr bool writes() const noexcept { return how != mode::none; }
    bool operator==(const touch_policy&) const = default;
};
inline constexpr touch_policy touch_policy::none{touch_policy::mode::none};
inline constexpr touch_policy touch_policy::page{touch_policy::mode::page};
inline constexpr touch_policy touch_policy::full{touch_policy::mode::full};
inline constexpr touch_policy touch_policy::automatic{touch_policy::mode::automatic};

/// "none", "page", "full", "auto", or "part:0.1034".
inline std::string to_string(touch_policy t) {
    switch (t.how) {
        case touch_policy::mode::none: return "none";
        case touch_policy::mode::page: return "page";
        case touch_policy::mode::full: return "full";
        case touch_policy::mode::automatic: return "auto";
        case touch_policy::mode::part: break;
    }
    char text[32];
    std::snprintf(text, sizeof text, "part:%.4g", t.share);
    return text;
}

/// The policy `s` names (to_string's words; part:F with F from 0 to 1); nullopt for anything else.
inline std::optional<touch_policy> parse_touch(std::string_view s) {
    if (s == "none") return touch_policy::none;
    if (s == "page") return touch_policy::page;
    if (s == "full") return touch_policy::full;
    if (s == "auto") return touch_policy::automatic;
    constexpr std::string_view prefix = "part:";
    if (!s.starts_with(prefix) || s.size() == prefix.size() || s.size() > 40) return std::nullopt;
    const std::string number(s.substr(prefix.size()));
    char* end = nullptr;
    const double share = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size() || !(share >= 0 && share <= 1)) return std::nullopt;
    return touch_policy::part(share);
}

/// run --touch auto for one trace: part, with the share of each block that makes the replay's
/// resident set grow as the program's grew: (its peak RSS - its RSS at the first sample, as it
/// started) / its peak live bytes, clamped to 0..1. A program that touched all it allocated
/// (its heap overhead on top) gets part(1), which is page. nullopt when the trace has no RSS
/// samples or holds nothing live: run then falls back to page.
inline std::optional<touch_policy> auto_touch(const rss_summary& recorded, std::uint64_t peak_live_bytes) noexcept {
    if (recorded.samples == 0 || peak_live_bytes == 0) return std::nullopt;
    const std::uint64_t growth = recorded.peak_bytes > recorded.first_bytes ? recorded.peak_bytes - recorded.first_bytes : 0;
    return touch_policy::part(static_cast<double>(growth) / static_cast<double>(peak_live_bytes));
}

/// The byte a `full` touch writes into object `id` (tests check contents with it).
constexpr unsigned char replay_fill_byte(std::uint64_t id) noexcept {
    return static_cast<unsigned char>((id * 0x9dU) | 1U);
}

/// A replay thread's published progress: the number of its steps completed (at least up to
/// the last step marked publish), and how many threads sleep waiting for it to grow. One cache
/// line each.
struct alignas(64) replay_progress {
    std::atomic<std::uint64_t> done{0};
    std::atomic<std::uint32_t> sleepers{0};
};

/// How a timed replay thread spent its time, in ticks (read_ticks): from the start of its first
/// step to the end of its last, and within that on the recorded gaps (the program's own work)
/// and blocked waiting for another thread's step. The rest is the allocator's calls, the
/// touches and the replay's own cost per call.
struct replay_thread_time {
    std::uint64_t lifetime = 0, gaps = 0, waits = 0;
};

namespace detail {

inline void replay_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

// The futex word of a progress counter: the low half of `done` (the half that changes).
inline std::uint32_t* futex_word(replay_progress& p) noexcept {
    static_assert(std::endian::native == std::endian::little && sizeof(std::atomic<std::uint64_t>) == 8);
    return reinterpret_cast<std::uint32_t*>(&p.done);
}

/// Publishes that `steps` steps of a thread are done, and wakes its sleepers, if any. The
/// store and the load are sequentially consistent, as are a sleeper's increment and its load
/// of `done` (replay_wait): one of the two sides sees the other, so no wake is lost.
inline void replay_publish(replay_progress& p, std::uint64_t steps) noexcept {
    p.done.store(steps, std::memory_order_seq_cst);
    if (p.sleepers.load(std::memory_order_seq_cst) != 0) [[unlikely]]
        ::syscall(SYS_futex, futex_word(p), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

/// How long a replay thread spins on a dependency before it sleeps. With a core for every
/// thread alive: about a futex sleep and wake-up, so a hand-off between two running threads
/// costs no system call. With more threads alive than cores, the thread waited for is often
/// not running, and spinning only keeps it off a core: a short spin, then sleep (on a 2-core
/// VM, 8 busy threads exchanging objects replayed in about half the time with 0.5 us as with
/// 20 us: make replay-check).
inline constexpr std::chrono::nanoseconds replay_spin_limit{20'000};
inline constexpr std::chrono::nanoseconds replay_spin_limit_oversubscribed{500};

/// CPUs this process may run on.
inline unsigned usable_cpus() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return std::max(1u, std::thread::hardware_concurrency());
    return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

/// The most replay threads a launch schedule has alive at once (a thread that is never joined
/// counts until the end).
inline std::size_t most_alive(std::span<const replay_launch> launches) noexcept {
    std::size_t alive = 0, most = 0;
    for (const replay_launch& l : launches) {
        alive = l.kind == replay_launch::start ? alive + 1 : alive - std::min<std::size_t>(alive, 1);
        most = std::max(most, alive);
    }
    return most;
}

/// Waits until thread d.thread has completed step d.step: spins for up to `spin`, then sleeps
/// on the thread's progress counter (a futex) until replay_publish wakes it. Returns the ticks
/// (read_ticks) it waited: 0 when the step was already done, which costs no clock read.
inline std::uint64_t replay_wait(replay_progress* progress, const replay_dependency& d,
                                 std::chrono::nanoseconds spin = replay_spin_limit) noexcept {
    replay_progress& p = progress[d.thread];
    if (p.done.load(std::memory_order_acquire) > d.step) [[likely]] return 0;
    const std::uint64_t waited_from = read_ticks();
    const auto start = std::chrono::steady_clock::now();
    for (unsigned spins = 1; p.done.load(std::memory_order_acquire) <= d.step; ++spins) {
        replay_pause();
        if (spins % 16 == 0 && std::chrono::steady_clock::now() - start > spin) break;
    }
    p.sleepers.fetch_add(1, std::memory_order_seq_cst);
    // The timeout only bounds a sleep that began with a stale low half (2^32 steps between the
    // load and the sleep): the wake-up protocol itself loses none.
    const timespec timeout{0, 50'000'000};
    for (std::uint64_t seen; (seen = p.done.load(std::memory_order_seq_cst)) <= d.step;)
        ::syscall(SYS_futex, futex_word(p), FUTEX_WAIT_PRIVATE, static_cast<std::uint32_t>(seen), &timeout, nullptr, 0);
    p.sleepers.fetch_sub(1, std::memory_order_relaxed);
    return read_ticks() - waited_from;
}

/// A timed replay's stand-in for the program's work between two calls: the core stays busy
/// until the tick counter (read_ticks, latency.hpp) reaches `deadline`, as the program's would.
/// A gap is as long as the recorded one when the thread has its core; time the thread spends
/// descheduled is added to the replay, as it was to the program when recorded, so timed
/// replays want a quiet machine. Ticks rather than the steady clock: a timed step reads the
/// time twice, and the time-stamp counter is the cheaper read, on a virtual machine above all.
/// Returns the ticks it spent, from its first read to its last (no read of its own for that).
inline std::uint64_t replay_work_until(std::uint64_t deadline) noexcept {
    const std::uint64_t from = read_ticks();
    std::uint64_t now = from;
    while (now < deadline) now = read_ticks();
    return now - from;
}

/// Ticks (read_ticks) per nanosecond, measured against the steady clock over `span`.
inline double calibrate_ticks(std::chrono::nanoseconds span = std::chrono::milliseconds(2)) noexcept {
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t k0 = read_ticks();
    std::chrono::steady_clock::time_point t1;
    while ((t1 = std::chrono::steady_clock::now()) - t0 < span) {
    }
    const std::uint64_t k1 = read_ticks();
    const double ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    return ns > 0 && k1 > k0 ? static_cast<double>(k1 - k0) / ns : 1.0;
}

/// `entries` zeroed T (null pointers) in memory mapped for them, unmapped at the end. Written
/// once here, so its pages fault in before the timed region rather than inside it.
template <class T>
struct mapped_table {
    explicit mapped_table(std::uint64_t entries)
        : bytes(os::round_to_pages(static_cast<std::size_t>(entries) * sizeof(T))),
          slots(static_cast<T*>(bytes == 0 ? nullptr : os::map_pages(bytes))) {
        if (bytes == 0) return;
        if (slots == nullptr) allocation_failed(bytes, os::page_size());
        std::memset(static_cast<void*>(slots), 0, bytes);
    }
    mapped_table(const mapped_table&) = delete;
    mapped_table& operator=(const mapped_table&) = delete;
    ~mapped_table() {
        if (slots != nullptr) os::unmap_pages(slots, bytes);
    }

    std::size_t bytes;
    T* slots;
};
/// The objects' pointers, by id.
using pointer_table = mapped_table<void*>;

/// Under verify: tags a new block (the replay's touch, whatever --touch says).
inline void replay_tag(void* p, std::size_t size, std::uint64_t serial) noexcept {
    if (p != nullptr) write_tag(p, size, serial);
}

/// Under verify: checks an object's tag before step `step` (0-based) of replay thread `thread`
/// frees or reallocates it (`event`).
inline void replay_check(const void* p, std::size_t size, std::size_t align, std::uint64_t serial, const char* event,
                         unsigned thread, std::size_t step, std::uint64_t object) noexcept {
    if (p != nullptr) check_tag(p, size, align, serial, {event, block_serial(thread, step + 1), "at", tag_clock::replay_step, object});
}

/// Where a part touch of a block of `size` bytes ends: after its first `share` of bytes, and
/// after its first byte at least.
inline std::size_t part_end(std::size_t size, double share) noexcept {
    return std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(share * static_cast<double>(size))));
}

/// Writes bytes [from, to) of block p (of `to` bytes) as `touch` says.
inline void replay_touch(void* p, std::size_t from, std::size_t to, unsigned char value, touch_policy touch) noexcept {
    switch (touch.how) {
        case touch_policy::mode::none: return;
        case touch_policy::mode::full:
            if (to > from) std::memset(static_cast<unsigned char*>(p) + from, value, to - from);
            return;
        case touch_policy::mode::part: to = std::min(to, part_end(to, touch.share)); break;
        case touch_policy::mode::page:
        case touch_policy::mode::automatic: break;
    }
    auto* bytes = static_cast<volatile unsigned char*>(p);
    for (std::size_t off = (from + 4095) & ~std::size_t{4095}; off < to; off += 4096) bytes[off] = value;
}

}  // namespace detail

/// Runs every slot of replay thread `thread` of `plan` on `heap`, with `table` the shared
/// pointer table (max_id + 1 entries) and `progress` one counter per replay thread. An
/// allocation that returns nullptr for a non-zero size ends the process (allocation_failed).
/// On a verified<A>, `serials` (max_id + 1 entries) holds each live object's block serial: a
/// new block gets its tag in place of the touch, and its tag is checked before it is freed or
/// reallocated (a realloc copies the old contents as always, then the new block takes its own tag).
/// `spin`: how long a wait spins before it sleeps; `ticks_per_ns`: read_ticks' rate, for a
/// timed plan's gaps; `time`: where a timed plan's thread puts how it spent its time (none: not kept).
template <allocator A>
void replay_thread(const replay_view& plan, unsigned thread, A& heap, void** table, replay_progress* progress,
                   touch_policy touch, live_meter& meter, latency_recorder& latency,
                   [[maybe_unused]] std::uint64_t* serials = nullptr,
                   std::chrono::nanoseconds spin = detail::replay_spin_limit, double ticks_per_ns = 1.0,
                   replay_thread_time* time = nullptr) {
    // A copy in a local, so the live-bytes chain stays in registers instead of going through
    // memory on every step (stores to the table may alias a referenced meter).
    live_meter live = meter;
    const replay_step* const steps = plan.threads[thread].data();
    const replay_dependency* wait = plan.waits[thread].data();
    const std::size_t n = plan.threads[thread].size();
    // Timed: each step's call begins its gap after the end of the thread's previous step (the
    // waits overlap the gap, as a program's own work would overlap its wait for another thread).
    // The ticks spent on the gaps (the program's work) and blocked in waits are summed in
    // locals; a wait that is already satisfied reads no clock.
    const std::uint32_t* const gaps = plan.gaps.empty() ? nullptr : plan.gaps[thread].data();
    const std::uint64_t first_tick = gaps != nullptr ? read_ticks() : 0;
    std::uint64_t last_end = first_tick, worked = 0, waited = 0;
    for (std::size_t i = 0; i < n;) {
        const replay_step s = steps[i];
        if (s.waits() != 0) [[unlikely]] {
            waited += detail::replay_wait(progress, *wait++, spin);
            if (s.waits() == 2) waited += detail::replay_wait(progress, *wait++, spin);
        }
        if (gaps != nullptr && gaps[i] != 0)
            worked += detail::replay_work_until(last_end +
                                                static_cast<std::uint64_t>(static_cast<double>(decode_gap(gaps[i])) * ticks_per_ns));
        const std::size_t size = static_cast<std::size_t>(s.size());
        const std::size_t align = s.align();
        switch (s.kind()) {
            case step_kind::alloc: {
                void* p = timed_allocate(heap, latency, size, align);
                if (p == nullptr && size != 0) [[unlikely]] allocation_failed(size, align);
                table[s.id] = p;
                live.change(static_cast<std::int64_t>(size));
                if constexpr (is_verified<A>)
                    detail::replay_tag(p, size, serials[s.id] = block_serial(thread, i + 1));
                else if (touch.writes() && p != nullptr)
                    detail::replay_touch(p, 0, size, replay_fill_byte(s.id), touch);
                ++i;
                break;
            }
            case step_kind::free: {
                void* p = table[s.id];
                if constexpr (is_verified<A>) detail::replay_check(p, size, align, serials[s.id], "freed", thread, i, s.id);
                if (p != nullptr) [[likely]] timed_deallocate(heap, latency, p, size, align);
                table[s.id] = nullptr;
                live.change(-static_cast<std::int64_t>(size));
                ++i;
                break;
            }
            case step_kind::realloc: {
                const replay_step o = steps[i + 1];  // the old object's free slot
                const std::size_t old_size = static_cast<std::size_t>(o.size());
                void* old = table[o.id];
                void* p = timed_allocate(heap, latency, size, align);
                if (p == nullptr && size != 0) [[unlikely]] allocation_failed(size, align);
                // Contents move only where the replay writes them: with touch none a replay
                // never writes into a block, so a realloc copies nothing either.
                std::size_t keep = touch.writes() ? std::min(size, old_size) : 0;
                // An allocator whose blocks alias across threads (the harness row's do-nothing
                // allocator) says which blocks this thread may read: copying from one that another
                // thread hands out again, and writes, would be a data race. It copies nothing then.
                if constexpr (requires(const void* q) { { A::owned_by_this_thread(q) } -> std::same_as<bool>; })
                    if (old != nullptr && !A::owned_by_this_thread(old)) keep = 0;
                [[maybe_unused]] std::uint64_t serial = 0;
                if constexpr (is_verified<A>) {  // tagged first, so a new block over the old one shows in its check
                    detail::replay_tag(p, size, serial = block_serial(thread, i + 1));
                    detail::replay_check(old, old_size, o.align(), serials[o.id], "reallocated", thread, i, o.id);
                }
                // memmove, not memcpy: the harness row's do-nothing allocator hands out blocks
                // that overlap (the new one may start where the old one does), and the two
                // cost the same on blocks apart.
                if (p != nullptr && old != nullptr && keep != 0) std::memmove(p, old, keep);
                if constexpr (is_verified<A>) {  // the copy laid the old tag over the new block's start
                    if (keep != 0) detail::replay_tag(p, size, serial);
                    serials[s.id] = serial;
                }
                if (old != nullptr) timed_deallocate(heap, latency, old, old_size, o.align());
                table[o.id] = nullptr;
                table[s.id] = p;
                live.change(static_cast<std::int64_t>(size) - static_cast<std::int64_t>(old_size));
                if (!is_verified<A> && touch.writes() && p != nullptr)
                    detail::replay_touch(p, keep, size, replay_fill_byte(s.id), touch);
                i += 2;
                break;
            }
        }
        if (s.publish()) detail::replay_publish(progress[thread], i);
        if (gaps != nullptr && i < n && gaps[i] != 0) last_end = read_ticks();
    }
    meter = live;
    if (gaps != nullptr && time != nullptr) *time = {read_ticks() - first_tick, worked, waited};
    detail::replay_publish(progress[thread], n);
}

/// What one replay produced.
struct replay_result {
    double wall_s = 0;                 ///< from the first replay thread's start to the last one's end
    std::uint64_t ops = 0;             ///< allocations + frees (a realloc counts both) that ran
    std::uint64_t checksum = 0;        ///< the plan's checksum: the same on every allocator
    std::int64_t peak_live_bytes = 0;  ///< exact with one thread, else within threads x 64 KiB
    std::uint64_t leaked_objects = 0;  ///< objects the trace never freed, released after timing
    bool complete = false;             ///< every step ran and every freed object was freed
    latency_histogram alloc_ticks, free_ticks;  ///< sampled latencies (latency_every), all threads
    /// A timed plan's replay_thread_time, summed over its threads, in seconds: none otherwise.
    struct time_split {
        double thread_s = 0, gap_s = 0, wait_s = 0;
    };
    std::optional<time_split> timed;
};

/// Replays `plan` on `heap`: one std::thread per recorded thread, started and ended in the
/// plan's launch schedule, so that threads live as the recorded ones lived: those alive from
/// the start are released together when timing begins, each later one starts where its
/// recorded thread began and the threads that had exited by then have ended. The pointer table
/// is made before and leaks are released after the timed region.
template <allocator A>
replay_result replay(const replay_view& plan, A& heap, touch_policy touch = touch_policy::none,
                     timed_region* region = nullptr, std::uint64_t latency_every = 0) {
    const unsigned n = static_cast<unsigned>(plan.threads.size());
    replay_result r;
    // The pointer table is the harness's memory, not the program's: mapped, not allocated.
    const detail::pointer_table mapping(plan.max_id + 1);
    void** const table = mapping.slots;
    // Under verify, each live object's block serial, beside its pointer.
    const detail::mapped_table<std::uint64_t> serial_mapping(is_verified<A> ? plan.max_id + 1 : 0);
    std::uint64_t* const serials = serial_mapping.slots;
    std::unique_ptr<replay_progress[]> progress(new replay_progress[n == 0 ? 1 : n]);
    live_board board;
    start_gate gate(region != nullptr && region->threads_serialised());
    std::vector<std::unique_ptr<live_meter>> meters;
    std::vector<std::unique_ptr<latency_recorder>> latency;
    for (unsigned i = 0; i < n; ++i) {
        meters.push_back(std::make_unique<live_meter>(&board));
        latency.push_back(std::make_unique<latency_recorder>(latency_every, latency_phase(plan.checksum, i)));
    }

    // The threads alive from the start (the schedule's first starts, before any join or any
    // start that waits) are made before the gate opens; the rest start and end in the
    // schedule's order while it is open.
    std::vector<std::thread> workers(n);
    std::vector<char> started(n, 0);
    // A view without a schedule (one made by hand) starts every thread at once.
    std::vector<replay_launch> all_at_once;
    if (plan.launches.empty())
        for (unsigned i = 0; i < n; ++i) all_at_once.push_back({i, replay_launch::start, {}});
    const std::span<const replay_launch> launches = plan.launches.empty() ? std::span<const replay_launch>(all_at_once) : plan.launches;
    const std::chrono::nanoseconds spin = detail::most_alive(launches) > detail::usable_cpus()
                                              ? detail::replay_spin_limit_oversubscribed
                                              : detail::replay_spin_limit;
    const double ticks_per_ns = plan.gaps.empty() ? 1.0 : detail::calibrate_ticks();
    std::vector<replay_thread_time> times(plan.gaps.empty() ? 0 : n);  // made before timing, as the rest
    // `arrival`: the thread's place in the line at the gate, or no_arrival for a thread
    // started while the gate is open.
    constexpr unsigned no_arrival = ~0u;
    const auto body = [&](unsigned i, unsigned arrival) {
        if (arrival != no_arrival) gate.arrive_and_wait(arrival);
        replay_thread<A>(plan, i, heap, table, progress.get(), touch, *meters[i], *latency[i], serials, spin, ticks_per_ns,
                         times.empty() ? nullptr : &times[i]);
        meters[i]->flush();
        gate.finish();
        // No hold_until_closed(): the schedule joins some threads while the gate is open, as
        // the program joined them, so a thread's exit may fall inside the region.
    };
    std::size_t next = 0;
    for (; next < launches.size(); ++next) {
        const replay_launch& l = launches[next];
        if (l.kind != replay_launch::start || l.after.thread != replay_dependency::none || started[l.thread]) break;
        started[l.thread] = 1;
        workers[l.thread] = std::thread(body, l.thread, static_cast<unsigned>(next));
    }
    const unsigned arriving = static_cast<unsigned>(next);
    const auto launch_the_rest = [&] {
        for (; next < launches.size(); ++next) {
            const replay_launch& l = launches[next];
            if (l.kind == replay_launch::join) {
                if (workers[l.thread].joinable()) workers[l.thread].join();
                continue;
            }
            if (started[l.thread]) continue;
            if (l.after.thread != replay_dependency::none) detail::replay_wait(progress.get(), l.after);
            started[l.thread] = 1;
            workers[l.thread] = std::thread(body, l.thread, no_arrival);
        }
        for (unsigned i = 0; i < n; ++i)  // a schedule that leaves a thread out still runs it
            if (!started[i]) {
                started[i] = 1;
                workers[i] = std::thread(body, i, no_arrival);
            }
    };
    r.wall_s = n == 0 ? 0.0 : run_gate(gate, arriving, n, region, board, launch_the_rest);
    for (auto& w : workers)
        if (w.joinable()) w.join();

    for (unsigned i = 0; i < n; ++i) r.ops += progress[i].done.load(std::memory_order_acquire);  // a slot is an operation
    r.checksum = plan.checksum;
    for (const auto& l : latency)
        if (l->enabled()) {
            r.alloc_ticks.merge(l->allocs());
            r.free_ticks.merge(l->frees());
        }
    r.peak_live_bytes = n > 1 ? board.peak.load() : (n == 1 ? meters[0]->peak() : 0);
    if (!times.empty()) {
        const double s_per_tick = 1e-9 / ticks_per_ns;
        replay_result::time_split t;
        for (const replay_thread_time& x : times) {
            t.thread_s += static_cast<double>(x.lifetime) * s_per_tick;
            t.gap_s += static_cast<double>(x.gaps) * s_per_tick;
            t.wait_s += static_cast<double>(x.waits) * s_per_tick;
        }
        r.timed = t;
    }

    // After timing: every thread finished, and only the trace's leaks are still in the table.
    bool complete = true;
    for (unsigned i = 0; i < n; ++i)
        complete = complete && progress[i].done.load(std::memory_order_acquire) == plan.threads[i].size();
    for (const replay_leak& l : plan.leaks) {
        void*& p = table[l.id];
        if (p == nullptr && l.size != 0) complete = false;
        if constexpr (is_verified<A>)
            if (p != nullptr)
                check_tag(p, static_cast<std::size_t>(l.size), effective_align(l.align), serials[l.id],
                          {"released after the replay (the trace never freed it)", 0, nullptr, tag_clock::replay_step, l.id});
        if (p != nullptr) heap.deallocate(p, static_cast<std::size_t>(l.size), effective_align(l.align));
        p = nullptr;
        ++r.leaked_objects;
    }
    for (std::uint64_t id = 0; id <= plan.max_id; ++id)
        if (table[id] != nullptr) complete = false;
    r.complete = complete;
    return r;
}

/// Replays `plan` on `heap` (see the replay_view overload).
template <allocator A>
replay_result replay(const replay_plan& plan, A& heap, touch_policy touch = touch_policy::none,
                     timed_region* region = nullptr, std::uint64_t latency_every = 0) {
    return replay<A>(plan.view(), heap, touch, region, latency_every);
}

/// Replays `plan` on a fresh, default-constructed instance of A.
template <allocator A>
replay_result replay(const replay_plan& plan, touch_policy touch = touch_policy::none,
                     timed_region* region = nullptr) {
    A heap;
    return replay<A>(plan, heap, touch, region);
}

}  // namespace allocmeter::trace
