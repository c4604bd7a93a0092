// trace_validation: validate() as two streamed passes (trace_order.hpp): the per-thread checks
// in file order while the chunks are indexed, then the lifetimes in global order; or, for a
// writer that appends in global order, both on each event as it is written. It holds a state
// per thread and an entry per live object, never the events.
#include "workloads/trace/format/trace_validation.hpp"

#include <algorithm>
#include <vector>

#include "workloads/trace/format/trace_order.hpp"

namespace allocmeter::trace {

void trace_validator::fail(std::uint64_t at, const std::string& problem) const { throw trace_error(path_, at, problem); }

// Each field is multiplied by a constant of its own and the products summed (independent
// multiplies, which the CPU overlaps), then mixed once, so that changes to two events (their ids
// swapped, say) do not cancel in the sum.
std::uint64_t trace_validator::event_digest(const event& e) {
    const std::uint64_t head = static_cast<std::uint64_t>(e.kind) | std::uint64_t{e.flags} << 8 | std::uint64_t{e.thread} << 32;
    std::uint64_t h = head * 0x9E3779B97F4A7C15ull + e.seq * 0xC2B2AE3D27D4EB4Full + e.id * 0x165667B19E3779F9ull +
                      e.old_id * 0xD6E8FEB86659FD93ull + e.size * 0x94D049BB133111EBull + e.count * 0xBF58476D1CE4E5B9ull +
                      e.alignment * 0xFF51AFD7ED558CCDull + e.parent * 0xC4CEB9FE1A85EC53ull + e.time_ns * 0x2545F4914F6CDD1Dull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    return h ^ (h >> 32);
}

void trace_validator::in_thread_order(const event& e) {
    bool first = false;
    if (current_ == nullptr || e.thread != current_thread_) {
        auto [it, fresh] = threads_.try_emplace(e.thread);
        current_ = &it->second;  // stays valid: an unordered_map's nodes do not move
        current_thread_ = e.thread;
        first = fresh;
    }
    thread_state& t = *current_;
    const auto who = [&] { return "thread " + std::to_string(e.thread); };
    if (!first && t.exited) fail(e.at, std::string(op_name(e.kind)) + " in " + who() + " after its thread_exit");
    if (!first && e.kind == op::thread_start) fail(e.at, "thread_start of " + who() + " is not its first event");
    if (!first && e.seq <= t.last_seq)
        fail(e.at, who() + " goes back in sequence (seq " + std::to_string(e.seq) + " after " +
                       std::to_string(t.last_seq) + ")");
    // Within a chunk the unsigned deltas guarantee it; across chunks only this check does.
    if (!first && e.time_ns < t.last_time)
        fail(e.at, who() + " goes back in time (" + std::to_string(e.time_ns) + " ns after " +
                       std::to_string(t.last_time) + " ns)");
    if (first) t.first_at = e.at;
    t.last_seq = e.seq;
    t.last_time = e.time_ns;
    t.exited = e.kind == op::thread_exit;
    summary_.threads = std::max(summary_.threads, e.thread + 1);
    ++summary_.events;
}

void trace_validator::end_of_file() {
    // Dense ids: a replayer starts one thread per id up to the highest, so a lone event of
    // thread 2^24 - 1 must not pass for a trace of 2^24 threads.
    if (threads_.size() == summary_.threads) return;
    std::vector<std::uint32_t> ids;
    for (const auto& [id, state] : threads_) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    std::uint32_t missing = 0;
    while (ids[missing] == missing) ++missing;
    fail(threads_[ids[missing]].first_at, "thread " + std::to_string(ids[missing]) + " has events but thread " +
                                              std::to_string(missing) + " has none (thread ids are dense: 0, 1, 2, ...)");
}

void trace_validator::create(const event& e, std::uint64_t id, std::uint64_t bytes) {
    if (id == 0) return;  // the call returned nullptr
    if (live_.put(id, bytes + 1) != 0) fail(e.at, "id " + std::to_string(id) + " allocated twice without a free");
    live_bytes_ += bytes;
    summary_.max_id = std::max(summary_.max_id, id);
    summary_.peak_live_objects = std::max<std::uint64_t>(summary_.peak_live_objects, live_.size());
    summary_.peak_live_bytes = std::max(summary_.peak_live_bytes, live_bytes_);
}

void trace_validator::check_live(const event& e, std::uint64_t id) const {
    if (id != 0 && live_.find(id) == 0)
        fail(e.at, std::string(op_name(e.kind)) + " of id " + std::to_string(id) + ", which is not live");
}

void trace_validator::release(const event& e, std::uint64_t id) {
    if (id == 0) return;  // free(NULL)
    const std::uint64_t bytes = live_.take(id);
    if (bytes == 0) check_live(e, id);  // throws
    live_bytes_ -= bytes - 1;
}

void trace_validator::lifetimes(const event& e) {
    if (global_events_++ > 0 && e.seq == last_seq_)
        fail(e.at, "sequence number " + std::to_string(e.seq) + " used twice (also at byte " + std::to_string(last_at_) + ")");
    last_seq_ = e.seq;
    last_at_ = e.at;
    switch (e.kind) {
        case op::malloc:
        case op::aligned:
        case op::new_:
        case op::calloc: create(e, e.id, requested_bytes(e)); break;
        case op::realloc:
            // A null result with size > 0 is a failure that leaves the old block live;
            // with size 0 the old block was freed.
            if (e.id == 0 && e.size != 0) {
                check_live(e, e.old_id);
            } else {
                release(e, e.old_id);
            }
            create(e, e.id, e.size);
            break;
        case op::free:
        case op::free_sized:
        case op::delete_: release(e, e.id); break;
        case op::thread_start:
        case op::thread_exit: break;
    }
}

void trace_validator::same_events(std::uint64_t at) const {
    if (global_events_ != summary_.events)
        fail(at, "the file holds " + std::to_string(summary_.events) + " events, but " + std::to_string(global_events_) +
                     " were checked in global order");
    if (global_digest_ != file_digest_)
        fail(at, "the file holds other events than were checked in global order (their digests differ): it is damaged "
                 "or was changed");
}

trace_summary validate(const std::string& path, const std::function<void(const event&)>& each_event) {
    trace_validator v(path);
    ordered_events events(path, [&](const event& e) {
        v.in_file_order(e);
        if (each_event) each_event(e);
    });
    v.end_of_file();
    for (event e; events.next(e);) v.in_global_order(e);
    v.same_events(trace_error::no_offset);
    trace_summary s = v.summary();
    if (const recorded_rss* rss = events.rss()) s.rss = summarize(*rss);
    return s;
}

trace_summary validate(const std::string& path) { return validate(path, {}); }

}  // namespace allocmeter::trace
