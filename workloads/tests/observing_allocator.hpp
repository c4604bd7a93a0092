// observing_allocator: malloc behind the adapter, watched. Every allocation, free and realloc
// is recorded (which thread made it, the size, which thread freed the block), so a workload's
// test can check its defining property from what the allocator saw, not from the workload's
// own bookkeeping: all frees remote, a size distribution, objects that outlive their thread.
// Slow (one mutex for every call): for tests at quick scale only.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

#include "allocators/adapter.hpp"

namespace allocmeter::test_support {

/// What the observing allocators of a run saw, all threads and instances together.
struct observation {
    std::uint64_t allocations = 0;     ///< allocate() calls that succeeded
    std::uint64_t frees = 0;           ///< deallocate() calls
    std::uint64_t remote_frees = 0;    ///< frees by another thread than the block's allocating one
    std::uint64_t reallocs = 0;        ///< reallocate() calls
    std::uint64_t moved_reallocs = 0;  ///< of those, the ones that returned another address
    std::uint64_t live = 0, peak_live = 0;              ///< blocks live now, and at most
    std::uint64_t live_bytes = 0, peak_live_bytes = 0;  ///< requested bytes live now, and at most
    std::map<std::size_t, std::uint64_t> sizes;   ///< requested size -> allocations (reallocs count their new size)
    std::map<std::size_t, std::uint64_t> aligns;  ///< requested alignment -> allocations
    std::uint64_t threads_allocating = 0;         ///< distinct threads that allocated
    std::uint64_t outlived = 0;  ///< blocks freed after the thread that allocated them had ended

    /// Allocations of a size in [lo, hi].
    std::uint64_t sizes_between(std::size_t lo, std::size_t hi) const {
        std::uint64_t n = 0;
        for (auto it = sizes.lower_bound(lo); it != sizes.end() && it->first <= hi; ++it) n += it->second;
        return n;
    }
};

/// The shared record behind every observing_allocator: reset() before a run, then read.
class observer {
public:
    static observer& instance() {
        static observer o;
        return o;
    }

    void reset() {
        std::lock_guard lock(mutex_);
        seen_ = {};
        blocks_.clear();
        allocating_.clear();
        ended_.clear();
    }

    observation seen() const {
        std::lock_guard lock(mutex_);
        observation o = seen_;
        o.threads_allocating = allocating_.size();
        return o;
    }

    void allocated(const void* p, std::size_t size, std::size_t align) {
        const std::uint64_t self = me();
        std::lock_guard lock(mutex_);
        allocating_.emplace(self, true);
        blocks_[p] = {self, size};
        ++seen_.allocations;
        ++seen_.sizes[size];
        ++seen_.aligns[align];
        grow(size);
    }

    void freed(const void* p) {
        std::lock_guard lock(mutex_);
        const auto it = blocks_.find(p);
        if (it == blocks_.end()) std::abort();  // a free of a block this allocator never gave out
        ++seen_.frees;
        if (it->second.owner != me()) ++seen_.remote_frees;
        if (ended_.count(it->second.owner) != 0) ++seen_.outlived;
        shrink(it->second.size);
        blocks_.erase(it);
    }

    void reallocated(const void* old_p, const void* p, std::size_t new_size) {
        std::lock_guard lock(mutex_);
        const auto it = blocks_.find(old_p);
        if (it == blocks_.end()) std::abort();
        const block b = it->second;
        blocks_.erase(it);
        shrink(b.size);
        ++seen_.reallocs;
        if (p != old_p) ++seen_.moved_reallocs;
        ++seen_.sizes[new_size];
        blocks_[p] = {b.owner, new_size};
        grow(new_size);
    }

private:
    // This thread's number, unique for the process (thread ids are reused once a thread ends).
    // Its first use arms a marker whose destructor records the thread's end: its blocks freed
    // after that have outlived it.
    static std::uint64_t me() {
        struct end_marker {
            std::uint64_t serial;
            ~end_marker() {
                observer& o = instance();
                std::lock_guard lock(o.mutex_);
                o.ended_.emplace(serial, true);
            }
        };
        static std::atomic<std::uint64_t> next{1};
        thread_local const end_marker marker{next.fetch_add(1)};
        return marker.serial;
    }

    struct block {
        std::uint64_t owner = 0;
        std::size_t size = 0;
    };

    void grow(std::size_t size) {
        seen_.peak_live = std::max(seen_.peak_live, ++seen_.live);
        seen_.peak_live_bytes = std::max(seen_.peak_live_bytes, seen_.live_bytes += size);
    }
    void shrink(std::size_t size) {
        --seen_.live;
        seen_.live_bytes -= size;
    }

    mutable std::mutex mutex_;
    observation seen_;
    std::unordered_map<const void*, block> blocks_;
    std::unordered_map<std::uint64_t, bool> allocating_;  // threads (me()) that allocated
    std::unordered_map<std::uint64_t, bool> ended_;       // threads (me()) that ended
};

/// malloc, thread-safe, with individual free and realloc, every call recorded by observer.
class observing_allocator {
public:
    static constexpr capabilities caps{.individual_free = true, .reset = false, .thread_safe = true, .max_align = 4096};

    void* allocate(std::size_t size, std::size_t align) noexcept {
        void* p = raw(size, align);
        if (p != nullptr) observer::instance().allocated(p, size, align);
        return p;
    }
    void deallocate(void* p, std::size_t, std::size_t) noexcept {
        observer::instance().freed(p);
        std::free(p);
    }
    /// Always moves the block (so a test sees the copy), recorded as one realloc.
    void* reallocate(void* p, std::size_t old_size, std::size_t new_size, std::size_t align) noexcept {
        void* q = raw(new_size, align);
        if (q == nullptr) return nullptr;
        std::memcpy(q, p, std::min(old_size, new_size));
        observer::instance().reallocated(p, q, new_size);
        std::free(p);
        return q;
    }

private:
    static void* raw(std::size_t size, std::size_t align) noexcept {
        const std::size_t a = std::max(align, alignof(std::max_align_t));
        return std::aligned_alloc(a, align_up(std::max<std::size_t>(size, 1), a));
    }
};

}  // namespace allocmeter::test_support
