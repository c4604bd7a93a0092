// glibc-thread: each thread keeps a working set of 1024 slots and, again and again, frees the
// block in a random slot and puts a new one there, sizes 4 B-32 KiB drawn with an inverse-square
// law (half of them under 8 bytes): the small-size fast paths under a steady random churn,
// each thread on its own heap. Modelled on the GNU C Library's benchtests/bench-malloc-thread.c
// (2013-2019), also run by mimalloc-bench; glibc runs for 60 s and counts iterations, this
// runs a fixed count, so ns/op compares across allocators.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/classic/size_distributions.hpp"
#include "workloads/fixed_vector.hpp"
#include "workloads/scale.hpp"
#include "workloads/tracked_heap.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {

struct glibc_thread_workload {
    static constexpr std::string_view name = "glibc-thread";
    static constexpr std::string_view summary =
        "random slot replacement in a 1024-block working set, sizes 4 B-32 KiB inverse-square, "
        "freed by the allocating thread";
    static constexpr std::size_t min_size = 4;
    static constexpr std::size_t max_size = 32 * 1024;
    static constexpr workload_needs needs{.individual_free = true, .cross_thread_free = false,
                                          .max_request = max_size, .max_align = 16};

    struct params {
        std::uint64_t iterations;           ///< replacements per thread (a free and an allocation)
        std::uint64_t working_set = 1024;   ///< slots per thread, empty at the start
        std::uint64_t size_table = 8000;    ///< sizes drawn before the run and used in turn
        std::uint64_t offset_table = 4096;  ///< slot numbers drawn before the run and used in turn

        static params for_scale(scale s) { return {.iterations = pick(s, 200000, 25000000, 250000000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"iterations", p.iterations, "replacements per thread (free a random slot's block, allocate anew)"},
                {"working_set", p.working_set, "slots per thread (empty at the start)"},
                {"min_size", min_size, "smallest request; sizes follow 1/size^2"},
                {"max_size", max_size, "largest request"},
                {"size_table", p.size_table, "sizes drawn before the timed run, used in turn (as glibc)"},
                {"offset_table", p.offset_table, "slots drawn before the timed run, used in turn (as glibc)"}};
    }

    /// Operations: one per allocation and one per free (a slot's first visit frees nothing).
    /// As in glibc, the random sizes and slots are drawn into tables before the timed run, so
    /// the loop times the allocator, not the generator.
    template <allocator A>
    static void run_thread(thread_context& ctx, no_shared_state&) {
        const params p = params::for_scale(ctx.config.size);
        A instance;
        tracked_heap<A> heap(instance, ctx.meter);
        std::vector<std::uint32_t> sizes(p.size_table), offsets(p.offset_table);
        for (auto& s : sizes) s = static_cast<std::uint32_t>(inverse_square(ctx.random, min_size, max_size));
        for (auto& o : offsets) o = static_cast<std::uint32_t>(ctx.random.below(p.working_set));
        std::vector<block_of<A>> slots(p.working_set);  // value-initialised: p == nullptr, empty
        std::size_t next_size = 0, next_offset = 0;

        ctx.start();
        for (std::uint64_t it = 0; it < p.iterations; ++it) {
            block_of<A>& slot = slots[offsets[next_offset]];
            if (slot.p != nullptr) heap.free(slot);
            slot = heap.make(sizes[next_size]);
            if (++next_size == sizes.size()) next_size = 0;
            if (++next_offset == offsets.size()) next_offset = 0;
        }
        for (const auto& b : slots)
            if (b.p != nullptr) heap.free(b);
        ctx.add_stats(instance);
        ctx.stop();
    }
};

}  // namespace allocmeter
