// allocmeter-replay-floor: what the replay engine itself costs per recorded call. Each trace is
// replayed into an allocator that does nothing, so what is left is the engine: walking the
// plan, the pointer table and cross-thread waits (touch none: no block is written, no realloc
// copies). Prints medians.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "harness/analysis/statistics.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/trace_replay.hpp"

namespace allocmeter {
namespace {

constexpr double target_ns_per_call = 3.0;

/// Does nothing: returns a non-null pointer with the requested alignment (the alignment's
/// own value) and frees nothing. Nothing may be written through it, so it only serves
/// replays with touch none, where the engine writes into no block and a realloc copies
/// nothing. What a replay costs on it is the engine's own cost.
struct null_allocator {
    static constexpr capabilities caps{.individual_free = true, .thread_safe = true, .max_align = std::size_t{1} << 31};
    void* allocate(std::size_t, std::size_t align) noexcept { return reinterpret_cast<void*>(align); }
    void deallocate(void*, std::size_t, std::size_t) noexcept {}
};

/// The traces committed with the sources, for a run without arguments.
std::vector<std::string> sample_traces() {
    std::vector<std::string> out;
    for (const char* name : {"python-json-threads.trace", "cc1-compile.trace", "sqlite-index.trace"})
        out.push_back(std::string(ALLOCMETER_SOURCE_DIR) + "/workloads/traces/" + name);
    return out;
}

}  // namespace
}  // namespace allocmeter

int main(int argc, char** argv) {
    using namespace allocmeter;
    int reps = 11;
    std::vector<std::string> traces;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::puts("usage: allocmeter-replay-floor [--reps N] [TRACE...]\n\n"
                      "Replays each trace (default: the samples in workloads/traces/) into an allocator that does\n"
                      "nothing, N times (default 11) in each replay order, and prints the median ns per recorded\n"
                      "call: the cost of the replay engine itself. Target: at most 3 ns.\n\n"
                      "example:\n  build/allocmeter-replay-floor --reps 21 app.trace");
            return 0;
        }
        if (a == "--reps" && i + 1 < argc) {
            reps = std::max(1, std::atoi(argv[++i]));
        } else if (a.rfind("-", 0) == 0) {
            std::fprintf(stderr, "allocmeter-replay-floor: unknown option '%s'; see --help\n", a.c_str());
            return 2;
        } else {
            traces.push_back(a);
        }
    }
    if (traces.empty()) traces = sample_traces();

    std::printf("replay floor: median ns per recorded call over %d replays into a do-nothing allocator, touch none\n", reps);
    std::printf("  %-28s %-8s %8s %8s %10s %8s  %s\n", "trace", "replay", "threads", "calls", "ns/call", "target", "verdict");
    bool all_met = true;
    for (const std::string& path : traces) {
        for (const trace::replay_order order : {trace::replay_order::threads, trace::replay_order::serial}) {
            trace::replay_plan plan;
            try {
                plan = trace::replay_plan::load(path, order);
            } catch (const trace::trace_error& e) {
                std::fprintf(stderr, "allocmeter-replay-floor: %s\n", e.what());
                return 1;
            }
            std::vector<double> ns;
            for (int r = 0; r < reps; ++r) {
                null_allocator heap;
                const trace::replay_result res = trace::replay<null_allocator>(plan, heap, trace::touch_policy::none);
                if (!res.complete) {
                    std::fprintf(stderr, "allocmeter-replay-floor: %s: the replay did not complete\n", path.c_str());
                    return 1;
                }
                ns.push_back(res.wall_s * 1e9 / static_cast<double>(plan.steps == 0 ? 1 : plan.steps));
            }
            const double med = summarize(ns).median;
            const bool met = med <= target_ns_per_call;
            all_met = all_met && met;
            const std::string name = path.substr(path.find_last_of('/') + 1);
            std::printf("  %-28s %-8s %8zu %8llu %10.2f %8.1f  %s\n", name.c_str(),
                        std::string(trace::to_string(order)).c_str(), plan.threads.size(),
                        static_cast<unsigned long long>(plan.steps), med, target_ns_per_call, met ? "met" : "MISSED");
        }
    }
    return 0;
}
