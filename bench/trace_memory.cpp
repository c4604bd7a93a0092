// allocmeter-trace-memory: the trace tools' memory on a large trace. `make` writes a synthetic
// trace (seeded; several threads, a few thousand live objects, cross-thread frees, an idle
// thread) with trace_writer, as `record` would; `plan` plans it as `run` does for trace:FILE.
// scripts/trace-memory.sh times both, and `allocmeter trace info/validate`, under /usr/bin/time.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <queue>
#include <string>
#include <vector>

#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/replay_plan_file.hpp"

namespace allocmeter {
namespace {

using namespace allocmeter::trace;

const char* const usage = R"(allocmeter-trace-memory: a large synthetic trace, and planning it

usage: allocmeter-trace-memory make OUT [--events N] [--threads T] [--live L] [--seed S]
       allocmeter-trace-memory plan TRACE PLAN [--serial]

make  writes OUT: N events (default 100000000) on T threads (default 8), about L live objects
      (default 4000; dense ids, the smallest not live), a quarter of the frees on another thread
      than the allocation, some reallocs, and one idle thread with an event at the start and
      its thread_exit at the end. Seeded (default seed 1, printed).
plan  validates TRACE and writes its replay plan to PLAN, as 'allocmeter run' does for
      trace:TRACE (--serial: one replay thread, as --replay serial).

scripts/trace-memory.sh runs both and 'allocmeter trace info/validate' under /usr/bin/time.

example:
  build/allocmeter-trace-memory make /tmp/big.trace --events 10000000
  /usr/bin/time -f '%M KiB %e s' build/allocmeter-trace-memory plan /tmp/big.trace /tmp/big.plan
)";

/// splitmix64: small, seeded, the same stream on every host.
struct splitmix {
    std::uint64_t s;
    std::uint64_t operator()() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t n) { return (*this)() % n; }
};

struct make_options {
    std::string out;
    std::uint64_t events = 100'000'000, live = 4000, seed = 1;
    std::uint32_t threads = 8;
};

/// Writes the trace in global order, as the recorder's converter appends it.
int make(const make_options& o) {
    trace_header h;
    h.command_line = "allocmeter-trace-memory make --events " + std::to_string(o.events) + " --threads " +
                     std::to_string(o.threads) + " --live " + std::to_string(o.live) + " --seed " + std::to_string(o.seed);
    h.host = "synthetic";
    trace_writer w(o.out, h);
    splitmix rng{o.seed};
    std::uint64_t seq = 0;
    const std::uint32_t busy = o.threads > 1 ? o.threads - 1 : 1;  // the last thread idles
    const auto emit = [&](event e) {
        e.seq = seq++;
        w.append(e);
    };
    for (std::uint32_t t = 0; t < o.threads; ++t) {
        event e;
        e.kind = op::thread_start;
        e.thread = t;
        e.parent = t == 0 ? no_thread : 0;
        emit(e);
    }
    std::vector<std::uint64_t> live;  // ids
    std::priority_queue<std::uint64_t, std::vector<std::uint64_t>, std::greater<>> free_ids;
    std::uint64_t next_id = 1;
    const auto take_id = [&] {
        if (free_ids.empty()) return next_id++;
        const std::uint64_t id = free_ids.top();
        free_ids.pop();
        return id;
    };
    const auto size_of = [&] { return std::uint64_t{8} << rng.below(10) | rng.below(8); };
    const std::uint64_t body = o.events > 2 * o.threads ? o.events - 2 * o.threads : 0;
    for (std::uint64_t i = 0; i < body; ++i) {
        event e;
        e.thread = static_cast<std::uint32_t>(rng.below(busy));
        const std::uint64_t r = rng.below(100);
        const bool grow = live.size() < o.live ? r < 60 : r < 40;
        if (live.empty() || grow) {
            e.kind = op::malloc;
            e.id = take_id();
            e.size = size_of();
            live.push_back(e.id);
        } else if (r < 90) {
            const std::size_t k = rng.below(live.size());
            e.kind = op::free;
            e.id = live[k];
            if (rng.below(4) == 0) e.thread = static_cast<std::uint32_t>(rng.below(busy));  // often another thread
            free_ids.push(e.id);
            live[k] = live.back();
            live.pop_back();
        } else {
            const std::size_t k = rng.below(live.size());
            e.kind = op::realloc;
            e.old_id = live[k];
            e.id = take_id();
            e.size = size_of();
            e.flags = realloc_moved;
            free_ids.push(e.old_id);
            live[k] = e.id;
        }
        emit(e);
    }
    for (std::uint32_t t = 0; t < o.threads; ++t) {
        event e;
        e.kind = op::thread_exit;
        e.thread = t;
        emit(e);
    }
    w.close();
    std::printf("%s: %llu events, %u threads, seed %llu\n", o.out.c_str(), static_cast<unsigned long long>(w.events()),
                o.threads, static_cast<unsigned long long>(o.seed));
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
            make_options o;
            o.out = a[1];
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
            return make(o);
        }
        if (a[0] == "plan" && (a.size() == 3 || (a.size() == 4 && a[3] == "--serial")))
            return plan(a[1], a[2], a.size() == 4 ? trace::replay_order::serial : trace::replay_order::threads);
    } catch (const trace::trace_error& e) {
        std::fprintf(stderr, "allocmeter-trace-memory: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "allocmeter-trace-memory: expected 'make OUT [...]' or 'plan TRACE PLAN [--serial]'; see --help\n");
    return 2;
}
