// sh6bench: MicroQuill's SmartHeap benchmark sh6bench (2000; in mimalloc-bench). Each pass
// walks the sizes 1 B-709 B (base sizes growing by half, each halved down to 1 B), small
// sizes many times more often than large; the blocks go into a buffer that, each time it is
// full, frees a part in allocation order and a part in reverse and keeps a fifth a cycle longer.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/classic/shbench_ring.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

/// sh6bench's size schedule: base sizes from min_block, each half again plus one, while below
/// max_block (the original's defaults); each base halved down to 1 B; small sizes weighted.
struct sh6bench_sizes {
    static constexpr std::uint64_t min_block = 1;
    static constexpr std::uint64_t max_block = 1000;

    static constexpr std::uint64_t next_base(std::uint64_t base) noexcept { return base * 3 / 2 + 1; }
    /// Blocks of a size per pass: the original's weights favour small blocks.
    static constexpr std::uint64_t copies(std::uint64_t size) noexcept {
        return size < 100 ? 250 : size < 1000 ? 50 : size < 10000 ? 10 : 1;
    }
    /// The largest size a pass allocates: the last base below max_block.
    static constexpr std::uint64_t largest() noexcept {
        std::uint64_t base = min_block;
        while (next_base(base) < max_block) base = next_base(base);
        return base;
    }
};

struct sh6bench_workload {
    static constexpr std::string_view name = "sh6bench";
    static constexpr std::string_view summary =
        "blocks of 1-709 B (97% under 100 B) through a buffer freed part in allocation order, "
        "part in reverse, a fifth kept a cycle longer; per-thread heaps";
    using sizes = sh6bench_sizes;

    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = false,
                                          .max_request = sizes::largest(), .max_align = 16};

    struct params {
        std::uint64_t passes;         ///< walks through every size (19,300 allocations each)
        std::uint64_t slots = 10000;  ///< the buffer (mimalloc-bench's call count)

        static params for_scale(scale s) { return {.passes = pick(s, 60, 600, 6000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"passes", p.passes, "walks through the sizes 1-709 B per thread (19,300 blocks each); draws no random numbers"},
                {"slots", p.slots, "blocks the buffer holds; a fifth of them survive each cycle"},
                {"max_block", sizes::max_block, "base sizes stay below this many bytes"}};
    }

    /// Operations: one per allocation and one per free. Each thread runs the benchmark on its
    /// own allocator instance, as each of the original's threads runs it on its own.
    template <allocator A>
    static void run_thread(thread_context& ctx, no_shared_state& none) {
        run<A>(ctx, none, params::for_scale(ctx.config.size));
    }
    /// run_thread at explicit parameters (tests run below quick scale).
    template <allocator A>
    static void run(thread_context& ctx, no_shared_state&, const params& p) {
        A instance;
        tracked_heap<A> heap(instance, ctx.meter);
        shbench_ring<A> ring(heap, p.slots);

        ctx.start();
        for (std::uint64_t pass = 0; pass < p.passes; ++pass)
            for (std::uint64_t base = sizes::min_block; base < sizes::max_block; base = sizes::next_base(base))
                for (std::uint64_t size = base; size != 0; size /= 2)
                    for (std::uint64_t n = sizes::copies(size); n != 0; --n) ring.add(heap.make(size));
        ctx.add_stats(instance);
        ring.release();
        ctx.stop();
    }
};

}  // namespace allocmeter
