// `allocmeter trace info|validate` on traces written here with the trace library: the summary
// counts what was written, a bad file is named with its byte offset, usage mistakes exit 2.
#include <gtest/gtest.h>

#include <fstream>

#include "harness/tests/test_support.hpp"
#include "workloads/trace/trace_format.hpp"

using namespace allocmeter::testing;
namespace tr = allocmeter::trace;

namespace {

/// Two threads: 3 mallocs of 100 B, a calloc of 4 x 50 B, one realloc to 300 B, frees; one
/// free crosses threads. With `bad_free`, a free of an id never allocated is appended.
std::string write_trace(const std::filesystem::path& dir, bool bad_free = false) {
    const std::string path = (dir / "t.trace").string();
    tr::trace_header h;
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
    for (const char* want : {"./demo --flag", "in 2 threads", "allocations:  5, 800 B requested",
                             "peak live:    600 B in 4 objects", "malloc                   3", "realloc                  1",
                             "free                     4", "<= 128 B                3", "<= 512 B                1"})
        EXPECT_NE(r.output.find(want), std::string::npos) << want << "\n" << r.output;
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
    EXPECT_EQ(run_allocmeter("record -o " + (dir / "f.trace").string() + " -- false").exit_code, 1);
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
