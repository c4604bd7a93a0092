// Planning a replay, offline: an object table carries each object's size and alignment from
// its allocation to its free, and its last creator and freer, from which come the cross-thread
// waits (each implied wait recorded once) and the slots of each replay thread, in its order.
#include "workloads/trace/replay/replay_plan.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "workloads/operation_checksum.hpp"
#include "workloads/trace/format/trace_format.hpp"

namespace allocmeter::trace {

replay_plan replay_plan::load(const std::string& path, replay_order order) {
    const trace_summary summary = validate(path);
    std::vector<event> events = load_sorted(path);
    if (order == replay_order::serial) {
        for (event& e : events) e.thread = 0;
        return build(events, summary.threads == 0 ? 0 : 1, summary.max_id, path);
    }
    return build(events, summary.threads, summary.max_id, path);
}

replay_plan replay_plan::build(const std::vector<event>& events, std::uint32_t thread_count, std::uint64_t max_id,
                               const std::string& source) {
    replay_plan plan;
    plan.threads.resize(thread_count);
    plan.waits.resize(thread_count);

    struct object {
        std::uint32_t creator = replay_dependency::none;  ///< thread of the last alloc/realloc
        std::uint32_t freer = replay_dependency::none;    ///< thread of the last free
        std::uint64_t created_at = 0;
        std::uint64_t freed_at = 0;
        std::uint64_t size = 0;
        std::uint32_t align = 0;
        bool live = false;
    };
    // The object table here and the replay's pointer table are indexed by id. A recorder's
    // ids are dense (the smallest id not live), so max_id stays below the event count, but
    // validate() accepts any id up to 2^48: one malloc of id 2^40 must not make a table of
    // 2^40 entries. Sparse ids are renumbered instead, so no table outgrows the trace.
    const bool renumber = max_id > events.size();
    std::vector<object> objects(renumber ? 1 : max_id + 1);
    std::unordered_map<std::uint64_t, std::uint64_t> renumbered;
    const auto slot = [&](std::uint64_t id) -> std::uint64_t {
        if (!renumber || id == 0) return id;
        const auto [it, first_use] = renumbered.try_emplace(id, objects.size());
        if (first_use) objects.emplace_back();
        return it->second;
    };
    if (std::min<std::uint64_t>(max_id, events.size()) > max_replay_id)
        throw trace_error(source, trace_error::no_offset,
                          "more than 2^32 - 1 objects: too many for the replay's pointer table");

    // waited[t * T + u]: highest slot of u that thread t already waits for (+1), so a
    // dependency implied by an earlier wait is not recorded twice.
    const bool elide = thread_count <= 1024;
    std::vector<std::uint64_t> waited(elide ? std::size_t{thread_count} * thread_count : 0, 0);

    std::uint64_t live_bytes = 0;
    replay_dependency deps[2];  // the waits of the step being built
    const auto add_dep = [&](std::uint32_t t, std::uint32_t other, std::uint64_t slot) {
        if (other == replay_dependency::none || other == t) return;
        if (elide) {
            std::uint64_t& w = waited[std::size_t{t} * thread_count + other];
            if (w > slot) return;
            w = slot + 1;
        }
        plan.threads[other][slot].set_publish();
        for (replay_dependency& d : deps) {
            if (d.thread == other) {
                d.step = std::max(d.step, slot);
                return;
            }
            if (d.thread == replay_dependency::none) {
                d = {other, slot};
                ++plan.dependencies;
                return;
            }
        }
    };
    const auto sanitize_align = [](std::uint64_t a) -> std::uint32_t {
        if (a == 0) return 0;
        if (!std::has_single_bit(a)) a = std::bit_ceil(a);
        return static_cast<std::uint32_t>(std::min<std::uint64_t>(a, std::uint64_t{1} << 31));
    };
    // The object `id` ends at slot `index` of thread t.
    const auto release = [&](std::uint32_t t, std::uint64_t index, std::uint64_t id) {
        object& o = objects[id];
        add_dep(t, o.creator, o.created_at);
        if (o.creator != t) plan.cross_thread = true;
        o.freer = t;
        o.freed_at = index;
        o.live = false;
        live_bytes -= o.size;
    };
    // The object `id` starts at slot `index` of thread t.
    const auto create = [&](std::uint32_t t, std::uint64_t index, std::uint64_t id, std::uint64_t size,
                            std::uint32_t align) {
        object& o = objects[id];
        add_dep(t, o.freer, o.freed_at);
        o.creator = t;
        o.created_at = index;
        o.size = size;
        o.align = align;
        o.live = true;
        live_bytes += size;
        plan.peak_live_bytes = std::max(plan.peak_live_bytes, live_bytes);
        plan.largest_request = std::max(plan.largest_request, size);
        plan.largest_alignment = std::max<std::uint64_t>(plan.largest_alignment, align);
    };
    const auto id32 = [](std::uint64_t id) { return static_cast<std::uint32_t>(id); };
    const auto free_of = [&](std::uint64_t id) {
        return replay_step::make(step_kind::free, id32(id), objects[id].size, effective_align(objects[id].align));
    };

    for (const event& e : events) {
        const std::uint32_t t = e.thread;
        std::vector<replay_step>& steps = plan.threads[t];
        const std::uint64_t index = steps.size();
        deps[0] = deps[1] = replay_dependency{};
        replay_step s, old_free;  // old_free: a realloc's second slot
        bool is_realloc = false;
        const std::uint64_t size = requested_bytes(e);
        const std::uint64_t id = slot(e.id), old_id = slot(e.old_id);
        switch (e.kind) {
            case op::thread_start:
            case op::thread_exit: continue;
            case op::calloc:
            case op::malloc:
            case op::aligned:
            case op::new_: {
                if (id == 0) continue;  // the call returned NULL
                std::uint32_t align = 0;
                if (e.kind == op::aligned || (e.kind == op::new_ && (e.flags & new_aligned) != 0))
                    align = sanitize_align(e.alignment);
                s = replay_step::make(step_kind::alloc, id32(id), size, effective_align(align));
                create(t, index, id, size, align);
                ++plan.allocs;
                break;
            }
            case op::free:
            case op::free_sized:
            case op::delete_:
                if (id == 0) continue;  // free(NULL)
                s = free_of(id);
                release(t, index, id);
                ++plan.frees;
                break;
            case op::realloc:
                if (id == 0 && e.size != 0) continue;  // failed: the old block stays live
                if (id == 0) {                          // realloc(p, 0) freed p
                    if (old_id == 0) continue;
                    s = free_of(old_id);
                    release(t, index, old_id);
                    ++plan.frees;
                } else if (old_id == 0) {  // realloc(NULL, n) = malloc(n)
                    s = replay_step::make(step_kind::alloc, id32(id), e.size, effective_align(0));
                    create(t, index, id, e.size, 0);
                    ++plan.allocs;
                } else {
                    s = replay_step::make(step_kind::realloc, id32(id), e.size, effective_align(0), id32(old_id));
                    old_free = free_of(old_id);
                    release(t, index, old_id);
                    create(t, index, id, e.size, 0);
                    is_realloc = true;
                    ++plan.reallocs;
                }
                break;
        }
        unsigned n_waits = 0;
        for (const replay_dependency& d : deps)
            if (d.thread != replay_dependency::none) {
                plan.waits[t].push_back(d);
                ++n_waits;
            }
        s.set_waits(n_waits);
        steps.push_back(s);
        plan.checksum = mix_operation(plan.checksum, static_cast<std::uint64_t>(s.kind()) + 1, s.size(), s.align());
        if (is_realloc) {
            steps.push_back(old_free);
            plan.checksum = mix_operation(plan.checksum, 2, old_free.size(), old_free.align());
        }
        ++plan.steps;
    }
    plan.max_id = objects.size() - 1;
    for (std::uint64_t id = 1; id <= plan.max_id; ++id)
        if (objects[id].live) plan.leaks.push_back({id, objects[id].size, objects[id].align});
    return plan;
}

}  // namespace allocmeter::trace
