// The sampler thread, and the smaps readers (the rollup, one mapping's Rss). They read /proc
// with plain system calls into fixed buffers, so sampling a process does not change its heap.
#include "harness/os/rss_sampler.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "allocators/os_pages.hpp"

namespace allocmeter {

namespace {

/// The second field of a statm file (resident pages), or -1.
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

rss_sampler::rss_sampler(std::chrono::microseconds interval, std::size_t capacity, int pid)
    : interval_(interval), capacity_(capacity < 2 ? 2 : capacity), page_bytes_(::sysconf(_SC_PAGESIZE)) {
    if (interval.count() <= 0) return;
    char path[32];
    if (pid == 0) std::snprintf(path, sizeof path, "/proc/self/statm");
    else std::snprintf(path, sizeof path, "/proc/%d/statm", pid);
    statm_fd_ = ::open(path, O_RDONLY | O_CLOEXEC);
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
    peak_ = {};
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
    // A process that has exited reads as an error, or as 0 pages while it is a zombie.
    const long pages = resident_pages(statm_fd_);
    if (pages <= 0) return;
    if (count_ == capacity_) {  // keep every other sample, and sample half as often from now on
        for (std::size_t i = 0; i < capacity_ / 2; ++i) buffer_[i] = buffer_[2 * i];
        count_ = capacity_ / 2;
        interval_ *= 2;
    }
    const rss_sample s{t_ns, static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_bytes_),
                       live_ != nullptr ? live_->load(std::memory_order_relaxed) : 0};
    buffer_[count_++] = s;
    if (s.rss_bytes > peak_.rss_bytes) peak_ = s;
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

std::int64_t read_mapping_rss(const void* start) noexcept {
    // smaps has a header line per mapping ("START-END perms offset dev inode path"), then
    // "Key: value" lines. A line longer than the buffer (a long path) is read up to its cut:
    // only a header's START matters.
    char mine_prefix[32];
    const int prefix_len = std::snprintf(mine_prefix, sizeof mine_prefix, "%" PRIxPTR "-", reinterpret_cast<std::uintptr_t>(start));
    const auto is_header = [](const char* line) {
        const char* space = std::strchr(line, ' ');
        const char* dash = std::strchr(line, '-');
        return space != nullptr && dash != nullptr && dash < space && std::memchr(line, ':', static_cast<std::size_t>(space - line)) == nullptr;
    };
    bool in_mine = false;
    std::int64_t rss = -1;
    const auto consider = [&](const char* line) {
        if (is_header(line))
            in_mine = std::strncmp(line, mine_prefix, static_cast<std::size_t>(prefix_len)) == 0;
        else if (in_mine && std::strncmp(line, "Rss:", 4) == 0)
            rss = std::strtoll(line + 4, nullptr, 10) * 1024;
    };
    const int fd = ::open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[8192];
    std::size_t have = 0;
    bool rest_of_cut_line = false;
    while (rss < 0) {
        const ssize_t n = ::read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) break;  // every line of smaps ends with a newline
        have += static_cast<std::size_t>(n);
        buf[have] = '\0';
        char* line = buf;
        for (char* nl; rss < 0 && (nl = std::strchr(line, '\n')) != nullptr; line = nl + 1) {
            *nl = '\0';
            if (!rest_of_cut_line) consider(line);
            rest_of_cut_line = false;
        }
        have -= static_cast<std::size_t>(line - buf);
        std::memmove(buf, line, have);
        if (have == sizeof buf - 1) {  // no newline in a full buffer: read the line's start only
            buf[have] = '\0';
            if (!rest_of_cut_line) consider(buf);
            rest_of_cut_line = true;
            have = 0;
        }
    }
    ::close(fd);
    return rss;
}

}  // namespace allocmeter
