// locked<A>: any allocator made thread-safe by one global mutex around every call. It lets the
// single-threaded designs run the multi-threaded workloads, and it measures what a global lock
// costs next to allocators built for concurrency (thread caches, per-CPU heaps).
#pragma once

#include <concepts>
#include <cstddef>
#include <mutex>
#include <type_traits>
#include <utility>

#include "allocators/adapter.hpp"

namespace allocmeter {

/// Owns an A and serialises allocate, deallocate, reset and stats on one std::mutex. Blocks may
/// be freed from any thread, whichever allocated them. reset() and stats() exist exactly when A
/// has them, so capabilities stay consistent.
template <allocator A>
class locked {
public:
    /// A's capabilities, now safe to call from several threads at once.
    static constexpr capabilities caps = [] {
        capabilities c = A::caps;
        c.thread_safe = true;
        return c;
    }();

    /// Constructs the owned A from `args` (A's defaults when none are given).
    template <class... Args>
        requires std::constructible_from<A, Args&&...>
    explicit locked(Args&&... args) noexcept(std::is_nothrow_constructible_v<A, Args&&...>)
        : inner_(std::forward<Args>(args)...) {}

    locked(const locked&) = delete;
    locked& operator=(const locked&) = delete;

    /// Destroys A. The capability check sits here, where the class is complete, so it runs for
    /// every instantiation that is used.
    ~locked() { static_assert(capabilities_consistent<locked>()); }

    /// A::allocate under the lock.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        std::lock_guard<std::mutex> hold(mutex_);
        return inner_.allocate(size, align);
    }

    /// A::deallocate under the lock; any thread may free any block.
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        std::lock_guard<std::mutex> hold(mutex_);
        inner_.deallocate(p, size, align);
    }

    /// A::reset under the lock; only when A can reset.
    void reset() noexcept
        requires resettable<A>
    {
        std::lock_guard<std::mutex> hold(mutex_);
        inner_.reset();
    }

    /// A::stats under the lock, so the counters read are from one consistent moment.
    allocator_stats stats() const noexcept
        requires reports_stats<A>
    {
        std::lock_guard<std::mutex> hold(mutex_);
        return inner_.stats();
    }

    /// The owned allocator, unlocked: for single-threaded setup, inspection and tests only.
    A& unlocked() noexcept { return inner_; }
    /// The owned allocator, unlocked, read-only.
    const A& unlocked() const noexcept { return inner_; }

private:
    mutable std::mutex mutex_;  // guards inner_; mutable so that stats() can lock it
    A inner_;
};

}  // namespace allocmeter
