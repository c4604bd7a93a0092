// Loading and planning a trace for the matrix, streamed to a plan file (replay_plan_file.hpp).
#include "harness/run/trace_workloads.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <stdexcept>

#include <fmt/format.h>
#include "workloads/spec/workload_spec.hpp"
#include "workloads/trace/replay/replay_plan_file.hpp"

namespace allocmeter {

namespace {

unsigned plan_number() {
    static unsigned n = 0;
    return ++n;
}

}  // namespace

trace::touch_policy touch_for(const trace_workload& t, trace::touch_policy asked, std::string& said) {
    said.clear();
    if (t.spec_touch) {
        said = fmt::format("{}: touch {}, as its spec says (--touch does not apply to it)", t.name, trace::to_string(*t.spec_touch));
        return *t.spec_touch;
    }
    if (asked.how != trace::touch_policy::mode::automatic) return asked;
    const auto mib = [](std::uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); };
    if (const std::optional<trace::touch_policy> chosen = trace::auto_touch(t.recorded_rss, t.peak_live_bytes)) {
        const std::uint64_t grew = t.recorded_rss.peak_bytes - std::min(t.recorded_rss.peak_bytes, t.recorded_rss.first_bytes);
        said = fmt::format("{}: --touch auto: {} (the program's RSS grew {} over its start, {} live at the peak)", t.name,
                           trace::to_string(*chosen), mib(grew), mib(t.peak_live_bytes));
        return *chosen;
    }
    said = fmt::format("note: {}: {}, so --touch auto replays it as page", t.name,
                       t.recorded_rss.samples == 0 ? "it has no RSS samples (recorded by an older allocmeter, or imported)"
                                                   : "it holds no live bytes");
    return trace::touch_policy::page;
}

std::string replayed_workload_name(const std::string& spec, trace::replay_order order) {
    if (order == trace::replay_order::threads) return spec;
    return spec + "@" + std::string(trace::to_string(order));
}

std::string trace_skip_reason(const capabilities& caps, const trace_workload& t) {
    if (first_missing(caps, t.needs, t.threads) == missing_capability::thread_safety)
        return "the trace replays on " + std::to_string(t.threads) +
               " threads sharing one instance and the allocator is not thread-safe (--replay serial replays it on one thread)";
    return skip_reason(caps, t.needs, t.threads, "the trace");
}

namespace {

/// Plans the trace at `path` for the workload `spec` in `order`, streaming the plan into
/// `plan_dir`; trace errors come back as they are, for the caller to word.
trace_workload plan_trace(const std::string& spec, trace::replay_order order, const std::string& path,
                          const std::filesystem::path& plan_dir) {
    trace_workload t;
    t.spec = spec;
    t.name = replayed_workload_name(spec, order);
    t.order = order;
    t.path = path;
    // Streamed to the file: the parent never holds the trace or the plan.
    t.plan_path = (plan_dir / ("plan-" + std::to_string(plan_number()) + ".bin")).string();
    const trace::replay_plan_totals p = trace::plan_to_file(path, t.plan_path, order);
    t.needs = p.needs();
    t.threads = std::max<unsigned>(1, p.replay_threads);
    t.recorded_threads = p.recorded_threads;
    t.events = p.steps;
    t.peak_live_bytes = p.peak_live_bytes;
    t.recorded_rss = p.recorded_rss;
    return t;
}

}  // namespace

trace_workload load_trace_workload(const std::string& spec, trace::replay_order order,
                                   const std::filesystem::path& plan_dir) {
    const std::string path = spec.substr(trace_prefix.size());
    if (path.empty())
        throw std::invalid_argument("--workloads " + spec + ": no file after 'trace:'; give a trace recorded with 'allocmeter record', e.g. trace:app.trace");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw std::invalid_argument("--workloads " + spec + ": " + path +
                          " is not a file; record one with 'allocmeter record -o " + path + " -- PROGRAM'");
    try {
        return plan_trace(spec, order, path, plan_dir);
    } catch (const trace::replay_order_error& e) {  // a sound trace, replayed in an order it cannot serve
        throw std::invalid_argument("--workloads " + spec + ": " + e.what());
    } catch (const trace::trace_error& e) {
        if (e.file != path) throw std::invalid_argument("--workloads " + spec + ": " + e.what());
        throw std::invalid_argument("--workloads " + spec + ": not a valid trace: " + e.what() +
                          "; check it with 'allocmeter trace validate " + path + "'");
    }
}

trace_workload load_spec_workload(const std::string& spec, trace::replay_order order, const std::filesystem::path& plan_dir,
                                  std::uint64_t seed, scale size) {
    const std::string file = spec.substr(spec_prefix.size());
    if (file.empty())
        throw std::invalid_argument("--workloads " + spec + ": no file after 'spec:'; give a spec file (docs/workload-spec.md), "
                                    "e.g. spec:examples/specs/server.json");
    spec::workload_spec s;
    try {
        s = spec::parse_spec(file);
    } catch (const spec::spec_error& e) {
        throw std::invalid_argument("--workloads " + spec + ": " + e.what());
    }
    // The trace is only read by the planner: it goes once the plan is made.
    const std::filesystem::path generated = plan_dir / ("spec-" + std::to_string(plan_number()) + ".trace");
    trace_workload t;
    try {
        spec::generate_trace(s, generated.string(), seed, spec::scale_factor(to_string(size)));
        t = plan_trace(spec, order, generated.string(), plan_dir);
    } catch (const trace::replay_order_error& e) {  // --replay timed: a spec has no time between calls
        std::error_code ec;
        std::filesystem::remove(generated, ec);
        throw std::invalid_argument("--workloads " + spec + ": a spec's trace has no timestamps, so it replays in threads or "
                                    "serial order, not timed (" + e.problem + ")");
    } catch (const trace::trace_error& e) {  // a spec's trace is valid by construction: here, only I/O fails
        std::error_code ec;
        std::filesystem::remove(generated, ec);
        throw std::invalid_argument("--workloads " + spec + ": cannot generate its trace: " + e.what());
    }
    std::error_code ec;
    std::filesystem::remove(generated, ec);
    t.path = file;
    if (s.touch) t.spec_touch = trace::parse_touch(*s.touch);
    return t;
}

namespace {

constexpr std::string_view plan_dir_prefix = "allocmeter-plans-";
constexpr const char* owner_lock = "owner.lock";
/// A plan folder without its lock is another run's being made, or one from before the lock:
/// left alone for this long.
constexpr auto unlocked_grace = std::chrono::minutes(10);

std::uint64_t bytes_under(const std::filesystem::path& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec))
        if (it->is_regular_file(ec)) total += it->file_size(ec);
    return total;
}

/// Whether `dir` is a plan folder of this user whose run is gone: its owner's lock is free.
bool abandoned(const std::filesystem::path& dir) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) return false;
    const int fd = ::open((dir / owner_lock).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        const auto age = std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime);
        return errno == ENOENT && age > unlocked_grace;
    }
    const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    return free;
}

}  // namespace

stale_plans remove_stale_plan_dirs() {
    stale_plans removed;
    std::error_code ec;
    const std::filesystem::path tmp = std::filesystem::temp_directory_path(ec);
    if (ec) return removed;
    for (auto it = std::filesystem::directory_iterator(tmp, ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (it->path().filename().string().rfind(plan_dir_prefix, 0) != 0 || !abandoned(it->path())) continue;
        const std::uint64_t bytes = bytes_under(it->path());
        std::error_code rm;
        std::filesystem::remove_all(it->path(), rm);
        if (rm) continue;
        ++removed.folders;
        removed.bytes += bytes;
    }
    return removed;
}

trace_plan_dir::trace_plan_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(plan_dir_prefix) + "XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr)
        throw std::invalid_argument("cannot make a folder for trace plans in " + std::filesystem::temp_directory_path().string() +
                          ": " + std::strerror(errno) + "; set TMPDIR to a writable folder");
    path_ = tmpl;
    // Held while this run lives: the kernel frees it however the run ends, so the next run
    // knows a folder whose lock is free is left over.
    lock_fd_ = ::open((path_ / owner_lock).c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX) != 0) {
        const int error = errno;
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
        throw std::invalid_argument("cannot lock the trace plan folder " + path_.string() + ": " + std::strerror(error));
    }
}

trace_plan_dir::~trace_plan_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace allocmeter
