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
#include <stdexcept>
#include <string>
#include <unordered_map>
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

/// Builds a plan from events in global order. A Sink has
///   void push(std::uint32_t thread, const replay_step&)            the thread's next slot
///   replay_step& slot(std::uint32_t thread, std::uint64_t index)   an earlier slot, to publish
///   void wait(std::uint32_t thread, const replay_dependency&)      the thread's next wait
template <class Sink>
class plan_builder {
public:
    /// `events` and `max_id` (the trace's highest object id) size the object table; throws
    /// trace_error, naming `source`, for a trace of more than max_replay_id objects.
    plan_builder(Sink& sink, replay_plan_totals& totals, std::uint32_t thread_count, std::uint64_t max_id,
                 std::uint64_t events, const std::string& source)
        : sink_(sink),
          plan_(totals),
          thread_count_(thread_count),
          next_slot_(thread_count, 0),
          // The object table here and the replay's pointer table are indexed by id. A recorder's
          // ids are dense (the smallest id not live), so max_id stays below the event count, but
          // validate() accepts any id up to 2^48: one malloc of id 2^40 must not make a table of
          // 2^40 entries. Sparse ids are renumbered instead, so no table outgrows the trace.
          renumber_(max_id > events),
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
            case op::thread_exit: return;
            case op::calloc:
            case op::malloc:
            case op::aligned:
            case op::new_: {
                if (id == 0) return;  // the call returned NULL
                std::uint32_t align = 0;
                if (e.kind == op::aligned || (e.kind == op::new_ && (e.flags & new_aligned) != 0))
                    align = sanitize_align(e.alignment);
                s = replay_step::make(step_kind::alloc, id32(id), size, effective_align(align));
                create(t, index, id, size, align);
                ++plan_.allocs;
                break;
            }
            case op::free:
            case op::free_sized:
            case op::delete_:
                if (id == 0) return;  // free(NULL)
                s = free_of(id);
                release(t, index, id);
                ++plan_.frees;
                break;
            case op::realloc:
                if (id == 0 && e.size != 0) return;  // failed: the old block stays live
                if (id == 0) {                        // realloc(p, 0) freed p
                    if (old_id == 0) return;
                    s = free_of(old_id);
                    release(t, index, old_id);
                    ++plan_.frees;
                } else if (old_id == 0) {  // realloc(NULL, n) = malloc(n)
                    s = replay_step::make(step_kind::alloc, id32(id), e.size, effective_align(0));
                    create(t, index, id, e.size, 0);
                    ++plan_.allocs;
                } else {
                    s = replay_step::make(step_kind::realloc, id32(id), e.size, effective_align(0), id32(old_id));
                    old_free = free_of(old_id);
                    release(t, index, old_id);
                    create(t, index, id, e.size, 0);
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
        sink_.push(t, s);
        plan_.checksum = mix_operation(plan_.checksum, static_cast<std::uint64_t>(s.kind()) + 1, s.size(), s.align());
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

    /// Ends the plan: max_id, and each object still live (in id order) handed to `leak`.
    template <class Leak>
    void finish(Leak&& leak) {
        plan_.max_id = objects_.size() - 1;
        for (std::uint64_t id = 1; id <= plan_.max_id; ++id)
            if (objects_[id].live) leak(replay_leak{id, objects_[id].size, objects_[id].align});
    }

private:
    struct object {
        std::uint32_t creator = replay_dependency::none;  ///< thread of the last alloc/realloc
        std::uint32_t freer = replay_dependency::none;    ///< thread of the last free
        std::uint64_t created_at = 0;
        std::uint64_t freed_at = 0;
        std::uint64_t size = 0;
        std::uint32_t align = 0;
        bool live = false;
    };

    static std::uint32_t id32(std::uint64_t id) { return static_cast<std::uint32_t>(id); }

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
        return replay_step::make(step_kind::free, id32(id), objects_[id].size, effective_align(objects_[id].align));
    }

    // Thread t's step at `slot` waits for `other`'s step at `slot` (which then publishes), unless
    // an earlier wait of t already implies it.
    void add_dep(std::uint32_t t, std::uint32_t other, std::uint64_t slot) {
        if (other == replay_dependency::none || other == t) return;
        if (elide_) {
            std::uint64_t& w = waited_[std::size_t{t} * thread_count_ + other];
            if (w > slot) return;
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

    // The object `id` ends at slot `index` of thread t.
    void release(std::uint32_t t, std::uint64_t index, std::uint64_t id) {
        object& o = objects_[id];
        add_dep(t, o.creator, o.created_at);
        if (o.creator != t) plan_.cross_thread = true;
        o.freer = t;
        o.freed_at = index;
        o.live = false;
        live_bytes_ -= o.size;
    }

    // The object `id` starts at slot `index` of thread t.
    void create(std::uint32_t t, std::uint64_t index, std::uint64_t id, std::uint64_t size, std::uint32_t align) {
        object& o = objects_[id];
        add_dep(t, o.freer, o.freed_at);
        o.creator = t;
        o.created_at = index;
        o.size = size;
        o.align = align;
        o.live = true;
        live_bytes_ += size;
        plan_.peak_live_bytes = std::max(plan_.peak_live_bytes, live_bytes_);
        plan_.largest_request = std::max(plan_.largest_request, size);
        plan_.largest_alignment = std::max<std::uint64_t>(plan_.largest_alignment, align);
    }

    Sink& sink_;
    replay_plan_totals& plan_;
    std::uint32_t thread_count_;
    std::vector<std::uint64_t> next_slot_;  // per thread: the index its next slot gets
    bool renumber_;
    std::vector<object> objects_;
    std::unordered_map<std::uint64_t, std::uint64_t> renumbered_;
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
          validator_(path),
          events_(path, [this](const event& e) { first_pass(e); }) {
        validator_.end_of_file();
        threads_ = validator_.summary().threads;
        if (serial_) threads_ = threads_ == 0 ? 0 : 1;
        slots_.resize(threads_, 0);
        for (const auto& [t, n] : counted_) slots_[t] = n;  // thread ids are dense: validated
        counted_.clear();
    }

    /// Replay threads.
    std::uint32_t threads() const noexcept { return threads_; }
    /// Slots each replay thread will have.
    const std::vector<std::uint64_t>& slots() const noexcept { return slots_; }

    /// Plans every event into `sink` and `totals`, hands the leaks to `leak`; throws trace_error
    /// for an invalid trace (a plan half written to the sink is then to be dropped).
    template <class Sink, class Leak>
    void build(Sink& sink, replay_plan_totals& totals, Leak&& leak) {
        plan_builder<Sink> b(sink, totals, threads_, max_id_, events_.events(), path_);
        for (event e; events_.next(e);) {
            validator_.in_global_order(e);
            if (serial_) e.thread = 0;
            b.add(e);
        }
        for (std::uint32_t t = 0; t < threads_; ++t)
            if (b.slots(t) != slots_[t]) throw std::logic_error("plan_builder and slots_of disagree on " + path_);
        b.finish(leak);
    }

private:
    void first_pass(const event& e) {
        validator_.in_file_order(e);
        const std::uint32_t t = serial_ ? 0 : e.thread;
        if (count_ == nullptr || t != count_thread_) {  // a chunk is a run of one thread
            count_ = &counted_[t];
            count_thread_ = t;
        }
        *count_ += slots_of(e);
        // The highest id an allocation names (a release names a live one): validate()'s max_id.
        if (e.kind == op::malloc || e.kind == op::calloc || e.kind == op::aligned || e.kind == op::new_ ||
            e.kind == op::realloc)
            max_id_ = std::max(max_id_, e.id);
    }

    std::string path_;
    bool serial_;
    trace_validator validator_;
    // Slots per thread id, during the first pass: a map, since the ids are proved dense only
    // at its end (a lone thread 2^24 - 1 must not size a vector).
    std::unordered_map<std::uint32_t, std::uint64_t> counted_;
    std::uint64_t* count_ = nullptr;  // counted_'s entry for count_thread_ (nodes do not move)
    std::uint32_t count_thread_ = 0;
    std::uint64_t max_id_ = 0;
    ordered_events events_;
    std::uint32_t threads_ = 0;
    std::vector<std::uint64_t> slots_;
};

}  // namespace allocmeter::trace::detail
