// trace_replay: replays an allocmeter trace (docs/trace-format.md) on any allocator adapter.
// A replay_plan is built outside the timed region: one vector of 16-byte slots per replay
// thread, object sizes and alignments carried to their free slots, and a dependency only
// where an object (or a reused object id) changes hands between threads. The replay runs one
// thread per recorded thread over a flat pointer table indexed by object id; a step with a
// dependency waits for the other thread's published progress, and only steps that some other
// step depends on publish (so the common path has no atomic store).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "allocators/adapter.hpp"
#include "allocators/os_pages.hpp"
#include "workloads/latency.hpp"
#include "workloads/live_meter.hpp"
#include "workloads/operation_checksum.hpp"
#include "workloads/start_gate.hpp"
#include "workloads/timed_allocation.hpp"
#include "workloads/timed_region.hpp"
#include "workloads/trace/format/trace_format.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter::trace {

/// What a replay writes into a new block: nothing, one byte per 4096, or every byte. A
/// realloc carries the old contents over unless the policy is none.
enum class touch_policy { none, page, full };

/// How recorded threads map to replay threads: one each, or all on one thread in recorded
/// (global sequence) order, which any single-threaded allocator can serve.
enum class replay_order { threads, serial };

inline std::string_view to_string(touch_policy t) {
    return t == touch_policy::none ? "none" : t == touch_policy::page ? "page" : "full";
}
inline std::optional<touch_policy> parse_touch(std::string_view s) {
    if (s == "none") return touch_policy::none;
    if (s == "page") return touch_policy::page;
    if (s == "full") return touch_policy::full;
    return std::nullopt;
}
inline std::string_view to_string(replay_order o) { return o == replay_order::threads ? "threads" : "serial"; }
inline std::optional<replay_order> parse_replay_order(std::string_view s) {
    if (s == "threads") return replay_order::threads;
    if (s == "serial") return replay_order::serial;
    return std::nullopt;
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

    std::uint32_t id = 0;      ///< alloc/realloc: the object created; free: the object freed
    std::uint32_t old_id = 0;  ///< realloc head: the object passed in

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

/// The byte a `full` touch writes into object `id` (tests check contents with it).
constexpr unsigned char replay_fill_byte(std::uint64_t id) noexcept {
    return static_cast<unsigned char>((id * 0x9dU) | 1U);
}

/// What the replay engine reads of a plan: spans over a replay_plan's vectors, or over a plan
/// file mapped into memory (replay_plan_file.hpp), so that a cell's plan never comes from the
/// allocator under test.
struct replay_view {
    std::vector<std::span<const replay_step>> threads;      ///< slots per replay thread
    std::vector<std::span<const replay_dependency>> waits;  ///< per thread, its slots' waits in order
    std::span<const replay_leak> leaks;                     ///< live at the end of the trace
    std::uint64_t max_id = 0;                               ///< the pointer table holds max_id + 1
    std::uint64_t checksum = 0;                             ///< over every slot
};

/// Everything a replay needs, built from a trace outside the timed region.
struct replay_plan {
    /// Object ids are the pointer table's index: at most this many.
    static constexpr std::uint64_t max_replay_id = std::numeric_limits<std::uint32_t>::max();

    std::vector<std::vector<replay_step>> threads;        ///< slots per replay thread
    std::vector<std::vector<replay_dependency>> waits;    ///< per thread, the waits of its slots, in order
    std::uint64_t max_id = 0;                       ///< highest id in the slots; the pointer table holds max_id + 1
    std::uint64_t peak_live_bytes = 0;              ///< requested bytes, in global order
    std::uint64_t largest_request = 0;              ///< bytes
    std::uint64_t largest_alignment = 0;            ///< recorded (0 when all natural)
    std::uint64_t steps = 0;                        ///< recorded calls replayed, all threads
    std::uint64_t allocs = 0, frees = 0, reallocs = 0;
    std::uint64_t dependencies = 0;                 ///< cross-thread waits in the plan
    std::uint64_t checksum = operation_hash_seed;   ///< over every slot (kind, size, alignment)
    bool cross_thread = false;                      ///< some object is freed by another thread
    std::vector<replay_leak> leaks;                 ///< live at the end of the trace

    /// Operations a replay counts: an allocation or a free each, two for a realloc (one a slot).
    std::uint64_t operations() const noexcept { return allocs + frees + 2 * reallocs; }

    /// What an allocator must offer to replay this plan (for skip_reason()). Replay threads
    /// share one instance, so with more than one the allocator must be thread-safe even
    /// when no object crosses threads: that need is reported as cross_thread_free.
    workload_needs needs() const noexcept {
        workload_needs n;
        n.individual_free = true;
        n.cross_thread_free = threads.size() > 1;
        n.max_request = static_cast<std::size_t>(largest_request);
        n.max_align = std::max<std::size_t>(effective_align(static_cast<std::uint32_t>(largest_alignment)), 16);
        return n;
    }

    /// Spans over this plan, which must outlive them.
    replay_view view() const {
        replay_view v;
        for (const auto& t : threads) v.threads.emplace_back(t);
        for (const auto& w : waits) v.waits.emplace_back(w);
        v.leaks = leaks;
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
    /// puts every event on one replay thread, in global order.
    static replay_plan load(const std::string& path, replay_order order = replay_order::threads) {
        const trace_summary summary = validate(path);
        std::vector<event> events = load_sorted(path);
        if (order == replay_order::serial) {
            for (event& e : events) e.thread = 0;
            return build(events, summary.threads == 0 ? 0 : 1, summary.max_id, path);
        }
        return build(events, summary.threads, summary.max_id, path);
    }

    /// Builds the plan from events in global order (as load_sorted gives them) of a trace
    /// that validate() accepted. Slots carry the trace's object ids, except in a trace whose
    /// max_id exceeds its event count: its ids are renumbered 1, 2, ... in order of first use.
    /// Throws trace_error, naming `source`, for a trace of more than max_replay_id objects.
    static replay_plan build(const std::vector<event>& events, std::uint32_t thread_count, std::uint64_t max_id,
                             const std::string& source = "trace") {
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
};

/// A replay thread's published progress: the number of its steps completed (at least up to
/// the last step marked publish). One cache line each.
struct alignas(64) replay_progress {
    std::atomic<std::uint64_t> done{0};
};

namespace detail {

inline void replay_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

/// Spins until thread d.thread has completed step d.step; yields after a while.
inline void replay_wait(const replay_progress* progress, const replay_dependency& d) noexcept {
    const std::atomic<std::uint64_t>& p = progress[d.thread].done;
    for (unsigned spins = 0; p.load(std::memory_order_acquire) <= d.step; ++spins) {
        if (spins < 256)
            replay_pause();
        else
            std::this_thread::yield();
    }
}

/// `entries` null pointers in memory mapped for them, unmapped at the end. Written once here,
/// so its pages fault in before the timed region rather than inside it.
struct pointer_table {
    explicit pointer_table(std::uint64_t entries)
        : bytes(os::round_to_pages(static_cast<std::size_t>(entries) * sizeof(void*))),
          slots(static_cast<void**>(os::map_pages(bytes))) {
        if (slots == nullptr) allocation_failed(bytes, os::page_size());
        std::memset(static_cast<void*>(slots), 0, bytes);
    }
    pointer_table(const pointer_table&) = delete;
    pointer_table& operator=(const pointer_table&) = delete;
    ~pointer_table() { os::unmap_pages(slots, bytes); }

    std::size_t bytes;
    void** slots;
};

inline void replay_touch(void* p, std::size_t from, std::size_t to, unsigned char value, touch_policy touch) noexcept {
    if (touch == touch_policy::full) {
        if (to > from) std::memset(static_cast<unsigned char*>(p) + from, value, to - from);
    } else if (touch == touch_policy::page) {
        auto* bytes = static_cast<volatile unsigned char*>(p);
        for (std::size_t off = (from + 4095) & ~std::size_t{4095}; off < to; off += 4096) bytes[off] = value;
    }
}

}  // namespace detail

/// Runs every slot of replay thread `thread` of `plan` on `heap`, with `table` the shared
/// pointer table (max_id + 1 entries) and `progress` one counter per replay thread. An
/// allocation that returns nullptr for a non-zero size ends the process (allocation_failed).
template <allocator A>
void replay_thread(const replay_view& plan, unsigned thread, A& heap, void** table, replay_progress* progress,
                   touch_policy touch, live_meter& meter, latency_recorder& latency) {
    // A copy in a local, so the live-bytes chain stays in registers instead of going through
    // memory on every step (stores to the table may alias a referenced meter).
    live_meter live = meter;
    const replay_step* const steps = plan.threads[thread].data();
    const replay_dependency* wait = plan.waits[thread].data();
    const std::size_t n = plan.threads[thread].size();
    for (std::size_t i = 0; i < n;) {
        const replay_step s = steps[i];
        if (s.waits() != 0) [[unlikely]] {
            detail::replay_wait(progress, *wait++);
            if (s.waits() == 2) detail::replay_wait(progress, *wait++);
        }
        const std::size_t size = static_cast<std::size_t>(s.size());
        const std::size_t align = s.align();
        switch (s.kind()) {
            case step_kind::alloc: {
                void* p = timed_allocate(heap, latency, size, align);
                if (p == nullptr && size != 0) [[unlikely]] allocation_failed(size, align);
                table[s.id] = p;
                live.change(static_cast<std::int64_t>(size));
                if (touch != touch_policy::none && p != nullptr) detail::replay_touch(p, 0, size, replay_fill_byte(s.id), touch);
                ++i;
                break;
            }
            case step_kind::free: {
                void* p = table[s.id];
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
                const std::size_t keep = touch == touch_policy::none ? 0 : std::min(size, old_size);
                if (p != nullptr && old != nullptr && keep != 0) std::memcpy(p, old, keep);
                if (old != nullptr) timed_deallocate(heap, latency, old, old_size, o.align());
                table[o.id] = nullptr;
                table[s.id] = p;
                live.change(static_cast<std::int64_t>(size) - static_cast<std::int64_t>(old_size));
                if (touch != touch_policy::none && p != nullptr)
                    detail::replay_touch(p, keep, size, replay_fill_byte(s.id), touch);
                i += 2;
                break;
            }
        }
        if (s.publish()) progress[thread].done.store(i, std::memory_order_release);
    }
    meter = live;
    progress[thread].done.store(n, std::memory_order_release);
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
};

/// Replays `plan` on `heap`: one std::thread per recorded thread, released together. The
/// pointer table is made before and leaks are released after the timed region.
template <allocator A>
replay_result replay(const replay_view& plan, A& heap, touch_policy touch = touch_policy::none,
                     timed_region* region = nullptr, std::uint64_t latency_every = 0) {
    const unsigned n = static_cast<unsigned>(plan.threads.size());
    replay_result r;
    // The pointer table is the harness's memory, not the program's: mapped, not allocated.
    const detail::pointer_table mapping(plan.max_id + 1);
    void** const table = mapping.slots;
    std::unique_ptr<replay_progress[]> progress(new replay_progress[n == 0 ? 1 : n]);
    live_board board;
    start_gate gate;
    std::vector<std::unique_ptr<live_meter>> meters;
    std::vector<std::unique_ptr<latency_recorder>> latency;
    for (unsigned i = 0; i < n; ++i) {
        meters.push_back(std::make_unique<live_meter>(&board));
        latency.push_back(std::make_unique<latency_recorder>(latency_every, latency_phase(plan.checksum, i)));
    }

    std::vector<std::thread> workers;
    workers.reserve(n);
    for (unsigned i = 0; i < n; ++i)
        workers.emplace_back([&, i] {
            gate.arrive_and_wait();
            replay_thread<A>(plan, i, heap, table, progress.get(), touch, *meters[i], *latency[i]);
            meters[i]->flush();
            gate.finish();
        });
    r.wall_s = n == 0 ? 0.0 : run_gate(gate, n, region, board);
    for (auto& w : workers) w.join();

    for (unsigned i = 0; i < n; ++i) r.ops += progress[i].done.load(std::memory_order_acquire);  // a slot is an operation
    r.checksum = plan.checksum;
    for (const auto& l : latency)
        if (l->enabled()) {
            r.alloc_ticks.merge(l->allocs());
            r.free_ticks.merge(l->frees());
        }
    r.peak_live_bytes = n > 1 ? board.peak.load() : (n == 1 ? meters[0]->peak() : 0);

    // After timing: every thread finished, and only the trace's leaks are still in the table.
    bool complete = true;
    for (unsigned i = 0; i < n; ++i)
        complete = complete && progress[i].done.load(std::memory_order_acquire) == plan.threads[i].size();
    for (const replay_leak& l : plan.leaks) {
        void*& p = table[l.id];
        if (p == nullptr && l.size != 0) complete = false;
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
