// parser: a compiler front end. Each document is parsed by nested (LIFO) steps that build an
// AST of nodes and strings, each step with a scratch buffer dead when it returns; rewrite
// passes replace some strings; at document end the whole tree dies at once.
#pragma once

#include <array>
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

struct parser_workload {
    static constexpr std::string_view name = "parser";
    static constexpr std::string_view summary =
        "AST nodes (24-96 B) and strings (8-256 B) built by nested steps, some rewritten, "
        "whole tree dead at document end";
    static constexpr workload_needs needs{.individual_free = false, .cross_thread_free = false,
                                          .max_request = 256, .max_align = 16};
    static constexpr std::array<std::uint32_t, 5> node_sizes{24, 32, 48, 64, 96};

    struct params {
        std::uint64_t documents;
        std::uint64_t nodes_per_document = 1500;
        std::uint64_t max_depth = 10;
        std::uint64_t max_children = 5;
        std::uint64_t leaf_one_in = 3;     ///< inner steps that end in a leaf with a string
        std::uint64_t rewrite_passes = 2;
        std::uint64_t rewrite_one_in = 8;  ///< strings replaced per pass

        static params for_scale(scale s) { return {.documents = pick(s, 250, 2000, 20000)}; }
    };

    static std::vector<workload_param> describe(scale s) {
        const params p = params::for_scale(s);
        return {{"documents", p.documents, "documents per thread"},
                {"nodes_per_document", p.nodes_per_document, "AST nodes (24-96 B) per document"},
                {"max_depth", p.max_depth, "deepest nesting of parse steps"},
                {"max_children", p.max_children, "most children per node"},
                {"leaf_one_in", p.leaf_one_in, "one step in N ends in a leaf with a string (8-256 B)"},
                {"rewrite_passes", p.rewrite_passes, "rewrite passes per document"},
                {"rewrite_one_in", p.rewrite_one_in, "one string in N replaced per pass"}};
    }

    template <allocator A>
    struct document {
        tracked_heap<A>& heap;
        rng& r;
        const params& p;
        std::uint64_t nodes_left;
        fixed_vector<block_of<A>>& tree;     ///< the nodes (the strings join them at document end)
        fixed_vector<block_of<A>>& strings;  ///< the leaf strings, which rewrite passes replace

        /// One parse step: a scratch buffer for its duration, a node, then a leaf string or
        /// children; the scratch dies when the step returns (LIFO).
        void step(std::uint64_t depth) {
            const auto scratch = heap.make(r.log_uniform(32, 256));
            tree.push_back(heap.make(node_sizes[r.below(node_sizes.size())]));
            --nodes_left;
            if (depth == p.max_depth || nodes_left == 0 || r.one_in(p.leaf_one_in)) {
                strings.push_back(heap.make(r.log_uniform(8, 256)));
            } else {
                const std::uint64_t children = r.between(1, p.max_children);
                for (std::uint64_t c = 0; c < children && nodes_left > 0; ++c) step(depth + 1);
            }
            heap.drop(scratch);
        }
    };

    /// Operations: one per allocation and one per object death (free, retire or reset).
    template <allocator A>
    static void run_thread(thread_context& ctx, no_shared_state&) {
        const params p = params::for_scale(ctx.config.size);
        A instance;
        tracked_heap<A> heap(instance, ctx.meter);
        fixed_vector<block_of<A>> tree(2 * p.nodes_per_document);
        fixed_vector<block_of<A>> strings(p.nodes_per_document);
        rng& r = ctx.random;

        ctx.start();
        for (std::uint64_t d = 0; d < p.documents; ++d) {
            document<A> doc{heap, r, p, p.nodes_per_document, tree, strings};
            while (doc.nodes_left > 0) doc.step(0);
            for (std::uint64_t pass = 0; pass < p.rewrite_passes; ++pass) {
                for (auto& s : strings) {
                    if (!r.one_in(p.rewrite_one_in)) continue;
                    heap.drop(s);
                    s = heap.make(r.log_uniform(8, 256));
                }
            }
            for (const auto& s : strings) tree.push_back(s);
            if (d + 1 == p.documents) ctx.add_stats(instance);
            heap.release_all(tree);
            strings.clear();
        }
        ctx.stop();
    }
};

}  // namespace allocmeter
