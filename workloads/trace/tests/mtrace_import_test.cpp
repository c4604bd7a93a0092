// The mtrace importer on small inline logs: every line kind becomes the right event with dense
// ids, untracked frees and reallocs are counted, and every kind of bad log is an mtrace_error
// naming the file and the line, with no output file left behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/import/mtrace_import.hpp"

using namespace allocmeter::trace;

namespace {

// A log and the trace path next to it in the test temp dir, both removed when the test ends.
class temp_log {
public:
    explicit temp_log(const std::string& text, const std::string& tag = "log") {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        const std::string base = ::testing::TempDir() + "ammtrace_" + info->test_suite_name() + "_" + info->name() +
                                 "_" + tag + "_" + std::to_string(::getpid());
        log_ = base + ".mtrace";
        trace_ = base + ".trace";
        std::ofstream(log_, std::ios::binary) << text;
    }
    ~temp_log() {
        std::remove(log_.c_str());
        std::remove(trace_.c_str());
        std::remove((trace_ + ".tmp").c_str());
    }
    const std::string& log() const { return log_; }
    const std::string& trace() const { return trace_; }

private:
    std::string log_, trace_;
};

// An event as a short line: "malloc 1 100", "free 1", "realloc 1->2 200 moved".
std::string show(const event& e) {
    std::string s = op_name(e.kind);
    if (e.kind == op::realloc) {
        s += " " + std::to_string(e.old_id) + "->" + std::to_string(e.id) + " " + std::to_string(e.size);
        if (e.flags & realloc_moved) s += " moved";
        return s;
    }
    s += " " + std::to_string(e.id);
    if (e.kind == op::malloc) s += " " + std::to_string(e.size);
    return s;
}

// The trace's events, each shown; also checks the single-thread, dense-seq layout.
std::vector<std::string> events_of(const std::string& path) {
    std::vector<std::string> out;
    trace_reader r(path);
    std::uint64_t seq = 0;
    for (event e; r.next(e);) {
        EXPECT_EQ(e.thread, 0u);
        EXPECT_EQ(e.seq, seq++);
        out.push_back(show(e));
    }
    return out;
}

// Imports `text` and returns the events; the summary into *summary when given.
std::vector<std::string> import_text(const std::string& text, const mtrace_options& options = {},
                                     import_summary* summary = nullptr) {
    temp_log t(text);
    const import_summary s = import_mtrace(t.log(), t.trace(), options);
    if (summary != nullptr) *summary = s;
    EXPECT_FALSE(std::filesystem::exists(t.trace() + ".tmp"));
    EXPECT_NO_THROW(validate(t.trace()));
    return events_of(t.trace());
}

// The mtrace_error a bad log gives; checks it names the file and `line`, and leaves no output.
std::string import_error(const std::string& text, std::uint64_t line, const mtrace_options& options = {}) {
    temp_log t(text, "bad");
    try {
        import_mtrace(t.log(), t.trace(), options);
    } catch (const mtrace_error& e) {
        EXPECT_EQ(e.file, t.log());
        EXPECT_EQ(e.line, line) << e.what();
        const std::string prefix = t.log() + ": line " + std::to_string(line) + ": ";
        EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
        EXPECT_FALSE(std::filesystem::exists(t.trace())) << "an output trace was left behind";
        EXPECT_FALSE(std::filesystem::exists(t.trace() + ".tmp")) << "a temporary file was left behind";
        return e.problem;
    }
    ADD_FAILURE() << "no mtrace_error for:\n" << text;
    return {};
}

using lines = std::vector<std::string>;

}  // namespace

// ---- line kinds ---------------------------------------------------------------------------

// Each caller form glibc writes (symbol, bare offset, no file, none at all) and each op.
TEST(MtraceImport, EveryLineKind) {
    import_summary s;
    const auto ev = import_text(
        "= Start\n"
        "@ ./prog:[0x4005d6] + 0x1e6d460 0x64\n"
        "@ ./prog:(main+0x1a)[0x4005e4] + 0x1e6d4d0 0\n"
        "@ [0x7f0011223344] < 0x1e6d460\n"
        "@ [0x7f0011223344] > 0x1e6d460 0x68\n"
        "< 0x1e6d460\n"
        "> 0x1e6e000 0x186a0\n"
        "! 0x1e6e000 0x100000000000\n"
        "+ (nil) 0x800000000000\n"
        "@ /lib/x86_64-linux-gnu/libc.so.6:(__strdup+1a)[0x9e9aa] - 0x1e6d4d0\n"
        "- 0x1e6e000\n"
        "= End\n",
        {}, &s);
    EXPECT_EQ(ev, (lines{"malloc 1 100", "malloc 2 0", "realloc 1->1 104", "realloc 1->1 100000 moved",
                         "realloc 1->0 17592186044416", "malloc 0 140737488355328", "free 2", "free 1"}));
    EXPECT_EQ(s.lines, 12u);
    EXPECT_EQ(s.events, 8u);
    EXPECT_EQ(s.skipped_frees, 0u);
    EXPECT_EQ(s.trace.max_id, 2u);
    EXPECT_EQ(s.trace.peak_live_objects, 2u);
}

// The header: one 64-bit thread, this host's page size, no clock, the log named.
TEST(MtraceImport, Header) {
    temp_log t("= Start\n+ 0x10 0x8\n");
    import_mtrace(t.log(), t.trace(), {});
    trace_reader r(t.trace());
    EXPECT_EQ(r.header().command_line, "imported from mtrace log " + t.log());
    EXPECT_EQ(r.header().pointer_size, 8u);
    EXPECT_EQ(r.header().page_size, static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE)));
    EXPECT_FALSE(r.header().timestamps);
    EXPECT_EQ(r.header().clock, clock_source::none);
}

// Ids are the smallest not live: a freed id is reused before a new one is opened.
TEST(MtraceImport, DenseIdsReuseTheSmallestFree) {
    EXPECT_EQ(import_text("= Start\n+ 0xa0 0x1\n+ 0xb0 0x2\n+ 0xc0 0x3\n- 0xb0\n- 0xa0\n+ 0xd0 0x4\n+ 0xb0 0x5\n"),
              (lines{"malloc 1 1", "malloc 2 2", "malloc 3 3", "free 2", "free 1", "malloc 1 4", "malloc 2 5"}));
}

// In place (same address): the same id, moved clear. Moved: the old id ends and the smallest
// free id starts, which may be the old id itself.
TEST(MtraceImport, ReallocInPlaceAndMoved) {
    EXPECT_EQ(import_text("= Start\n+ 0xa0 0x10\n+ 0xb0 0x10\n< 0xb0\n> 0xb0 0x18\n< 0xb0\n> 0xc0 0x100\n"
                          "- 0xa0\n< 0xc0\n> 0xd0 0x200\n"),
              (lines{"malloc 1 16", "malloc 2 16", "realloc 2->2 24", "realloc 2->2 256 moved", "free 1",
                     "realloc 2->1 512 moved"}));
    // The only live block moves: its id is released and taken again.
    EXPECT_EQ(import_text("= Start\n+ 0xa0 0x10\n< 0xa0\n> 0xb0 0x20\n- 0xb0\n"),
              (lines{"malloc 1 16", "realloc 1->1 32 moved", "free 1"}));
}

// A failed realloc: id 0, the size asked, and the old block stays live (freed later).
TEST(MtraceImport, FailedReallocKeepsTheOldBlock) {
    EXPECT_EQ(import_text("= Start\n+ 0xa0 0x10\n! 0xa0 0x100000000000\n- 0xa0\n"),
              (lines{"malloc 1 16", "realloc 1->0 17592186044416", "free 1"}));
}

// glibc's realloc(NULL, n) is a '+' (a malloc), realloc(p, 0) a '-' (a free).
TEST(MtraceImport, ReallocOfNullAndToZeroAreMallocAndFree) {
    EXPECT_EQ(import_text("= Start\n+ 0xa0 0x32\n- 0xa0\n"), (lines{"malloc 1 50", "free 1"}));
}

// A failed call's size above 2^48 (malloc(SIZE_MAX/2)) is recorded as 2^48, as the recorder does.
TEST(MtraceImport, FailedCallSizesAreCapped) {
    EXPECT_EQ(import_text("= Start\n+ (nil) 0x7fffffffffffffff\n+ 0xa0 0x8\n! 0xa0 0xffffffffffffffff\n"),
              (lines{"malloc 0 281474976710656", "malloc 1 8", "realloc 1->0 281474976710656"}));
}

// A free or realloc of a block allocated before mtrace() was called: skipped and counted; a
// realloc that returns a new block starts tracking it as a malloc.
TEST(MtraceImport, UntrackedBlocksAreSkippedAndCounted) {
    import_summary s;
    const auto ev = import_text("= Start\n- 0x500\n+ 0xa0 0x10\n- 0x600\n< 0x700\n> 0x800 0x40\n! 0x900 0x10\n"
                                "< 0x950\n> 0x950 0x20\n- 0xa0\n- 0x800\n- 0x950\n",
                                {}, &s);
    EXPECT_EQ(ev, (lines{"malloc 1 16", "malloc 2 64", "malloc 3 32", "free 1", "free 2", "free 3"}));
    EXPECT_EQ(s.skipped_frees, 2u);
    EXPECT_EQ(s.untracked_reallocs, 3u);
    EXPECT_EQ(s.events, 6u);
}

// An address allocated again while live: an error naming both lines, unless lenient, which
// frees the old object just before (for '+' and for a realloc's '>') and counts it.
TEST(MtraceImport, DoubleAllocationIsAnErrorUnlessLenient) {
    const std::string log = "= Start\n+ 0xa0 0x10\n+ 0xb0 0x10\n+ 0xa0 0x20\n< 0xa0\n> 0xb0 0x30\n";
    const std::string p = import_error(log, 4);
    EXPECT_NE(p.find("address 0xa0 allocated again while still live (allocated on line 2"), std::string::npos) << p;
    EXPECT_NE(p.find("--lenient"), std::string::npos) << p;
    import_summary s;
    EXPECT_EQ(import_text(log, {.lenient = true}, &s),
              (lines{"malloc 1 16", "malloc 2 16", "free 1", "malloc 1 32", "free 2", "realloc 1->1 48 moved"}));
    EXPECT_EQ(s.lenient_fixes, 2u);
    EXPECT_EQ(s.events, 6u);
}

// Logs that cross the reader's 64 KiB blocks, with a 200 KB caller name on one line.
TEST(MtraceImport, LongLogsAndLongLines) {
    std::string log = "= Start\n@ ./prog:(" + std::string(200'000, 'x') + "+0x1)[0x10] + 0x1000 0x8\n";
    for (int i = 0; i < 20'000; ++i) {
        const std::string a = "0x" + std::to_string(0x2000 + i % 100);
        log += "@ ./prog:[0x4005d6] + " + a + " 0x40\n@ ./prog:[0x4005e4] - " + a + "\n";
    }
    import_summary s;
    const auto ev = import_text(log, {}, &s);
    EXPECT_EQ(s.events, 40'001u);
    EXPECT_EQ(s.trace.max_id, 2u);
    EXPECT_EQ(ev.back(), "free 2");
}

// ---- bad input ------------------------------------------------------------------------------

// Each malformed line is refused at its line with what was wrong.
TEST(MtraceBadInput, MalformedLines) {
    struct bad_case {
        const char* log;
        std::uint64_t line;
        const char* problem;
    };
    const bad_case cases[] = {
        {"= Start\n+ 0xa0 0x10\nhello world\n", 3, "unrecognised line 'hello world'"},
        {"= Start\n\n", 2, "unrecognised line ''"},
        {"= Start\n+ 0xzz 0x10\n", 2, "bad address '0xzz'"},
        {"= Start\n+ 1234 0x10\n", 2, "bad address '1234'"},
        {"= Start\n+ 0xa0 0xq\n", 2, "bad size '0xq'"},
        {"= Start\n+ 0xa0 16\n", 2, "bad size '16'"},
        {"= Start\n+ 0x1234567890abcdef0 0x10\n", 2, "more than 64 bits"},
        {"= Start\n+ 0xa0\n", 2, "missing size"},
        {"= Start\n+ 0xa0 0x10 0x20\n", 2, "after the size"},
        {"= Start\n+ 0xa0 0x10\n- 0xa0 0x10\n", 3, "takes only an address"},
        {"= Start\n@ ./prog:[0x4005d6 + 0xa0 0x10\n", 2, "no closing ']'"},
        {"= Start\n+ 0xa0 0x1000000000001\n", 2, "is absurd (more than 2^48 bytes)"},
        {"= Start\n+ 0xa0 0x10\n< 0xa0\n> 0xb0 0x1000000000001\n", 4, "is absurd"},
        {"= Start\n+ 0xa0 0x10\n! 0xa0 0\n", 3, "never '!' with size 0"},
        {"= Start\n< (nil)\n", 2, "'< (nil)'"},
        {"= Start\n+ 0xa0 0x10\n< 0xa0\n> (nil) 0x10\n", 4, "'> (nil)'"},
        {"= Start\n> 0xa0 0x10\n", 2, "has no '< ADDRESS' line before it"},
    };
    for (const bad_case& c : cases) {
        const std::string p = import_error(c.log, c.line);
        EXPECT_NE(p.find(c.problem), std::string::npos) << c.log << "\ngave: " << p;
    }
}

// A '<' must be followed by its '>': another event, '= End' and the end of the log are errors.
TEST(MtraceBadInput, ReallocHalfWithoutItsOtherHalf) {
    const char* want = "expected '> ADDRESS SIZE' after '< 0x55d1e2a3b4c0' (line 3), got '+ 0x55d1e2a3b500 0x10'";
    EXPECT_EQ(import_error("= Start\n+ 0x55d1e2a3b4c0 0x10\n< 0x55d1e2a3b4c0\n+ 0x55d1e2a3b500 0x10\n", 4), want);
    const std::string end = import_error("= Start\n+ 0xa0 0x10\n< 0xa0\n= End\n", 4);
    EXPECT_NE(end.find("got '= End'"), std::string::npos) << end;
    const std::string eof = import_error("= Start\n+ 0xa0 0x10\n< 0xa0\n", 4);
    EXPECT_NE(eof.find("the log ends after '< 0xa0' (line 3)"), std::string::npos) << eof;
}

// What is not an mtrace log, or not a whole one, is named as such.
TEST(MtraceBadInput, NotAWholeLog) {
    EXPECT_NE(import_error("", 1).find("the log is empty"), std::string::npos);
    EXPECT_NE(import_error("AMTRACE\n", 1).find("expected '= Start'"), std::string::npos);
    EXPECT_NE(import_error("= Start\n= End\n", 2).find("no allocation events"), std::string::npos);
    EXPECT_NE(import_error("= Start\n- 0xa0\n", 2).find("only 1 free of blocks allocated before mtrace()"),
              std::string::npos);
    EXPECT_NE(import_error("= Start\n+ 0xa0 0x10\n= End\n+ 0xb0 0x10\n", 4).find("text after '= End' (line 3)"),
              std::string::npos);
    EXPECT_NE(import_error("= Start\n+ 0xa0 0x10\n= Start\n", 3).find("a second '= Start'"), std::string::npos);
    // The program was killed mid-write: the last line has no newline, even if it would parse.
    EXPECT_NE(import_error("= Start\n+ 0xa0 0x10\n+ 0xb0 0x6", 3).find("the log was cut off"), std::string::npos);
    EXPECT_NE(import_error("= Start\n" + std::string(2 << 20, 'x') + "\n", 2).find("longer than 1 MiB"),
              std::string::npos);
}

// A missing log names the file and the OS reason; there is no line to name.
TEST(MtraceBadInput, MissingFile) {
    const std::string out = ::testing::TempDir() + "ammtrace_missing_" + std::to_string(::getpid()) + ".trace";
    try {
        import_mtrace("/no/such/app.mtrace", out, {});
        ADD_FAILURE() << "no error";
    } catch (const mtrace_error& e) {
        EXPECT_EQ(std::string(e.what()), "/no/such/app.mtrace: cannot open: No such file or directory");
        EXPECT_EQ(e.line, 0u);
    }
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

// The output may not be the log itself: that would destroy the input.
TEST(MtraceBadInput, OutputIsTheLog) {
    temp_log t("= Start\n+ 0xa0 0x10\n");
    EXPECT_THROW(import_mtrace(t.log(), t.log(), {}), mtrace_error);
    std::ifstream in(t.log());
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "= Start\n+ 0xa0 0x10\n");
}

// A failed import leaves an older trace at the output path as it was.
TEST(MtraceBadInput, FailureKeepsAnEarlierTrace) {
    temp_log good("= Start\n+ 0xa0 0x10\n");
    import_mtrace(good.log(), good.trace(), {});
    const auto before = std::filesystem::file_size(good.trace());
    temp_log bad("= Start\n+ 0xzz 0x10\n", "bad");
    EXPECT_THROW(import_mtrace(bad.log(), good.trace(), {}), mtrace_error);
    EXPECT_EQ(std::filesystem::file_size(good.trace()), before);
    EXPECT_FALSE(std::filesystem::exists(good.trace() + ".tmp"));
}
