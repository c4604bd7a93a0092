// The RSS sampler, for real: it sees a known allocation come and go, records the live-bytes
// count it is given, keeps its samples in time order, and thins them past its capacity.
#include "harness/os/rss_sampler.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

using namespace allocmeter;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t big = 64u << 20;

}  // namespace

// 64 MiB touched for 200 ms shows in the series, with the live count it was given; both go
// back down once it is released. (Each phase lasts 100 ms or more, where the sampler takes a
// sample a millisecond: on a loaded machine its thread can wait tens of ms for a CPU.)
TEST(RssSampler, SeesAKnownAllocation) {
    std::atomic<std::int64_t> live{0};
    rss_sampler sampler(1ms);
    ASSERT_TRUE(sampler.available());
    sampler.start(&live);
    std::this_thread::sleep_for(100ms);
    auto* p = static_cast<char*>(::mmap(nullptr, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(static_cast<void*>(p), MAP_FAILED);
    for (std::size_t off = 0; off < big; off += 4096) p[off] = 1;
    live.store(static_cast<std::int64_t>(big));
    std::this_thread::sleep_for(200ms);
    ::munmap(p, big);
    live.store(0);
    std::this_thread::sleep_for(100ms);
    sampler.stop();

    const auto s = sampler.samples();
    ASSERT_GE(s.size(), 10u);
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end(), [](const rss_sample& a, const rss_sample& b) { return a.t_ns < b.t_ns; }));
    const auto low = std::min_element(s.begin(), s.end(), [](auto& a, auto& b) { return a.rss_bytes < b.rss_bytes; });
    const auto high = std::max_element(s.begin(), s.end(), [](auto& a, auto& b) { return a.rss_bytes < b.rss_bytes; });
    EXPECT_GE(high->rss_bytes, low->rss_bytes + big - (4u << 20)) << "the 64 MiB did not show";
    EXPECT_EQ(high->live_bytes, static_cast<std::int64_t>(big));
    EXPECT_EQ(s.front().live_bytes, 0);
    EXPECT_EQ(s.back().live_bytes, 0);
    EXPECT_LT(s.back().rss_bytes, high->rss_bytes - big / 2) << "the release did not show";
}

// Past its capacity the sampler keeps every other sample and samples half as often; the
// highest sample is kept apart (peak), whether or not thinning dropped it.
TEST(RssSampler, ThinsPastItsCapacity) {
    std::atomic<std::int64_t> live{0};
    rss_sampler sampler(500us, 16);
    sampler.start(&live);
    std::this_thread::sleep_for(20ms);
    auto* p = static_cast<char*>(::mmap(nullptr, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(static_cast<void*>(p), MAP_FAILED);
    for (std::size_t off = 0; off < big; off += 4096) p[off] = 1;
    // Held for several intervals: by now thinning has stretched it to tens of ms (the touch
    // alone takes hundreds on a VM whose page faults are slow).
    std::this_thread::sleep_for(200ms);
    ::munmap(p, big);
    std::this_thread::sleep_for(100ms);
    sampler.stop();
    const auto s = sampler.samples();
    EXPECT_LE(s.size(), 16u);
    EXPECT_GE(s.size(), 8u);
    EXPECT_GT(sampler.interval(), 500us);
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end(), [](const rss_sample& a, const rss_sample& b) { return a.t_ns < b.t_ns; }));
    const auto low = std::min_element(s.begin(), s.end(), [](auto& a, auto& b) { return a.rss_bytes < b.rss_bytes; });
    for (const rss_sample& x : s) EXPECT_LE(x.rss_bytes, sampler.peak().rss_bytes);
    EXPECT_GE(sampler.peak().rss_bytes, low->rss_bytes + big - (4u << 20)) << "the 64 MiB held is the peak";
}

// Another process, by pid (as `record` samples the program it runs): its 64 MiB show, and the
// sampler takes no sample once it has exited, neither while it is a zombie (its statm then
// reads 0 pages) nor once it is reaped (the file is gone).
TEST(RssSampler, SamplesAnotherProcessUntilItIsGone) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::usleep(30000);
        auto* p = static_cast<char*>(::mmap(nullptr, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (p == MAP_FAILED) ::_exit(1);
        for (std::size_t off = 0; off < big; off += 4096) p[off] = 1;
        ::usleep(30000);
        ::_exit(0);
    }
    rss_sampler sampler(1ms, 4096, child);
    ASSERT_TRUE(sampler.available());
    sampler.start(nullptr);
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);  // exited, not reaped
    const auto exited = std::chrono::steady_clock::now() - sampler.started();
    std::this_thread::sleep_for(30ms);  // a zombie
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    std::this_thread::sleep_for(30ms);  // gone
    sampler.stop();
    const auto s = sampler.samples();
    ASSERT_GE(s.size(), 40u);
    for (const rss_sample& x : s) EXPECT_GT(x.rss_bytes, 0u);
    EXPECT_LT(std::chrono::nanoseconds(s.back().t_ns), exited + 5ms) << "a sample of a process that had exited";
    const auto low = std::min_element(s.begin(), s.end(), [](auto& a, auto& b) { return a.rss_bytes < b.rss_bytes; });
    EXPECT_GE(sampler.peak().rss_bytes, low->rss_bytes + big - (4u << 20)) << "the child's 64 MiB did not show";
}

// An interval of zero turns sampling off: no thread, no samples.
TEST(RssSampler, ZeroIntervalIsOff) {
    rss_sampler sampler(0us);
    std::atomic<std::int64_t> live{0};
    sampler.start(&live);
    sampler.stop();
    EXPECT_TRUE(sampler.samples().empty());
    EXPECT_FALSE(sampler.available());
}

// The smaps_rollup breakdown is read, and counts anonymous memory.
TEST(RssSampler, SmapsRollupIsRead) {
    const smaps_rollup r = read_smaps_rollup();
    EXPECT_GT(r.rss, 0);
    EXPECT_GT(r.anonymous, 0);
    EXPECT_GE(r.anon_huge_pages, 0);
}

// One mapping's resident bytes: a file mapped with MAP_POPULATE is resident whole, an
// anonymous one as far as it was touched; an address where no mapping starts gives -1.
TEST(RssSampler, MappingRssIsRead) {
    char path[] = "/tmp/allocmeter-mapping-rss-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::unlink(path);
    constexpr std::size_t file_bytes = 8u << 20;
    ASSERT_EQ(::ftruncate(fd, file_bytes), 0);
    void* file = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    ::close(fd);
    ASSERT_NE(file, MAP_FAILED);
    EXPECT_EQ(read_mapping_rss(file), static_cast<std::int64_t>(file_bytes));

    // Inaccessible pages on both sides, so the kernel cannot merge it with a neighbour.
    auto* region = static_cast<char*>(::mmap(nullptr, big + 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(static_cast<void*>(region), MAP_FAILED);
    char* const anon = region + 4096;
    ASSERT_EQ(::mprotect(anon, big, PROT_READ | PROT_WRITE), 0);
    ::madvise(anon, big, MADV_NOHUGEPAGE);  // so a touched page is one page
    for (std::size_t off = 0; off < big / 4; off += 4096) anon[off] = 1;
    EXPECT_EQ(read_mapping_rss(anon), static_cast<std::int64_t>(big / 4));
    EXPECT_EQ(read_mapping_rss(anon + 4096), -1);  // inside a mapping, not its start
    ::munmap(region, big + 8192);
    ::munmap(file, file_bytes);
    EXPECT_EQ(read_mapping_rss(file), -1);
}
