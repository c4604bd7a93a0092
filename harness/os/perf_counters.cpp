// perf_event_open counting: hardware events in one group led by the first that opens,
// software events each on their own; every fd with inherit, read with the enabled and running
// times so a multiplexed count is scaled to the whole region.
#include "harness/os/perf_counters.hpp"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <stdexcept>

#ifdef ALLOCMETER_HAVE_LIBPFM
#include <perfmon/pfmlib_perf_event.h>
#endif

namespace allocmeter {

namespace {

constexpr std::uint64_t cache_event(std::uint64_t cache, std::uint64_t op, std::uint64_t result) {
    return cache | (op << 8) | (result << 16);
}

int open_counter(const counter_spec& s, int group_fd) {
    perf_event_attr a{};
    a.size = sizeof a;
    a.type = s.type;
    a.config = s.config;
    a.disabled = group_fd == -1 ? 1 : 0;  // members follow their leader
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    a.inherit = 1;
    a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    for (int tries = 0; tries < 5; ++tries) {
        const long fd = ::syscall(SYS_perf_event_open, &a, 0, -1, group_fd, PERF_FLAG_FD_CLOEXEC);
        if (fd >= 0 || errno != EINTR) return static_cast<int>(fd);
    }
    return -1;
}

std::string paranoid_level() {
    std::ifstream in("/proc/sys/kernel/perf_event_paranoid");
    std::string level;
    in >> level;
    return level;
}

/// Why an open failed, in the words a user can act on.
std::string open_error(const counter_spec& s, int err) {
    const std::string call = std::string("perf_event_open: ") + std::strerror(err);
    if (s.hardware && (err == ENOENT || err == EOPNOTSUPP || err == ENODEV))
        return "no hardware PMU on this host (a VM without a virtual PMU?); " + call;
    if (err == EACCES || err == EPERM) {
        const std::string level = paranoid_level();
        return "not permitted (kernel.perf_event_paranoid = " + (level.empty() ? std::string("?") : level) +
               "; lower it or run with CAP_PERFMON); " + call;
    }
    if (err == ENOSYS) return "this kernel has no perf_event_open; " + call;
    return "this host does not support the event; " + call;
}

}  // namespace

std::vector<counter_spec> default_counters() {
    return {
        {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, true},
        {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, true},
        {"l1d_misses", PERF_TYPE_HW_CACHE,
         cache_event(PERF_COUNT_HW_CACHE_L1D, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_MISS), true},
        {"llc_misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES, true},
        {"dtlb_load_misses", PERF_TYPE_HW_CACHE,
         cache_event(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_MISS), true},
        {"branch_misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES, true},
        {"minor_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN, false},
        {"major_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ, false},
        {"task_clock_ns", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, false},
    };
}

std::optional<counter_spec> encode_event(const std::string& name, std::string& error) {
#ifdef ALLOCMETER_HAVE_LIBPFM
    static std::once_flag once;
    static int init = PFM_SUCCESS;
    std::call_once(once, [] { init = pfm_initialize(); });
    if (init != PFM_SUCCESS) {
        error = std::string("libpfm4 could not start: ") + pfm_strerror(init);
        return std::nullopt;
    }
    perf_event_attr a{};
    pfm_perf_encode_arg_t arg{};
    arg.attr = &a;
    arg.size = sizeof arg;
    const int r = pfm_get_os_event_encoding(name.c_str(), PFM_PLM3, PFM_OS_PERF_EVENT, &arg);
    if (r != PFM_SUCCESS) {
        error = "libpfm4 does not know the event '" + name + "' (" + pfm_strerror(r) +
                "); list this host's events with libpfm4's showevtinfo";
        return std::nullopt;
    }
    const bool hardware = a.type != PERF_TYPE_SOFTWARE && a.type != PERF_TYPE_TRACEPOINT;
    return counter_spec{name, a.type, a.config, hardware};
#else
    error = "this build has no libpfm4, so event names cannot be used (apt-get install libpfm4-dev, then rebuild); '" +
            name + "'";
    return std::nullopt;
#endif
}

std::vector<counter_spec> cell_counters(const std::vector<std::string>& events) {
    std::vector<counter_spec> out;
    if (events.empty()) return default_counters();
    for (const std::string& e : events) {
        std::string error;
        const auto spec = encode_event(e, error);
        if (!spec) throw std::invalid_argument(error);
        out.push_back(*spec);
    }
    for (const counter_spec& d : default_counters())
        if (!d.hardware) out.push_back(d);
    return out;
}

perf_counters::perf_counters(const std::vector<counter_spec>& specs) {
    int group = -1;
    for (const counter_spec& s : specs) {
        counter c{s, -1, false, {}};
        const int leader_fd = s.hardware ? group : -1;
        c.fd = open_counter(s, leader_fd);
        if (c.fd < 0) {
            c.error = open_error(s, errno);
        } else {
            c.leader = leader_fd == -1;
            if (s.hardware && group == -1) group = c.fd;
        }
        counters_.push_back(std::move(c));
    }
}

perf_counters::~perf_counters() {
    for (const counter& c : counters_)
        if (c.fd >= 0) ::close(c.fd);
}

void perf_counters::start() noexcept {
    for (const counter& c : counters_) {
        if (c.fd < 0 || !c.leader) continue;
        ::ioctl(c.fd, PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP);
        ::ioctl(c.fd, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
    }
}

void perf_counters::stop() noexcept {
    for (const counter& c : counters_)
        if (c.fd >= 0 && c.leader) ::ioctl(c.fd, PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);
}

std::vector<counter_reading> perf_counters::read() const {
    std::vector<counter_reading> out;
    for (const counter& c : counters_) {
        counter_reading r{c.spec.name, std::nullopt, 0, c.error};
        if (c.fd >= 0) {
            std::uint64_t v[3] = {0, 0, 0};  // value, time enabled, time running
            if (::read(c.fd, v, sizeof v) != static_cast<ssize_t>(sizeof v)) {
                r.reason = "could not be read (the PMU could not schedule it)";
            } else if (v[2] == 0) {
                r.reason = v[1] == 0 ? "never enabled" : "never counted: the PMU had no room for the group";
            } else {
                r.running = static_cast<double>(v[2]) / static_cast<double>(v[1]);
                r.value = static_cast<double>(v[0]) / r.running;
            }
        }
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace allocmeter
