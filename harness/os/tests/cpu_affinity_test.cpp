// CPU lists as --pin-cpus reads them (single CPUs, ranges, lists; each mistake named), their
// text form, the CPUs this process may use, and a mask applied to a thread.
#include <gtest/gtest.h>

#include <sched.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "harness/os/cpu_affinity.hpp"

using namespace allocmeter;

namespace {

/// The message parse_cpu_list throws for `text`, or "" when it accepts it.
std::string refusal(const std::string& text) {
    try {
        parse_cpu_list(text);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// One CPU, a range, a list, and a mix, ascending whatever the order given.
TEST(CpuAffinity, ReadsCpusRangesAndLists) {
    EXPECT_EQ(parse_cpu_list("0"), (std::vector<unsigned>{0}));
    EXPECT_EQ(parse_cpu_list("0-1"), (std::vector<unsigned>{0, 1}));
    EXPECT_EQ(parse_cpu_list("3,1"), (std::vector<unsigned>{1, 3}));
    EXPECT_EQ(parse_cpu_list("6,0-2"), (std::vector<unsigned>{0, 1, 2, 6}));
}

// Each mistake says what is wrong with which item.
TEST(CpuAffinity, RefusesWhatIsNoCpuList) {
    EXPECT_NE(refusal("").find("empty"), std::string::npos);
    EXPECT_NE(refusal("a").find("'a' is not a CPU number"), std::string::npos);
    EXPECT_NE(refusal("1,").find("'' is not a CPU number"), std::string::npos);
    EXPECT_NE(refusal("1-").find("'1-' is not a CPU number"), std::string::npos);
    EXPECT_NE(refusal("-1").find("'-1' is not a CPU number"), std::string::npos);
    EXPECT_NE(refusal("3-1").find("runs backwards; write 1-3"), std::string::npos);
    EXPECT_NE(refusal("1,0-1").find("CPU 1 is named twice"), std::string::npos);
    EXPECT_NE(refusal("99999").find("past the highest"), std::string::npos);
}

// Ranges joined again in the text form.
TEST(CpuAffinity, TextJoinsRanges) {
    EXPECT_EQ(cpu_list_text({0, 1, 3}), "0-1,3");
    EXPECT_EQ(cpu_list_text({2}), "2");
    EXPECT_EQ(cpu_list_text({}), "");
}

// The test may run on some CPU; a thread masked to the first of them then runs only there.
TEST(CpuAffinity, MaskRestrictsAThread) {
    const std::vector<unsigned> allowed = allowed_cpus();
    ASSERT_FALSE(allowed.empty());
    std::vector<unsigned> seen;
    int error = -1;
    std::thread([&] {
        error = cpu_mask({allowed.front()}).apply();
        seen = allowed_cpus();
    }).join();
    EXPECT_EQ(error, 0);
    EXPECT_EQ(seen, (std::vector<unsigned>{allowed.front()}));
    EXPECT_EQ(allowed_cpus(), allowed) << "the test's own thread is not restricted";
}
