// replay_plan: what a trace replay runs, built from a trace outside the timed region: one vector
// of 16-byte slots per replay thread, object sizes and alignments carried to their free slots,
// and a dependency only where an object (or a reused object id) changes hands between threads.
// replay_view is the engine's read-only view of a plan, in memory or mapped from a plan file.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/operation_checksum.hpp"
#include "workloads/trace/format/trace_format.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter::trace {

/// How recorded threads map to replay threads: one each; one each with the recorded time
/// between a thread's calls replayed as work of the same length (a trace recorded with
/// timestamps); or all on one thread in recorded (global sequence) order, which any
/// single-threaded allocator can serve.
enum class replay_order { threads, serial, timed };

inline std::string_view to_string(replay_order o) {
    return o == replay_order::threads ? "threads" : o == replay_order::serial ? "serial" : "timed";
}
inline std::optional<replay_order> parse_replay_order(std::string_view s) {
    if (s == "threads") return replay_order::threads;
    if (s == "serial") return replay_order::serial;
    if (s == "timed") return replay_order::timed;
    return std::nullopt;
}

/// A valid trace that cannot be replayed in the order asked for (--replay timed of a trace
/// without timestamps): not the trace's fault, so callers say so apart from bad input.
struct replay_order_error : trace_error {
    using trace_error::trace_error;
};

/// A timed plan's gap before a step: nanoseconds below 2^31, else microseconds (up to 2^31 of
/// them, 35 minutes) with the top bit set.
constexpr std::uint32_t encode_gap(std::uint64_t ns) noexcept {
    constexpr std::uint64_t top = std::uint64_t{1} << 31;
    if (ns < top) return static_cast<std::uint32_t>(ns);
    return static_cast<std::uint32_t>(top | std::min(ns / 1000, top - 1));
}
constexpr std::uint64_t decode_gap(std::uint32_t g) noexcept {
    return (g >> 31) != 0 ? std::uint64_t{g & 0x7fffffffu} * 1000 : g;
}

/// What a replay step does.
enum class step_kind : std::uint8_t {
    alloc,    ///< table[id] = allocate(size, align)
    free,     ///< deallocate(table[id], size, align): size/align of the object's allocation
    realloc,  ///< table[id] = allocate(size, align); copy; free the old object (the next slot)
};

/// A (thread, slot index) that must have completed before a step runs.
struct replay_dependency {
    static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
    std::uint32_t thread = none;
    std::uint64_t step = 0;

    bool operator==(const replay_dependency&) const = default;
};

/// One slot of a thread's plan: 16 bytes, so a plan streams through the cache. A realloc
/// takes two slots: its head (the new object, old_id) and right after it a free slot for
/// the old object, which carries that object's size and alignment.
class replay_step {
public:
    static constexpr unsigned size_bits = 49;  ///< sizes up to trace::max_size (2^48) inclusive

    static replay_step make(step_kind kind, std::uint32_t id, std::uint64_t size, std::size_t align,
                            std::uint32_t old_id = 0) noexcept {
        replay_step s;
        s.id = id;
        s.old_id = old_id;
        s.word_ = size | static_cast<std::uint64_t>(std::countr_zero(align)) << size_bits |
                  static_cast<std::uint64_t>(kind) << kind_shift;
        return s;
    }

    std::uint32_t id = 0;      ///< pointer table entry: alloc/realloc of the object created; free: of the object freed
    std::uint32_t old_id = 0;  ///< realloc head: the entry of the object passed in

    step_kind kind() const noexcept { return static_cast<step_kind>((word_ >> kind_shift) & 3); }
    std::uint64_t size() const noexcept { return word_ & ((std::uint64_t{1} << size_bits) - 1); }
    /// The alignment to ask for (at least the natural 16).
    std::size_t align() const noexcept { return std::size_t{1} << ((word_ >> size_bits) & 63); }
    /// Waits before this step: 0, 1 or 2 entries of the thread's waits list, in order.
    unsigned waits() const noexcept { return static_cast<unsigned>((word_ >> waits_shift) & 3); }
    /// Another thread's step depends on this one, so its completion is published.
    bool publish() const noexcept { return ((word_ >> publish_shift) & 1) != 0; }

    void set_waits(unsigned n) noexcept {
        word_ = (word_ & ~(std::uint64_t{3} << waits_shift)) | static_cast<std::uint64_t>(n) << waits_shift;
    }
    void set_publish() noexcept { word_ |= std::uint64_t{1} << publish_shift; }

private:
    static constexpr unsigned kind_shift = size_bits + 6;
    static constexpr unsigned waits_shift = kind_shift + 2;
    static constexpr unsigned publish_shift = waits_shift + 2;
    std::uint64_t word_ = 0;
};
static_assert(sizeof(replay_step) == 16);

/// One entry of a replay's launch schedule: the replay starts and ends its threads in this
/// order, so that no more of them are alive at once than the program had. `start` waits for
/// `after` (the parent thread's progress where the recorded thread began; none for a thread
/// alive from the start), then starts `thread`; `join` waits until `thread` has ended (its
/// recorded thread had exited before the next thread began).
struct replay_launch {
    enum kind_t : std::uint32_t { start, join };
    std::uint32_t thread = 0;
    kind_t kind = start;
    replay_dependency after{};

    bool operator==(const replay_launch&) const = default;
};
static_assert(sizeof(replay_launch) == 24);

/// An object the trace never frees: released by the replayer after timing.
struct replay_leak {
    std::uint64_t id;
    std::uint64_t size;
    std::uint32_t align;
};

/// Alignment a replay asks the allocator for: the recorded one, at least the natural 16.
constexpr std::size_t effective_align(std::uint32_t recorded) noexcept {
    return recorded < alignof(std::max_align_t) ? alignof(std::max_align_t) : recorded;
}

/// What the replay engine reads of a plan: spans over a replay_plan's vectors, or over a plan
/// file mapped into memory (replay_plan_file.hpp), so that a cell's plan never comes from the
/// allocator under test.
struct replay_view {
    std::vector<std::span<const replay_step>> threads;      ///< slots per replay thread
    std::vector<std::span<const replay_dependency>> waits;  ///< per thread, its slots' waits in order
    std::vector<std::span<const std::uint32_t>> gaps;      ///< timed: per thread, each slot's gap (encode_gap)
    std::span<const replay_leak> leaks;                     ///< live at the end of the trace
    std::span<const replay_launch> launches;                ///< every thread started once, in order
    std::uint64_t max_id = 0;                               ///< the pointer table holds max_id + 1
    std::uint64_t checksum = 0;                             ///< over every slot
};

/// A plan's figures, without its slots: all that `run` keeps of a plan it streamed to a file
/// (replay_plan_file.hpp), and the scalar part of an in-memory replay_plan.
struct replay_plan_totals {
    /// Object ids are the pointer table's index: at most this many.
    static constexpr std::uint64_t max_replay_id = std::numeric_limits<std::uint32_t>::max();

    std::uint32_t replay_threads = 0;               ///< threads the plan replays on
    std::uint32_t recorded_threads = 0;             ///< threads in the trace (planned from a file)
    std::uint64_t max_id = 0;                       ///< highest id in the slots; the pointer table holds max_id + 1
    std::uint64_t peak_live_bytes = 0;              ///< requested bytes, in global order
    std::uint64_t largest_request = 0;              ///< bytes
    std::uint64_t largest_alignment = 0;            ///< recorded (0 when all natural)
    std::uint64_t steps = 0;                        ///< recorded calls replayed, all threads
    std::uint64_t allocs = 0, frees = 0, reallocs = 0;
    std::uint64_t dependencies = 0;                 ///< cross-thread waits in the plan
    std::uint64_t checksum = operation_hash_seed;   ///< over every slot (kind, size, alignment)
    bool cross_thread = false;                      ///< some object is freed by another thread
    rss_summary recorded_rss;                       ///< the trace's RSS samples (planned from a file that has them)

    /// Operations a replay counts: an allocation or a free each, two for a realloc (one a slot).
    std::uint64_t operations() const noexcept { return allocs + frees + 2 * reallocs; }

    /// What an allocator must offer to replay this plan (for skip_reason()). Replay threads
    /// share one instance, so with more than one the allocator must be thread-safe even
    /// when no object crosses threads: that need is reported as cross_thread_free.
    workload_needs needs() const noexcept {
        workload_needs n;
        n.individual_free = true;
        n.cross_thread_free = replay_threads > 1;
        n.max_request = static_cast<std::size_t>(largest_request);
        n.max_align = std::max<std::size_t>(effective_align(static_cast<std::uint32_t>(largest_alignment)), 16);
        return n;
    }
};

/// Everything a replay needs, built from a trace outside the timed region.
struct replay_plan : replay_plan_totals {
    std::vector<std::vector<replay_step>> threads;        ///< slots per replay thread (replay_threads of them)
    std::vector<std::vector<replay_dependency>> waits;    ///< per thread, the waits of its slots, in order
    std::vector<std::vector<std::uint32_t>> gaps;         ///< timed: per thread, per slot (else empty)
    std::vector<replay_leak> leaks;                       ///< live at the end of the trace
    std::vector<replay_launch> launches;                  ///< the launch schedule

    /// Spans over this plan, which must outlive them.
    replay_view view() const {
        replay_view v;
        for (const auto& t : threads) v.threads.emplace_back(t);
        for (const auto& w : waits) v.waits.emplace_back(w);
        for (const auto& g : gaps) v.gaps.emplace_back(g);
        v.leaks = leaks;
        v.launches = launches;
        v.max_id = max_id;
        v.checksum = checksum;
        return v;
    }

    /// The waits of slot `slot` of `thread` (for tests and diagnostics; linear time).
    std::vector<replay_dependency> waits_of(unsigned thread, std::size_t slot) const {
        std::size_t first = 0;
        for (std::size_t i = 0; i < slot; ++i) first += threads[thread][i].waits();
        const auto& w = waits[thread];
        return {w.begin() + static_cast<std::ptrdiff_t>(first),
                w.begin() + static_cast<std::ptrdiff_t>(first + threads[thread][slot].waits())};
    }

    /// Validates `path` (throws trace_error on bad input) and builds the plan; `serial`
    /// puts every event on one replay thread, in global order. The trace is streamed
    /// (trace_order.hpp) into the plan's vectors, so memory is the plan's: 16 bytes a slot.
    /// plan_to_file (replay_plan_file.hpp) streams it to a file instead.
    static replay_plan load(const std::string& path, replay_order order = replay_order::threads);

    /// Builds the plan from events in global order (as load_sorted gives them) of a trace
    /// that validate() accepted. Slots carry pointer table entries, not the trace's object
    /// ids: an entry is reused by the thread that released it, so that threads which share no
    /// objects share no entries either (plan_builder.hpp, take_slot).
    /// Throws trace_error, naming `source`, for a trace of more than max_replay_id objects.
    static replay_plan build(const std::vector<event>& events, std::uint32_t thread_count, std::uint64_t max_id,
                             const std::string& source = "trace");
};

}  // namespace allocmeter::trace
