// One command-line grammar for every command: each takes `--name=value` as well as
// `--name value`, refuses a negative number for an unsigned option and a word too many by
// name (exit 2, pointing at its --help), and shows examples in its --help.
#include <gtest/gtest.h>

#include <fstream>

#include "harness/results/tests/sample_results.hpp"
#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

namespace {

void expect_usage_error(const std::string& args, const std::string& must_say) {
    const auto r = run_allocmeter(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(must_say), std::string::npos) << args << "\n" << r.output;
}

/// A results file with five ok repetitions each of system and jemalloc on frame, jemalloc
/// clearly faster.
std::string write_results(const std::filesystem::path& dir, const std::string& name) {
    std::vector<allocmeter::cell_record> cells;
    for (unsigned rep = 1; rep <= 5; ++rep) {
        cells.push_back(ok_cell("system", "frame", 1, rep, 30.0 + rep));
        cells.push_back(ok_cell("jemalloc", "frame", 1, rep, 20.0 + rep));
    }
    return write_document(sample_document(cells), (dir / name).string());
}

/// A small, valid glibc mtrace() log: two blocks, both freed.
std::string write_mtrace_log(const std::filesystem::path& dir) {
    const std::string log = (dir / "app.mtrace").string();
    std::ofstream(log) << "= Start\n+ 0x55d1e2a3b4c0 0x10\n+ 0x55d1e2a3b500 0x20\n- 0x55d1e2a3b4c0\n- 0x55d1e2a3b500\n= End\n";
    return log;
}

}  // namespace

// run: every numeric and text option as --name=value, and the values reach the results.
TEST(CliGrammar, RunTakesNameEqualsValue) {
    const auto out = fresh_dir("grammar-run");
    const auto r = run_allocmeter("run --allocators=system --workloads=frame --threads=1 --reps=1 --scale=quick --seed=7 "
                                  "--latency=off --sample-ms=0 --timeout=60 --touch=page --replay=serial --out=" +
                                  out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto doc = latest_results(out);
    EXPECT_EQ(doc["cells"].size(), 2u);  // system's and the harness row's
    EXPECT_EQ(doc["env"]["seed"], 7);
    EXPECT_EQ(doc["env"]["reps"], 1);
    EXPECT_EQ(doc["env"]["latency_every"], 0);
    EXPECT_EQ(doc["env"]["sample_ms"], 0);
}

// list: --scale=quick and --allocator=NAME=PATH (the first '=' ends the option's name).
TEST(CliGrammar, ListTakesNameEqualsValue) {
    const auto r = run_allocmeter("list --scale=quick --allocator=mine=" NO_MALLOC_SO);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("parameters per thread at scale quick"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\n  mine "), std::string::npos) << r.output;
}

// record: --out=FILE; after '--', and after the program's name without it, the program's own
// options reach it untouched (the trace's header holds the command line it ran).
TEST(CliGrammar, RecordTakesNameEqualsValueAndPassesTheProgramsOptions) {
    const auto dir = fresh_dir("grammar-record");
    const std::string with_dashes = (dir / "a.trace").string(), without = (dir / "b.trace").string();
    auto r = run_allocmeter("record --out=" + with_dashes + " --timestamps -- " COUNTING_TARGET " 8 --reps=-1 -o x --help");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto info = run_allocmeter("trace info " + with_dashes);
    EXPECT_NE(info.output.find(COUNTING_TARGET " 8 --reps=-1 -o x --help"), std::string::npos) << info.output;
    EXPECT_EQ(info.output.find("not recorded (no timestamps)"), std::string::npos) << info.output;

    r = run_allocmeter("record -o " + without + " " COUNTING_TARGET " 4 --out=elsewhere -h");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    info = run_allocmeter("trace info " + without);
    EXPECT_NE(info.output.find(COUNTING_TARGET " 4 --out=elsewhere -h"), std::string::npos) << info.output;
    EXPECT_FALSE(std::filesystem::exists("elsewhere"));
}

// trace import: --format=mtrace --out=FILE; info and validate take the result (they have no
// options with values; '--' before a file name works as everywhere).
TEST(CliGrammar, TraceTakesNameEqualsValue) {
    const auto dir = fresh_dir("grammar-trace");
    const std::string log = write_mtrace_log(dir), trace = (dir / "imported.trace").string();
    const auto r = run_allocmeter("trace import --format=mtrace --out=" + trace + " --lenient " + log);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(trace + ": 4 events from " + log), std::string::npos) << r.output;
    const auto info = run_allocmeter("trace info -- " + trace);
    EXPECT_EQ(info.exit_code, 0) << info.output;
    EXPECT_NE(info.output.find("peak live:"), std::string::npos) << info.output;
    const auto valid = run_allocmeter("trace validate " + trace);
    EXPECT_EQ(valid.exit_code, 0) << valid.output;
    EXPECT_NE(valid.output.find("valid: 4 events"), std::string::npos) << valid.output;
    expect_usage_error("trace info --format=x " + trace, "unknown option '--format=x'; see 'allocmeter trace info --help'");
}

// compare: --alpha=0.01 and --metric=NAME with two files; --allocators=A,B with one.
TEST(CliGrammar, CompareTakesNameEqualsValue) {
    const auto dir = fresh_dir("grammar-compare");
    const std::string a = write_results(dir, "a.json"), b = write_results(dir, "b.json");
    auto r = run_allocmeter("compare " + a + " " + b + " --alpha=0.01 --metric=ns_per_op");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("no significant difference"), std::string::npos) << r.output;
    r = run_allocmeter("compare " + a + " --allocators=system,jemalloc --alpha=0.01");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("jemalloc vs system"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("faster"), std::string::npos) << r.output;
    expect_usage_error("compare " + a + " " + b + " --alpha=5", "--alpha 5: give a number from 1e-06 to 0.5");
}

// plot and report: --out=PATH is read as the output path (a results file that cannot be read
// is named before any chart is drawn, so no Python is needed here).
TEST(CliGrammar, PlotAndReportTakeNameEqualsValue) {
    const auto dir = fresh_dir("grammar-report");
    for (const char* command : {"plot", "report"}) {
        const auto r = run_allocmeter(std::string(command) + " --out=" + (dir / "out").string() + " " + (dir / "missing.json").string());
        EXPECT_EQ(r.exit_code, 2) << command << "\n" << r.output;
        EXPECT_NE(r.output.find("missing.json: cannot open"), std::string::npos) << command << "\n" << r.output;
        expect_usage_error(std::string(command) + " --out", "the required argument for option '--out' is missing");
    }
}

// A negative number for an unsigned option is refused, naming the option, not wrapped round.
TEST(CliGrammar, NegativeNumbersForUnsignedOptionsAreRefused) {
    expect_usage_error("run --reps -1", "--reps -1: give a whole number from 1 to 1000000");
    expect_usage_error("run --reps=-1", "--reps -1: give a whole number from 1 to 1000000");
    expect_usage_error("run --seed=-1", "--seed -1: give a whole number from 0 to 18446744073709551615");
    expect_usage_error("run --threads 1,-2", "--threads -2: give a whole number from 1 to 1024");
    expect_usage_error("run --latency=-64", "--latency -64: give a whole number from 1 to 1073741824");
    expect_usage_error("run --sample-ms=-1", "--sample-ms -1: give a number from 0 to 10000");
    expect_usage_error("run --timeout=-1", "--timeout -1: give a number from 0.001 to 604800");
    // Past the type's range, and a fraction where a whole number is due.
    expect_usage_error("run --seed 18446744073709551616", "--seed 18446744073709551616: give a whole number");
    expect_usage_error("run --reps 2.5", "--reps 2.5: give a whole number");
}

// A positional word a command does not take is refused by name, in every command.
TEST(CliGrammar, ExtraPositionalWordsAreRefused) {
    const std::pair<std::string, std::string> cases[] = {
        {"run extra", "run: unexpected argument 'extra'; see 'allocmeter run --help'"},
        {"list extra", "list: unexpected argument 'extra'; see 'allocmeter list --help'"},
        {"compare a.json b.json c.json", "compare: unexpected argument 'c.json'; see 'allocmeter compare --help'"},
        {"plot a.json b.json", "plot: unexpected argument 'b.json'; see 'allocmeter plot --help'"},
        {"report a.json -o r.html b.json", "report: unexpected argument 'b.json'; see 'allocmeter report --help'"},
        {"trace info a.trace b.trace", "trace info: unexpected argument 'b.trace'; see 'allocmeter trace info --help'"},
        {"trace validate a.trace b.trace", "trace validate: unexpected argument 'b.trace'"},
        {"trace import --format mtrace a.mtrace b.mtrace", "trace import: unexpected argument 'b.mtrace'"},
    };
    for (const auto& [args, must_say] : cases) expect_usage_error(args, must_say);
}

// An unknown option gets the same message in every command, the word as typed.
TEST(CliGrammar, UnknownOptionsAreNamedAlike) {
    for (const std::string command : {"run", "list", "record", "compare", "plot", "report", "trace info", "trace import"})
        expect_usage_error(command + " --bogus=1 x", "allocmeter " + command + ": unknown option '--bogus=1'; see 'allocmeter " +
                                                         command + " --help'");
}

// --help of every command exits 0, lists its options and shows an example of itself.
TEST(CliGrammar, EveryHelpHasExamples) {
    for (const std::string command :
         {"run", "list", "record", "trace", "trace info", "trace validate", "trace import", "compare", "plot", "report"}) {
        const auto r = run_allocmeter(command + " --help");
        EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.output;
        EXPECT_NE(r.output.find("examples:"), std::string::npos) << command << "\n" << r.output;
        EXPECT_NE(r.output.find("\n  allocmeter " + command + " "), std::string::npos) << command << "\n" << r.output;
    }
}
