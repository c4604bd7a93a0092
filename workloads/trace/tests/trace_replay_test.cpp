// Trace replay: the plan (steps per thread, dependencies only where an object or an id changes
// threads, peak live bytes equal to validate()'s), and replays on the malloc adapter, the
// thread-cache allocator, an instrumented allocator that checks sizes, alignments and contents,
// and the harness row's do-nothing allocator, whose blocks overlap.
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/trace_replay.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "allocators/malloc_allocator.hpp"
#include "allocators/thread_cache_allocator.hpp"
#include "harness/cell/do_nothing_allocator.hpp"
#include "workloads/block_tag.hpp"
#include "workloads/tests/overlapping_allocator.hpp"
#include "workloads/trace/replay/replay_plan_file.hpp"

using namespace allocmeter;
using namespace allocmeter::trace;

namespace {

/// A trace file in the temp folder, removed at the end of the test.
class temp_trace {
public:
    explicit temp_trace(const std::string& name)
        : path_(::testing::TempDir() + "allocmeter_replay_" + std::to_string(::getpid()) + "_" + name + ".trace") {}
    ~temp_trace() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

/// Builds events in global order (seq increases with every call).
class builder {
public:
    builder& start(std::uint32_t t, std::uint32_t parent = no_thread) {
        event e = next(op::thread_start, t);
        e.parent = parent;
        events_.push_back(e);
        return *this;
    }
    builder& exit(std::uint32_t t) { return push(next(op::thread_exit, t)); }
    builder& malloc(std::uint32_t t, std::uint64_t id, std::uint64_t size) {
        event e = next(op::malloc, t);
        e.id = id;
        e.size = size;
        return push(e);
    }
    builder& calloc(std::uint32_t t, std::uint64_t id, std::uint64_t count, std::uint64_t size) {
        event e = next(op::calloc, t);
        e.id = id;
        e.count = count;
        e.size = size;
        return push(e);
    }
    builder& aligned(std::uint32_t t, std::uint64_t id, std::uint64_t size, std::uint64_t alignment,
                     align_fn fn = align_fn::posix_memalign) {
        event e = next(op::aligned, t);
        e.id = id;
        e.size = size;
        e.alignment = alignment;
        e.flags = static_cast<std::uint8_t>(fn);
        return push(e);
    }
    builder& new_aligned(std::uint32_t t, std::uint64_t id, std::uint64_t size, std::uint64_t alignment) {
        event e = next(op::new_, t);
        e.id = id;
        e.size = size;
        e.alignment = alignment;
        e.flags = trace::new_aligned;
        return push(e);
    }
    builder& delete_aligned(std::uint32_t t, std::uint64_t id, std::uint64_t size, std::uint64_t alignment) {
        event e = next(op::delete_, t);
        e.id = id;
        e.size = size;
        e.alignment = alignment;
        e.flags = delete_sized | trace::delete_aligned;
        return push(e);
    }
    builder& realloc(std::uint32_t t, std::uint64_t old_id, std::uint64_t id, std::uint64_t size) {
        event e = next(op::realloc, t);
        e.old_id = old_id;
        e.id = id;
        e.size = size;
        e.flags = (id != old_id && id != 0 && old_id != 0) ? realloc_moved : 0;
        return push(e);
    }
    builder& free(std::uint32_t t, std::uint64_t id) {
        event e = next(op::free, t);
        e.id = id;
        return push(e);
    }
    /// The next events are recorded at `ns` (a trace with any timestamp has them all).
    builder& at(std::uint64_t ns) {
        now_ = ns;
        timed_ = true;
        return *this;
    }
    void write(const std::string& path) const {
        trace_header h;
        h.command_line = "trace_replay_test";
        h.host = "test";
        if (timed_) {
            h.timestamps = true;
            h.clock = clock_source::monotonic_ns;
        }
        trace_writer w(path, h);
        for (const event& e : events_) w.append(e);
        w.close();
    }

private:
    event next(op kind, std::uint32_t t) {
        event e;
        e.kind = kind;
        e.thread = t;
        e.seq = seq_++;
        e.time_ns = now_;
        return e;
    }
    builder& push(const event& e) {
        events_.push_back(e);
        return *this;
    }
    std::vector<event> events_;
    std::uint64_t seq_ = 0;
    std::uint64_t now_ = 0;
    bool timed_ = false;
};

/// malloc underneath; checks that every free passes back the size and alignment of its
/// allocation and that blocks are aligned, and keeps each freed block's contents.
struct recording_allocator {
    static constexpr capabilities caps{.individual_free = true, .thread_safe = true, .max_align = std::size_t{1} << 16};

    struct shared {
        std::mutex m;
        std::map<void*, std::pair<std::size_t, std::size_t>> live;
        std::vector<std::vector<unsigned char>> freed;  // contents at each free, in order
        int errors = 0;
    };
    static shared& state() {
        static shared s;
        return s;
    }
    static void clear() {
        std::lock_guard lock(state().m);
        state().live.clear();
        state().freed.clear();
        state().errors = 0;
    }

    void* allocate(std::size_t size, std::size_t align) noexcept {
        void* p = std::aligned_alloc(align, align_up(size == 0 ? 1 : size, align));
        std::lock_guard lock(state().m);
        if (reinterpret_cast<std::uintptr_t>(p) % align != 0) ++state().errors;
        state().live[p] = {size, align};
        return p;
    }
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        {
            std::lock_guard lock(state().m);
            auto it = state().live.find(p);
            if (it == state().live.end() || it->second != std::make_pair(size, align)) {
                ++state().errors;
            } else {
                const auto* b = static_cast<const unsigned char*>(p);
                state().freed.emplace_back(b, b + size);
                state().live.erase(it);
            }
        }
        std::free(p);
    }
};
static_assert(allocator<recording_allocator>);

std::vector<unsigned char> bytes(std::initializer_list<std::pair<std::size_t, std::uint64_t>> runs) {
    std::vector<unsigned char> v;
    for (auto [n, id] : runs) v.insert(v.end(), n, replay_fill_byte(id));
    return v;
}

std::uint64_t count_publish(const replay_plan& plan) {
    std::uint64_t n = 0;
    for (const auto& steps : plan.threads)
        for (const replay_step& s : steps) n += s.publish() ? 1 : 0;
    return n;
}

/// Random multi-thread trace: allocations, frees on any thread (often another's), id reuse
/// (smallest free id), reallocs; some objects leak.
void write_random(const std::string& path, unsigned threads, unsigned events, std::uint64_t seed) {
    builder b;
    std::mt19937_64 g(seed);
    for (unsigned t = 0; t < threads; ++t) b.start(t, t == 0 ? no_thread : 0);
    std::vector<std::uint64_t> live;        // ids
    std::vector<std::uint64_t> free_ids;    // released ids, reused smallest first
    std::uint64_t next_id = 1;
    const auto take_id = [&] {
        if (free_ids.empty()) return next_id++;
        auto it = std::min_element(free_ids.begin(), free_ids.end());
        const std::uint64_t id = *it;
        free_ids.erase(it);
        return id;
    };
    for (unsigned i = 0; i < events; ++i) {
        const auto t = static_cast<std::uint32_t>(g() % threads);
        const unsigned what = static_cast<unsigned>(g() % 10);
        if (live.empty() || what < 4) {
            const std::uint64_t id = take_id();
            b.malloc(t, id, 1 + g() % 5000);
            live.push_back(id);
        } else if (what < 8) {
            const std::size_t k = g() % live.size();
            b.free(t, live[k]);
            free_ids.push_back(live[k]);
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
        } else {
            const std::size_t k = g() % live.size();
            const std::uint64_t old = live[k];
            const std::uint64_t id = (g() % 2) != 0 ? old : take_id();
            b.realloc(t, old, id, 1 + g() % 9000);
            if (id != old) {
                free_ids.push_back(old);
                live[k] = id;
            }
        }
    }
    for (unsigned t = 0; t < threads; ++t) b.exit(t);
    b.write(path);
}

}  // namespace

TEST(TraceReplayPlan, SingleThread) {
    temp_trace f("single");
    builder b;
    b.start(0)
        .malloc(0, 1, 100)
        .malloc(0, 2, 200)
        .free(0, 1)
        .malloc(0, 1, 50)   // id reuse on the same thread
        .calloc(0, 3, 10, 8)
        .free(0, 0)         // free(NULL): skipped
        .malloc(0, 0, 77)   // failed malloc: skipped
        .free(0, 2)
        .free(0, 1)         // id 3 leaks
        .exit(0)
        .write(f.path());
    const trace_summary sum = validate(f.path());
    const replay_plan plan = replay_plan::load(f.path());
    ASSERT_EQ(plan.threads.size(), 1u);
    EXPECT_EQ(plan.steps, 7u);
    EXPECT_EQ(plan.allocs, 4u);
    EXPECT_EQ(plan.frees, 3u);
    EXPECT_EQ(plan.dependencies, 0u);
    EXPECT_EQ(count_publish(plan), 0u);
    EXPECT_FALSE(plan.cross_thread);
    EXPECT_EQ(plan.max_id, 3u);
    EXPECT_EQ(plan.peak_live_bytes, 330u);
    EXPECT_EQ(plan.peak_live_bytes, sum.peak_live_bytes);
    EXPECT_EQ(plan.largest_request, 200u);
    EXPECT_EQ(plan.largest_alignment, 0u);
    ASSERT_EQ(plan.leaks.size(), 1u);
    EXPECT_EQ(plan.leaks[0].id, 3u);
    EXPECT_EQ(plan.leaks[0].size, 80u);
    // The free step carries the size of the object's allocation.
    EXPECT_EQ(plan.threads[0][2].kind(), step_kind::free);
    EXPECT_EQ(plan.threads[0][2].size(), 100u);
    EXPECT_EQ(plan.threads[0][6].size(), 50u);

    for (touch_policy touch : {touch_policy::none, touch_policy::page, touch_policy::full}) {
        const replay_result r = replay<malloc_allocator>(plan, touch);
        EXPECT_TRUE(r.complete);
        EXPECT_EQ(r.ops, 7u);
        EXPECT_EQ(r.ops, plan.operations());
        EXPECT_EQ(static_cast<std::uint64_t>(r.peak_live_bytes), sum.peak_live_bytes);
        EXPECT_EQ(r.leaked_objects, 1u);
        EXPECT_GE(r.wall_s, 0.0);
    }
}

// A recorder reuses an id as soon as it is free, across threads too; the plan reuses pointer
// table entries only within a thread, so id reuse makes no wait: only objects that change
// hands do. A wait is for the last step the other thread had made at that point of the
// recording, so one wait covers all the objects it had made by then.
TEST(TraceReplayPlan, TwoThreadsCrossThreadFreesAndIdReuse) {
    temp_trace f("two");
    builder b;
    b.start(0)
        .start(1, 0)
        .malloc(0, 1, 64)    // t0 s0                                         entry 1
        .malloc(0, 2, 128)   // t0 s1                                         entry 2
        .free(1, 1)          // t1 s0: id 1 made on t0 s0; waits for t0 s1   dep 1
        .malloc(1, 3, 32)    // t1 s1: entry 1, which t1 released: no wait
        .malloc(0, 1, 16)    // t0 s2: id 1 was freed on t1 s0: entry 3, no wait
        .free(0, 3)          // t0 s3: id 3 made on t1 s1                    dep 2
        .free(1, 2)          // t1 s2: id 2 made on t0 s1: implied by dep 1
        .malloc(1, 3, 48)    // t1 s3: id 3 freed on t0 s3: entry 2, no wait
        .free(1, 1)          // t1 s4: id 1 made on t0 s2; waits for t0 s3   dep 3
        .free(1, 3)          // t1 s5: own object
        .exit(1)
        .exit(0)
        .write(f.path());
    const trace_summary sum = validate(f.path());
    const replay_plan plan = replay_plan::load(f.path());
    ASSERT_EQ(plan.threads.size(), 2u);
    ASSERT_EQ(plan.threads[0].size(), 4u);
    ASSERT_EQ(plan.threads[1].size(), 6u);
    EXPECT_EQ(plan.dependencies, 3u);
    EXPECT_EQ(plan.max_id, 3u);
    EXPECT_TRUE(plan.cross_thread);
    EXPECT_EQ(plan.peak_live_bytes, 192u);
    EXPECT_EQ(plan.peak_live_bytes, sum.peak_live_bytes);
    EXPECT_TRUE(plan.leaks.empty());

    const auto& t0 = plan.threads[0];
    const auto& t1 = plan.threads[1];
    EXPECT_EQ(t0[0].id, 1u);
    EXPECT_EQ(t0[1].id, 2u);
    EXPECT_EQ(t1[1].id, 1u);
    EXPECT_EQ(t0[2].id, 3u);
    EXPECT_EQ(t1[3].id, 2u);
    EXPECT_EQ(t0[0].waits(), 0u);
    EXPECT_EQ(t0[1].waits(), 0u);
    ASSERT_EQ(t1[0].waits(), 1u);
    EXPECT_EQ(plan.waits_of(1, 0)[0].thread, 0u);
    EXPECT_EQ(plan.waits_of(1, 0)[0].step, 1u);
    EXPECT_EQ(t1[1].waits(), 0u);
    EXPECT_EQ(t0[2].waits(), 0u);
    ASSERT_EQ(t0[3].waits(), 1u);
    EXPECT_EQ(plan.waits_of(0, 3)[0].thread, 1u);
    EXPECT_EQ(plan.waits_of(0, 3)[0].step, 1u);
    EXPECT_EQ(t1[2].waits(), 0u);
    EXPECT_EQ(t1[3].waits(), 0u);
    ASSERT_EQ(t1[4].waits(), 1u);
    EXPECT_EQ(plan.waits_of(1, 4)[0].thread, 0u);
    EXPECT_EQ(plan.waits_of(1, 4)[0].step, 3u);
    EXPECT_EQ(t1[5].waits(), 0u);
    EXPECT_EQ(t1[4].size(), 16u);  // the free carries the size of id 1's second life
    // Only the steps others wait for publish.
    EXPECT_TRUE(!t0[0].publish() && t0[1].publish() && !t0[2].publish() && t0[3].publish());
    EXPECT_TRUE(!t1[0].publish() && t1[1].publish() && !t1[2].publish() && !t1[3].publish());
    EXPECT_EQ(plan.needs().cross_thread_free, true);

    for (int rep = 0; rep < 200; ++rep) {
        const replay_result r = replay<malloc_allocator>(plan, rep % 2 ? touch_policy::full : touch_policy::none);
        ASSERT_TRUE(r.complete);
        ASSERT_EQ(r.ops, 10u);
    }
    for (int rep = 0; rep < 50; ++rep) {
        const replay_result r = replay<thread_cache_allocator>(plan, touch_policy::page);
        ASSERT_TRUE(r.complete);
        ASSERT_EQ(r.ops, 10u);
    }
}

TEST(TraceReplayPlan, RecordingAllocatorSeesMatchingSizesOnCrossThreadFrees) {
    temp_trace f("two_rec");
    builder b;
    b.malloc(0, 1, 64).malloc(1, 2, 100).free(1, 1).free(0, 2).malloc(1, 1, 7).realloc(0, 1, 2, 300).free(1, 2);
    b.write(f.path());
    const replay_plan plan = replay_plan::load(f.path());
    EXPECT_EQ(plan.peak_live_bytes, validate(f.path()).peak_live_bytes);
    recording_allocator::clear();
    const replay_result r = replay<recording_allocator>(plan, touch_policy::full);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.ops, plan.operations());
    EXPECT_EQ(r.ops, 8u);
    EXPECT_EQ(recording_allocator::state().errors, 0);
    EXPECT_TRUE(recording_allocator::state().live.empty());
}

TEST(TraceReplayPlan, ReallocChainKeepsContents) {
    temp_trace f("realloc");
    builder b;
    b.start(0)
        .malloc(0, 1, 100)
        .realloc(0, 1, 2, 200)   // moved
        .realloc(0, 2, 2, 300)   // in place
        .realloc(0, 2, 1, 50)    // shrink, moved
        .realloc(0, 0, 3, 10)    // realloc(NULL, 10)
        .realloc(0, 3, 0, 0)     // realloc(p, 0) freed p
        .realloc(0, 1, 0, 1000)  // failed: id 1 stays live
        .free(0, 1)
        .exit(0)
        .write(f.path());
    const trace_summary sum = validate(f.path());
    const replay_plan plan = replay_plan::load(f.path());
    EXPECT_EQ(plan.steps, 7u);
    EXPECT_EQ(plan.allocs, 2u);
    EXPECT_EQ(plan.frees, 2u);
    EXPECT_EQ(plan.reallocs, 3u);
    EXPECT_EQ(plan.operations(), 10u);
    EXPECT_EQ(plan.dependencies, 0u);
    EXPECT_EQ(plan.peak_live_bytes, 300u);
    EXPECT_EQ(plan.peak_live_bytes, sum.peak_live_bytes);
    EXPECT_EQ(plan.largest_request, 300u);
    EXPECT_TRUE(plan.leaks.empty());

    recording_allocator::clear();
    const replay_result r = replay<recording_allocator>(plan, touch_policy::full);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.ops, 10u);
    EXPECT_EQ(static_cast<std::uint64_t>(r.peak_live_bytes), sum.peak_live_bytes);
    auto& st = recording_allocator::state();
    EXPECT_EQ(st.errors, 0);
    EXPECT_TRUE(st.live.empty());
    ASSERT_EQ(st.freed.size(), 5u);
    // Pointer table entries (the fill byte's key): 1, then 2, 1, 2 along the chain (a realloc
    // takes its new entry before it releases the old), 1 for id 3.
    EXPECT_EQ(st.freed[0], bytes({{100, 1}}));                    // old block of realloc 1 -> 2
    EXPECT_EQ(st.freed[1], bytes({{100, 1}, {100, 2}}));          // old block of 2 -> 2
    EXPECT_EQ(st.freed[2], bytes({{100, 1}, {100, 2}, {100, 1}}));  // old block of 2 -> 1
    EXPECT_EQ(st.freed[3], bytes({{10, 1}}));                     // realloc(p, 0)
    EXPECT_EQ(st.freed[4], bytes({{50, 1}}));                     // the final free

    for (touch_policy touch : {touch_policy::none, touch_policy::page}) {
        const replay_result r2 = replay<malloc_allocator>(plan, touch);
        EXPECT_TRUE(r2.complete);
        EXPECT_EQ(r2.ops, 10u);
        EXPECT_EQ(static_cast<std::uint64_t>(r2.peak_live_bytes), sum.peak_live_bytes);
    }
}

TEST(TraceReplayPlan, AlignedAllocations) {
    temp_trace f("aligned");
    builder b;
    b.start(0)
        .aligned(0, 1, 100, 64)
        .new_aligned(0, 2, 32, 256)
        .aligned(0, 3, 10, 4096, align_fn::valloc)
        .aligned(0, 4, 24, 8)          // below natural: served at 16
        .delete_aligned(0, 2, 32, 256)
        .realloc(0, 1, 5, 200)         // the old block was 64-aligned, the new one is natural
        .free(0, 3)
        .free(0, 5)                    // id 4 leaks
        .exit(0)
        .write(f.path());
    const replay_plan plan = replay_plan::load(f.path());
    EXPECT_EQ(plan.largest_alignment, 4096u);
    EXPECT_EQ(plan.needs().max_align, 4096u);
    // Slot 5 is the realloc's head, slot 6 the free of its old, 64-aligned object.
    EXPECT_EQ(plan.threads[0][5].kind(), step_kind::realloc);
    EXPECT_EQ(plan.threads[0][5].align(), 16u);
    EXPECT_EQ(plan.threads[0][6].kind(), step_kind::free);
    EXPECT_EQ(plan.threads[0][6].align(), 64u);
    EXPECT_EQ(plan.threads[0][6].size(), 100u);
    EXPECT_EQ(plan.threads[0][4].align(), 256u);
    EXPECT_EQ(plan.threads[0][3].align(), 16u);  // recorded 8: asked at the natural 16
    EXPECT_EQ(plan.peak_live_bytes, validate(f.path()).peak_live_bytes);

    recording_allocator::clear();
    const replay_result r = replay<recording_allocator>(plan, touch_policy::full);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.ops, plan.operations());
    EXPECT_EQ(r.leaked_objects, 1u);
    EXPECT_EQ(recording_allocator::state().errors, 0);
    EXPECT_TRUE(recording_allocator::state().live.empty());  // the leak was released after timing

    EXPECT_TRUE(replay<malloc_allocator>(plan, touch_policy::page).complete);
    EXPECT_TRUE(replay<thread_cache_allocator>(plan, touch_policy::full).complete);
}

// Ids far above the event count, which validate() accepts up to 2^48, are renumbered in order
// of first use: a malloc of id 2^40 must not make a 2^40-entry table (a trace_reader_fuzz case).
TEST(TraceReplayPlan, SparseIdsAreRenumbered) {
    temp_trace f("sparse");
    const std::uint64_t big = std::uint64_t{1} << 40;
    builder b;
    b.start(0)
        .malloc(0, big, 100)
        .malloc(0, trace::max_id, 200)
        .realloc(0, big, 7, 300)  // moved to id 7
        .free(0, trace::max_id)
        .exit(0)                  // id 7 leaks
        .write(f.path());
    EXPECT_EQ(validate(f.path()).max_id, trace::max_id);
    const replay_plan plan = replay_plan::load(f.path());
    EXPECT_EQ(plan.max_id, 3u);
    ASSERT_EQ(plan.threads[0].size(), 5u);  // the realloc takes two slots
    EXPECT_EQ(plan.threads[0][0].id, 1u);
    EXPECT_EQ(plan.threads[0][1].id, 2u);
    EXPECT_EQ(plan.threads[0][2].kind(), step_kind::realloc);
    EXPECT_EQ(plan.threads[0][2].old_id, 1u);
    EXPECT_EQ(plan.threads[0][2].id, 3u);
    EXPECT_EQ(plan.threads[0][3].id, 1u);  // the old object's free slot
    EXPECT_EQ(plan.threads[0][3].size(), 100u);
    EXPECT_EQ(plan.threads[0][4].id, 2u);
    EXPECT_EQ(plan.threads[0][4].size(), 200u);
    ASSERT_EQ(plan.leaks.size(), 1u);
    EXPECT_EQ(plan.leaks[0].id, 3u);
    EXPECT_EQ(plan.leaks[0].size, 300u);

    recording_allocator::clear();
    const replay_result r = replay<recording_allocator>(plan, touch_policy::full);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.ops, plan.operations());
    EXPECT_EQ(recording_allocator::state().errors, 0);
}

TEST(TraceReplay, RandomSingleThreadReplaysIdentically) {
    temp_trace f("random1");
    write_random(f.path(), 1, 20000, 7);
    const trace_summary sum = validate(f.path());
    const replay_plan plan = replay_plan::load(f.path());
    EXPECT_EQ(plan.dependencies, 0u);
    EXPECT_EQ(plan.peak_live_bytes, sum.peak_live_bytes);
    const replay_result a = replay<malloc_allocator>(plan, touch_policy::page);
    const replay_result b = replay<malloc_allocator>(plan, touch_policy::page);
    EXPECT_TRUE(a.complete && b.complete);
    EXPECT_EQ(a.ops, plan.operations());
    EXPECT_EQ(a.ops, b.ops);
    EXPECT_EQ(a.checksum, b.checksum);
    EXPECT_EQ(a.peak_live_bytes, b.peak_live_bytes);
    EXPECT_EQ(static_cast<std::uint64_t>(a.peak_live_bytes), sum.peak_live_bytes);
    const replay_result c = replay<thread_cache_allocator>(plan, touch_policy::none);
    EXPECT_TRUE(c.complete);
    EXPECT_EQ(c.ops, a.ops);
    EXPECT_EQ(c.checksum, a.checksum);  // the operation stream does not depend on the allocator
    EXPECT_EQ(c.peak_live_bytes, a.peak_live_bytes);
}

TEST(TraceReplay, RandomFourThreadsCompleteOnEveryAllocator) {
    temp_trace f("random4");
    write_random(f.path(), 4, 20000, 11);
    const trace_summary sum = validate(f.path());
    const replay_plan plan = replay_plan::load(f.path());
    EXPECT_EQ(plan.threads.size(), 4u);
    EXPECT_GT(plan.dependencies, 0u);
    EXPECT_EQ(plan.peak_live_bytes, sum.peak_live_bytes);
    EXPECT_LE(plan.max_id, plan.allocs + plan.reallocs);
    const replay_result a = replay<malloc_allocator>(plan, touch_policy::full);
    const replay_result b = replay<malloc_allocator>(plan, touch_policy::full);
    EXPECT_TRUE(a.complete && b.complete);
    EXPECT_EQ(a.ops, plan.operations());
    EXPECT_EQ(a.ops, b.ops);
    EXPECT_EQ(a.checksum, b.checksum);
    const replay_result c = replay<thread_cache_allocator>(plan, touch_policy::page);
    EXPECT_TRUE(c.complete);
    EXPECT_EQ(c.ops, a.ops);
    EXPECT_EQ(c.checksum, a.checksum);
    recording_allocator::clear();
    const replay_result d = replay<recording_allocator>(plan, touch_policy::none);
    EXPECT_TRUE(d.complete);
    EXPECT_EQ(recording_allocator::state().errors, 0);
    EXPECT_TRUE(recording_allocator::state().live.empty());
}

// The harness row's do-nothing allocator hands a thread's blocks out of one scratch, so a
// realloc's new block starts where its old one does: the replay copies with memmove (and not
// at all from another thread's scratch, which that thread writes: ThreadSanitizer's build runs
// this), and runs to the end with the operations it runs on malloc, every touch policy.
TEST(TraceReplay, OverlappingBlocksOfTheDoNothingAllocatorReplayTheSameOperations) {
    temp_trace f("do-nothing");
    write_random(f.path(), 4, 20000, 13);
    const replay_plan plan = replay_plan::load(f.path());
    const replay_result on_malloc = replay<malloc_allocator>(plan, touch_policy::full);
    for (const touch_policy touch : {touch_policy::none, touch_policy::page, touch_policy::full}) {
        const replay_result r = replay<do_nothing_allocator>(plan, touch);
        EXPECT_TRUE(r.complete) << to_string(touch);
        EXPECT_EQ(r.ops, on_malloc.ops) << to_string(touch);
        EXPECT_EQ(r.checksum, on_malloc.checksum) << to_string(touch);
    }
}

/// malloc_allocator that counts the threads alive that have allocated: a thread is counted
/// from its first allocation to its exit.
struct thread_counting_allocator : malloc_allocator {
    static inline std::atomic<int> alive{0};
    static inline std::atomic<int> most{0};
    struct registration {
        registration() {
            const int a = alive.fetch_add(1) + 1;
            for (int m = most.load(); a > m && !most.compare_exchange_weak(m, a);) {
            }
        }
        ~registration() { alive.fetch_sub(1); }
    };
    void* allocate(std::size_t size, std::size_t align) {
        thread_local registration r;
        return malloc_allocator::allocate(size, align);
    }
};

// A program that hands its work to new threads as old ones finish (21 threads, two workers
// alive at a time, all reusing the same few ids as a recorder numbers them): the replay starts
// each thread where it began and ends it before the next one starts, so no more threads are
// alive than the program had; and since the threads share no object, nothing waits.
TEST(TraceReplayPlan, ThreadsLiveAsTheyLived) {
    temp_trace f("lifetimes");
    builder b;
    b.start(0).malloc(0, 1, 8);  // the initial thread, alive throughout
    const auto churn = [&](std::uint32_t t) {
        for (std::uint64_t k = 0; k < 3; ++k) b.malloc(t, 2 + k, 32 + t);
        for (std::uint64_t k = 0; k < 3; ++k) b.free(t, 2 + k);
    };
    constexpr std::uint32_t workers = 20;
    b.start(1, 0);
    churn(1);
    for (std::uint32_t t = 2; t <= workers; ++t) {
        b.start(t, 0);
        churn(t);
        churn(t - 1);
        b.exit(t - 1);
    }
    churn(workers);
    b.exit(workers).free(0, 1).exit(0).write(f.path());

    const replay_plan plan = replay_plan::load(f.path());
    ASSERT_EQ(plan.threads.size(), workers + 1);
    EXPECT_EQ(plan.dependencies, 0u);
    // start 0, start 1, start 2, then for each next thread: join the one before the last, start.
    ASSERT_EQ(plan.launches.size(), 1 + workers + (workers - 2));
    EXPECT_EQ(plan.launches[0], (replay_launch{0, replay_launch::start, {}}));
    EXPECT_EQ(plan.launches[1].thread, 1u);
    EXPECT_EQ(plan.launches[1].after, (replay_dependency{0, 0}));  // after thread 0's malloc
    EXPECT_TRUE(plan.threads[0][0].publish());
    for (std::uint32_t t = 3; t <= workers; ++t) {
        const replay_launch& join = plan.launches[2 * t - 3];
        const replay_launch& start = plan.launches[2 * t - 2];
        EXPECT_EQ(join.kind, replay_launch::join);
        EXPECT_EQ(join.thread, t - 2);
        EXPECT_EQ(start.kind, replay_launch::start);
        EXPECT_EQ(start.thread, t);
    }

    thread_counting_allocator heap;
    for (int rep = 0; rep < 20; ++rep) {
        thread_counting_allocator::most = 0;
        const replay_result r = replay<thread_counting_allocator>(plan.view(), heap, touch_policy::full);
        ASSERT_TRUE(r.complete);
        ASSERT_EQ(r.ops, plan.operations());
        EXPECT_LE(thread_counting_allocator::most.load(), 3);  // thread 0 and two workers
    }
    // Serial: every call on one thread, started at once.
    const replay_plan serial = replay_plan::load(f.path(), replay_order::serial);
    ASSERT_EQ(serial.launches.size(), 1u);
    EXPECT_TRUE(replay<malloc_allocator>(serial, touch_policy::page).complete);
}

// --replay timed: each step's gap is the recorded time since the thread's previous step, less
// the thread's shortest such gap (what a call and its recording cost), and the replay spends it.
TEST(TraceReplayPlan, TimedReplaySpendsTheRecordedGaps) {
    temp_trace f("timed");
    builder b;
    b.at(0).start(0);
    b.at(1'000).malloc(0, 1, 64);     // 1 us after the start: the shortest gap, the floor
    b.at(2'000).malloc(0, 2, 64);     // 1 us: nothing left after the floor
    b.at(30'002'000).free(0, 1);      // 30 ms of the program's own work
    b.at(30'003'000).realloc(0, 2, 3, 500);
    b.at(30'004'000).free(0, 3).exit(0).write(f.path());

    const replay_plan plan = replay_plan::load(f.path(), replay_order::timed);
    ASSERT_EQ(plan.gaps.size(), 1u);
    ASSERT_EQ(plan.gaps[0].size(), plan.threads[0].size());
    EXPECT_EQ(plan.gaps[0], (std::vector<std::uint32_t>{0, 0, 30'000'000 - 1'000, 0, 0, 0}));
    for (int rep = 0; rep < 3; ++rep) {
        const replay_result r = replay<malloc_allocator>(plan, touch_policy::page);
        EXPECT_TRUE(r.complete);
        EXPECT_GE(r.wall_s, 0.029);
        // The thread's time: the 30 ms gap spent as work, no wait (one thread), all of it
        // within the replay's duration.
        ASSERT_TRUE(r.timed.has_value());
        EXPECT_GE(r.timed->gap_s, 0.0299);
        EXPECT_EQ(r.timed->wait_s, 0.0);
        EXPECT_GE(r.timed->thread_s, r.timed->gap_s);
        EXPECT_LE(r.timed->thread_s, r.wall_s * 1.01);
    }
    // The same gaps through a plan file.
    const std::string plan_path = f.path() + ".plan";
    plan_to_file(f.path(), plan_path, replay_order::timed);
    {
        const mapped_plan mapped(plan_path);
        ASSERT_EQ(mapped.view().gaps.size(), 1u);
        EXPECT_TRUE(std::equal(mapped.view().gaps[0].begin(), mapped.view().gaps[0].end(), plan.gaps[0].begin(),
                               plan.gaps[0].end()));
        malloc_allocator heap;
        EXPECT_GE(replay<malloc_allocator>(mapped.view(), heap, touch_policy::none).wall_s, 0.029);
    }
    std::remove(plan_path.c_str());
    // An untimed plan has no gaps, and replays at once.
    const replay_plan untimed = replay_plan::load(f.path(), replay_order::threads);
    EXPECT_TRUE(untimed.gaps.empty());
    const replay_result fast = replay<malloc_allocator>(untimed, touch_policy::none);
    EXPECT_LT(fast.wall_s, 0.029);
    EXPECT_FALSE(fast.timed.has_value());
    // Gaps beyond 2^31 ns are kept in microseconds.
    EXPECT_EQ(decode_gap(encode_gap(123)), 123u);
    EXPECT_EQ(decode_gap(encode_gap(std::uint64_t{1} << 40)), (std::uint64_t{1} << 40) / 1000 * 1000);
    EXPECT_EQ(decode_gap(encode_gap(std::uint64_t{1} << 60)), std::uint64_t{0x7fffffff} * 1000);  // capped
}

// A timed replay tells a thread's wait for another thread apart from its gaps: thread 1 frees
// what thread 0 makes after 200 ms of work, so thread 1 waits (up to 200 ms, less when it started
// late) and works for none; what is neither gap nor wait is the two calls (and, on a busy
// machine, what time the threads lost off their cores there: long enough gaps make it small).
TEST(TraceReplayPlan, TimedReplaySplitsGapsAndWaits) {
    constexpr std::uint64_t gap_ns = 200'000'000;
    replay_plan plan;
    replay_step made = replay_step::make(step_kind::alloc, 1, 64, 16);
    made.set_publish();
    replay_step freed = replay_step::make(step_kind::free, 1, 64, 16);
    freed.set_waits(1);
    plan.threads = {{made}, {freed}};
    plan.waits = {{}, {replay_dependency{0, 0}}};
    plan.gaps = {{encode_gap(gap_ns)}, {0}};
    plan.replay_threads = 2;
    plan.max_id = 1;
    plan.allocs = plan.frees = plan.steps = 1;
    const replay_result r = replay<malloc_allocator>(plan, touch_policy::none);
    ASSERT_TRUE(r.complete);
    ASSERT_TRUE(r.timed.has_value());
    EXPECT_GE(r.timed->gap_s, 0.1999);  // thread 0's work
    EXPECT_LT(r.timed->gap_s, 0.35);     // not thread 1's wait too
    EXPECT_GT(r.timed->wait_s, 0.1);     // thread 1, from its start (maybe late) to thread 0's step
    EXPECT_GE(r.timed->thread_s, r.timed->gap_s + r.timed->wait_s);
    EXPECT_LT(r.timed->thread_s - r.timed->gap_s - r.timed->wait_s, 0.05);  // what is left: two calls
}

TEST(TraceReplayPlan, TimedReplayNeedsTimestamps) {
    temp_trace f("untimed");
    builder b;
    b.start(0).malloc(0, 1, 8).free(0, 1).exit(0).write(f.path());
    try {
        replay_plan::load(f.path(), replay_order::timed);
        FAIL() << "a trace without timestamps was planned for --replay timed";
    } catch (const trace_error& e) {
        EXPECT_NE(std::string(e.what()).find("no timestamps"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("--timestamps"), std::string::npos) << e.what();
    }
}

// Objects made by one thread and freed by another, far more of them than the table's floor:
// the pointer table stays small (the producer takes entries the consumer released long ago,
// one wait per batch) and the replay completes.
TEST(TraceReplayPlan, PointerTableStaysSmallWhenObjectsChangeHands) {
    temp_trace f("handoff");
    builder b;
    b.start(0).start(1, 0);
    constexpr std::uint64_t objects = 200'000, depth = 8;
    std::vector<std::uint64_t> free_ids;  // as a recorder numbers: the smallest id not live
    std::uint64_t next_id = 1;
    std::vector<std::uint64_t> queue;
    for (std::uint64_t k = 0; k < objects; ++k) {
        std::uint64_t id;
        if (free_ids.empty()) {
            id = next_id++;
        } else {
            const auto it = std::min_element(free_ids.begin(), free_ids.end());
            id = *it;
            free_ids.erase(it);
        }
        b.malloc(0, id, 24);
        queue.push_back(id);
        if (queue.size() == depth) {
            b.free(1, queue.front());
            free_ids.push_back(queue.front());
            queue.erase(queue.begin());
        }
    }
    for (const std::uint64_t id : queue) b.free(1, id);
    b.exit(1).exit(0).write(f.path());

    const replay_plan plan = replay_plan::load(f.path());
    EXPECT_LE(plan.max_id, (std::uint64_t{1} << 16) + depth);
    EXPECT_LT(plan.dependencies, objects + 64);  // a free waits for its allocation; few steals
    for (int rep = 0; rep < 3; ++rep) {
        const replay_result r = replay<malloc_allocator>(plan, touch_policy::page);
        ASSERT_TRUE(r.complete);
        ASSERT_EQ(r.ops, 2 * objects);
    }
    recording_allocator::clear();
    EXPECT_TRUE(replay<recording_allocator>(plan, touch_policy::full).complete);
    EXPECT_EQ(recording_allocator::state().errors, 0);
}

// Verified (run --verify), random four-thread traces with reallocs and leaks replay to the end
// on every touch policy, as the same operations: a realloc's copy of the old block's tag is
// replaced by the new block's own, and the leaks' tags are checked when they are released.
TEST(TraceReplayVerify, SoundAllocatorsPass) {
    temp_trace f("verify4");
    write_random(f.path(), 4, 20000, 13);
    const replay_plan plan = replay_plan::load(f.path());
    ASSERT_FALSE(plan.leaks.empty());
    ASSERT_GT(plan.reallocs, 0u);
    const replay_result measured = replay<malloc_allocator>(plan, touch_policy::page);
    for (const touch_policy touch : {touch_policy::none, touch_policy::page, touch_policy::full}) {
        const replay_result v = replay<verified<malloc_allocator>>(plan, touch);
        EXPECT_TRUE(v.complete);
        EXPECT_EQ(v.ops, measured.ops);
        EXPECT_EQ(v.checksum, measured.checksum);
    }
    const replay_result t = replay<verified<thread_cache_allocator>>(plan, touch_policy::page);
    EXPECT_TRUE(t.complete);
}

// An allocator that hands out a block inside a live one: unverified the replay completes;
// verified it ends when the overlapped object is freed, or reallocated, naming the object.
TEST(TraceReplayVerifyDeathTest, OverlappingBlocksFailTheReplay) {
    using overlapping = test_helpers::overlapping_allocator<2, 2>;  // the 2nd allocation lands 16 bytes into the 1st
    temp_trace f("overlap");
    builder b;
    b.start(0).malloc(0, 1, 200).malloc(0, 2, 64).free(0, 1).free(0, 2).exit(0).write(f.path());
    const replay_plan plan = replay_plan::load(f.path());
    EXPECT_TRUE((replay<overlapping>(plan, touch_policy::page).complete));
    EXPECT_EXIT((replay<verified<overlapping>>(plan, touch_policy::page)), ::testing::ExitedWithCode(verify_exit_code),
                "verify: block #0:1 of 200 bytes at 0x[0-9a-f]+ \\(alignment 16, trace object 1, allocated at step 1 of "
                "replay thread 0\\) was overwritten before it was freed at step 3 of replay thread 0: bytes 16..23 hold "
                "another block's tag \\(#0:2\\); 64 of the 200 tagged bytes differ");

    temp_trace g("overlap-realloc");
    builder c;
    c.start(0).malloc(0, 1, 200).realloc(0, 1, 2, 64).free(0, 2).exit(0).write(g.path());
    const replay_plan moved = replay_plan::load(g.path());
    EXPECT_EXIT((replay<verified<overlapping>>(moved, touch_policy::page)), ::testing::ExitedWithCode(verify_exit_code),
                "block #0:1 of 200 bytes .* was overwritten before it was reallocated at step 2 of replay thread 0: "
                "bytes 16..23 hold another block's tag \\(#0:2\\)");
}

TEST(TraceReplay, BadTraceIsRejectedWhenPlanned) {
    temp_trace f("bad");
    builder b;
    b.malloc(0, 1, 8).free(0, 2);
    b.write(f.path());
    EXPECT_THROW(replay_plan::load(f.path()), trace_error);
}

// A saved plan maps back to the same view, and replays exactly as the plan it came from; a
// file that is not a plan, or is cut short, is refused with its name.
TEST(ReplayPlanFile, RoundTripAndBadFiles) {
    temp_trace f("planfile");
    write_random(f.path(), 3, 5000, 5);
    const replay_plan plan = replay_plan::load(f.path());
    const std::string saved = f.path() + ".plan";
    save_plan(plan, saved);
    {
        const mapped_plan mapped(saved);
        const replay_view& v = mapped.view();
        ASSERT_EQ(v.threads.size(), plan.threads.size());
        for (std::size_t t = 0; t < plan.threads.size(); ++t) {
            ASSERT_EQ(v.threads[t].size(), plan.threads[t].size());
            EXPECT_EQ(std::memcmp(v.threads[t].data(), plan.threads[t].data(), v.threads[t].size_bytes()), 0);
            EXPECT_TRUE(std::equal(v.waits[t].begin(), v.waits[t].end(), plan.waits[t].begin(), plan.waits[t].end()));
        }
        EXPECT_EQ(v.leaks.size(), plan.leaks.size());
        EXPECT_EQ(v.max_id, plan.max_id);
        EXPECT_EQ(mapped.steps(), plan.steps);
        EXPECT_EQ(mapped.dependencies(), plan.dependencies);
        EXPECT_EQ(mapped.peak_live_bytes(), plan.peak_live_bytes);
        malloc_allocator heap;
        const replay_result a = replay<malloc_allocator>(v, heap, touch_policy::page);
        const replay_result b = replay<malloc_allocator>(plan, touch_policy::page);
        EXPECT_TRUE(a.complete && b.complete);
        EXPECT_EQ(a.ops, b.ops);
        EXPECT_EQ(a.checksum, b.checksum);
        EXPECT_EQ(a.leaked_objects, b.leaked_objects);
    }
    EXPECT_THROW(mapped_plan{f.path()}, trace_error);  // a trace, not a plan
    std::filesystem::resize_file(saved, std::filesystem::file_size(saved) - 8);
    try {
        mapped_plan cut(saved);
        ADD_FAILURE() << "a truncated plan was accepted";
    } catch (const trace_error& e) {
        EXPECT_NE(std::string(e.what()).find(saved), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
    std::filesystem::remove(saved);
    EXPECT_THROW(mapped_plan{saved}, trace_error);  // missing
}

// ---- touch policies --------------------------------------------------------------------------

// Which bytes each policy writes into a new block of 10 pages: page one byte a page, part the
// same over its first share (its first byte always: part(0) writes one byte, part(1) is page),
// full every byte; and into the part of a grown realloc past the old contents.
TEST(TouchPolicy, WritesWhatItSays) {
    constexpr std::size_t size = 10 * 4096;
    std::vector<unsigned char> block(size);
    const auto written = [&](touch_policy t, std::size_t from = 0) {
        std::fill(block.begin(), block.end(), 0);
        trace::detail::replay_touch(block.data(), from, size, 7, t);
        std::vector<std::size_t> at;
        for (std::size_t i = 0; i < size; ++i)
            if (block[i] != 0) at.push_back(i);
        return at;
    };
    const std::vector<std::size_t> every_page = {0, 4096, 8192, 12288, 16384, 20480, 24576, 28672, 32768, 36864};
    EXPECT_TRUE(written(touch_policy::none).empty());
    EXPECT_EQ(written(touch_policy::page), every_page);
    EXPECT_EQ(written(touch_policy::part(1)), every_page);
    EXPECT_EQ(written(touch_policy::part(0.25)), (std::vector<std::size_t>{0, 4096, 8192}));  // bytes below 10240
    EXPECT_EQ(written(touch_policy::part(0)), (std::vector<std::size_t>{0}));
    EXPECT_EQ(written(touch_policy::full).size(), size);
    EXPECT_EQ(written(touch_policy::part(0.5), 5000), (std::vector<std::size_t>{8192, 12288, 16384}));  // a realloc past 5000
    EXPECT_EQ(written(touch_policy::automatic), every_page) << "auto unresolved touches as page";
}

// The policies' words: to_string and parse_touch agree, a part keeps 4 decimals, and anything
// else is refused.
TEST(TouchPolicy, NamesReadBack) {
    for (const touch_policy t : {touch_policy::none, touch_policy::page, touch_policy::full, touch_policy::automatic,
                                 touch_policy::part(0.1149), touch_policy::part(0), touch_policy::part(1),
                                 touch_policy::part(2.0 / 3), touch_policy::part(0.00004)})
        EXPECT_EQ(parse_touch(to_string(t)), t) << to_string(t);
    EXPECT_EQ(to_string(touch_policy::part(0.11494)), "part:0.1149");
    EXPECT_EQ(to_string(touch_policy::part(1)), "part:1");
    EXPECT_EQ(to_string(touch_policy::automatic), "auto");
    EXPECT_EQ(parse_touch("part:0.25"), touch_policy::part(0.25));
    for (const char* bad : {"part:", "part:1.5", "part:-0.1", "part:0.5x", "part:nan", "partial", "Page", ""})
        EXPECT_FALSE(parse_touch(bad).has_value()) << bad;
}

// --touch auto: the program's RSS growth over its first sample, over the peak live bytes,
// clamped to 0..1; nothing to go on without samples or live bytes.
TEST(TouchPolicy, AutoFollowsTheRecordedGrowth) {
    rss_summary rss;
    rss.samples = 40;
    rss.first_bytes = 1u << 20;
    rss.peak_bytes = 21u << 20;
    EXPECT_EQ(auto_touch(rss, 200u << 20), touch_policy::part(0.1));
    EXPECT_EQ(auto_touch(rss, 10u << 20), touch_policy::part(1)) << "more growth than live bytes: page";
    rss.peak_bytes = rss.first_bytes;
    EXPECT_EQ(auto_touch(rss, 200u << 20), touch_policy::part(0));
    EXPECT_FALSE(auto_touch(rss, 0).has_value());
    EXPECT_FALSE(auto_touch(rss_summary{}, 200u << 20).has_value());
}
