// allocmeter-trace-memory: the trace tools' memory on a large trace. `make` writes a synthetic
// trace (synthetic_trace.hpp: seeded; several threads, a few thousand live objects, cross-thread
// frees, an idle thread) with trace_writer, as `record` would; `plan` plans it as `run` does.
// scripts/trace-memory.sh times both, and `allocmeter trace info/validate`, under /usr/bin/time.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "workloads/trace/format/synthetic_trace.hpp"
#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/replay_plan_file.hpp"

namespace allocmeter {
namespace {

using namespace allocmeter::trace;

const char* const usage = R"(allocmeter-trace-memory: a large synthetic trace, and planning it

usage: allocmeter-trace-memory make OUT [--events N] [--threads T] [--live L] [--seed S]
       allocmeter-trace-memory plan TRACE PLAN [--serial]
       allocmeter-trace-memory read TRACE

make  writes OUT: N events (default 100000000) on T threads (default 8), about L live objects
      (default 4000; dense ids, the smallest not live), a quarter of the frees on another thread
      than the allocation, some reallocs, and one idle thread with an event at the start and
      its thread_exit at the end. Seeded (default seed 1, printed).
plan  validates TRACE and writes its replay plan to PLAN, as 'allocmeter run' does for
      trace:TRACE (--serial: one replay thread, as --replay serial).
read  decodes TRACE once in file order: the cost of one pass (info, validate and planning
      make two: one to index the chunks, one to merge them into global order).

scripts/trace-memory.sh runs both and 'allocmeter trace info/validate' under /usr/bin/time.

example:
  build/allocmeter-trace-memory make /tmp/big.trace --events 10000000
  /usr/bin/time -f '%M KiB %e s' build/allocmeter-trace-memory plan /tmp/big.trace /tmp/big.plan
)";

/// Writes the trace (workloads/trace/format/synthetic_trace.hpp) and says what it holds.
int make(const std::string& out, const synthetic_trace_options& o) {
    const std::uint64_t n = write_synthetic_trace(out, o);
    std::printf("%s: %llu events, %u threads, about %llu live objects, seed %llu\n", out.c_str(),
                static_cast<unsigned long long>(n), o.threads, static_cast<unsigned long long>(o.live),
                static_cast<unsigned long long>(o.seed));
    return 0;
}

/// One pass of the reader over TRACE in file order: what a pass of the streamed tools costs.
int read(const std::string& trace) {
    const auto t0 = std::chrono::steady_clock::now();
    trace_reader r(trace);
    std::uint64_t n = 0;
    for (event e; r.next(e);) ++n;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: %llu events decoded in %.2f s (%.1f ns/event)\n", trace.c_str(), static_cast<unsigned long long>(n), s,
                n == 0 ? 0.0 : s * 1e9 / static_cast<double>(n));
    return 0;
}

/// What `allocmeter run` does with trace:TRACE before its cells start.
int plan(const std::string& trace, const std::string& out, replay_order order) {
    const auto t0 = std::chrono::steady_clock::now();
    const replay_plan_totals p = plan_to_file(trace, out, order);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: %llu steps on %u replay thread%s, %llu dependencies, planned in %.2f s\n", out.c_str(),
                static_cast<unsigned long long>(p.steps), p.replay_threads, p.replay_threads == 1 ? "" : "s",
                static_cast<unsigned long long>(p.dependencies), s);
    return 0;
}

std::uint64_t number(const char* option, const char* text) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0') {
        std::fprintf(stderr, "allocmeter-trace-memory: %s takes a number, not '%s'\n", option, text);
        std::exit(2);
    }
    return v;
}

}  // namespace
}  // namespace allocmeter

int main(int argc, char** argv) {
    using namespace allocmeter;
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a.empty() || a[0] == "-h" || a[0] == "--help") {
        std::fputs(usage, a.empty() ? stderr : stdout);
        return a.empty() ? 2 : 0;
    }
    try {
        if (a[0] == "make" && a.size() >= 2) {
            trace::synthetic_trace_options o;
            o.events = 100'000'000;
            for (std::size_t i = 2; i + 1 < a.size(); i += 2) {
                if (a[i] == "--events") o.events = number("--events", a[i + 1].c_str());
                else if (a[i] == "--threads") o.threads = static_cast<std::uint32_t>(std::max<std::uint64_t>(1, number("--threads", a[i + 1].c_str())));
                else if (a[i] == "--live") o.live = std::max<std::uint64_t>(1, number("--live", a[i + 1].c_str()));
                else if (a[i] == "--seed") o.seed = number("--seed", a[i + 1].c_str());
                else {
                    std::fprintf(stderr, "allocmeter-trace-memory: unknown option '%s'; see --help\n", a[i].c_str());
                    return 2;
                }
            }
            if (a.size() % 2 != 0) {
                std::fprintf(stderr, "allocmeter-trace-memory: '%s' needs a value; see --help\n", a.back().c_str());
                return 2;
            }
            return make(a[1], o);
        }
        if (a[0] == "read" && a.size() == 2) return read(a[1]);
        if (a[0] == "plan" && (a.size() == 3 || (a.size() == 4 && a[3] == "--serial")))
            return plan(a[1], a[2], a.size() == 4 ? trace::replay_order::serial : trace::replay_order::threads);
    } catch (const trace::trace_error& e) {
        std::fprintf(stderr, "allocmeter-trace-memory: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "allocmeter-trace-memory: expected 'make OUT [...]', 'plan TRACE PLAN [--serial]' or 'read TRACE'; see --help\n");
    return 2;
}
