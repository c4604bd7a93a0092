// tracked_heap: the handle through which a synthetic workload allocates, calling the allocator
// directly (a template, no virtual call) and keeping the thread's op_meter in step; block, the
// record of an allocation a workload holds; touch(), the writes that initialise a new block.
// On a verified<A> (run --verify) every block carries its tag instead, checked when it dies.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "allocators/adapter.hpp"
#include "workloads/block_tag.hpp"
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

/// A block under run --verify: also its serial, which names the tag written over it.
struct tagged_block : block {
    std::uint64_t serial;
};

/// The block record a workload keeps on allocator A: tagged on a verified<...> only, so a
/// measured run carries no serial.
template <class A>
using block_of = std::conditional_t<is_verified<A>, tagged_block, block>;

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
/// virtual call) and keeps the meter in step. On a verified<...> allocator the workload never
/// writes into a block itself: each new block gets its tag where touch() would write (and the
/// rest of its first KiB), a later write() checks the tag instead, and every way a block dies
/// (free, retire, reset) checks it first; a damaged tag ends the cell naming the block.
template <allocator A>
class tracked_heap {
    // A LIFO-only allocator retires out-of-order deaths, which only a reset can take back.
    static_assert(!A::caps.lifo_free_only || A::caps.reset);

public:
    using block_type = block_of<A>;
    static constexpr bool verifying = is_verified<A>;

    tracked_heap(A& a, op_meter& meter) noexcept : a_(a), meter_(meter) {}

    /// Allocates or ends the cell with a clear message.
    void* alloc(std::size_t size, std::size_t align = 16) {
        void* p = timed_allocate(a_, meter_.latency, size, align);
        if (p == nullptr) [[unlikely]] allocation_failed(size, align);
        meter_.allocated(size, align);
        return p;
    }
    /// Allocates, writes (touches, or tags) and returns the block record.
    block_type make(std::size_t size, std::size_t align = 16) {
        void* p = alloc(size, align);
        const block b{p, static_cast<std::uint32_t>(size), static_cast<std::uint32_t>(align)};
        if constexpr (verifying) {
            const std::uint64_t serial = block_serial(meter_.thread(), meter_.ops());  // the allocation just counted
            write_tag(p, size, serial);
            return {b, serial};
        } else {
            touch(p, size, size);
            return b;
        }
    }
    /// The workload writes `value` into a live block (touch()); under verify it checks the tag
    /// (a write is no operation: the failure names the last one).
    void write(const block_type& b, std::uint64_t value) noexcept {
        if constexpr (verifying)
            check_tag(b.p, b.size, b.align, b.serial,
                      {"written again by the workload", block_serial(meter_.thread(), meter_.ops()), "after"});
        else
            touch(b.p, b.size, value);
    }
    /// Frees one block; only for allocators with individual free.
    void free(const block_type& b) noexcept {
        static_assert(A::caps.individual_free);
        check(b, "freed");
        timed_deallocate(a_, meter_.latency, b.p, b.size, b.align);
        meter_.died(b.size, b.align);
    }
    /// Resizes a live block to new_size bytes, as realloc: through A's own reallocate where it
    /// has one (malloc's may grow in place), else a new block, the kept bytes copied, the old
    /// block freed. The bytes it gained are written (touch()), or, under verify, the block gets
    /// a new tag. One operation; only for allocators with individual free.
    void resize(block_type& b, std::size_t new_size) {
        static_assert(A::caps.individual_free);
        check(b, "resized");
        void* p;
        if constexpr (reallocating<A>) {
            p = timed_reallocate(a_, meter_.latency, b.p, b.size, new_size, b.align);
        } else {
            p = timed_allocate(a_, meter_.latency, new_size, b.align);
            if (p != nullptr) {
                if constexpr (!verifying) std::memcpy(p, b.p, std::min<std::size_t>(b.size, new_size));
                timed_deallocate(a_, meter_.latency, b.p, b.size, b.align);
            }
        }
        if (p == nullptr) [[unlikely]] allocation_failed(new_size, b.align);
        meter_.resized(b.size, new_size, b.align);
        if constexpr (verifying) {
            b.serial = block_serial(meter_.thread(), meter_.ops());
            write_tag(p, new_size, b.serial);
        } else if (new_size > b.size) {
            touch(static_cast<unsigned char*>(p) + b.size, new_size - b.size, new_size);
        }
        b.p = p;
        b.size = static_cast<std::uint32_t>(new_size);
    }
    /// Frees a block another thread handed over (that thread counted the operation; the bytes
    /// leave the live count here).
    void free_handed_over(const block_type& b) noexcept {
        static_assert(A::caps.individual_free);
        if constexpr (verifying)
            check_tag(b.p, b.size, b.align, b.serial,
                      {"freed by the thread it was handed to", block_serial(meter_.thread(), meter_.ops()), "after"});
        timed_deallocate(a_, meter_.latency, b.p, b.size, b.align);
        meter_.released(b.size);
    }
    /// The block is dead: freed now where A frees in any order, else retired (its memory
    /// comes back at the next reset).
    void drop(const block_type& b) noexcept {
        if constexpr (A::caps.individual_free && !A::caps.lifo_free_only) {
            free(b);
        } else {
            check(b, "retired (its memory kept until a reset)");
            meter_.died(b.size, b.align);
        }
    }
    /// Every block in `group` dies, and `group` is everything this instance still holds:
    /// one reset() where A has it, else one free per block.
    void release_all(fixed_vector<block_type>& group) noexcept {
        if constexpr (A::caps.reset) {
            for (const block_type& b : group) {
                check(b, "released by reset()");
                meter_.died(b.size, b.align);
            }
            a_.reset();
        } else if constexpr (A::caps.lifo_free_only) {
            for (std::size_t i = group.size(); i-- > 0;) free(group[i]);
        } else {
            for (const block_type& b : group) free(b);
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
    /// Under verify, checks b's tag before the operation this thread is about to count (named
    /// by `event`); nothing otherwise.
    void check(const block_type& b, const char* event) const noexcept {
        if constexpr (verifying) check_tag(b.p, b.size, b.align, b.serial, {event, block_serial(meter_.thread(), meter_.ops() + 1)});
    }

    A& a_;
    op_meter& meter_;
};

}  // namespace allocmeter
