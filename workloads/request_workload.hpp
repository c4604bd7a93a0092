// request: a server handling requests. Each request allocates a header, small parts and a
// body (sometimes a large buffer), all dead at request end; sessions hold objects that
// outlive many requests, grow now and then, and die when the session closes.
#pragma once

#include <cstddef>
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

struct request_workload {
    static constexpr std::string_view name = "request";
    static constexpr std::string_view summary =
        "per-request objects (64 B headers to 64 KiB bodies, some 1 MiB) dead at request end, "
        "plus session objects";
    static constexpr std::size_t large_max = 1024 * 1024;
    static constexpr workload_needs needs{.individual_free = false, .cross_thread_free = false,
                                          .max_request = large_max, .max_align = 16};

    struct params {
        std::uint64_t requests;
        std::uint64_t sessions = 64;             ///< sessions open at any time
        std::uint64_t parts_min = 4;             ///< small parts per request (16-512 B)
        std::uint64_t parts_max = 16;
        std::uint64_t large_one_in = 64;         ///< requests that also take a 128 KiB-1 MiB buffer
        std::uint64_t session_grow_one_in = 8;   ///< requests that add a session object
        std::uint64_t session_max_objects = 32;
        std::uint64_t session_close_one_in = 32; ///< requests after which their session closes

        static params for_scale(scale s) { return {.requests = pick(s, 30000, 300000, 3000000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"requests", p.requests, "requests per thread"},
                {"sessions", p.sessions, "sessions open at once (2-6 objects of 64 B-4 KiB each)"},
                {"parts_min", p.parts_min, "fewest small parts (16-512 B) per request"},
                {"parts_max", p.parts_max, "most small parts per request"},
                {"large_one_in", p.large_one_in, "one request in N takes a 128 KiB-1 MiB buffer"},
                {"session_grow_one_in", p.session_grow_one_in, "one request in N adds a session object"},
                {"session_max_objects", p.session_max_objects, "most objects in a session"},
                {"session_close_one_in", p.session_close_one_in, "one request in N closes its session"}};
    }

    /// Operations: one per allocation and one per object death. Session objects die one by
    /// one; on an allocator without individual free their memory stays until the run ends.
    template <allocator A>
    static void run_thread(thread_context& ctx, no_shared_state&) {
        const params p = params::for_scale(ctx.config.size);
        A session_instance;
        A request_instance;
        tracked_heap<A> session_heap(session_instance, ctx.meter);
        tracked_heap<A> request_heap(request_instance, ctx.meter);
        std::vector<fixed_vector<block_of<A>>> sessions;
        for (std::uint64_t s = 0; s < p.sessions; ++s) sessions.emplace_back(p.session_max_objects);
        fixed_vector<block_of<A>> objects(p.parts_max + 3);
        rng& r = ctx.random;

        const auto open = [&](fixed_vector<block_of<A>>& s) {
            const std::uint64_t n = r.between(2, 6);
            for (std::uint64_t i = 0; i < n; ++i) s.push_back(session_heap.make(r.log_uniform(64, 4096)));
        };
        const auto close = [&](fixed_vector<block_of<A>>& s) {
            for (const auto& b : s) session_heap.drop(b);
            s.clear();
        };

        ctx.start();
        for (auto& s : sessions) open(s);
        for (std::uint64_t q = 0; q < p.requests; ++q) {
            fixed_vector<block_of<A>>& session = sessions[r.below(p.sessions)];
            objects.push_back(request_heap.make(r.log_uniform(64, 256)));
            const std::uint64_t parts = r.between(p.parts_min, p.parts_max);
            for (std::uint64_t i = 0; i < parts; ++i) objects.push_back(request_heap.make(r.log_uniform(16, 512)));
            objects.push_back(request_heap.make(r.log_uniform(1024, 64 * 1024)));
            if (r.one_in(p.large_one_in)) objects.push_back(request_heap.make(r.log_uniform(128 * 1024, large_max)));
            session_heap.write(session[r.below(session.size())], q);
            if (r.one_in(p.session_grow_one_in) && session.size() < p.session_max_objects)
                session.push_back(session_heap.make(r.log_uniform(64, 4096)));
            request_heap.release_all(objects);
            if (r.one_in(p.session_close_one_in)) {
                close(session);
                open(session);
            }
        }
        ctx.add_stats(session_instance);
        ctx.add_stats(request_instance);
        for (auto& s : sessions) close(s);
        session_heap.reclaim();
        ctx.stop();
    }
};

}  // namespace allocmeter
