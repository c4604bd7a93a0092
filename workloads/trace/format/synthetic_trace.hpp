// synthetic_trace: a large, valid, seeded trace for benchmarks and tests of the trace tools'
// memory (bench/trace_memory.cpp, workloads/trace/tests/trace_streaming_test.cpp): busy threads
// with a few thousand live objects, dense ids, cross-thread frees, reallocs, and one idle
// thread whose thread_start comes first and thread_exit last, appended in global order as the
// recorder's conversion appends.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "workloads/trace/format/smallest_free_id.hpp"
#include "workloads/trace/format/trace_format.hpp"

namespace allocmeter::trace {

/// What write_synthetic_trace makes.
struct synthetic_trace_options {
    std::uint64_t events = 1'000'000;  ///< in all, thread_start and thread_exit included
    std::uint32_t threads = 8;         ///< the last one idles (when there are two or more)
    std::uint64_t live = 4000;         ///< live objects the mix hovers around
    std::uint64_t seed = 1;
};

/// Writes the trace to `path` with trace_writer; returns the events written.
inline std::uint64_t write_synthetic_trace(const std::string& path, const synthetic_trace_options& o) {
    trace_header h;
    h.command_line = "synthetic trace: " + std::to_string(o.events) + " events, " + std::to_string(o.threads) +
                     " threads, " + std::to_string(o.live) + " live, seed " + std::to_string(o.seed);
    h.host = "synthetic";
    trace_writer w(path, h);
    std::uint64_t state = o.seed;
    const auto below = [&](std::uint64_t n) {  // splitmix64: the same stream on every host
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return (z ^ (z >> 31)) % n;
    };
    std::uint64_t seq = 0;
    const std::uint32_t threads = o.threads == 0 ? 1 : o.threads;
    const std::uint32_t busy = threads > 1 ? threads - 1 : 1;
    const auto emit = [&](event e) {
        e.seq = seq++;
        w.append(e);
    };
    for (std::uint32_t t = 0; t < threads; ++t) {
        event e;
        e.kind = op::thread_start;
        e.thread = t;
        e.parent = t == 0 ? no_thread : 0;
        emit(e);
    }
    std::vector<std::uint64_t> live;  // ids
    smallest_free_id ids;
    const auto size_of = [&] { return std::uint64_t{8} << below(10) | below(8); };
    const std::uint64_t body = o.events > 2 * std::uint64_t{threads} ? o.events - 2 * std::uint64_t{threads} : 0;
    for (std::uint64_t i = 0; i < body; ++i) {
        event e;
        e.thread = static_cast<std::uint32_t>(below(busy));
        const std::uint64_t r = below(100);
        const bool grow = live.size() < o.live ? r < 60 : r < 40;
        if (live.empty() || grow) {
            e.kind = op::malloc;
            e.id = ids.take();
            e.size = size_of();
            live.push_back(e.id);
        } else if (r < 90) {
            const std::size_t k = below(live.size());
            e.kind = op::free;
            e.id = live[k];
            if (below(4) == 0) e.thread = static_cast<std::uint32_t>(below(busy));  // often another thread
            ids.release(e.id);
            live[k] = live.back();
            live.pop_back();
        } else {
            const std::size_t k = below(live.size());
            e.kind = op::realloc;
            e.old_id = live[k];
            e.id = ids.take();
            e.size = size_of();
            e.flags = realloc_moved;
            ids.release(e.old_id);
            live[k] = e.id;
        }
        emit(e);
    }
    for (std::uint32_t t = 0; t < threads; ++t) {
        event e;
        e.kind = op::thread_exit;
        e.thread = t;
        emit(e);
    }
    w.close();
    return w.events();
}

}  // namespace allocmeter::trace
