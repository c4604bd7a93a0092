// What a workload (or a trace) needs from an allocator, checked against the allocator's
// capabilities: at compile time where the registry prunes instantiations, and as a sentence
// for each cell the matrix skips.
#pragma once

#include <cstddef>
#include <string>

#include "allocators/adapter.hpp"

namespace allocmeter {

/// What a workload needs from an allocator; the matrix skips a cell that lacks it.
struct workload_needs {
    bool individual_free = false;    ///< objects must really be freed one by one
    bool cross_thread_free = false;  ///< with threads > 1, blocks are freed by another thread
    std::size_t max_request = 0;     ///< largest request, bytes
    std::size_t max_align = 16;      ///< largest alignment requested
};

/// The first thing an allocator lacks to serve a workload, in the order skip_reason reports.
enum class missing_capability { none, individual_free, any_order_free, thread_safety, size, alignment };

/// What an allocator with `caps` lacks to serve a workload with `needs` at `threads`; a
/// constant expression, so the registry and benchmarks can decide at compile time.
constexpr missing_capability first_missing(const capabilities& caps, const workload_needs& needs, unsigned threads) {
    if (needs.individual_free && !caps.individual_free) return missing_capability::individual_free;
    if (needs.individual_free && caps.lifo_free_only) return missing_capability::any_order_free;
    if (needs.cross_thread_free && threads > 1 && !caps.thread_safe) return missing_capability::thread_safety;
    if (needs.max_request > caps.max_size) return missing_capability::size;
    if (needs.max_align > caps.max_align) return missing_capability::alignment;
    return missing_capability::none;
}

/// Why an allocator with `caps` cannot serve a workload at `threads`; empty when it can.
/// `what` names the workload in the sentence ("the workload", "the trace").
inline std::string skip_reason(const capabilities& caps, const workload_needs& needs, unsigned threads,
                               const std::string& what = "the workload") {
    switch (first_missing(caps, needs, threads)) {
        case missing_capability::none: return {};
        case missing_capability::individual_free:
            return what + " frees objects one by one and the allocator has no individual free";
        case missing_capability::any_order_free:
            return what + " frees objects in any order and the allocator frees only the newest block";
        case missing_capability::thread_safety:
            return "with " + std::to_string(threads) +
                   " threads " + what + " frees blocks across threads and the allocator is not thread-safe";
        case missing_capability::size:
            return what + " requests up to " + std::to_string(needs.max_request) +
                   " bytes and the allocator serves at most " + std::to_string(caps.max_size);
        case missing_capability::alignment:
            return what + " requests alignment " + std::to_string(needs.max_align) +
                   " and the allocator serves at most " + std::to_string(caps.max_align);
    }
    return {};
}

}  // namespace allocmeter
