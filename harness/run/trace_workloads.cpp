// Loading and planning a trace for the matrix, streamed to a plan file (replay_plan_file.hpp).
#include "harness/run/trace_workloads.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <stdexcept>
#include "workloads/trace/replay/replay_plan_file.hpp"

namespace allocmeter {

namespace {

unsigned plan_number() {
    static unsigned n = 0;
    return ++n;
}

}  // namespace

std::string trace_skip_reason(const capabilities& caps, const trace_workload& t) {
    if (first_missing(caps, t.needs, t.threads) == missing_capability::thread_safety)
        return "the trace replays on " + std::to_string(t.threads) +
               " threads sharing one instance and the allocator is not thread-safe (--replay serial replays it on one thread)";
    return skip_reason(caps, t.needs, t.threads, "the trace");
}

trace_workload load_trace_workload(const std::string& spec, trace::replay_order order,
                                   const std::filesystem::path& plan_dir) {
    trace_workload t;
    t.spec = spec;
    t.path = spec.substr(trace_prefix.size());
    if (t.path.empty())
        throw std::invalid_argument("--workloads " + spec + ": no file after 'trace:'; give a trace recorded with 'allocmeter record', e.g. trace:app.trace");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(t.path, ec))
        throw std::invalid_argument("--workloads " + spec + ": " + t.path +
                          " is not a file; record one with 'allocmeter record -o " + t.path + " -- PROGRAM'");
    try {
        // Streamed to the file: the parent never holds the trace or the plan.
        t.plan_path = (plan_dir / ("plan-" + std::to_string(plan_number()) + ".bin")).string();
        const trace::replay_plan_totals p = trace::plan_to_file(t.path, t.plan_path, order);
        t.needs = p.needs();
        t.threads = std::max<unsigned>(1, p.replay_threads);
        t.events = p.steps;
        t.peak_live_bytes = p.peak_live_bytes;
    } catch (const trace::trace_error& e) {
        if (e.file != t.path) throw std::invalid_argument("--workloads " + spec + ": " + e.what());
        throw std::invalid_argument("--workloads " + spec + ": not a valid trace: " + e.what() +
                          "; check it with 'allocmeter trace validate " + t.path + "'");
    }
    return t;
}

trace_plan_dir::trace_plan_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "allocmeter-plans-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
        throw std::invalid_argument("cannot make a folder for trace plans in " + std::filesystem::temp_directory_path().string() +
                          ": " + std::strerror(errno) + "; set TMPDIR to a writable folder");
    path_ = tmpl;
}

trace_plan_dir::~trace_plan_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

}  // namespace allocmeter
