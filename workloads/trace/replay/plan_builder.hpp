// plan_builder: the one planner behind replay_plan::build, replay_plan::load and plan_to_file.
// It takes events in global order and hands each replay thread's slots and waits to a sink (the
// plan's vectors, or a plan file being written), keeping only an object table and per-thread
// counters. planned_trace adds the streamed passes over a trace file, validation included.
// Internal to workloads/trace/replay/.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "workloads/operation_checksum.hpp"
#include "workloads/trace/format/trace_order.hpp"
#include "workloads/trace/format/trace_validation.hpp"
#include "workloads/trace/replay/replay_plan.hpp"

namespace allocmeter::trace::detail {

/// Slots an event takes in its thread's plan: 0 (skipped), 1, or 2 (a realloc that moves one
/// object to another). The builder's switch below decides the same way; planned_trace counts
/// with this before the plan is built, so that a plan file can place each thread's slots.
inline unsigned slots_of(const event& e) noexcept {
    switch (e.kind) {
        case op::thread_start:
        case op::thread_exit: return 0;
        case op::calloc:
        case op::malloc:
        case op::aligned:
        case op::new_:
        case op::free:
        case op::free_sized:
        case op::delete_: return e.id == 0 ? 0 : 1;
        case op::realloc:
            if (e.id == 0) return e.size != 0 || e.old_id == 0 ? 0 : 1;
            return e.old_id == 0 ? 1 : 2;
    }
    return 0;
}

/// A thread's recorded time between steps, the one rule of a timed plan: a step's gap runs from
/// the thread's previous step, or from its thread_start; events that make no step add to the
/// next gap. planned_trace's first pass takes each thread's shortest gap with it, plan_builder
/// each step's gap.
class thread_gaps {
public:
    /// The thread began at `ns`.
    void start(std::uint64_t ns) noexcept { last_ = ns; }
    /// The gap before a step recorded at `ns` (none for a first step with no recorded start, or
    /// a clock that went back), and `ns` becomes the thread's last step.
    std::optional<std::uint64_t> step(std::uint64_t ns) noexcept {
        const std::uint64_t last = std::exchange(last_, ns);
        if (last == none || ns < last) return std::nullopt;
        return ns - last;
    }

private:
    static constexpr std::uint64_t none = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t last_ = none;
};

/// Builds a plan from events in global order. A Sink has
///   void push(std::uint32_t thread, const replay_step&)            the thread's next slot
///   replay_step& slot(std::uint32_t thread, std::uint64_t index)   an earlier slot, to publish
///   void wait(std::uint32_t thread, const replay_dependency&)      the thread's next wait
template <class Sink>
class plan_builder {
public:
    /// `events` and `max_id` (the trace's highest object id) size the object table; throws
    /// trace_error, naming `source`, for a trace of more than max_replay_id objects.
    /// `lifetimes`: the plan's launch schedule follows the trace's thread_start and thread_exit
    /// events (a serial plan, on one thread, has none to follow). `floors`, for a timed plan
    /// (one per thread, else empty): the shortest time between two calls of the thread, what a
    /// call and its recording cost, taken off every gap so that a gap replays the program's own
    /// work; each slot then gets its gap through the sink's
    ///   void gap(std::uint32_t thread, std::uint32_t encoded)
    plan_builder(Sink& sink, replay_plan_totals& totals, std::uint32_t thread_count, std::uint64_t max_id,
                 std::uint64_t events, const std::string& source, bool lifetimes = true,
                 std::vector<std::uint64_t> floors = {})
        : sink_(sink),
          plan_(totals),
          thread_count_(thread_count),
          next_slot_(thread_count, 0),
          last_head_(thread_count, no_slot),
          started_(thread_count, false),
          lifetimes_(lifetimes),
          floors_(std::move(floors)),
          gaps_(floors_.empty() ? 0 : thread_count),
          source_(source),
          // The object table here and the replay's pointer table are indexed by id. A recorder's
          // ids are dense (the smallest id not live), so max_id stays below the event count, but
          // validate() accepts any id up to 2^48: one malloc of id 2^40 must not make a table of
          // 2^40 entries. Sparse ids are renumbered instead, so no table outgrows the trace.
          renumber_(max_id > events),
          pools_(thread_count),
          elide_(thread_count <= 1024),
          waited_(elide_ ? std::size_t{thread_count} * thread_count : 0, 0) {
        if (std::min(max_id, events) > replay_plan_totals::max_replay_id)
            throw trace_error(source, trace_error::no_offset,
                              "more than 2^32 - 1 objects: too many for the replay's pointer table");
        objects_.resize(renumber_ ? 1 : max_id + 1);
        plan_.replay_threads = thread_count;
    }

    /// Plans `e`, the next event in global order.
    void add(const event& e) {
        const std::uint32_t t = e.thread;
        const std::uint64_t index = next_slot_[t];
        deps_[0] = deps_[1] = replay_dependency{};
        replay_step s, old_free;  // old_free: a realloc's second slot
        bool is_realloc = false;
        const std::uint64_t size = requested_bytes(e);
        const std::uint64_t id = number(e.id), old_id = number(e.old_id);
        switch (e.kind) {
            case op::thread_start:
                if (lifetimes_) start(t, e.parent);
                if (!floors_.empty()) gaps_[t].start(e.time_ns);
                return;
            case op::thread_exit:
                if (lifetimes_) exited_.push_back(t);
                return;
            case op::calloc:
            case op::malloc:
            case op::aligned:
            case op::new_: {
                if (id == 0) return;  // the call returned NULL
                std::uint32_t align = 0;
                if (e.kind == op::aligned || (e.kind == op::new_ && (e.flags & new_aligned) != 0))
                    align = sanitize_align(e.alignment);
                s = replay_step::make(step_kind::alloc, create(t, index, id, size, align), size, effective_align(align));
                ++plan_.allocs;
                break;
            }
            case op::free:
            case op::free_sized:
            case op::delete_:
                if (id == 0) return;  // free(NULL)
                s = free_of(id);
                pools_[t].push(release(t, index, id));
                ++plan_.frees;
                break;
            case op::realloc:
                if (id == 0 && e.size != 0) return;  // failed: the old block stays live
                if (id == 0) {                        // realloc(p, 0) freed p
                    if (old_id == 0) return;
                    s = free_of(old_id);
                    pools_[t].push(release(t, index, old_id));
                    ++plan_.frees;
                } else if (old_id == 0) {  // realloc(NULL, n) = malloc(n)
                    s = replay_step::make(step_kind::alloc, create(t, index, id, e.size, 0), e.size, effective_align(0));
                    ++plan_.allocs;
                } else {
                    // The new object's entry is taken before the old one's is released: both
                    // are live during the copy.
                    old_free = free_of(old_id);
                    const released_slot old = release(t, index, old_id);
                    s = replay_step::make(step_kind::realloc, create(t, index, id, e.size, 0), e.size, effective_align(0),
                                          old_free.id);
                    pools_[t].push(old);
                    is_realloc = true;
                    ++plan_.reallocs;
                }
                break;
        }
        unsigned n_waits = 0;
        for (const replay_dependency& d : deps_)
            if (d.thread != replay_dependency::none) {
                sink_.wait(t, d);
                ++n_waits;
            }
        s.set_waits(n_waits);
        if (!floors_.empty()) {
            const std::uint64_t gap = gaps_[t].step(e.time_ns).value_or(0);
            sink_.gap(t, encode_gap(gap > floors_[t] ? gap - floors_[t] : 0));
            if (is_realloc) sink_.gap(t, 0);
        }
        sink_.push(t, s);
        plan_.checksum = mix_operation(plan_.checksum, static_cast<std::uint64_t>(s.kind()) + 1, s.size(), s.align());
        last_head_[t] = index;
        ++next_slot_[t];
        if (is_realloc) {
            sink_.push(t, old_free);
            plan_.checksum = mix_operation(plan_.checksum, 2, old_free.size(), old_free.align());
            ++next_slot_[t];
        }
        ++plan_.steps;
    }

    /// Slots of `thread` so far.
    std::uint64_t slots(std::uint32_t thread) const { return next_slot_[thread]; }

    /// Ends the plan: max_id, and each object still live (in trace id order) handed to `leak`.
    /// Returns the launch schedule: first every thread the trace never starts (alive from the
    /// start, as the initial thread is, or every thread of a plan without lifetimes), then the
    /// starts and joins in the trace's order.
    template <class Leak>
    std::vector<replay_launch> finish(Leak&& leak) {
        plan_.max_id = fresh_;
        for (std::uint64_t id = 1; id < objects_.size(); ++id)
            if (objects_[id].live) leak(replay_leak{objects_[id].slot, objects_[id].size, objects_[id].align});
        std::vector<replay_launch> launches;
        launches.reserve(thread_count_ + schedule_.size());
        for (std::uint32_t t = 0; t < thread_count_; ++t)
            if (!started_[t]) launches.push_back({t, replay_launch::start, {}});
        launches.insert(launches.end(), schedule_.begin(), schedule_.end());
        return launches;
    }

private:
    struct object {
        std::uint32_t creator = replay_dependency::none;  ///< thread of the last alloc/realloc
        std::uint64_t created_at = 0;
        std::uint64_t size = 0;
        std::uint32_t align = 0;
        std::uint32_t slot = 0;  ///< its pointer table entry while live
        bool live = false;
    };

    // A pointer table entry a thread has released, and the slot of that thread's step that
    // released it.
    struct released_slot {
        std::uint32_t slot;
        std::uint64_t at;
    };
    // One thread's released entries, oldest first.
    struct slot_pool {
        std::vector<released_slot> entries;
        std::size_t head = 0;

        bool empty() const noexcept { return head == entries.size(); }
        std::size_t size() const noexcept { return entries.size() - head; }
        void push(released_slot r) { entries.push_back(r); }
        released_slot pop() {
            const released_slot r = entries[head++];
            if (head == entries.size()) {
                entries.clear();
                head = 0;
            } else if (head >= 1024 && head * 2 >= entries.size()) {
                entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(head));
                head = 0;
            }
            return r;
        }
    };

    static std::uint32_t sanitize_align(std::uint64_t a) {
        if (a == 0) return 0;
        if (!std::has_single_bit(a)) a = std::bit_ceil(a);
        return static_cast<std::uint32_t>(std::min<std::uint64_t>(a, std::uint64_t{1} << 31));
    }

    // The object table's index of a trace id: the id itself, or its number in order of first use.
    std::uint64_t number(std::uint64_t id) {
        if (!renumber_ || id == 0) return id;
        const auto [it, first_use] = renumbered_.try_emplace(id, objects_.size());
        if (first_use) objects_.emplace_back();
        return it->second;
    }

    replay_step free_of(std::uint64_t id) const {
        const object& o = objects_[id];
        return replay_step::make(step_kind::free, o.slot, o.size, effective_align(o.align));
    }

    // The pointer table entry for an object thread t creates now. The trace's ids cannot be
    // used: a recorder reuses an id as soon as it is free, so two threads that share nothing
    // would share ids, and each reuse across threads would be a wait in the replay that the
    // program never had. An entry t released itself needs no wait (t's own order covers it);
    // a fresh entry needs none either, while the table stays small (2^16 entries, or twice the
    // live objects). Past that, t takes the older half of the largest pool of another thread,
    // with one wait for the newest release among them: entries released long ago, so the wait
    // is almost always already satisfied when the replay gets there.
    std::uint32_t take_slot(std::uint32_t t) {
        slot_pool& own = pools_[t];
        if (own.empty() && fresh_ >= fresh_floor && fresh_ >= 2 * live_objects_) {
            std::uint32_t from = t;
            for (std::uint32_t u = 0; u < thread_count_; ++u)
                if (pools_[u].size() > (from == t ? 0 : pools_[from].size())) from = u;
            if (from != t) {
                slot_pool& other = pools_[from];
                const std::size_t n = (other.size() + 1) / 2;
                std::uint64_t newest = 0;
                for (std::size_t k = 0; k < n; ++k) {
                    const released_slot r = other.pop();
                    newest = r.at;
                    own.push(r);
                }
                add_dep(t, from, newest);
            }
        }
        if (!own.empty()) return own.pop().slot;
        if (fresh_ == replay_plan_totals::max_replay_id)
            throw trace_error(source_, trace_error::no_offset, "more than 2^32 - 1 live objects: too many for the replay's pointer table");
        return static_cast<std::uint32_t>(++fresh_);
    }

    // Thread t's step needs `other`'s step at `slot` done, unless an earlier wait of t already
    // implies it. It waits for more: for the last step `other` had made at this point of the
    // recording (which then publishes). One wait then covers every object `other` had made by
    // then (a consumer taking a batch waits once, not once per object), and a thread does not
    // run ahead of another it exchanges objects with further than it did when recorded.
    void add_dep(std::uint32_t t, std::uint32_t other, std::uint64_t slot) {
        if (other == replay_dependency::none || other == t) return;
        if (elide_) {
            std::uint64_t& w = waited_[std::size_t{t} * thread_count_ + other];
            if (w > slot) return;
            slot = std::max(slot, last_head_[other]);
            w = slot + 1;
        }
        sink_.slot(other, slot).set_publish();
        for (replay_dependency& d : deps_) {
            if (d.thread == other) {
                d.step = std::max(d.step, slot);
                return;
            }
            if (d.thread == replay_dependency::none) {
                d = {other, slot};
                ++plan_.dependencies;
                return;
            }
        }
    }

    // Thread t's recorded thread begins (its first event: the recorder writes thread_start
    // there), created by `parent`. It starts once the parent has done what it had done by then,
    // and once the threads that exited before this point have ended.
    void start(std::uint32_t t, std::uint32_t parent) {
        for (const std::uint32_t u : exited_) schedule_.push_back({u, replay_launch::join, {}});
        exited_.clear();
        replay_launch l{t, replay_launch::start, {}};
        if (parent < thread_count_ && parent != t && last_head_[parent] != no_slot) {
            l.after = {parent, last_head_[parent]};
            sink_.slot(parent, last_head_[parent]).set_publish();
        }
        schedule_.push_back(l);
        started_[t] = true;
    }

    // The object `id` ends at slot `index` of thread t; returns its entry, for t's pool. A
    // realloc pools the old entry only after taking the new one: both are live during the copy.
    released_slot release(std::uint32_t t, std::uint64_t index, std::uint64_t id) {
        object& o = objects_[id];
        add_dep(t, o.creator, o.created_at);
        if (o.creator != t) plan_.cross_thread = true;
        o.live = false;
        --live_objects_;
        live_bytes_ -= o.size;
        return {o.slot, index};
    }

    // The object `id` starts at slot `index` of thread t; returns its pointer table entry.
    std::uint32_t create(std::uint32_t t, std::uint64_t index, std::uint64_t id, std::uint64_t size, std::uint32_t align) {
        object& o = objects_[id];
        o.slot = take_slot(t);
        ++live_objects_;
        o.creator = t;
        o.created_at = index;
        o.size = size;
        o.align = align;
        o.live = true;
        live_bytes_ += size;
        plan_.peak_live_bytes = std::max(plan_.peak_live_bytes, live_bytes_);
        plan_.largest_request = std::max(plan_.largest_request, size);
        plan_.largest_alignment = std::max<std::uint64_t>(plan_.largest_alignment, align);
        return o.slot;
    }

    static constexpr std::uint64_t no_slot = std::numeric_limits<std::uint64_t>::max();
    static constexpr std::uint64_t fresh_floor = std::uint64_t{1} << 16;  // pointer table entries made freely

    Sink& sink_;
    replay_plan_totals& plan_;
    std::uint32_t thread_count_;
    std::vector<std::uint64_t> next_slot_;  // per thread: the index its next slot gets
    std::vector<std::uint64_t> last_head_;  // per thread: its last step's first slot (no_slot: none yet)
    std::vector<bool> started_;             // per thread: its start is in schedule_
    bool lifetimes_;
    std::vector<std::uint64_t> floors_;     // timed: per thread (else empty)
    std::vector<thread_gaps> gaps_;         // timed: per thread
    std::vector<replay_launch> schedule_;   // starts and joins, in global order
    std::vector<std::uint32_t> exited_;     // threads exited since the last start
    std::string source_;
    bool renumber_;
    std::vector<object> objects_;  // by trace id (renumbered where sparse)
    std::unordered_map<std::uint64_t, std::uint64_t> renumbered_;
    std::vector<slot_pool> pools_;      // per thread: pointer table entries it released
    std::uint64_t fresh_ = 0;           // pointer table entries handed out: 1 .. fresh_
    std::uint64_t live_objects_ = 0;
    // waited_[t * T + u]: highest slot of u that thread t already waits for (+1), so a
    // dependency implied by an earlier wait is not recorded twice.
    bool elide_;
    std::vector<std::uint64_t> waited_;
    std::uint64_t live_bytes_ = 0;
    replay_dependency deps_[2];  // the waits of the step being built
};

/// A trace file planned in two streamed passes. The constructor reads it in file order:
/// validation's per-thread checks, and the plan's shape (replay threads, slots per thread,
/// highest id). build() then merges it into global order, validating lifetimes as it plans.
class planned_trace {
public:
    planned_trace(const std::string& path, replay_order order)
        : path_(path),
          serial_(order == replay_order::serial),
          timed_(order == replay_order::timed),
          validator_(path),
          events_(path, [this](const event& e) { first_pass(e); }) {
        validator_.end_of_file();
        if (timed_ && !events_.header().timestamps)
            throw replay_order_error(path, trace_error::no_offset,
                                     "has no timestamps, which --replay timed needs: record it again with 'allocmeter "
                                     "record --timestamps', or use --replay threads");
        threads_ = validator_.summary().threads;
        if (serial_) threads_ = threads_ == 0 ? 0 : 1;
        slots_.resize(threads_, 0);
        if (timed_) floors_.resize(threads_, 0);
        for (const auto& [t, c] : counted_) {  // thread ids are dense: validated
            slots_[t] = c.slots;
            if (timed_ && c.floor != no_time) floors_[t] = c.floor;
        }
        counted_.clear();
    }

    /// Replay threads.
    std::uint32_t threads() const noexcept { return threads_; }
    /// Slots each replay thread will have.
    const std::vector<std::uint64_t>& slots() const noexcept { return slots_; }

    /// Plans every event into `sink` and `totals`, hands the leaks to `leak`, returns the launch
    /// schedule; throws trace_error
    /// for an invalid trace (a plan half written to the sink is then to be dropped).
    template <class Sink, class Leak>
    std::vector<replay_launch> build(Sink& sink, replay_plan_totals& totals, Leak&& leak) {
        plan_builder<Sink> b(sink, totals, threads_, max_id_, events_.events(), path_, !serial_, floors_);
        totals.recorded_threads = validator_.summary().threads;
        if (const recorded_rss* rss = events_.rss()) totals.recorded_rss = summarize(*rss);
        for (event e; events_.next(e);) {
            validator_.in_global_order(e);
            if (serial_) e.thread = 0;
            b.add(e);
        }
        for (std::uint32_t t = 0; t < threads_; ++t)
            if (b.slots(t) != slots_[t]) throw std::logic_error("plan_builder and slots_of disagree on " + path_);
        return b.finish(leak);
    }

private:
    void first_pass(const event& e) {
        validator_.in_file_order(e);
        const std::uint32_t t = serial_ ? 0 : e.thread;
        if (count_ == nullptr || t != count_thread_) {  // a chunk is a run of one thread
            count_ = &counted_[t];
            count_thread_ = t;
        }
        const unsigned slots = slots_of(e);
        count_->slots += slots;
        if (timed_ && e.kind == op::thread_start) count_->gaps.start(e.time_ns);
        if (timed_ && slots != 0)
            if (const std::optional<std::uint64_t> gap = count_->gaps.step(e.time_ns))
                count_->floor = std::min(count_->floor, *gap);
        // The highest id an allocation names (a release names a live one): validate()'s max_id.
        if (e.kind == op::malloc || e.kind == op::calloc || e.kind == op::aligned || e.kind == op::new_ ||
            e.kind == op::realloc)
            max_id_ = std::max(max_id_, e.id);
    }

    static constexpr std::uint64_t no_time = std::numeric_limits<std::uint64_t>::max();

    // A thread's figures from the first pass.
    struct thread_pass {
        std::uint64_t slots = 0;
        thread_gaps gaps;               // timed
        std::uint64_t floor = no_time;  // timed: its shortest gap between two steps
    };

    std::string path_;
    bool serial_, timed_;
    trace_validator validator_;
    // Per thread id, during the first pass: a map, since the ids are proved dense only at its
    // end (a lone thread 2^24 - 1 must not size a vector).
    std::unordered_map<std::uint32_t, thread_pass> counted_;
    thread_pass* count_ = nullptr;  // counted_'s entry for count_thread_ (nodes do not move)
    std::uint32_t count_thread_ = 0;
    std::uint64_t max_id_ = 0;
    ordered_events events_;
    std::uint32_t threads_ = 0;
    std::vector<std::uint64_t> slots_;
    std::vector<std::uint64_t> floors_;  // timed: per thread
};

}  // namespace allocmeter::trace::detail
