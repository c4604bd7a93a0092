// perf_event_open counting, for real: page faults of a known number of page touches (on this
// thread and on a thread started after the counters opened), task clock, and counters the host
// cannot give coming back as a reason instead of a value, never a zero.
#include "harness/os/perf_counters.hpp"

#include <gtest/gtest.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

using namespace allocmeter;

namespace {

constexpr std::size_t pages = 2000;

/// Maps `pages` fresh pages and writes one byte in each: at least that many minor faults.
void touch_fresh_pages() {
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    auto* p = static_cast<volatile char*>(
        ::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(static_cast<volatile void*>(p), MAP_FAILED);
    for (std::size_t i = 0; i < pages; ++i) p[i * page] = 1;
    ::munmap(const_cast<char*>(p), pages * page);
}

const counter_reading& find(const std::vector<counter_reading>& rs, const std::string& name) {
    for (const auto& r : rs)
        if (r.name == name) return r;
    static const counter_reading none{};
    ADD_FAILURE() << "no reading for " << name;
    return none;
}

bool perf_events_exist() { return std::filesystem::exists("/proc/sys/kernel/perf_event_paranoid"); }

}  // namespace

// Software events count in user space: 2000 page touches give at least 2000 minor faults.
TEST(PerfCounters, SoftwareCountersSeeKnownPageTouches) {
    if (!perf_events_exist()) GTEST_SKIP() << "this kernel has no perf events (/proc/sys/kernel/perf_event_paranoid)";
    perf_counters c(default_counters());
    c.start();
    touch_fresh_pages();
    c.stop();
    const auto rs = c.read();
    ASSERT_EQ(rs.size(), default_counters().size());
    const counter_reading& minor = find(rs, "minor_faults");
    ASSERT_TRUE(minor.value.has_value()) << minor.reason;
    EXPECT_GE(*minor.value, static_cast<double>(pages));
    EXPECT_LT(*minor.value, 2.0 * pages);  // the region holds little else
    EXPECT_DOUBLE_EQ(minor.running, 1.0);  // software events are never multiplexed
    const counter_reading& clock = find(rs, "task_clock_ns");
    ASSERT_TRUE(clock.value.has_value()) << clock.reason;
    EXPECT_GT(*clock.value, 0.0);
    const counter_reading& major = find(rs, "major_faults");
    ASSERT_TRUE(major.value.has_value()) << major.reason;
}

// A thread started after the counters opened is counted too (inherit), and nothing outside
// start()..stop() is.
TEST(PerfCounters, CountThreadsStartedAfterOpeningAndOnlyTheRegion) {
    if (!perf_events_exist()) GTEST_SKIP() << "this kernel has no perf events";
    perf_counters c(default_counters());
    touch_fresh_pages();  // before start: not counted
    c.start();
    std::thread worker(touch_fresh_pages);
    worker.join();
    c.stop();
    touch_fresh_pages();  // after stop: not counted
    const counter_reading& minor = find(c.read(), "minor_faults");
    ASSERT_TRUE(minor.value.has_value()) << minor.reason;
    EXPECT_GE(*minor.value, static_cast<double>(pages));
    EXPECT_LT(*minor.value, 2.0 * pages);
}

// An event the kernel refuses comes back without a value and with the reason; the others
// still count. A software config past the last one is refused on every host; on a host without
// a PMU (these VMs) the hardware events are refused the same way.
TEST(PerfCounters, UnsupportedEventsGiveAReasonNotAZero) {
    if (!perf_events_exist()) GTEST_SKIP() << "this kernel has no perf events";
    std::vector<counter_spec> specs = default_counters();
    specs.push_back({"no_such_event", PERF_TYPE_SOFTWARE, 9999, false});
    perf_counters c(specs);
    c.start();
    touch_fresh_pages();
    c.stop();
    const auto rs = c.read();
    const counter_reading& bad = find(rs, "no_such_event");
    EXPECT_FALSE(bad.value.has_value());
    EXPECT_NE(bad.reason.find("perf_event_open: "), std::string::npos) << bad.reason;
    EXPECT_TRUE(find(rs, "minor_faults").value.has_value());
    for (const char* hw : {"cycles", "instructions", "l1d_misses", "llc_misses", "dtlb_load_misses", "branch_misses"}) {
        const counter_reading& r = find(rs, hw);
        if (r.value) {
            EXPECT_GT(r.running, 0.0) << hw;
        } else {
            EXPECT_FALSE(r.reason.empty()) << hw << ": no value and no reason";
        }
    }
}

// libpfm4 names encode to the events perf knows; an unknown name is refused with the name.
TEST(PerfCounters, EventNamesEncodeThroughLibpfm) {
    std::string error;
    const auto instructions = encode_event("instructions", error);
    ASSERT_TRUE(instructions.has_value()) << error;
    EXPECT_EQ(instructions->type, static_cast<std::uint32_t>(PERF_TYPE_HARDWARE));
    EXPECT_EQ(instructions->config, static_cast<std::uint64_t>(PERF_COUNT_HW_INSTRUCTIONS));
    EXPECT_TRUE(instructions->hardware);
    const auto faults = encode_event("PERF_COUNT_SW_PAGE_FAULTS_MIN", error);
    ASSERT_TRUE(faults.has_value()) << error;
    EXPECT_EQ(faults->type, static_cast<std::uint32_t>(PERF_TYPE_SOFTWARE));
    EXPECT_FALSE(faults->hardware);
    EXPECT_FALSE(encode_event("no_such_event_anywhere", error).has_value());
    EXPECT_NE(error.find("'no_such_event_anywhere'"), std::string::npos) << error;

    // Named events take the hardware group's place; the software counters stay.
    const auto specs = cell_counters({"instructions", "PERF_COUNT_SW_PAGE_FAULTS_MIN"});
    std::vector<std::string> names;
    for (const auto& s : specs) names.push_back(s.name);
    EXPECT_EQ(names, (std::vector<std::string>{"instructions", "PERF_COUNT_SW_PAGE_FAULTS_MIN", "minor_faults",
                                               "major_faults", "task_clock_ns"}));
    EXPECT_THROW(cell_counters({"cycles", "bogus"}), std::invalid_argument);
}
