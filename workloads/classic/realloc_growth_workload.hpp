// realloc-growth: allocmeter's own, modelled on how std::vector and string builders grow, the
// pattern of parsers and serialisers. Buffers grow by realloc interleaved: vectors geometrically
// (x2, as Stepanov's first vector; x1.5, as folly's fbvector: folly/docs/FBVector.md), strings by
// small appends, some vectors shrunk to fit at the end. malloc's realloc may grow a block in place,
// or move an mmapped one's pages with mremap (mremap(2); glibc manual, "Malloc Tunable Parameters");
// an allocator without realloc allocates, copies and frees, which is the cost this compares.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/rng.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct realloc_growth_workload {
    static constexpr std::string_view name = "realloc-growth";
    static constexpr std::string_view summary =
        "buffers grown by realloc, 16 at once per thread: vectors x2/x1.5 (16 B-1 MiB, some shrunk "
        "to fit), strings by 8-512 B appends (to 32 KiB); freed by their own thread";
    /// The largest capacity a vector takes (its growth stops there, as at max_size()).
    static constexpr std::size_t max_bytes = std::size_t{1} << 20;
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = false,
                                          .max_request = max_bytes, .max_align = 16};

    struct params {
        std::uint64_t buffers;                     ///< buffers completed per thread
        std::uint64_t growing = 16;                ///< buffers growing at once
        std::uint64_t vector_one_in = 2;           ///< buffers that are vectors; the rest strings
        std::uint64_t initial_min = 16;            ///< a vector's first capacity (log-uniform)
        std::uint64_t initial_max = 256;
        std::uint64_t vector_min_bytes = 64;       ///< a vector's final length (log-uniform, to max_bytes)
        std::uint64_t shrink_one_in = 4;           ///< vectors shrunk to fit before they are freed
        std::uint64_t append_min = 8;              ///< a string append (log-uniform)
        std::uint64_t append_max = 512;
        std::uint64_t string_min_bytes = 64;       ///< a string's final length (log-uniform)
        std::uint64_t string_max_bytes = 32 * 1024;

        static params for_scale(scale s) { return {.buffers = pick(s, 200, 2000, 20000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"buffers", p.buffers, "buffers grown to their final length and freed, per thread"},
                {"growing", p.growing, "buffers growing at once (each step grows a random one)"},
                {"vector_one_in", p.vector_one_in, "one buffer in N is a vector (half x2, half x1.5); the rest strings"},
                {"initial_min", p.initial_min, "smallest first capacity of a vector"},
                {"initial_max", p.initial_max, "largest first capacity of a vector (log-uniform)"},
                {"vector_min_bytes", p.vector_min_bytes, "shortest final vector (log-uniform to max_bytes)"},
                {"max_bytes", max_bytes, "largest vector capacity; growth stops there"},
                {"shrink_one_in", p.shrink_one_in, "one vector in N shrunk to its length before the free"},
                {"append_min", p.append_min, "smallest string append, one realloc each"},
                {"append_max", p.append_max, "largest string append (log-uniform)"},
                {"string_min_bytes", p.string_min_bytes, "shortest final string"},
                {"string_max_bytes", p.string_max_bytes, "longest final string (log-uniform)"}};
    }

    /// How a buffer grows.
    enum class growth : std::uint8_t { doubling, half_again, appending };

    /// A buffer being grown: its block (whose size is the capacity) and where it stops.
    template <class B>
    struct growing_buffer {
        B block;
        std::size_t length;  ///< bytes it holds when complete (a vector's capacity may exceed it)
        growth kind;
        bool shrink_to_fit;
    };

    /// Operations: one per allocation, realloc and free. Each step grows a random buffer once;
    /// a buffer that has reached its length is shrunk (if chosen) and freed, and a new one takes
    /// its place. The buffers still growing at the end are freed inside the timed region.
    template <allocator A>
    static void run_thread(thread_context& ctx, no_shared_state&) {
        const params p = params::for_scale(ctx.config.size);
        A instance;
        tracked_heap<A> heap(instance, ctx.meter);
        std::vector<growing_buffer<block_of<A>>> buffers(p.growing);
        rng& r = ctx.random;

        const auto start = [&](growing_buffer<block_of<A>>& g) {
            if (r.one_in(p.vector_one_in)) {
                g.kind = r.one_in(2) ? growth::doubling : growth::half_again;
                g.length = r.log_uniform(p.vector_min_bytes, max_bytes);
                g.shrink_to_fit = r.one_in(p.shrink_one_in);
                g.block = heap.make(r.log_uniform(p.initial_min, p.initial_max));
            } else {
                g.kind = growth::appending;
                g.length = r.log_uniform(p.string_min_bytes, p.string_max_bytes);
                g.shrink_to_fit = false;
                g.block = heap.make(std::min(r.log_uniform(p.append_min, p.append_max), g.length));
            }
        };
        const auto next_capacity = [&](const growing_buffer<block_of<A>>& g) -> std::size_t {
            const std::size_t now = g.block.size;
            switch (g.kind) {
                case growth::doubling: return std::min(now * 2, max_bytes);
                case growth::half_again: return std::min(now + now / 2, max_bytes);
                case growth::appending: break;
            }
            return std::min(now + r.log_uniform(p.append_min, p.append_max), g.length);
        };

        ctx.start();
        for (auto& g : buffers) start(g);
        for (std::uint64_t built = 0; built < p.buffers;) {
            growing_buffer<block_of<A>>& g = buffers[r.below(p.growing)];
            if (g.block.size < g.length) {
                heap.resize(g.block, next_capacity(g));
                continue;
            }
            if (g.shrink_to_fit && g.block.size > g.length) heap.resize(g.block, g.length);
            heap.free(g.block);
            ++built;
            start(g);
        }
        ctx.add_stats(instance);
        for (const auto& g : buffers) heap.free(g.block);
        ctx.stop();
    }
};

}  // namespace allocmeter
