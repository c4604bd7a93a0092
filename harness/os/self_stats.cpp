// Reads rusage and /proc/self/status without allocating, so a cell can call it at any time.
#include "harness/os/self_stats.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace allocmeter {

namespace {

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6; }

/// The value in kB of the line starting with `key` in a /proc status text, in bytes.
std::optional<std::uint64_t> status_field(const char* text, const char* key) {
    const char* at = std::strstr(text, key);
    if (at == nullptr) return std::nullopt;
    return std::strtoull(at + std::strlen(key), nullptr, 10) * 1024;
}

}  // namespace

usage_snapshot read_usage() noexcept {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return {seconds(ru.ru_utime), seconds(ru.ru_stime), static_cast<std::uint64_t>(ru.ru_minflt),
            static_cast<std::uint64_t>(ru.ru_majflt), static_cast<std::uint64_t>(ru.ru_nvcsw),
            static_cast<std::uint64_t>(ru.ru_nivcsw)};
}

std::optional<rss_snapshot> read_rss() noexcept {
    char buf[4096];
    const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return std::nullopt;
    buf[n] = '\0';
    const auto rss = status_field(buf, "\nVmRSS:");
    const auto hwm = status_field(buf, "\nVmHWM:");
    if (!rss || !hwm) return std::nullopt;
    return rss_snapshot{*rss, *hwm};
}

bool reset_peak_rss() noexcept {
    const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::write(fd, "5", 1) == 1;
    ::close(fd);
    return ok;
}

}  // namespace allocmeter
