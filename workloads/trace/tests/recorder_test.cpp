// recorder_test: runs recorder_target (and recorder_stress, recorder_handoff, realloc_window_target) under the
// LD_PRELOAD recorder, converts the spool into a trace (as `allocmeter record` does) and checks
// the trace. Their paths and the shim's are compile definitions (RECORDER_TARGET, ...).

#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/recording/trace_spool.hpp"

#include <gtest/gtest.h>

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>

#ifndef RECORDER_TARGET
#error "RECORDER_TARGET must name the recorder_target executable"
#endif
#ifndef RECORDER_STRESS
#error "RECORDER_STRESS must name the recorder_stress executable"
#endif
#ifndef RECORDER_HANDOFF
#error "RECORDER_HANDOFF must name the recorder_handoff executable"
#endif
#if !defined(REALLOC_WINDOW_TARGET) || !defined(WINDOW_MALLOC)
#error "REALLOC_WINDOW_TARGET and WINDOW_MALLOC must name the realloc window program and its malloc"
#endif
#ifndef RECORDER_SHIM
#error "RECORDER_SHIM must name the recorder shared library"
#endif

namespace tr = allocmeter::trace;
namespace fs = std::filesystem;

namespace {

// The target's own allocations: (size & 0xFFF) == 0x440, size >= 0x1000.
bool marker(std::uint64_t size) { return size >= 0x1000 && (size & 0xFFF) == 0x440; }

// recorder_stress's allocations: those, and small ones with size % 64 == 13.
bool stress_marker(std::uint64_t size) { return marker(size) || (size < 1024 && size % 64 == 13); }

struct run_result {
    int status = -1;
    std::string out;
};

// Runs `command` through the shell and returns its stdout and exit status.
run_result run(const std::string& command) {
    run_result r;
    std::FILE* p = ::popen(command.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    r.status = ::pclose(p);
    return r;
}

struct counts {
    long allocations = -1;
    long frees = -1;
};

counts parse(const std::string& out) {
    counts c;
    if (std::sscanf(out.c_str(), "allocations=%ld frees=%ld", &c.allocations, &c.frees) != 2) c = {};
    return c;
}

class scratch_dir {
public:
    scratch_dir() {
        std::string t = (fs::temp_directory_path() / "recorder_test.XXXXXX").string();
        if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = t;
    }
    ~scratch_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::string quote(const std::string& s) { return "'" + s + "'"; }

// Runs `program args` under the shim with its spool beside `trace`, then converts the spool
// into `trace` (what the conversion said in `summary`). `env` adds variables ("NAME=value ").
run_result record(const std::string& trace, const std::string& program, const std::string& args = "",
                  const std::string& env = "", tr::spool_summary* summary = nullptr) {
    const std::string spool = trace + ".spool";
    run_result r = run("LD_PRELOAD=" + quote(RECORDER_SHIM) + " ALLOCMETER_SPOOL=" + quote(spool) + " " + env +
                       quote(program) + (args.empty() ? "" : " " + args));
    if (r.status == 0 && fs::exists(spool)) {
        const tr::spool_summary s = tr::convert_spool(spool, trace);
        if (summary != nullptr) *summary = s;
        fs::remove(spool);
    }
    return r;
}

// What the trace says about the target's own (marker-sized) objects.
struct marker_stats {
    long allocations = 0;      // successful allocating events with a marker size
    long failed = 0;           // marker-sized allocating events with id 0
    long frees = 0;            // free/delete of a marker object
    long cross_thread = 0;     // ... by a thread other than the one that allocated it
    std::set<std::uint32_t> threads;  // threads that allocated marker objects
    std::map<std::uint32_t, std::uint32_t> parent;  // thread_start parents
    long thread_exits = 0;
    long foreign_marker = 0;   // marker size 13: only the untraced fork child uses it
};

marker_stats analyse(const std::string& path, bool (*marker)(std::uint64_t) = ::marker) {
    marker_stats s;
    struct live {
        bool marker;
        std::uint32_t thread;
    };
    std::map<std::uint64_t, live> objects;
    for (const tr::event& e : tr::load_sorted(path)) {
        auto allocate = [&](std::uint64_t size) {
            const bool m = marker(size);
            if (m && (size >> 12) == 13) ++s.foreign_marker;
            if (e.id == 0) {
                if (m) ++s.failed;
                return;
            }
            objects[e.id] = {m, e.thread};
            if (m) {
                ++s.allocations;
                s.threads.insert(e.thread);
            }
        };
        auto release = [&](std::uint64_t id, bool counted) {
            auto it = objects.find(id);
            if (it == objects.end()) return;
            if (it->second.marker && counted) {
                ++s.frees;
                if (it->second.thread != e.thread) ++s.cross_thread;
            }
            objects.erase(it);
        };
        switch (e.kind) {
            case tr::op::malloc:
            case tr::op::calloc:
            case tr::op::aligned:
            case tr::op::new_:
                allocate(e.size);
                break;
            case tr::op::realloc:
                if (e.id == 0 && e.size != 0) {  // failed: the old object stays
                    if (marker(e.size)) ++s.failed;
                    break;
                }
                if (e.old_id != 0 && e.id == e.old_id) {  // in place
                    objects[e.id].marker = marker(e.size);
                    ++s.allocations;
                    break;
                }
                release(e.old_id, false);
                if (e.id != 0) allocate(e.size);
                break;
            case tr::op::free:
            case tr::op::free_sized:
            case tr::op::delete_:
                release(e.id, true);
                break;
            case tr::op::thread_start:
                s.parent[e.thread] = e.parent;
                break;
            case tr::op::thread_exit:
                ++s.thread_exits;
                break;
        }
    }
    return s;
}

std::uint64_t monotonic_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

void check_trace(const std::string& trace, const counts& printed) {
    tr::trace_summary sum;
    ASSERT_NO_THROW(sum = tr::validate(trace));  // includes: no free of an id that is not live

    tr::trace_reader reader(trace);
    EXPECT_EQ(reader.header().pointer_size, 8);
    EXPECT_NE(reader.header().command_line.find("recorder_target"), std::string::npos);
    EXPECT_FALSE(reader.header().host.empty());

    const marker_stats s = analyse(trace);
    EXPECT_EQ(s.allocations, printed.allocations);
    EXPECT_EQ(s.frees, printed.frees);
    EXPECT_EQ(s.failed, 0);
    EXPECT_EQ(s.foreign_marker, 0) << "the fork child was traced";
    EXPECT_GT(s.cross_thread, 0);
    EXPECT_EQ(s.threads.size(), 3u);
    EXPECT_GE(sum.threads, 3u);
    EXPECT_GE(s.thread_exits, 3);
    for (std::uint32_t t : s.threads) {
        ASSERT_TRUE(s.parent.count(t)) << "thread " << t << " has no thread_start";
        EXPECT_NE(s.parent.at(t), tr::no_thread) << "thread " << t << " has no recorded parent";
    }
}

}  // namespace

TEST(Recorder, CountsTheTargetsCallsExactly) {
    scratch_dir dir;
    const std::string trace = (dir.path() / "target.trace").string();
    const run_result r = record(trace, RECORDER_TARGET);
    ASSERT_EQ(r.status, 0) << r.out;
    const counts printed = parse(r.out);
    ASSERT_GT(printed.allocations, 0) << r.out;
    ASSERT_TRUE(fs::exists(trace));
    check_trace(trace, printed);
}

// The converter writes the RSS samples record gives it (spool_options::rss) after the last
// event, the header announcing them, and the events are those of a conversion without them;
// without them the trace announces none.
TEST(Recorder, ConversionWritesTheRssSamplesItIsGiven) {
    scratch_dir dir;
    const std::string spool = (dir.path() / "target.spool").string();
    const run_result r = run("LD_PRELOAD=" + quote(RECORDER_SHIM) + " ALLOCMETER_SPOOL=" + quote(spool) + " " + quote(RECORDER_TARGET));
    ASSERT_EQ(r.status, 0) << r.out;
    const tr::recorded_rss rss{123456789000, 5000, {{0, 1u << 20}, {5000, 7u << 20}, {10000, 3u << 20}}};
    tr::spool_options with;
    with.rss = &rss;
    const std::string sampled = (dir.path() / "sampled.trace").string(), plain = (dir.path() / "plain.trace").string();
    const tr::spool_summary s = tr::convert_spool(spool, sampled, with);
    EXPECT_EQ(s.trace.rss, (tr::rss_summary{3, 5000, 10000, 1u << 20, 7u << 20, 5000})) << "checked as written";
    tr::convert_spool(spool, plain);

    tr::trace_reader a(sampled), b(plain);
    EXPECT_TRUE(a.header().rss_samples);
    EXPECT_FALSE(b.header().rss_samples);
    std::uint64_t events = 0;
    for (tr::event x, y; a.next(x);) {
        ASSERT_TRUE(b.next(y));
        x.at = y.at = 0;
        ASSERT_EQ(x, y) << "event " << events;
        ++events;
    }
    tr::event y;
    EXPECT_FALSE(b.next(y));
    EXPECT_GT(events, 0u);
    ASSERT_NE(a.rss(), nullptr);
    EXPECT_EQ(*a.rss(), rss);
    EXPECT_EQ(b.rss(), nullptr);
    EXPECT_EQ(tr::validate(sampled).rss.peak_bytes, 7u << 20);
}

TEST(Recorder, ForkChildIsNotTracedAndDoesNotCorruptTheTrace) {
    scratch_dir dir;
    const std::string trace = (dir.path() / "fork.trace").string();
    const run_result r = record(trace, RECORDER_TARGET, "fork");
    ASSERT_EQ(r.status, 0) << r.out;
    const counts printed = parse(r.out);
    ASSERT_GT(printed.allocations, 0) << r.out;
    check_trace(trace, printed);
}

TEST(Recorder, WithoutTheVariableNothingIsRecorded) {
    scratch_dir dir;
    const run_result plain = run(quote(RECORDER_TARGET));
    ASSERT_EQ(plain.status, 0);
    const run_result r = run("cd " + quote(dir.path().string()) + " && env -u ALLOCMETER_SPOOL LD_PRELOAD=" +
                             quote(RECORDER_SHIM) + " " + quote(RECORDER_TARGET));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out, plain.out);
    EXPECT_EQ(parse(r.out).allocations, parse(plain.out).allocations);
    EXPECT_TRUE(fs::is_empty(dir.path())) << "a file was written";
}

// --timestamps: CLOCK_MONOTONIC at each event, within the run, never going back in a thread;
// the counts are exact as without timestamps.
TEST(Recorder, TimestampsAreMonotonicPerThread) {
    scratch_dir dir;
    const std::string trace = (dir.path() / "ts.trace").string();
    const std::uint64_t before = monotonic_ns();
    const run_result r = record(trace, RECORDER_TARGET, "", "ALLOCMETER_TIMESTAMPS=1 ");
    const std::uint64_t after = monotonic_ns();
    ASSERT_EQ(r.status, 0) << r.out;
    check_trace(trace, parse(r.out));
    tr::trace_header h;
    const std::vector<tr::event> events = tr::load_sorted(trace, &h);
    EXPECT_TRUE(h.timestamps);
    EXPECT_EQ(h.clock, tr::clock_source::monotonic_ns);
    ASSERT_FALSE(events.empty());
    std::map<std::uint32_t, std::uint64_t> last;  // per thread
    for (const tr::event& e : events) {
        EXPECT_GE(e.time_ns, before);
        EXPECT_LE(e.time_ns, after);
        auto [it, first] = last.try_emplace(e.thread, e.time_ns);
        if (!first) {
            EXPECT_GE(e.time_ns, it->second) << "time goes back in thread " << e.thread;
            it->second = e.time_ns;
        }
    }
    EXPECT_GT(events.back().time_ns, events.front().time_ns);
}

// Two rounds of four threads, a third of the blocks freed by another thread, addresses back
// at once: the trace validates (every free after its allocation, no id allocated twice) and
// the program's own calls are all there, each free naming the object it freed.
TEST(Recorder, StressWithCrossThreadFreesAndAddressReuse) {
    scratch_dir dir;
    const std::string trace = (dir.path() / "stress.trace").string();
    const run_result r = record(trace, RECORDER_STRESS);
    ASSERT_EQ(r.status, 0) << r.out;
    const counts printed = parse(r.out);
    ASSERT_GT(printed.allocations, 100000) << r.out;
    tr::trace_summary sum;
    ASSERT_NO_THROW(sum = tr::validate(trace));
    const marker_stats s = analyse(trace, stress_marker);
    EXPECT_EQ(s.allocations, printed.allocations);
    EXPECT_EQ(s.frees, printed.frees);
    EXPECT_EQ(s.failed, 0);
    EXPECT_GT(s.cross_thread, printed.frees / 10);
    EXPECT_EQ(s.threads.size(), 8u);
    EXPECT_GE(s.thread_exits, 8);
}

// The same stress with the keys forced to the global counter (what a host without an invariant
// TSC gets): the spool says so, nothing needs repair, and the trace is as exact.
TEST(Recorder, CounterKeysWhenForced) {
    scratch_dir dir;
    const std::string trace = (dir.path() / "counter.trace").string();
    tr::spool_summary conv;
    const run_result r = record(trace, RECORDER_STRESS, "", "ALLOCMETER_ORDER=counter ", &conv);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_FALSE(conv.tsc_keys);
    EXPECT_EQ(conv.reordered, 0u);
    const counts printed = parse(r.out);
    ASSERT_NO_THROW(tr::validate(trace));
    const marker_stats s = analyse(trace, stress_marker);
    EXPECT_EQ(s.allocations, printed.allocations);
    EXPECT_EQ(s.frees, printed.frees);
    EXPECT_GT(s.cross_thread, printed.frees / 10);
}

// Blocks handed around rings of 2 and 4 threads without a lock (recorder_handoff): each free by
// another thread, and each reuse of a freed address by another thread, follows its partner by
// as little as the hardware allows. Under the host's keys (the TSC where it is invariant) and
// under the counter, the trace validates and every block's free names the block: nothing is
// dropped or left live, whatever the repairs (counted, reported as a test property).
TEST(Recorder, HandOffsBetweenThreadsUnderEitherKeys) {
    scratch_dir dir;
    for (const std::string order : {"auto", "counter"}) {
        for (const char* threads : {"2", "4"}) {
            SCOPED_TRACE(order + " keys, " + threads + " threads");
            const std::string trace = (dir.path() / ("handoff-" + order + threads + ".trace")).string();
            tr::spool_summary conv;
            const run_result r =
                record(trace, RECORDER_HANDOFF, std::string("50000 ") + threads, "ALLOCMETER_ORDER=" + order + " ", &conv);
            ASSERT_EQ(r.status, 0) << r.out;
            if (order == "counter") {
                EXPECT_FALSE(conv.tsc_keys);
            }
            RecordProperty("reordered_" + order + threads, std::to_string(conv.reordered));
            const counts printed = parse(r.out);
            ASSERT_GT(printed.allocations, 0) << r.out;
            ASSERT_NO_THROW(tr::validate(trace));
            const marker_stats s = analyse(trace, stress_marker);
            EXPECT_EQ(s.allocations, printed.allocations);
            EXPECT_EQ(s.frees, printed.frees);
            EXPECT_GT(s.cross_thread, printed.frees * 9 / 10);
            EXPECT_EQ(conv.unknown_releases, 0u);
            EXPECT_EQ(conv.orphaned, 0u);
        }
    }
}

// exec: the recorded process goes on being traced as the program it execs into; a process it
// forks (here, the shell running a command that is not its last) is not traced.
TEST(Recorder, ExecIsTracedForkedCommandsAreNot) {
    scratch_dir dir;
    const std::string exec_trace = (dir.path() / "exec.trace").string();
    const run_result r = record(exec_trace, "/bin/sh", std::string("-c \"exec ") + RECORDER_TARGET + "\"");
    ASSERT_EQ(r.status, 0) << r.out;
    check_trace(exec_trace, parse(r.out));

    const std::string fork_trace = (dir.path() / "fork.trace").string();
    const run_result f = record(fork_trace, "/bin/sh", std::string("-c \"") + RECORDER_TARGET + "; true\"");
    ASSERT_EQ(f.status, 0) << f.out;
    ASSERT_GT(parse(f.out).allocations, 0) << f.out;
    ASSERT_NO_THROW(tr::validate(fork_trace));
    EXPECT_EQ(analyse(fork_trace).allocations, 0) << "a forked command was traced";
}

// Threads still allocating when main returns: exit stops recording, then writes every buffer
// (waiting for an append in progress, never for the thread); the trace is valid and complete
// for everything that finished.
TEST(Recorder, ThreadsStillRunningAtExit) {
    scratch_dir dir;
    const std::string trace = (dir.path() / "linger.trace").string();
    const run_result r = record(trace, RECORDER_STRESS, "3000 linger");
    ASSERT_EQ(r.status, 0) << r.out;
    const counts printed = parse(r.out);
    tr::trace_summary sum;
    ASSERT_NO_THROW(sum = tr::validate(trace));
    EXPECT_GE(sum.threads, 11u);  // main, 2 x 4 workers, 2 still running
    const marker_stats s = analyse(trace, stress_marker);
    EXPECT_EQ(s.allocations, printed.allocations);
    EXPECT_EQ(s.frees, printed.frees);
}

// Another thread receives a realloc's old block between the realloc's two seqs (window_malloc,
// preloaded after the recorder, holds the realloc open until it has): that block must be a new
// object with a new id, and the realloc, recorded after it, releases the old object's id.
TEST(Recorder, ReallocOldBlockTakenByAnotherThreadGetsANewId) {
    scratch_dir dir;
    const std::string trace = (dir.path() / "window.trace").string();
    const run_result r = record(trace, REALLOC_WINDOW_TARGET, "",
                                "LD_PRELOAD=" + quote(std::string(RECORDER_SHIM) + " " + WINDOW_MALLOC) + " ");
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_EQ(r.out, "reused=1 moved=1\n") << "the other thread did not get the old block";
    ASSERT_NO_THROW(tr::validate(trace));
    const tr::event* first = nullptr;
    const tr::event* other = nullptr;
    const tr::event* moved = nullptr;
    const std::vector<tr::event> events = tr::load_sorted(trace);
    for (const tr::event& e : events) {
        if (e.kind == tr::op::malloc && e.size == 1111) first = &e;
        if (e.kind == tr::op::malloc && e.size == 3333) other = &e;
        if (e.kind == tr::op::realloc && e.size == 2222) moved = &e;
    }
    ASSERT_TRUE(first && other && moved);
    EXPECT_NE(other->thread, first->thread);
    EXPECT_NE(other->id, first->id) << "the old block came back while its object was live";
    EXPECT_LT(other->seq, moved->seq);
    EXPECT_EQ(moved->old_id, first->id);
    EXPECT_EQ(moved->flags, tr::realloc_moved);
}

// The recorder exports the functions it interposes and nothing else: a helper or a global of
// its own would bind to, or stand in for, a program's symbol of the same name.
TEST(Recorder, ExportsOnlyWhatItInterposes) {
    const run_result r = run("nm -D --defined-only " + quote(RECORDER_SHIM) + " | awk '{print $3}' | c++filt");
    ASSERT_EQ(r.status, 0) << r.out;
    std::set<std::string> exported;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty()) exported.insert(line);
    const std::set<std::string> c_functions{"malloc", "free", "calloc", "realloc", "posix_memalign", "aligned_alloc",
                                            "memalign", "valloc", "pvalloc", "pthread_create"};
    for (const std::string& name : exported) {
        const bool ours = c_functions.contains(name) || name.starts_with("operator new") || name.starts_with("operator delete");
        EXPECT_TRUE(ours) << "exports " << name;
    }
    for (const std::string& name : c_functions) EXPECT_TRUE(exported.contains(name)) << "does not export " << name;
    EXPECT_EQ(std::count_if(exported.begin(), exported.end(), [](const std::string& n) { return n.starts_with("operator "); }),
              20);  // new and delete: plain, array, nothrow, aligned, sized
}

// A program whose library has globals named like the recorder's helpers runs as it does alone.
TEST(Recorder, ProgramGlobalsNamedLikeItsHelpers) {
    const std::string trace = (fs::path(::testing::TempDir()) / "name_clash.trace").string();
    const run_result r = record(trace, NAME_CLASH_TARGET);
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_GE(tr::validate(trace).events, 4u);  // valloc, aligned_alloc and their frees
}
