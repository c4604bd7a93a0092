// run_child on /bin/sh scripts: the exit code, a signal, the deadline, the result channel on
// fd 3, the stderr tail, the environment set and dropped, and a program that cannot start.
#include <gtest/gtest.h>

#include <cstdlib>

#include "harness/run/child_process.hpp"

using namespace allocmeter;

namespace {

child_outcome sh(const std::string& script, double timeout_s = 10, std::vector<std::pair<std::string, std::string>> set = {},
                 std::vector<std::string> unset = {}) {
    return run_child({"/bin/sh", {"-c", script}, std::move(set), std::move(unset), timeout_s});
}

}  // namespace

// A clean exit: its code, what it wrote on fd 3 and on stderr.
TEST(ChildProcess, ExitCodeResultAndStderr) {
    const child_outcome r = sh("echo result-text >&3; echo said >&2; exit 7");
    EXPECT_EQ(r.how, child_outcome::ending::exited);
    EXPECT_EQ(r.code, 7);
    EXPECT_EQ(r.result, "result-text\n");
    EXPECT_NE(r.stderr_tail.find("said"), std::string::npos);
    EXPECT_GT(r.wall_s, 0);
}

// A signal is reported as such, with its number.
TEST(ChildProcess, Signal) {
    const child_outcome r = sh("kill -SEGV $$");
    EXPECT_EQ(r.how, child_outcome::ending::signaled);
    EXPECT_EQ(r.code, 11);
    EXPECT_EQ(describe_signal(11), "SIGSEGV (11)");
}

// Past the deadline the child is killed and the outcome says so, well before it would end.
TEST(ChildProcess, Deadline) {
    const child_outcome r = sh("exec sleep 30", 0.3);  // exec: no descendant holds the pipes (issue 12 covers that case)
    EXPECT_EQ(r.how, child_outcome::ending::timed_out);
    EXPECT_LT(r.wall_s, 10);
}

// Variables are set, overridden and dropped as asked.
TEST(ChildProcess, Environment) {
    ::setenv("ALLOCMETER_TEST_DROPPED", "inherited", 1);
    ::setenv("ALLOCMETER_TEST_OVERRIDDEN", "inherited", 1);
    const child_outcome r = sh("echo \"[$ALLOCMETER_TEST_SET][$ALLOCMETER_TEST_OVERRIDDEN][$ALLOCMETER_TEST_DROPPED]\" >&3", 10,
                               {{"ALLOCMETER_TEST_SET", "a"}, {"ALLOCMETER_TEST_OVERRIDDEN", "b"}}, {"ALLOCMETER_TEST_DROPPED"});
    EXPECT_EQ(r.result, "[a][b][]\n");
}

// A program that does not exist cannot start, and says why.
TEST(ChildProcess, SpawnFailure) {
    const child_outcome r = run_child({"/nonexistent/program", {}, {}, {}, 5});
    EXPECT_EQ(r.how, child_outcome::ending::spawn_failed);
    EXPECT_FALSE(r.spawn_error.empty());
}

// Only the last part of a long stderr is kept.
TEST(ChildProcess, StderrTailIsBounded) {
    const child_outcome r = sh("i=0; while [ $i -lt 3000 ]; do echo line-$i-xxxxxxxxxx >&2; i=$((i+1)); done; echo end >&2");
    EXPECT_LE(r.stderr_tail.size(), 16u * 1024);
    EXPECT_NE(r.stderr_tail.find("end"), std::string::npos);
}
