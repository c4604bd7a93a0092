// run_child on /bin/sh scripts: the exit code, a signal, the deadline, the result channel on
// fd 3, the stderr tail, the environment set and dropped, a program that cannot start, the
// CPUs it is restricted to, and that nothing the child started outlives it: a forked process holding its pipes, a stop,
// the parent's death.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "harness/os/cpu_affinity.hpp"
#include "harness/run/child_process.hpp"

using namespace allocmeter;

namespace {

child_outcome sh(const std::string& script, double timeout_s = 10, std::vector<std::pair<std::string, std::string>> set = {},
                 std::vector<std::string> unset = {}) {
    return run_child({"/bin/sh", {"-c", script}, std::move(set), std::move(unset), timeout_s});
}

/// Whether process `pid` is dead (gone, or a zombie that init has not reaped yet), waiting up to 3 s.
bool gone(pid_t pid) {
    for (int i = 0; i < 300; ++i) {
        if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
        std::string stat;
        std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/stat"), stat);
        if (const auto paren = stat.rfind(')'); paren != std::string::npos && stat.compare(paren, 3, ") Z") == 0) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
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
    const child_outcome r = sh("exec sleep 30", 0.3);
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

// A child restricted to one CPU, and what it starts, run only there; a CPU it may not have is
// a failure to start that names the call and the CPUs.
TEST(ChildProcess, PinnedToCpus) {
    const std::vector<unsigned> allowed = allowed_cpus();
    ASSERT_FALSE(allowed.empty());
    child_spec pinned{"/bin/sh", {"-c", "grep Cpus_allowed_list: /proc/self/status >&3"}, {}, {}, 10};
    pinned.cpus = {allowed.back()};
    const child_outcome r = run_child(pinned);
    ASSERT_EQ(r.how, child_outcome::ending::exited) << r.spawn_error;
    EXPECT_EQ(r.result.substr(r.result.find_first_of("0123456789")), std::to_string(allowed.back()) + "\n");

    pinned.cpus = {CPU_SETSIZE - 1};  // not a CPU of any VM this runs on
    ASSERT_EQ(std::find(allowed.begin(), allowed.end(), pinned.cpus[0]), allowed.end());
    const child_outcome refused = run_child(pinned);
    EXPECT_EQ(refused.how, child_outcome::ending::spawn_failed);
    EXPECT_NE(refused.spawn_error.find("sched_setaffinity to CPUs 1023: "), std::string::npos) << refused.spawn_error;
}

// Only the last part of a long stderr is kept.
TEST(ChildProcess, StderrTailIsBounded) {
    const child_outcome r = sh("i=0; while [ $i -lt 3000 ]; do echo line-$i-xxxxxxxxxx >&2; i=$((i+1)); done; echo end >&2");
    EXPECT_LE(r.stderr_tail.size(), 16u * 1024);
    EXPECT_NE(r.stderr_tail.find("end"), std::string::npos);
}

// A process the child forked keeps the pipes open after the child exits: the call still
// returns at once, with the child's result, and the forked process is killed.
TEST(ChildProcess, ForkedProcessHoldingThePipesDoesNotHoldTheRun) {
    const child_outcome r = sh("sleep 60 & echo $! >&3; exit 0");
    EXPECT_EQ(r.how, child_outcome::ending::exited);
    EXPECT_EQ(r.code, 0);
    EXPECT_LT(r.wall_s, 5);
    ASSERT_FALSE(r.result.empty());
    EXPECT_TRUE(gone(std::stoi(r.result))) << "the forked sleep outlived the child";
}

// The deadline holds whatever the child's descendants do, and they are killed with it.
TEST(ChildProcess, DeadlineHoldsWithAForkedProcess) {
    const child_outcome r = sh("sleep 60 & echo $! >&3; sleep 60", 0.3);
    EXPECT_EQ(r.how, child_outcome::ending::timed_out);
    EXPECT_LT(r.wall_s, 5);
    ASSERT_FALSE(r.result.empty());
    EXPECT_TRUE(gone(std::stoi(r.result)));
}

// A byte on the stop pipe ends the child (and its group) at once.
TEST(ChildProcess, StopPipeEndsTheChild) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        ASSERT_EQ(::write(fds[1], "x", 1), 1);
    });
    child_spec spec{"/bin/sh", {"-c", "sleep 60 & echo $! >&3; sleep 60"}, {}, {}, 30};
    spec.stop_fd = fds[0];
    const child_outcome r = run_child(spec);
    stopper.join();
    ::close(fds[0]);
    ::close(fds[1]);
    EXPECT_EQ(r.how, child_outcome::ending::stopped);
    EXPECT_LT(r.wall_s, 5);
    ASSERT_FALSE(r.result.empty());
    EXPECT_TRUE(gone(std::stoi(r.result)));
}

// The child never outlives its parent: a parent killed with SIGKILL (no chance to clean up)
// takes its running child with it.
TEST(ChildProcess, ChildDiesWithItsParent) {
    const std::string pid_file = ::testing::TempDir() + "child_process_orphan.pid";
    std::remove(pid_file.c_str());
    const pid_t parent = ::fork();
    ASSERT_GE(parent, 0);
    if (parent == 0) {
        run_child({"/bin/sh", {"-c", "echo $$ > " + pid_file + "; exec sleep 60"}, {}, {}, 0});
        ::_exit(0);
    }
    pid_t child = 0;
    for (int i = 0; i < 500 && child == 0; ++i) {
        std::ifstream(pid_file) >> child;
        if (child == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GT(child, 0) << "the child did not start";
    ::kill(parent, SIGKILL);
    ::waitpid(parent, nullptr, 0);
    EXPECT_TRUE(gone(child)) << "the child outlived its parent";
    std::remove(pid_file.c_str());
}
