// Streaming the trace tools: ordered_events gives exactly load_sorted()'s order on adversarial
// chunk orders (an idle thread's one chunk last, hundreds of threads, one event per chunk, seq
// gaps, equal seqs); trace_writer's flush window bounds what a merge buffers; plan_to_file
// writes the file save_plan(load()) writes; and validate, planning and the spool conversion
// grow a process's peak RSS by a bounded amount on a trace of millions of events.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "workloads/trace/format/synthetic_trace.hpp"
#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/format/trace_order.hpp"
#include "workloads/trace/format/trace_validation.hpp"
#include "workloads/trace/recording/trace_spool.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/replay_plan_file.hpp"

using namespace allocmeter::trace;

namespace {

/// A file in the test temp dir, removed when the test ends.
class temp_file {
public:
    explicit temp_file(const std::string& tag) {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = ::testing::TempDir() + "amstream_" + info->test_suite_name() + "_" + info->name() + "_" + tag + "_" +
                std::to_string(::getpid());
    }
    ~temp_file() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

/// The events of `path` as ordered_events hands them out, and its merge figures.
std::vector<event> streamed(const std::string& path, merge_stats* stats = nullptr) {
    ordered_events source(path);
    std::vector<event> out;
    for (event e; source.next(e);) out.push_back(e);
    if (stats != nullptr) *stats = source.stats();
    return out;
}

/// Events of `threads` threads in global order: each a malloc or a free of one of the thread's
/// own objects, seq advancing by 1 .. max_gap.
std::vector<event> program(unsigned threads, unsigned events, std::uint64_t max_gap, std::mt19937_64& rng) {
    std::vector<event> out;
    std::map<std::uint32_t, std::vector<std::uint64_t>> live;
    std::uint64_t seq = 0, next_id = 1;
    for (unsigned i = 0; i < events; ++i) {
        event e;
        e.thread = static_cast<std::uint32_t>(rng() % threads);
        e.seq = seq += 1 + rng() % max_gap;
        auto& mine = live[e.thread];
        if (mine.empty() || rng() % 2 == 0) {
            e.kind = op::malloc;
            e.id = next_id++;
            e.size = 1 + rng() % 300;
            mine.push_back(e.id);
        } else {
            e.kind = op::free;
            e.id = mine.back();
            mine.pop_back();
        }
        out.push_back(e);
    }
    return out;
}

/// Appends `events` (each thread's in program order) with the threads interleaved at random:
/// runs of 1 .. max_run events of one thread at a time. With chunk_bytes 1 every event is a
/// chunk, so this is any chunk order a valid trace may have.
void write_shuffled(const std::string& path, const std::vector<event>& events, std::size_t chunk_bytes,
                    unsigned max_run, std::mt19937_64& rng) {
    std::map<std::uint32_t, std::vector<event>> per_thread;
    for (const event& e : events) per_thread[e.thread].push_back(e);
    std::vector<std::pair<std::vector<event>*, std::size_t>> cursors;
    for (auto& [t, v] : per_thread) cursors.push_back({&v, 0});
    trace_header h;
    trace_writer w(path, h, chunk_bytes);
    while (!cursors.empty()) {
        const std::size_t k = rng() % cursors.size();
        auto& [v, at] = cursors[k];
        for (unsigned n = 1 + static_cast<unsigned>(rng() % max_run); n > 0 && at < v->size(); --n) w.append((*v)[at++]);
        if (at == v->size()) cursors.erase(cursors.begin() + static_cast<std::ptrdiff_t>(k));
    }
    w.close();
}

/// Runs `work` in a forked child and returns how far it raised the child's peak RSS, in KiB
/// (getrusage's ru_maxrss after minus before). A child that throws fails the test.
long peak_rss_growth_kib(const std::function<void()>& work) {
    int fds[2];
    if (::pipe(fds) != 0) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        rusage before{}, after{};
        ::getrusage(RUSAGE_SELF, &before);
        long growth = -1;
        try {
            work();
            ::getrusage(RUSAGE_SELF, &after);
            growth = after.ru_maxrss - before.ru_maxrss;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: %s\n", e.what());
        }
        const ssize_t ignored = ::write(fds[1], &growth, sizeof growth);
        (void)ignored;
        ::_exit(0);
    }
    ::close(fds[1]);
    long growth = -1;
    if (::read(fds[0], &growth, sizeof growth) != static_cast<ssize_t>(sizeof growth)) growth = -1;
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (growth >= 0) std::printf("  peak RSS grew by %.1f MiB\n", static_cast<double>(growth) / 1024);
    return growth;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;  // shadow memory and quarantines: RSS says nothing about us
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

/// The old tools held every event: at least this many bytes each (117-140 measured).
constexpr long old_bytes_per_event = 100;

}  // namespace

// ---- the global order -----------------------------------------------------------------------

// One thread starts, then idles to the end: its only chunk is the file's last and holds the
// trace's second-smallest seq, so the merge must hold back everything else until it is read.
TEST(TraceOrder, IdleThreadWhoseOneChunkComesLast) {
    temp_file f("t");
    std::vector<event> all;
    std::uint64_t seq = 0;
    const auto add = [&](op k, std::uint32_t t, std::uint64_t id) {
        event e;
        e.kind = k;
        e.thread = t;
        e.seq = seq++;
        e.id = id;
        e.size = id == 0 ? 0 : 16;
        if (k == op::thread_start) e.parent = t == 0 ? no_thread : 0;
        all.push_back(e);
    };
    add(op::thread_start, 0, 0);
    add(op::thread_start, 1, 0);
    for (std::uint64_t i = 0; i < 5000; ++i) {
        add(op::malloc, 0, 1);
        add(op::free, 0, 1);
    }
    add(op::thread_exit, 1, 0);
    add(op::thread_exit, 0, 0);
    {
        trace_writer w(f.path(), trace_header{}, 256);  // many chunks for thread 0
        for (const event& e : all) w.append(e);
        w.close();
    }
    std::vector<event> file_order;
    {
        trace_reader r(f.path());
        for (event e; r.next(e);) file_order.push_back(e);
    }
    const auto idle = std::find_if(file_order.begin(), file_order.end(), [](const event& e) { return e.thread == 1; });
    ASSERT_GT(idle - file_order.begin(), 9000) << "thread 1's one chunk should come at the end of the file";
    merge_stats stats;
    EXPECT_EQ(streamed(f.path(), &stats), load_sorted(f.path()));
    EXPECT_EQ(stats.index_entries, 3u);  // thread 0's chunks, thread 1's, thread 0's last
    EXPECT_GT(stats.peak_buffered_events, 9000u) << "the idle chunk holds back the whole trace";
    EXPECT_EQ(validate(f.path()).events, all.size());
}

// Hundreds of threads, one event per chunk, seq gaps, runs of a thread in random order: the
// streamed order is the sort's, event for event (offsets included).
TEST(TraceOrder, ManyThreadsAnyChunkOrderSeqGaps) {
    std::mt19937_64 rng(2024);
    for (const std::size_t chunk_bytes : {std::size_t{1}, std::size_t{7}, std::size_t{200}, std::size_t{65536}}) {
        temp_file f(std::to_string(chunk_bytes));
        const std::vector<event> events = program(300, 20000, 1000, rng);
        write_shuffled(f.path(), events, chunk_bytes, 50, rng);
        const std::vector<event> want = load_sorted(f.path());
        ASSERT_EQ(want.size(), events.size());
        EXPECT_EQ(streamed(f.path()), want) << "chunk_bytes " << chunk_bytes;
        const trace_summary s = validate(f.path());
        EXPECT_EQ(s.events, events.size());
        EXPECT_EQ(s.threads, 300u);
    }
}

// Small random traces, many shapes: 1 to 12 threads, chunks of 1 byte to 1 KiB, runs of 1 to
// 20 events per thread, seq gaps up to 3.
TEST(TraceOrder, RandomShapesMatchTheSort) {
    std::mt19937_64 rng(7);
    for (int round = 0; round < 150; ++round) {
        temp_file f(std::to_string(round));  // (GCC 12 warns falsely on "r" + to_string)
        const unsigned threads = 1 + static_cast<unsigned>(rng() % 12);
        const std::vector<event> events = program(threads, 1 + static_cast<unsigned>(rng() % 400), 1 + rng() % 3, rng);
        write_shuffled(f.path(), events, 1 + rng() % 1024, 1 + static_cast<unsigned>(rng() % 20), rng);
        ASSERT_EQ(streamed(f.path()), load_sorted(f.path())) << "round " << round;
    }
}

// Equal seqs in two threads (a trace validate() refuses) come out in file order, as the
// stable sort has them, and validate() names the second one.
TEST(TraceOrder, EqualSeqsKeepFileOrder) {
    temp_file f("t");
    event a;
    a.kind = op::malloc;
    a.thread = 1;
    a.seq = 5;
    a.id = 1;
    event b = a;
    b.thread = 0;
    b.id = 2;
    event c = a;
    c.thread = 0;
    c.seq = 3;
    c.id = 3;
    {
        trace_writer w(f.path(), trace_header{}, 1);
        w.append(a);  // thread 1, seq 5
        w.append(c);  // thread 0, seq 3
        w.append(b);  // thread 0, seq 5
        w.close();
    }
    const std::vector<event> got = streamed(f.path());
    EXPECT_EQ(got, load_sorted(f.path()));
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[1].thread, 1u);
    EXPECT_EQ(got[2].thread, 0u);
    try {
        validate(f.path());
        ADD_FAILURE() << "a seq used twice was accepted";
    } catch (const trace_error& e) {
        EXPECT_EQ(e.offset, got[2].at);
        EXPECT_NE(e.problem.find("sequence number 5 used twice (also at byte " + std::to_string(got[1].at) + ")"),
                  std::string::npos)
            << e.what();
    }
}

// A thread whose seq goes back from one chunk to the next cannot be merged: refused with
// validate()'s message, at the event.
TEST(TraceOrder, ThreadGoingBackIsRefused) {
    temp_file f("t");
    event a;
    a.kind = op::free;
    a.seq = 9;
    event b = a;
    b.seq = 4;
    {
        trace_writer w(f.path(), trace_header{}, 1);
        w.append(a);
        w.append(b);
        w.close();
    }
    try {
        ordered_events source(f.path());
        ADD_FAILURE() << "a thread going back in seq was merged";
    } catch (const trace_error& e) {
        EXPECT_NE(e.problem.find("thread 0 goes back in sequence (seq 4 after 9)"), std::string::npos) << e.what();
    }
}

// No events: nothing to hand out, no threads.
TEST(TraceOrder, EmptyTrace) {
    temp_file f("t");
    trace_writer(f.path(), trace_header{}).close();
    ordered_events source(f.path());
    event e;
    EXPECT_FALSE(source.next(e));
    EXPECT_EQ(source.threads(), 0u);
    EXPECT_EQ(source.events(), 0u);
    EXPECT_EQ(validate(f.path()).events, 0u);
}

// ---- the writer's flush window --------------------------------------------------------------

// Appended in global order with an idle thread, a trace of 3 flush windows: the idle thread's
// first chunk is written within a window of its event, so the merge buffers about a window,
// not the trace.
TEST(TraceWriterFlushWindow, BoundsWhatTheMergeBuffers) {
    temp_file f("t");
    synthetic_trace_options o;
    o.events = 3 * trace_writer::flush_window;
    o.threads = 4;
    o.live = 500;
    write_synthetic_trace(f.path(), o);
    merge_stats stats;
    std::uint64_t n = 0, last_seq = 0;
    {
        ordered_events source(f.path());
        for (event e; source.next(e); ++n) {
            ASSERT_TRUE(n == 0 || e.seq > last_seq);
            last_seq = e.seq;
        }
        stats = source.stats();
    }
    EXPECT_EQ(n, o.events);
    // A window, plus the events appended while the oldest buffer waited for its turn.
    EXPECT_LE(stats.peak_buffered_events, trace_writer::flush_window + trace_writer::flush_window / 8);
    EXPECT_LE(stats.peak_buffered_bytes, 16 * stats.peak_buffered_events);
}

// ---- plans written as they are built --------------------------------------------------------

namespace {

// The two files hold the same plan: header figures, every slot bit for bit, every wait, every leak.
void expect_same_plan(const std::string& streamed_path, const replay_plan& plan, const replay_plan_totals& totals) {
    const mapped_plan m(streamed_path);
    const replay_view& v = m.view();
    EXPECT_EQ(totals.steps, plan.steps);
    EXPECT_EQ(totals.checksum, plan.checksum);
    EXPECT_EQ(totals.dependencies, plan.dependencies);
    EXPECT_EQ(totals.peak_live_bytes, plan.peak_live_bytes);
    EXPECT_EQ(totals.replay_threads, plan.threads.size());
    EXPECT_EQ(totals.needs().max_align, plan.needs().max_align);
    EXPECT_EQ(totals.needs().cross_thread_free, plan.needs().cross_thread_free);
    EXPECT_EQ(m.steps(), plan.steps);
    EXPECT_EQ(m.dependencies(), plan.dependencies);
    EXPECT_EQ(m.peak_live_bytes(), plan.peak_live_bytes);
    EXPECT_EQ(v.max_id, plan.max_id);
    EXPECT_EQ(v.checksum, plan.checksum);
    ASSERT_EQ(v.threads.size(), plan.threads.size());
    for (std::size_t t = 0; t < plan.threads.size(); ++t) {
        ASSERT_EQ(v.threads[t].size(), plan.threads[t].size()) << "thread " << t;
        EXPECT_EQ(std::memcmp(v.threads[t].data(), plan.threads[t].data(), v.threads[t].size_bytes()), 0) << "thread " << t;
        EXPECT_TRUE(std::equal(v.waits[t].begin(), v.waits[t].end(), plan.waits[t].begin(), plan.waits[t].end()))
            << "thread " << t;
    }
    ASSERT_EQ(v.leaks.size(), plan.leaks.size());
    for (std::size_t i = 0; i < v.leaks.size(); ++i) {
        EXPECT_EQ(v.leaks[i].id, plan.leaks[i].id);
        EXPECT_EQ(v.leaks[i].size, plan.leaks[i].size);
        EXPECT_EQ(v.leaks[i].align, plan.leaks[i].align);
    }
}

}  // namespace

// Threads and serial, on a trace with cross-thread frees (thousands of waits per thread, so
// they spill), reallocs and leaks, written in any chunk order.
TEST(ReplayPlanToFile, SameFileAsSavePlanOfLoad) {
    std::mt19937_64 rng(99);
    temp_file f("t"), p("plan");
    std::vector<event> events;
    std::uint64_t seq = 0, next_id = 1;
    std::vector<std::uint64_t> live;
    for (int i = 0; i < 60000; ++i) {
        event e;
        e.thread = static_cast<std::uint32_t>(rng() % 6);
        e.seq = seq++;
        const unsigned r = static_cast<unsigned>(rng() % 10);
        if (live.empty() || r < 4) {
            e.kind = r == 0 ? op::aligned : op::malloc;
            e.id = next_id++;
            e.size = 1 + rng() % 4000;
            if (e.kind == op::aligned) e.alignment = 64;
            live.push_back(e.id);
        } else if (r < 8) {
            const std::size_t k = rng() % live.size();
            e.kind = op::free;
            e.id = live[k];
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
        } else {
            const std::size_t k = rng() % live.size();
            e.kind = op::realloc;
            e.old_id = live[k];
            e.id = live[k] = next_id++;
            e.size = 1 + rng() % 9000;
            e.flags = realloc_moved;
        }
        events.push_back(e);
    }
    write_shuffled(f.path(), events, 512, 30, rng);
    for (const replay_order order : {replay_order::threads, replay_order::serial}) {
        const replay_plan plan = replay_plan::load(f.path(), order);
        if (order == replay_order::threads) {
            EXPECT_GT(plan.dependencies, 6u * 512) << "the waits should spill";
        }
        EXPECT_FALSE(plan.leaks.empty());
        const replay_plan_totals totals = plan_to_file(f.path(), p.path(), order);
        expect_same_plan(p.path(), plan, totals);
    }
}

// A trace with no events plans to an empty plan; a trace that is not valid leaves no plan file.
TEST(ReplayPlanToFile, EmptyAndInvalidTraces) {
    temp_file f("t"), p("plan");
    trace_writer(f.path(), trace_header{}).close();
    const replay_plan_totals totals = plan_to_file(f.path(), p.path(), replay_order::threads);
    EXPECT_EQ(totals.steps, 0u);
    expect_same_plan(p.path(), replay_plan::load(f.path()), totals);

    event m;
    m.kind = op::malloc;
    m.id = 1;
    event fr = m;
    fr.kind = op::free;
    fr.id = 2;
    fr.seq = 1;
    {
        trace_writer w(f.path(), trace_header{});
        w.append(m);
        w.append(fr);
        w.close();
    }
    EXPECT_THROW(plan_to_file(f.path(), p.path(), replay_order::threads), trace_error);
    EXPECT_FALSE(std::ifstream(p.path()).good()) << "a failed plan must not be left behind";
}

// ---- memory: the peak RSS each tool adds on a trace of millions of events -------------------

namespace {

/// 4 M events on 8 threads (an idle one among them), about 2000 live objects: the old tools
/// took 400+ MiB on it; streaming takes the flush window's worth and the tables.
class TraceMemory : public ::testing::Test {
protected:
    static constexpr std::uint64_t events = 4'000'000;
    static constexpr long bound_kib = 64 * 1024;  // 64 MiB, against 380+ MiB at 100 bytes an event

    static void SetUpTestSuite() {
        path_ = new std::string(::testing::TempDir() + "amstream_memory_" + std::to_string(::getpid()) + ".trace");
        synthetic_trace_options o;
        o.events = events;
        o.live = 2000;
        write_synthetic_trace(*path_, o);
    }
    static void TearDownTestSuite() {
        std::remove(path_->c_str());
        delete path_;
    }
    void SetUp() override {
        if (sanitized) GTEST_SKIP() << "peak RSS under a sanitizer measures the sanitizer";
        static_assert(bound_kib * 1024 < static_cast<long>(events) * old_bytes_per_event / 4);
    }
    static const std::string& trace() { return *path_; }

private:
    static std::string* path_;
};
std::string* TraceMemory::path_ = nullptr;

}  // namespace

TEST_F(TraceMemory, ValidateStreams) {
    const long kib = peak_rss_growth_kib([] {
        if (validate(trace()).events != events) throw std::runtime_error("wrong event count");
    });
    ASSERT_GE(kib, 0) << "the child failed";
    EXPECT_LT(kib, bound_kib) << "validate() raised the peak RSS by " << kib / 1024 << " MiB on " << events << " events";
}

TEST_F(TraceMemory, PlanToFileStreams) {
    temp_file p("plan");
    const std::string plan_path = p.path();
    const long kib = peak_rss_growth_kib([&] {
        if (plan_to_file(trace(), plan_path, replay_order::threads).steps == 0) throw std::runtime_error("no steps");
    });
    ASSERT_GE(kib, 0) << "the child failed";
    EXPECT_LT(kib, bound_kib) << "plan_to_file raised the peak RSS by " << kib / 1024 << " MiB on " << events << " events";
    const long serial = peak_rss_growth_kib([&] { plan_to_file(trace(), plan_path, replay_order::serial); });
    ASSERT_GE(serial, 0) << "the child failed";
    EXPECT_LT(serial, bound_kib) << "serial planning raised the peak RSS by " << serial / 1024 << " MiB";
    // And the file is the plan: 4 M slots, over the sink's 1 M-slot drop interval.
    expect_same_plan(plan_path, replay_plan::load(trace(), replay_order::serial),
                     plan_to_file(trace(), plan_path, replay_order::serial));
}

// What `record` does after the program exits: convert the spool, validating the trace as it goes.
TEST_F(TraceMemory, SpoolConversionStreams) {
    temp_file spool("spool"), out("trace");
    {
        // The synthetic trace's events as a recorder's spool: 64 KiB blocks per thread,
        // addresses for ids (the id's slot in a 64-byte-aligned arena).
        spool_header h;
        h.command_line = "synthetic";
        h.host = "test";
        std::ofstream s(spool.path(), std::ios::binary);
        s << encode_spool_header(h);
        std::map<std::uint32_t, spool_block_builder> blocks;
        std::map<std::uint32_t, std::size_t> sizes;
        ordered_events source(trace());
        for (event e; source.next(e);) {
            spool_record rec;
            rec.kind = e.kind;
            rec.seq = 2 * e.seq;  // room for a realloc's second seq
            rec.size = e.size;
            const auto addr = [](std::uint64_t id) -> std::uint64_t { return id == 0 ? 0 : 0x10000000 + id * 64; };
            rec.addr = addr(e.id);
            if (e.kind == op::realloc) {
                rec.seq2 = rec.seq + 1;
                rec.old_addr = addr(e.old_id);
            }
            if (e.kind == op::thread_start) rec.parent = e.parent == no_thread ? 0 : e.parent + 1;
            auto [it, fresh] = blocks.try_emplace(e.thread, e.thread, false);
            it->second.add(rec);
            if (++sizes[e.thread] == 8000) {
                s << it->second.bytes();
                blocks.erase(it);
                sizes[e.thread] = 0;
            }
        }
        for (auto& [t, b] : blocks) s << b.bytes();
    }
    const long kib = peak_rss_growth_kib([&] {
        if (convert_spool(spool.path(), out.path()).trace.events != events) throw std::runtime_error("wrong event count");
    });
    ASSERT_GE(kib, 0) << "the child failed";
    EXPECT_LT(kib, bound_kib) << "converting and validating raised the peak RSS by " << kib / 1024 << " MiB";
}
