// `allocmeter trace info|validate` on traces written here with the trace library: the summary
// counts what was written, a bad file is named with its byte offset, usage mistakes exit 2.
// `trace import` on a real glibc mtrace log, and `record` on a real program.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <vector>

#include "harness/tests/test_support.hpp"
#include "workloads/trace/format/trace_format.hpp"

using namespace allocmeter::testing;
namespace tr = allocmeter::trace;

namespace {

/// Two threads: 3 mallocs of 100 B, a calloc of 4 x 50 B, one realloc to 300 B, frees; one
/// free crosses threads. With `bad_free`, a free of an id never allocated is appended.
std::string write_trace(const std::filesystem::path& dir, bool bad_free = false,
                        std::uint16_t version = tr::format_version) {
    const std::string path = (dir / "t.trace").string();
    tr::trace_header h;
    h.version = version;
    h.command_line = "./demo --flag";
    h.host = "testhost";
    tr::trace_writer w(path, h);
    std::uint64_t seq = 0;
    const auto ev = [&](tr::op k, std::uint32_t thread, std::uint64_t id, std::uint64_t size = 0) {
        tr::event e;
        e.kind = k;
        e.thread = thread;
        e.seq = seq++;
        e.id = id;
        e.size = size;
        return e;
    };
    w.append(ev(tr::op::malloc, 0, 1, 100));
    w.append(ev(tr::op::malloc, 0, 2, 100));
    tr::event c = ev(tr::op::calloc, 0, 3, 50);
    c.count = 4;
    w.append(c);
    tr::event start = ev(tr::op::thread_start, 1, 0);
    start.parent = 0;
    w.append(start);
    w.append(ev(tr::op::malloc, 1, 4, 100));
    w.append(ev(tr::op::free, 1, 1));  // allocated by thread 0
    tr::event r = ev(tr::op::realloc, 0, 5, 300);
    r.old_id = 2;
    r.flags = tr::realloc_moved;
    w.append(r);
    w.append(ev(tr::op::free, 0, 5));
    w.append(ev(tr::op::free, 0, 3));
    w.append(ev(tr::op::free, 1, 4));
    if (bad_free) w.append(ev(tr::op::free, 1, 17));
    w.append(ev(tr::op::thread_exit, 1, 0));
    w.close();
    return path;
}

}  // namespace

// info reports the recorded command, threads, allocations, peak live and the kinds.
TEST(TraceCli, InfoSummarisesTheTrace) {
    const auto dir = fresh_dir("trace-info");
    const auto r = run_allocmeter("trace info " + write_trace(dir));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const char* want : {"(format version 2, checksummed)", "./demo --flag", "in 2 threads", "allocations:  5, 800 B requested",
                             "peak live:    600 B (600 bytes) in 4 objects", "malloc                   3", "realloc                  1",
                             "free                     4", "<= 128 B                3", "<= 512 B                1"})
        EXPECT_NE(r.output.find(want), std::string::npos) << want << "\n" << r.output;
}

// info says when a trace is of version 1, which has no checksums, and still reads it.
TEST(TraceCli, InfoSaysAVersion1TraceHasNoChecksums) {
    const auto r = run_allocmeter("trace info " + write_trace(fresh_dir("trace-v1"), false, 1));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("(format version 1, no checksums)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("allocations:  5, 800 B requested"), std::string::npos) << r.output;
}

// validate accepts a sound trace and rejects a free of an id that is not live, naming it.
TEST(TraceCli, ValidateAcceptsAndRejects) {
    const auto good = run_allocmeter("trace validate " + write_trace(fresh_dir("trace-ok")));
    EXPECT_EQ(good.exit_code, 0) << good.output;
    EXPECT_NE(good.output.find("valid: 11 events, 2 threads"), std::string::npos) << good.output;
    const auto bad = run_allocmeter("trace validate " + write_trace(fresh_dir("trace-bad"), true));
    EXPECT_EQ(bad.exit_code, 1) << bad.output;
    EXPECT_NE(bad.output.find("t.trace: byte"), std::string::npos) << bad.output;
    EXPECT_NE(bad.output.find("id 17"), std::string::npos) << bad.output;
}

// A file that is not a trace is an error naming the file; usage mistakes exit 2.
TEST(TraceCli, BadFileAndUsage) {
    const auto dir = fresh_dir("trace-garbage");
    const std::string path = (dir / "garbage.trace").string();
    std::ofstream(path) << "this is not a trace";
    const auto r = run_allocmeter("trace info " + path);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("garbage.trace"), std::string::npos) << r.output;
    EXPECT_EQ(run_allocmeter("trace").exit_code, 2);
    EXPECT_EQ(run_allocmeter("trace frobnicate x").exit_code, 2);
    EXPECT_EQ(run_allocmeter("trace info").exit_code, 2);
    EXPECT_EQ(run_allocmeter("trace --help").exit_code, 0);
}

// record runs a multithreaded program under the recorder: its exit status passes through and
// the trace it leaves is valid, with every thread; a failing program's status passes through.
TEST(RecordCli, RecordsAProgram) {
    const auto dir = fresh_dir("record");
    const std::string out = (dir / "target.trace").string();
    const auto r = run_allocmeter("record -o " + out + " -- " RECORDER_TARGET);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("allocations=8400 frees=6600"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("events in 4 threads"), std::string::npos) << r.output;
    const auto info = run_allocmeter("trace info " + out);
    EXPECT_EQ(info.exit_code, 0) << info.output;
    EXPECT_NE(info.output.find(RECORDER_TARGET), std::string::npos) << info.output;
    EXPECT_NE(info.output.find("(format version 2, checksummed)"), std::string::npos) << info.output;
    EXPECT_EQ(run_allocmeter("record -o " + (dir / "f.trace").string() + " -- false").exit_code, 1);
}

namespace {

/// The number after "label" in `trace info`'s output, e.g. "allocations:  8709, ..." or
/// "  malloc   2385"; 0 when the line is missing (info lists only the kinds that occur).
long info_count(const std::string& info, const std::string& label) {
    const auto at = info.find(label);
    if (at == std::string::npos) return 0;
    return std::strtol(info.c_str() + at + label.size(), nullptr, 10);
}

/// The number after "label" in `trace info`'s output, as a double (e.g. the MiB of "peak RSS:").
double info_number(const std::string& info, const std::string& label) {
    const auto at = info.find(label);
    return at == std::string::npos ? -1 : std::strtod(info.c_str() + at + label.size(), nullptr);
}

}  // namespace

// record samples the program's RSS into the trace, and trace info shows it: a program that
// holds 64 MiB with half of each MiB touched peaks above 32 MiB and below 64; the samples follow
// the program through an exec (a wrapper that execs it), and a trace without samples says so.
TEST(RecordCli, RecordsTheProgramsRss) {
    const auto dir = fresh_dir("record-rss");
    for (const std::string how : {"direct", "exec"}) {
        const std::string out = (dir / (how + ".trace")).string();
        const std::string program = std::string(SPARSE_TOUCH_TARGET) + " 64 50 300";
        const auto r = run_allocmeter("record -o " + out + " -- " + (how == "exec" ? "sh -c 'exec " + program + "'" : program));
        ASSERT_EQ(r.exit_code, 0) << r.output;
        EXPECT_NE(r.output.find("allocmeter record: the program's peak RSS"), std::string::npos) << r.output;
        const auto info = run_allocmeter("trace info " + out);
        ASSERT_EQ(info.exit_code, 0) << info.output;
        const double peak_mib = info_number(info.output, "peak RSS:");
        EXPECT_GT(peak_mib, 32) << how << "\n" << info.output;
        if (thp_mode() != "always") {  // else a byte may fault in 2 MiB
            EXPECT_LT(peak_mib, 64) << how << "\n" << info.output;
        }
        EXPECT_GE(info_count(info.output, "RSS samples:"), 30) << how << ": 300 ms held, 5 ms apart\n" << info.output;
        EXPECT_NE(info.output.find(", every 5 ms at the end"), std::string::npos) << info.output;
        EXPECT_NE(info.output.find("at the first sample"), std::string::npos) << info.output;
    }
    const auto old = run_allocmeter("trace info " + write_trace(dir));
    EXPECT_NE(old.output.find("peak RSS:     not recorded (no RSS samples"), std::string::npos) << old.output;
}

// trace info counts exactly the allocation calls a program makes: for `counting_target 4000`,
// 4000 more (2000 malloc, 1000 calloc, 1000 aligned) than for `counting_target 0`, which makes
// only what the C runtime makes for itself. (Frees are not compared: the runtime's own frees
// at thread exit come before or after the thread's recorded exit as the threads happen to end;
// recorder_test counts the program's frees by their marker sizes.)
TEST(RecordCli, InfoCountsTheProgramsCallsExactly) {
    const auto dir = fresh_dir("count");
    std::map<long, std::string> info;
    for (const long n : {0L, 4000L}) {
        const std::string out = (dir / ("n" + std::to_string(n) + ".trace")).string();
        const auto r = run_allocmeter("record -o " + out + " -- " COUNTING_TARGET " " + std::to_string(n));
        ASSERT_EQ(r.exit_code, 0) << r.output;
        const auto i = run_allocmeter("trace info " + out);
        ASSERT_EQ(i.exit_code, 0) << i.output;
        info[n] = i.output;
    }
    const auto more = [&](const std::string& label) { return info_count(info[4000], label) - info_count(info[0], label); };
    EXPECT_EQ(more("allocations:"), 4000) << info[0] << info[4000];
    EXPECT_EQ(more("\n  malloc"), 2000);
    EXPECT_EQ(more("\n  calloc"), 1000);
    EXPECT_EQ(more("\n  aligned"), 1000);
    EXPECT_GE(info_count(info[4000], "\n  free"), 4000);
    std::filesystem::remove_all(dir);
}

// Usage mistakes and a command that cannot start exit 2 with a message.
TEST(RecordCli, UsageErrors) {
    for (const char* args : {"record", "record -o", "record -o x.trace", "record --bogus -o x -- true"}) {
        const auto r = run_allocmeter(args);
        EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    }
    const auto r = run_allocmeter("record -o /tmp/never.trace -- /no/such/program");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("cannot start '/no/such/program'"), std::string::npos) << r.output;
    EXPECT_EQ(run_allocmeter("record --help").exit_code, 0);
}

namespace {

/// A `trace info` line of the events-per-kind table.
std::string kind_line(const char* kind, unsigned n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "  %-13s %12u\n", kind, n);
    return buf;
}

}  // namespace

// A real glibc mtrace log: mtrace_target logs its own calls under libc_malloc_debug.so.0 and
// says what it did; the import skips the one free of a block from before mtrace(), trace info
// counts every kind, and its two reallocs come back one in place and one moved.
TEST(TraceCli, ImportsARealMtraceLog) {
    const auto dir = fresh_dir("mtrace");
    const std::string log = (dir / "target.mtrace").string();
    const auto run = run_shell("LD_PRELOAD=libc_malloc_debug.so.0 MALLOC_TRACE=" + log + " " MTRACE_TARGET);
    if (!std::filesystem::exists(log)) {
        // Since glibc 2.34 mtrace() does nothing unless libc_malloc_debug.so.0 is preloaded.
        if (run.output.find("cannot be preloaded") != std::string::npos)
            GTEST_SKIP() << "libc_malloc_debug.so.0 not found, so mtrace() writes no log: " << run.output;
        FAIL() << "mtrace_target left no log:\n" << run.output;
    }
    ASSERT_EQ(run.exit_code, 0) << run.output;
    unsigned mallocs = 0, reallocs = 0, frees = 0, skipped = 0, allocations = 0, in_place = 0, moved = 0, failed = 0;
    const auto at = run.output.find("mtrace_target: malloc=");
    ASSERT_NE(at, std::string::npos) << run.output;
    ASSERT_EQ(std::sscanf(run.output.c_str() + at,
                          "mtrace_target: malloc=%u realloc=%u free=%u skipped_free=%u allocations=%u in_place=%u "
                          "moved=%u failed=%u",
                          &mallocs, &reallocs, &frees, &skipped, &allocations, &in_place, &moved, &failed),
              8)
        << run.output;

    const auto imported = run_allocmeter("trace import --format mtrace " + log);
    ASSERT_EQ(imported.exit_code, 0) << imported.output;
    const std::string trace = (dir / "target.trace").string();  // the default: .mtrace replaced
    const unsigned events = mallocs + reallocs + frees;
    EXPECT_NE(imported.output.find(trace + ": " + std::to_string(events) + " events from " + log), std::string::npos)
        << imported.output;
    EXPECT_NE(imported.output.find("; " + std::to_string(skipped) + " free skipped"), std::string::npos) << imported.output;
    EXPECT_NE(imported.output.find("note: frees skipped"), std::string::npos) << imported.output;

    const auto info = run_allocmeter("trace info " + trace);
    ASSERT_EQ(info.exit_code, 0) << info.output;
    for (const std::string& want :
         {"imported from mtrace log " + log, "events:       " + std::to_string(events) + " in 1 thread",
          "allocations:  " + std::to_string(allocations) + ",", kind_line("malloc", mallocs),
          kind_line("realloc", reallocs), kind_line("free", frees)})
        EXPECT_NE(info.output.find(want), std::string::npos) << want << "\n" << info.output;

    unsigned seen_in_place = 0, seen_moved = 0, seen_failed = 0;
    tr::trace_reader reader(trace);
    for (tr::event e; reader.next(e);) {
        if (e.kind == tr::op::malloc && e.id == 0) ++seen_failed;
        if (e.kind != tr::op::realloc) continue;
        if (e.id == 0) ++seen_failed;
        else if (e.flags & tr::realloc_moved) ++seen_moved;
        else if (e.id == e.old_id) ++seen_in_place;
    }
    EXPECT_EQ(seen_in_place, in_place);
    EXPECT_EQ(seen_moved, moved);
    EXPECT_EQ(seen_failed, failed);
}

// Import mistakes: a missing or unknown --format and a missing log exit 2; a bad log exits 1
// naming its line, and leaves no trace behind.
TEST(TraceCli, ImportUsageAndBadLogs) {
    const auto dir = fresh_dir("mtrace-bad");
    const std::string log = (dir / "app.mtrace").string();
    std::ofstream(log) << "= Start\n+ 0x55d1e2a3b4c0 0x10\n< 0x55d1e2a3b4c0\n+ 0x55d1e2a3b500 0x10\n";
    const std::vector<std::string> usage_mistakes = {
        "trace import " + log, "trace import --format valgrind " + log, "trace import --format mtrace",
        "trace import --format mtrace -o", "trace import --format mtrace --bogus " + log};
    for (const std::string& args : usage_mistakes) {
        const auto r = run_allocmeter(args);
        EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    }
    EXPECT_NE(run_allocmeter("trace import --format valgrind " + log).output.find("only mtrace is supported"),
              std::string::npos);
    EXPECT_NE(run_allocmeter("trace import " + log).output.find("only mtrace is supported"), std::string::npos);
    const auto bad = run_allocmeter("trace import --format mtrace " + log);
    EXPECT_EQ(bad.exit_code, 1) << bad.output;
    EXPECT_NE(bad.output.find(log + ": line 4: expected '> ADDRESS SIZE' after '< 0x55d1e2a3b4c0' (line 3)"),
              std::string::npos)
        << bad.output;
    EXPECT_FALSE(std::filesystem::exists(dir / "app.trace"));
    EXPECT_FALSE(std::filesystem::exists(dir / "app.trace.tmp"));
    const auto help = run_allocmeter("trace import --help");
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.output.find("allocmeter trace import --format mtrace app.mtrace"), std::string::npos) << help.output;
}

// The spool is converted and deleted; a stale one from an earlier run is replaced, not appended to.
TEST(RecordCli, ConvertsAndDeletesTheSpool) {
    const auto dir = fresh_dir("record-spool");
    const std::string out = (dir / "t.trace").string();
    std::ofstream(out + ".spool") << "left over from a killed run";
    const auto r = run_allocmeter("record -o " + out + " -- " RECORDER_TARGET);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("events in 4 threads"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out + ".spool"));
    EXPECT_EQ(run_allocmeter("trace validate " + out).exit_code, 0);
}

// --timestamps: the trace has times, so trace info reports a duration.
TEST(RecordCli, TimestampsGiveADuration) {
    const auto dir = fresh_dir("record-ts");
    const std::string out = (dir / "ts.trace").string();
    const auto r = run_allocmeter("record --timestamps -o " + out + " -- " RECORDER_TARGET);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto info = run_allocmeter("trace info " + out);
    EXPECT_EQ(info.exit_code, 0) << info.output;
    EXPECT_NE(info.output.find("duration:     0."), std::string::npos) << info.output;
    ASSERT_EQ(run_allocmeter("record -o " + (dir / "plain.trace").string() + " -- " RECORDER_TARGET).exit_code, 0);
    EXPECT_NE(run_allocmeter("trace info " + (dir / "plain.trace").string()).output.find("not recorded (no timestamps)"),
              std::string::npos);
}

// --replay timed replays a trace recorded with --timestamps, and refuses one without, before any
// cell runs; --replay serial on a trace of several threads says what it drops.
TEST(RecordCli, ReplayModesSayWhatTheyNeed) {
    const auto dir = fresh_dir("replay-modes");
    const std::string timed = (dir / "timed.trace").string(), plain = (dir / "plain.trace").string();
    ASSERT_EQ(run_allocmeter("record --timestamps -o " + timed + " -- " RECORDER_TARGET).exit_code, 0);
    ASSERT_EQ(run_allocmeter("record -o " + plain + " -- " RECORDER_TARGET).exit_code, 0);
    const std::string out = " --allocators system --reps 1 --latency off --out " + (dir / "out").string();

    auto r = run_allocmeter("run --workloads trace:" + timed + " --replay timed" + out);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const auto doc = allocmeter::testing::latest_results(dir / "out");
    ASSERT_EQ(doc["cells"].size(), 2u);  // system's, then the harness row's
    EXPECT_EQ(doc["cells"][1]["allocator"], "harness");
    EXPECT_EQ(doc["cells"][0]["status"], "ok") << doc["cells"][0].dump();
    EXPECT_EQ(doc["cells"][0]["trace"]["replay"], "timed");

    r = run_allocmeter("run --workloads trace:" + plain + " --replay timed" + out);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("has no timestamps"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("record --timestamps"), std::string::npos) << r.output;

    r = run_allocmeter("run --workloads trace:" + plain + " --replay sideways" + out);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("expected threads, timed or serial"), std::string::npos) << r.output;

    r = run_allocmeter("run --workloads trace:" + plain + " --replay serial" + out);  // the target runs 4 threads
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("--replay serial drops what threads do"), std::string::npos) << r.output;
}

// A program killed half-way: its status passes through, record says the trace may be
// incomplete, and what was flushed before the kill is a valid trace.
TEST(RecordCli, KilledProgramLeavesAValidPartialTrace) {
    const auto dir = fresh_dir("record-kill");
    const std::string out = (dir / "k.trace").string();
    const auto r = run_allocmeter("record -o " + out + " -- " RECORDER_STRESS " 200000 kill");
    EXPECT_EQ(r.exit_code, 128 + 9) << r.output;
    EXPECT_NE(r.output.find("was killed by"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("the trace may be incomplete"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("events in"), std::string::npos) << r.output;
    const auto v = run_allocmeter("trace validate " + out);
    EXPECT_EQ(v.exit_code, 0) << v.output;
}

// A trace whose every call returned NULL replays no operation: its cell fails, saying so,
// instead of an ok cell at 0 ns/op, and the run exits 3.
TEST(TraceCli, ATraceWithNoOperationsIsNotOk) {
    const auto dir = fresh_dir("trace-null");
    const std::string path = (dir / "null.trace").string();
    {
        tr::trace_writer w(path, tr::trace_header{});
        for (std::uint64_t seq = 0; seq < 3; ++seq) {
            tr::event e;
            e.kind = tr::op::malloc;
            e.seq = seq;
            e.id = 0;  // returned NULL
            e.size = std::uint64_t{1} << 40;
            w.append(e);
        }
        w.close();
    }
    const auto r = run_allocmeter("run --allocators system --workloads trace:" + path + " --reps 1 --out " + (dir / "out").string());
    EXPECT_EQ(r.exit_code, 3) << r.output;
    const auto doc = allocmeter::testing::latest_results(dir / "out");
    ASSERT_EQ(doc["cells"].size(), 2u);  // system's, then the harness row's
    EXPECT_EQ(doc["cells"][1]["allocator"], "harness");
    EXPECT_EQ(doc["cells"][0]["status"], "failed") << doc["cells"][0].dump();
    EXPECT_NE(doc["cells"][0]["reason"].get<std::string>().find("made no operations"), std::string::npos);
    EXPECT_TRUE(doc["cells"][0]["metrics"].is_null()) << doc["cells"][0].dump();
    // The results stay readable: compare reads them (and finds nothing to compare), not "damaged".
    const auto c = run_allocmeter("compare " + (dir / "out" / "latest" / "results.json").string());
    EXPECT_EQ(c.output.find("damaged"), std::string::npos) << c.output;
}

// The output is checked before the program runs: not a device (no /dev/null.spool), not in a
// missing folder (the program does not run), never the program itself (it stays as it was).
TEST(RecordCli, OutputCheckedBeforeTheProgramRuns) {
    const auto dir = fresh_dir("record-out");
    auto r = run_allocmeter("record -o /dev/null -- true");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("-o /dev/null: exists and is not a regular file"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists("/dev/null.spool"));

    const auto marker = dir / "ran";
    r = run_allocmeter("record -o " + (dir / "missing" / "x.trace").string() + " -- touch " + marker.string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("does not exist; create it"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(marker)) << "the program ran";

    const auto program = dir / "prog";
    std::filesystem::copy_file("/bin/true", program);
    const auto size = std::filesystem::file_size(program);
    r = run_allocmeter("record -o " + program.string() + " -- " + program.string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("is the program being recorded"), std::string::npos) << r.output;
    EXPECT_EQ(std::filesystem::file_size(program), size);
    r = allocmeter::testing::run_shell("PATH=" + dir.string() + ":$PATH " ALLOCMETER_BIN " record -o " + program.string() +
                                       " -- prog");  // the program found on PATH
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(std::filesystem::file_size(program), size);
}
