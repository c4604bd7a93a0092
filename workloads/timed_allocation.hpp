// The calls into the allocator under test, as synthetic workloads and trace replays make them:
// timed when the thread's latency sampler says so, and an allocation that returns nullptr ends
// the cell with a message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "allocators/adapter.hpp"
#include "workloads/latency.hpp"

namespace allocmeter {

/// Called when an allocator returns nullptr: the cell cannot go on. Cells run in their own
/// process, so the message on stderr becomes the cell's failure reason. `by` says who asked
/// when it was not the workload (" by the harness itself (operator new)").
[[noreturn, gnu::noinline, gnu::cold]] inline void allocation_failed(std::size_t size, std::size_t align, const char* by = "") {
    std::fprintf(stderr, "the allocator returned NULL for a request of %zu bytes (alignment %zu)%s\n", size, align, by);
    std::fflush(stderr);
    std::_Exit(70);
}

/// a.allocate(), timed when the latency sampler says so.
template <allocator A>
inline void* timed_allocate(A& a, latency_recorder& latency, std::size_t size, std::size_t align) {
    if (!latency.alloc_due()) [[likely]] return a.allocate(size, align);
    const std::uint64_t t0 = read_ticks();
    void* p = a.allocate(size, align);
    latency.record_alloc(read_ticks() - t0);
    return p;
}

/// a.reallocate(), timed as an allocation when the latency sampler says so.
template <reallocating A>
inline void* timed_reallocate(A& a, latency_recorder& latency, void* p, std::size_t old_size, std::size_t new_size,
                              std::size_t align) {
    if (!latency.alloc_due()) [[likely]] return a.reallocate(p, old_size, new_size, align);
    const std::uint64_t t0 = read_ticks();
    void* q = a.reallocate(p, old_size, new_size, align);
    latency.record_alloc(read_ticks() - t0);
    return q;
}

/// a.deallocate(), timed when the latency sampler says so.
template <allocator A>
inline void timed_deallocate(A& a, latency_recorder& latency, void* p, std::size_t size, std::size_t align) noexcept {
    if (!latency.free_due()) [[likely]] return a.deallocate(p, size, align);
    const std::uint64_t t0 = read_ticks();
    a.deallocate(p, size, align);
    latency.record_free(read_ticks() - t0);
}

}  // namespace allocmeter
