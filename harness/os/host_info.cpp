// Reads each fact from its one file; a VM often lacks some (cpufreq), which stay none.
#include "harness/os/host_info.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>
#include <fmt/format.h>
#include <fstream>
#include <thread>

namespace allocmeter {

namespace {

std::string read_first_line(const char* path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return {};
}

/// The bracketed choice in a sysfs mode file: "always [madvise] never" -> "madvise".
std::string bracketed(const std::string& modes) {
    const auto open = modes.find('['), close = modes.find(']');
    return open == std::string::npos || close == std::string::npos ? modes : modes.substr(open + 1, close - open - 1);
}

std::optional<std::string> unless_empty(std::string s) { return s.empty() ? std::nullopt : std::optional(std::move(s)); }

/// The compiler that built this binary, by its own predefined macros.
std::string compiler_name() {
#if defined(__clang__)
    return fmt::format("clang++ {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    return fmt::format("g++ {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
    return "unknown compiler";
#endif
}

}  // namespace

std::string now_text(const char* format, bool utc) {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    if (utc) ::gmtime_r(&t, &tm);
    else ::localtime_r(&t, &tm);
    char buf[64];
    return std::strftime(buf, sizeof buf, format, &tm) > 0 ? buf : "";
}

host_env collect_host_env() {
    utsname u{};
    ::uname(&u);
    std::string paranoid = read_first_line("/proc/sys/kernel/perf_event_paranoid");
    if (paranoid.empty() || paranoid.find_first_not_of("-0123456789") != std::string::npos) paranoid.clear();
    host_env h;
    h.host = u.nodename;
    h.kernel = fmt::format("{} {}", u.sysname, u.release);
    h.machine = u.machine;
    h.cpu_model = cpu_model();
    h.cpus = std::thread::hardware_concurrency();
    h.thp = unless_empty(bracketed(read_first_line("/sys/kernel/mm/transparent_hugepage/enabled")));
    h.page_size = ::sysconf(_SC_PAGESIZE);
    h.cpu_governor = unless_empty(read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"));
    if (!paranoid.empty()) h.perf_event_paranoid = std::stoi(paranoid);
    h.compiler = compiler_name();
    h.compiler_flags = ALLOCMETER_CXX_FLAGS;
    h.build_type = ALLOCMETER_BUILD_TYPE;
    h.allocmeter_version = ALLOCMETER_VERSION;
    h.started_at = now_text("%Y-%m-%dT%H:%M:%SZ", true);
    return h;
}

}  // namespace allocmeter
