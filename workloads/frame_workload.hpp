// frame: a game or simulation loop. Each frame allocates many short-lived temporaries of
// small mixed sizes, writes them, updates a long-lived set, and at frame end every temporary
// dies at once: one reset() where the allocator has it, one free per temporary where not.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/fixed_vector.hpp"
#include "workloads/rng.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct frame_workload {
    static constexpr std::string_view name = "frame";
    static constexpr std::string_view summary =
        "per-frame temporaries (16-256 B) all dead at frame end, beside a long-lived set";
    static constexpr workload_needs needs{.individual_free = false, .cross_thread_free = false,
                                          .max_request = 256, .max_align = 64};

    struct params {
        std::uint64_t frames;
        std::uint64_t temps_min = 100;        ///< temporaries per frame, drawn uniformly
        std::uint64_t temps_max = 300;
        std::uint64_t long_lived = 2000;      ///< objects alive for the whole run
        std::uint64_t updates_per_frame = 64; ///< long-lived objects written each frame
        std::uint64_t simd_one_in = 16;       ///< temporaries that ask for 64-byte alignment

        static params for_scale(scale s) { return {.frames = pick(s, 5000, 50000, 500000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"frames", p.frames, "frames per thread"},
                {"temps_min", p.temps_min, "fewest temporaries in a frame (16-256 B, log-uniform)"},
                {"temps_max", p.temps_max, "most temporaries in a frame"},
                {"long_lived", p.long_lived, "objects (32-256 B) alive for the whole run"},
                {"updates_per_frame", p.updates_per_frame, "long-lived objects written per frame"},
                {"simd_one_in", p.simd_one_in, "one temporary in N asks for 64-byte alignment"}};
    }

    /// Operations: one per allocation and one per object death (free or reset alike).
    template <allocator A>
    static void run_thread(thread_context& ctx, no_shared_state&) {
        const params p = params::for_scale(ctx.config.size);
        A persistent_instance;
        A frame_instance;
        tracked_heap<A> persistent(persistent_instance, ctx.meter);
        tracked_heap<A> frame(frame_instance, ctx.meter);
        fixed_vector<block_of<A>> kept(p.long_lived);
        fixed_vector<block_of<A>> temps(p.temps_max);
        rng& r = ctx.random;

        ctx.start();
        for (std::uint64_t i = 0; i < p.long_lived; ++i) kept.push_back(persistent.make(r.log_uniform(32, 256)));

        for (std::uint64_t f = 0; f < p.frames; ++f) {
            const std::uint64_t n = r.between(p.temps_min, p.temps_max);
            for (std::uint64_t j = 0; j < n; ++j)
                temps.push_back(frame.make(r.log_uniform(16, 256), r.one_in(p.simd_one_in) ? 64 : 16));
            for (std::uint64_t u = 0; u < p.updates_per_frame; ++u) {
                persistent.write(kept[r.below(p.long_lived)], f);
            }
            frame.release_all(temps);
        }
        ctx.add_stats(persistent_instance);
        ctx.add_stats(frame_instance);
        persistent.release_all(kept);
        ctx.stop();
    }
};

}  // namespace allocmeter
