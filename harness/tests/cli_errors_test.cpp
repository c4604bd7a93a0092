// Bad command lines: each gets a message that names the input and what to do, and exit 2.
#include <gtest/gtest.h>

#include "harness/tests/test_support.hpp"

using allocmeter::testing::run_allocmeter;

namespace {

void expect_usage_error(const std::string& args, const std::string& must_say) {
    const auto r = run_allocmeter(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(must_say), std::string::npos) << args << "\n" << r.output;
}

}  // namespace

// An unknown allocator is named, with the list of valid ones.
TEST(CliErrors, UnknownAllocatorListsValidOnes) {
    expect_usage_error("run --allocators system,nosuch", "unknown allocator 'nosuch'; valid: system, jemalloc");
}

// An unknown workload is named, with the list of valid ones.
TEST(CliErrors, UnknownWorkloadListsValidOnes) {
    expect_usage_error("run --workloads frame,fram", "unknown workload 'fram'; valid: frame, request, parser, churn");
    expect_usage_error("run --workloads classic,classics", "unknown workload 'classics'; valid: frame, request, parser, churn");
    expect_usage_error("run --workloads al", "the groups seed, classic and all, trace:FILE for a recorded trace");
}

// Thread counts, scale, reps and timeout are checked; a bad number names the option, the
// value and the range.
TEST(CliErrors, BadNumbers) {
    expect_usage_error("run --threads 1,zero", "--threads zero: give a whole number from 1 to 1024, e.g. --threads 1,2,4");
    expect_usage_error("run --threads 0", "--threads 0: give a whole number from 1 to 1024");
    expect_usage_error("run --scale huge", "--scale huge: expected quick, default or full");
    expect_usage_error("run --reps 0", "--reps 0: give a whole number from 1 to 1000000");
    expect_usage_error("run --timeout -1", "--timeout -1: give a number from 0.001 to 604800 seconds");
    expect_usage_error("run --reps many", "--reps many: give a whole number from 1 to 1000000");
}

// --reps auto's settings are checked, and refused without it; each message says what to give.
TEST(CliErrors, BadRepsAuto) {
    expect_usage_error("run --reps aut", "--reps aut: give a whole number from 1 to 1000000, e.g. --reps 5, or --reps auto");
    expect_usage_error("run --target-ci 0.05", "--target-ci applies to --reps auto only: add --reps auto, or drop --target-ci");
    expect_usage_error("run --reps 3 --budget 10m", "--budget applies to --reps auto only");
    expect_usage_error("run --reps auto --target-ci 0", "--target-ci 0: give a number from 0.001 to 1 (a fraction of the median)");
    expect_usage_error("run --reps auto --target-ci 3%", "--target-ci 3%: give a number from 0.001 to 1");
    expect_usage_error("run --reps auto --max-reps 3",
                       "--max-reps 3: an interval with 95% coverage needs 6 rounds, so no group could reach the target; "
                       "give 6 or more, or use --reps 3");
    expect_usage_error("run --reps auto --budget 10x", "--budget 10x: give seconds, or a number with s, m or h (e.g. 600, 90s, 10m, 2h)");
    expect_usage_error("run --reps auto --budget 0", "--budget 0: give seconds");
    expect_usage_error("run --reps auto --budget m", "--budget m: give seconds");
}

// --pin-cpus: a list that is none, or a CPU this process may not use, is refused before anything runs.
TEST(CliErrors, BadPinCpus) {
    expect_usage_error("run --pin-cpus 1- --out /tmp/allocmeter-never",
                       "--pin-cpus 1-: '1-' is not a CPU number or a range of them (such as 0-3); give CPU numbers and ranges, "
                       "e.g. --pin-cpus 1, 0-1 or 1,3");
    expect_usage_error("run --pin-cpus 2-1 --out /tmp/allocmeter-never", "--pin-cpus 2-1: the range 2-1 runs backwards; write 1-2");
    expect_usage_error("run --pin-cpus 1023 --out /tmp/allocmeter-never",
                       "--pin-cpus 1023: CPU 1023 is not one this process may run on (it may use ");
}

// An empty list, or a name given twice (which would run twice and pool as extra reps), is refused.
TEST(CliErrors, EmptyOrRepeatedLists) {
    expect_usage_error("run --allocators ''", "--allocators '': the list is empty");
    expect_usage_error("run --allocators=system,system", "--allocators system,system: 'system' is named twice");
    expect_usage_error("run --workloads ''", "--workloads '': the list is empty");
    expect_usage_error("run --workloads frame,churn,frame", "'frame' is named twice");
    expect_usage_error("run --threads 1,2,1", "--threads 1,2,1: '1' is named twice");
    expect_usage_error("run --threads 2,02", "--threads 2,02: 2 is named twice");
}

// A user library must be NAME=PATH with an existing file and a fresh name.
TEST(CliErrors, BadUserLibrary) {
    expect_usage_error("run --allocator mine", "expected NAME=/path/to/lib.so");
    expect_usage_error("run --allocator mine=/no/such/lib.so", "/no/such/lib.so is not a file");
    expect_usage_error("run --allocator jemalloc=/bin/true", "'jemalloc' is already an allocator");
    expect_usage_error("list --allocator 'bad name=/bin/true'", "the name may use letters");
}

// Unknown commands and options are named; no command at all prints the usage.
TEST(CliErrors, UnknownCommandAndOption) {
    expect_usage_error("bench", "unknown command 'bench'; commands: list, run, record, trace");
    expect_usage_error("run --fast", "unknown option '--fast'; see 'allocmeter run --help'");
    expect_usage_error("", "usage: allocmeter <command>");
}

// --help on each command exits 0 and shows examples.
TEST(CliErrors, HelpHasExamples) {
    for (const char* args : {"--help", "run --help", "list --help"}) {
        const auto r = run_allocmeter(args);
        EXPECT_EQ(r.exit_code, 0) << args;
        EXPECT_NE(r.output.find("example"), std::string::npos) << args << "\n" << r.output;
    }
}

// An event name libpfm4 does not know is named before anything runs.
TEST(CliErrors, UnknownPmuEventIsNamed) {
    expect_usage_error("run --pmu-events cycles,no_such_event --out /tmp/allocmeter-never", "'no_such_event'");
}
