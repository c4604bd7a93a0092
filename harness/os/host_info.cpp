// Reads each fact from its one file; a VM often lacks some (cpufreq), which stay none.
#include "harness/os/host_info.hpp"

#include <elf.h>
#include <link.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
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

/// The GNU build id note of the running executable (the first object dl_iterate_phdr
/// reports), in hex: it changes whenever the binary does, so `run --resume` can tell builds apart.
std::string executable_build_id() {
    std::string id;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) -> int {
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_NOTE) continue;
                const std::size_t align = ph.p_align == 8 ? 8 : 4;
                const auto pad = [align](std::size_t n) { return (n + align - 1) & ~(align - 1); };
                const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
                const char* const end = p + ph.p_memsz;
                while (p + sizeof(ElfW(Nhdr)) <= end) {
                    const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
                    const char* name = p + sizeof *note;
                    const auto* desc = reinterpret_cast<const unsigned char*>(name + pad(note->n_namesz));
                    if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0 &&
                        reinterpret_cast<const char*>(desc) + note->n_descsz <= end) {
                        auto& out = *static_cast<std::string*>(data);
                        for (std::size_t b = 0; b < note->n_descsz; ++b) out += fmt::format("{:02x}", desc[b]);
                        return 1;
                    }
                    p = reinterpret_cast<const char*>(desc) + pad(note->n_descsz);
                }
            }
            return 1;  // only the executable
        },
        &id);
    return id;
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
    h.build_id = executable_build_id();
    h.started_at = now_text("%Y-%m-%dT%H:%M:%SZ", true);
    return h;
}

}  // namespace allocmeter
