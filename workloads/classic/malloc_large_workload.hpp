// malloc-large: mimalloc-bench's malloc-large (bench/malloc-large; from mimalloc issue #447 by
// Leonid Stolyarov, modified by Daan Leijen): 20 slots, and at each of 2000 steps a random slot's
// buffer is replaced by a new one of 5-25 MiB (uniform), the new one made before the old one dies.
// It stresses the large-block path: mmap and munmap, page faults, an allocator's large cache. The
// original zero-fills each buffer (make_unique<char[]>); touch() writes one byte per page, so the
// page faults are the same but the bandwidth of the fill is not measured.
#pragma once

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

struct malloc_large_workload {
    static constexpr std::string_view name = "malloc-large";
    static constexpr std::string_view summary =
        "5-25 MiB blocks (uniform) in 20 slots per thread, every page written; each step a new "
        "block replaces a random slot's, made before the old one is freed by its own thread";
    static constexpr std::size_t min_bytes = std::size_t{5} << 20;
    static constexpr std::size_t max_bytes = std::size_t{25} << 20;
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = false,
                                          .max_request = max_bytes, .max_align = 16};

    struct params {
        std::uint64_t replacements;  ///< steps per thread: one allocation, and a free once the slot is full
        std::uint64_t buffers;       ///< slots: 20 as in the original, 4 at quick scale

        // Full is the original's 2000 steps. Quick holds 4 slots, not 20, so that a smoke run (and
        // the tests, under ASan) faults in about 90 MiB instead of 300: on the VM these were
        // tuned on a page fault costs about 20 us, and filling 20 slots alone took 1.4 s. Default:
        // 60 steps, the fill and 40 replacements (200 took 5 s a cell on malloc, 14 on segregated).
        static params for_scale(scale s) {
            return {.replacements = pick(s, 6, 60, 2000), .buffers = pick(s, 4, 20, 20)};
        }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"replacements", p.replacements, "steps per thread: a new 5-25 MiB block replaces a random slot's"},
                {"buffers", p.buffers, "slots; the new block is made before the old one is freed"},
                {"min_bytes", min_bytes, "smallest block"},
                {"max_bytes", max_bytes, "largest block (sizes uniform between)"}};
    }

    /// Operations: one per allocation and one per free. Slots start empty, as in the original,
    /// so the first step on a slot frees nothing; the blocks still held at the end are freed
    /// inside the timed region.
    template <allocator A>
    static void run_thread(thread_context& ctx, no_shared_state&) {
        const params p = params::for_scale(ctx.config.size);
        A instance;
        tracked_heap<A> heap(instance, ctx.meter);
        std::vector<block_of<A>> slots(p.buffers, block_of<A>{});  // p == nullptr: empty
        rng& r = ctx.random;

        ctx.start();
        for (std::uint64_t i = 0; i < p.replacements; ++i) {
            block_of<A>& slot = slots[r.below(p.buffers)];
            const block_of<A> fresh = heap.make(r.between(min_bytes, max_bytes));
            if (slot.p != nullptr) heap.free(slot);
            slot = fresh;
        }
        ctx.add_stats(instance);
        for (const block_of<A>& b : slots)
            if (b.p != nullptr) heap.free(b);
        ctx.stop();
    }
};

}  // namespace allocmeter
