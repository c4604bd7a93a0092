// The sampler thread, and the smaps_rollup reader. Both read /proc with plain system calls
// into fixed buffers, so sampling a process does not change its heap.
#include "harness/os/rss_sampler.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "allocators/os_pages.hpp"

namespace allocmeter {

namespace {

/// The second field of /proc/self/statm (resident pages), or -1.
long resident_pages(int fd) noexcept {
    char buf[128];
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return -1;
    buf[n] = '\0';
    char* end = nullptr;
    std::strtol(buf, &end, 10);  // size
    if (end == buf) return -1;
    const char* rest = end;
    const long resident = std::strtol(rest, &end, 10);
    return end == rest ? -1 : resident;
}

void sleep_for(std::chrono::microseconds d) noexcept {
    timespec ts{static_cast<time_t>(d.count() / 1000000), static_cast<long>(d.count() % 1000000) * 1000};
    while (::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) != 0) {
    }
}

}  // namespace

rss_sampler::rss_sampler(std::chrono::microseconds interval, std::size_t capacity)
    : interval_(interval), capacity_(capacity < 2 ? 2 : capacity), page_bytes_(::sysconf(_SC_PAGESIZE)) {
    if (interval.count() <= 0) return;
    statm_fd_ = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    buffer_ = static_cast<rss_sample*>(os::map_pages(os::round_to_pages(capacity_ * sizeof(rss_sample))));
    if (statm_fd_ < 0 || buffer_ == nullptr) return;
    thread_ = std::thread([this] { run(); });
}

rss_sampler::~rss_sampler() {
    if (thread_.joinable()) {
        state_.store(3, std::memory_order_release);
        state_.notify_all();
        thread_.join();
    }
    if (buffer_ != nullptr) os::unmap_pages(buffer_, os::round_to_pages(capacity_ * sizeof(rss_sample)));
    if (statm_fd_ >= 0) ::close(statm_fd_);
}

void rss_sampler::start(const std::atomic<std::int64_t>* live) noexcept {
    if (!thread_.joinable()) return;
    live_ = live;
    count_ = 0;
    t0_ = std::chrono::steady_clock::now();
    take(0);  // the region's start, here: the thread may wake late, or only once the region is over
    state_.store(1, std::memory_order_release);
    state_.notify_all();
}

void rss_sampler::stop() noexcept {
    if (!thread_.joinable()) return;
    int expected = 1;
    if (!state_.compare_exchange_strong(expected, 2, std::memory_order_acq_rel)) return;  // not sampling
    state_.notify_all();
    for (int s; (s = state_.load(std::memory_order_acquire)) != 0;) state_.wait(s);
}

std::vector<rss_sample> rss_sampler::samples() const { return {buffer_, buffer_ + count_}; }

void rss_sampler::take(std::uint64_t t_ns) noexcept {
    const long pages = resident_pages(statm_fd_);
    if (pages < 0) return;
    if (count_ == capacity_) {  // keep every other sample, and sample half as often from now on
        for (std::size_t i = 0; i < capacity_ / 2; ++i) buffer_[i] = buffer_[2 * i];
        count_ = capacity_ / 2;
        interval_ *= 2;
    }
    buffer_[count_++] = {t_ns, static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_bytes_),
                         live_ != nullptr ? live_->load(std::memory_order_relaxed) : 0};
}

void rss_sampler::run() noexcept {
    const auto since_start = [this] {
        return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_).count());
    };
    for (;;) {
        int s;
        while ((s = state_.load(std::memory_order_acquire)) == 0) state_.wait(0);
        if (s == 3) return;
        while (state_.load(std::memory_order_acquire) == 1) {
            sleep_for(interval_);
            if (state_.load(std::memory_order_acquire) == 1) take(since_start());
        }
        if (state_.load(std::memory_order_acquire) == 3) return;
        take(since_start());  // the region's end
        state_.store(0, std::memory_order_release);
        state_.notify_all();
    }
}

smaps_rollup read_smaps_rollup() noexcept {
    smaps_rollup r;
    char buf[4096];
    const int fd = ::open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return r;
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return r;
    buf[n] = '\0';
    const auto field = [&](const char* key) -> std::int64_t {
        const char* at = std::strstr(buf, key);
        return at == nullptr ? -1 : std::strtoll(at + std::strlen(key), nullptr, 10) * 1024;
    };
    r.rss = field("\nRss:");
    r.anonymous = field("\nAnonymous:");
    r.lazy_free = field("\nLazyFree:");
    r.anon_huge_pages = field("\nAnonHugePages:");
    return r;
}

}  // namespace allocmeter
