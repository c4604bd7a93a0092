// tracked_heap: the handle through which a synthetic workload allocates, calling the allocator
// directly (a template, no virtual call) and keeping the thread's op_meter in step; block, the
// record of an allocation a workload holds; touch(), the writes that initialise a new block.
#pragma once

#include <cstddef>
#include <cstdint>

#include "allocators/adapter.hpp"
#include "workloads/fixed_vector.hpp"
#include "workloads/op_meter.hpp"
#include "workloads/timed_allocation.hpp"

namespace allocmeter {

/// A block a workload holds: where it is and what was asked for (for the sized free).
struct block {
    void* p;
    std::uint32_t size;
    std::uint32_t align;
};

/// Writes to a new block the way a program initialising it would: one store per cache line
/// over the first KiB, then one per page, and the last byte. Stores are volatile so the
/// compiler cannot drop them as dead before the free.
inline void touch(void* p, std::size_t size, std::uint64_t value) noexcept {
    auto* bytes = static_cast<volatile unsigned char*>(p);
    const auto v = static_cast<unsigned char>(value);
    const std::size_t dense = size < 1024 ? size : 1024;
    for (std::size_t off = 0; off < dense; off += 64) bytes[off] = v;
    for (std::size_t off = 4096; off < size; off += 4096) bytes[off] = v;
    if (size != 0) bytes[size - 1] = v;
}

/// The handle a workload allocates through: calls the allocator directly (a template, no
/// virtual call) and keeps the meter in step.
template <allocator A>
class tracked_heap {
    // A LIFO-only allocator retires out-of-order deaths, which only a reset can take back.
    static_assert(!A::caps.lifo_free_only || A::caps.reset);

public:
    tracked_heap(A& a, op_meter& meter) noexcept : a_(a), meter_(meter) {}

    /// Allocates or ends the cell with a clear message.
    void* alloc(std::size_t size, std::size_t align = 16) {
        void* p = timed_allocate(a_, meter_.latency, size, align);
        if (p == nullptr) [[unlikely]] allocation_failed(size, align);
        meter_.allocated(size, align);
        return p;
    }
    /// Allocates, touches and returns the block record.
    block make(std::size_t size, std::size_t align = 16) {
        void* p = alloc(size, align);
        touch(p, size, size);
        return {p, static_cast<std::uint32_t>(size), static_cast<std::uint32_t>(align)};
    }
    /// Frees one block; only for allocators with individual free.
    void free(const block& b) noexcept {
        static_assert(A::caps.individual_free);
        timed_deallocate(a_, meter_.latency, b.p, b.size, b.align);
        meter_.died(b.size, b.align);
    }
    /// The block is dead: freed now where A frees in any order, else retired (its memory
    /// comes back at the next reset).
    void drop(const block& b) noexcept {
        if constexpr (A::caps.individual_free && !A::caps.lifo_free_only) {
            free(b);
        } else {
            meter_.died(b.size, b.align);
        }
    }
    /// Every block in `group` dies, and `group` is everything this instance still holds:
    /// one reset() where A has it, else one free per block.
    void release_all(fixed_vector<block>& group) noexcept {
        if constexpr (A::caps.reset) {
            for (const block& b : group) meter_.died(b.size, b.align);
            a_.reset();
        } else if constexpr (A::caps.lifo_free_only) {
            for (std::size_t i = group.size(); i-- > 0;) free(group[i]);
        } else {
            for (const block& b : group) free(b);
        }
        group.clear();
    }
    /// Returns retired memory: a reset() where A has one (every block already dropped).
    void reclaim() noexcept {
        if constexpr (A::caps.reset) a_.reset();
    }

    A& allocator() noexcept { return a_; }
    op_meter& meter() noexcept { return meter_; }

private:
    A& a_;
    op_meter& meter_;
};

}  // namespace allocmeter
