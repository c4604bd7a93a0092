// thread_cache_allocator: tcmalloc-style per-thread caches of size-class objects over a central heap
// shared by all threads. A cache hit is a thread-local list pop or push, with no lock and no atomic
// read-modify-write; a miss or an overflow moves a whole batch under one per-class lock; requests
// above 32 KiB are mapped directly. Many instances may live at once, and threads may outlive them.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>

#include "allocators/adapter.hpp"
#include "allocators/intrusive_list.hpp"
#include "allocators/mapping_cache.hpp"
#include "allocators/os_pages.hpp"

namespace allocmeter {

class thread_cache_allocator;

namespace detail {

inline constexpr std::size_t tc_max_small = 32 * 1024;  // largest size served from classes
inline constexpr unsigned tc_classes = 40;               // 8 steps of 16 B, then 4 per doubling

/// Class of a request of `size` <= 32 KiB bytes, in O(1): 16-byte steps up to 128 B, then four
/// classes per power of two (at most 25% internal waste), as in jemalloc.
constexpr unsigned tc_size_class(std::size_t size) noexcept {
    if (size <= 128) return static_cast<unsigned>((size + 15) / 16) - (size != 0 ? 1 : 0);
    const unsigned lg = static_cast<unsigned>(std::bit_width(size - 1));  // size in (2^(lg-1), 2^lg]
    return 8 + (lg - 8) * 4 + static_cast<unsigned>((size - 1) >> (lg - 3)) - 4;
}

/// Bytes of each object of class `cls`: a multiple of 16, and of 4096 from 4 KiB up.
constexpr std::size_t tc_class_size(unsigned cls) noexcept {
    if (cls < 8) return 16 * (cls + 1);
    const unsigned lg = 8 + (cls - 8) / 4;
    return (std::size_t{1} << (lg - 1)) + ((cls - 8) % 4 + 1) * (std::size_t{1} << (lg - 3));
}

static_assert(tc_size_class(0) == 0 && tc_size_class(16) == 0 && tc_size_class(17) == 1);
static_assert(tc_size_class(128) == 7 && tc_size_class(129) == 8 && tc_class_size(8) == 160);
static_assert(tc_size_class(tc_max_small) == tc_classes - 1 && tc_class_size(tc_classes - 1) == tc_max_small);

/// A free object: its link in a cache or central list; the first object of a central batch
/// also links the next batch (every class holds at least two pointers).
struct tc_free_object {
    tc_free_object* next;
    tc_free_object* next_batch;
};

/// One thread's cache for one instance. Bins are touched only by the owning thread; the two
/// counters are written only by it too (a relaxed load and store, no RMW) and summed by stats().
struct alignas(64) tc_thread_cache {
    struct bin {
        tc_free_object* head = nullptr;  ///< most recently freed object first
        std::uint32_t count = 0;
        std::uint32_t capacity = 0;  ///< two batches; one more free sends a batch back
    };
    bin bins[tc_classes];
    std::atomic<std::uint64_t> requested{0};  ///< net requested bytes this thread handed out (wraps)
    std::atomic<std::uint64_t> live{0};       ///< net blocks this thread handed out (wraps)
    tc_thread_cache* next_record = nullptr;   ///< the instance's list of every record
    tc_thread_cache* next_free = nullptr;     ///< the instance's list of records no thread holds

    /// Adds to this thread's counters (pass 0 - x to subtract).
    void add_live(std::uint64_t bytes, std::uint64_t blocks) noexcept {
        requested.store(requested.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
        live.store(live.load(std::memory_order_relaxed) + blocks, std::memory_order_relaxed);
    }
};

/// This thread's view of the instances it has caches in: the last one used (the fast path) and a
/// small table keyed by instance id. Ids are never reused, so a stale entry is never matched.
struct tc_thread_table {
    static constexpr unsigned slots = 16;
    struct entry {
        std::uint64_t id;
        thread_cache_allocator* owner;  // valid only while `id` is registered as live
        tc_thread_cache* cache;
    };
    std::uint64_t last_id = 0;  // 0: no instance has id 0
    tc_thread_cache* last_cache = nullptr;
    unsigned used = 0;
    bool exiting = false;  // the exit hook has run: later calls bypass the caches
    entry entries[slots]{};
};

/// Trivially destructible and constant-initialized, so the fast path reads it with no guard.
inline constinit thread_local tc_thread_table tc_this_thread{};

/// Constructed by a thread's first cache registration; its destructor, at thread exit, gives
/// every cache of that thread back to its instance if the instance is still alive.
struct tc_thread_exit_hook {
    bool armed = false;
    ~tc_thread_exit_hook();
};
inline thread_local tc_thread_exit_hook tc_exit_hook;

/// Every live instance, linked through the instances, under one mutex taken only on slow paths
/// (registration, thread exit, eviction, destruction). Never destroyed: detached threads may
/// exit after static destructors have run.
struct tc_registry {
    std::mutex lock;
    thread_cache_allocator* first = nullptr;
    std::uint64_t next_id = 1;
};
union tc_registry_storage {
    tc_registry registry;
    constexpr tc_registry_storage() : registry() {}
    ~tc_registry_storage() {}
};
inline constinit tc_registry_storage tc_registry_global{};

}  // namespace detail

/// Tuning for thread_cache_allocator; out-of-range values are clamped.
struct thread_cache_config {
    std::uint32_t max_batch = 32;          ///< most objects moved between a cache and central at once
    std::size_t batch_bytes = 64 * 1024;   ///< byte budget of a batch: large classes move fewer objects
    std::size_t segment_bytes = 4u << 20;  ///< central carves spans from mappings of this size
};

/// Per-thread caches over a central heap. Frees go to the freeing thread's cache whoever
/// allocated the object (tcmalloc's design): with sized frees the class follows from the size, so
/// no owner lookup or atomic remote list is needed, and a producer/consumer pair just moves
/// batches through central. Not copyable or movable: threads find the instance by its address.
class thread_cache_allocator {
    using free_object = detail::tc_free_object;
    using thread_cache = detail::tc_thread_cache;
    using thread_table = detail::tc_thread_table;

public:
    /// Largest request served from size classes; larger ones get a mapping of their own.
    static constexpr std::size_t max_small = detail::tc_max_small;
    /// Number of size classes.
    static constexpr unsigned classes = detail::tc_classes;

    /// Any size, alignment up to a page, frees from any thread. No reset(): objects of this
    /// instance sit in other threads' caches, which only their own threads may touch.
    static constexpr capabilities caps{.individual_free = true, .reset = false, .thread_safe = true,
                                       .max_align = 4096};

    /// Class of a request, alignment included: the size's class if its objects are aligned
    /// enough, else the power-of-two class that is (objects sit at multiples of their size).
    static constexpr unsigned size_class(std::size_t size, std::size_t align = 1) noexcept {
        const unsigned cls = detail::tc_size_class(size);
        if ((detail::tc_class_size(cls) & (align - 1)) == 0) return cls;
        return detail::tc_size_class(std::bit_ceil(std::max(size, align)));
    }
    /// Bytes of each object of class `cls`.
    static constexpr std::size_t class_size(unsigned cls) noexcept { return detail::tc_class_size(cls); }

    /// Registers the instance under a fresh id; maps nothing until the first allocation.
    explicit thread_cache_allocator(thread_cache_config config = {}) noexcept;
    thread_cache_allocator(const thread_cache_allocator&) = delete;
    thread_cache_allocator& operator=(const thread_cache_allocator&) = delete;

    /// Unregisters, then unmaps everything: threads still holding caches for this instance just
    /// find it dead at their exit. No thread may be calling it any more.
    ~thread_cache_allocator();

    /// A block of `size` bytes aligned to `align`; nullptr if align > 4096 or the OS refuses.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        assert(is_pow2(align));
        if (size > max_small || align > 16) [[unlikely]]
            return allocate_unusual(size, align);
        return allocate_small(detail::tc_size_class(size), size);
    }

    /// Frees a block from any thread into the calling thread's cache; nullptr is ignored.
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        if (p == nullptr) return;
        if (size > max_small || align > 16) [[unlikely]]
            return deallocate_unusual(p, size, align);
        deallocate_small(p, detail::tc_size_class(size), size);
    }

    /// Live bytes and blocks summed over the caches (exact once threads are quiescent); every
    /// mapping held: segments, metadata slabs and large blocks.
    allocator_stats stats() const noexcept;

    /// What the central heap did for one class, or summed over all of them.
    struct central_counters {
        std::uint64_t batches_fetched = 0;   ///< cache misses refilled from central
        std::uint64_t batches_returned = 0;  ///< cache overflows sent back as a batch
        std::uint64_t objects_carved = 0;    ///< objects cut fresh from spans
        std::uint64_t free_objects = 0;      ///< objects waiting in central lists
    };
    /// Central counters for the class of `size`.
    central_counters counters(std::size_t size) const noexcept;
    /// Central counters summed over all classes.
    central_counters counters() const noexcept;
    /// Objects in the calling thread's cache for the class of `size` (0 if it has no cache).
    std::uint32_t cached_objects(std::size_t size) const noexcept;
    /// Objects a batch of the class of `size` holds.
    std::uint32_t batch_objects(std::size_t size) const noexcept { return central_[size_class(size)].batch; }
    /// Per-thread caches currently held by threads.
    std::size_t thread_caches() const noexcept;
    /// This instance's id: unique for the life of the process.
    std::uint64_t id() const noexcept { return id_; }

private:
    friend struct detail::tc_thread_exit_hook;

    // Per class: full batches (chained through their first object) and fewer than a batch of
    // loose objects, plus the untouched tail of the class's current span.
    struct alignas(64) central_list {
        mutable std::mutex lock;
        free_object* full = nullptr;
        free_object* partial = nullptr;
        std::uint32_t partial_count = 0;
        std::uint32_t batch = 0;  // constant after construction, read without the lock
        std::byte* carve = nullptr;
        std::byte* carve_end = nullptr;
        central_counters counters;
    };
    struct mapping_header {  // at the start of each segment, metadata slab and large block
        mapping_header* prev;
        mapping_header* next;
        std::size_t bytes;
    };
    static constexpr std::size_t slab_bytes = 64 * 1024;  // thread cache records are carved from these

    // The fast path's lookup: the last instance this thread used, else the table.
    thread_cache* calling_thread_cache() noexcept {
        thread_table& t = detail::tc_this_thread;
        if (t.last_id == id_) [[likely]]
            return t.last_cache;
        return find_or_register_cache();
    }

    void* allocate_small(unsigned cls, std::size_t size) noexcept {
        thread_cache* c = calling_thread_cache();
        if (c == nullptr) [[unlikely]]
            return allocate_uncached(cls, size);
        thread_cache::bin& b = c->bins[cls];
        free_object* p = b.head;
        if (p == nullptr) [[unlikely]]
            return refill_and_allocate(*c, cls, size);
        b.head = p->next;
        --b.count;
        c->add_live(size, 1);
        return p;
    }

    void deallocate_small(void* p, unsigned cls, std::size_t size) noexcept {
        thread_cache* c = calling_thread_cache();
        if (c == nullptr) [[unlikely]]
            return deallocate_uncached(p, cls, size);
        thread_cache::bin& b = c->bins[cls];
        auto* o = static_cast<free_object*>(p);
        o->next = b.head;
        b.head = o;
        c->add_live(0 - size, 0 - std::uint64_t{1});
        if (++b.count > b.capacity) [[unlikely]]
            return_batch(b, cls);
    }

    [[gnu::noinline]] inline void* allocate_unusual(std::size_t size, std::size_t align) noexcept;
    [[gnu::noinline]] inline void deallocate_unusual(void* p, std::size_t size, std::size_t align) noexcept;
    [[gnu::noinline]] inline thread_cache* find_or_register_cache() noexcept;
    [[gnu::noinline]] inline void* refill_and_allocate(thread_cache& c, unsigned cls, std::size_t size) noexcept;
    [[gnu::noinline]] inline void return_batch(thread_cache::bin& b, unsigned cls) noexcept;
    [[gnu::noinline]] inline void* allocate_uncached(unsigned cls, std::size_t size) noexcept;
    [[gnu::noinline]] inline void deallocate_uncached(void* p, unsigned cls, std::size_t size) noexcept;

    std::uint32_t take_batch(central_list& cl, free_object*& head) noexcept;
    void put_one(central_list& cl, free_object* o) noexcept;
    std::uint32_t carve(central_list& cl, unsigned cls, std::uint32_t limit, free_object*& head) noexcept;
    static void link_run(free_object* head, std::uint32_t n, std::size_t size) noexcept;
    std::byte* new_span(std::size_t bytes) noexcept;
    thread_cache* acquire_cache() noexcept;
    void release_cache(thread_cache* c) noexcept;
    static void make_room(thread_table& t) noexcept;
    static thread_cache_allocator* live_instance(std::uint64_t id) noexcept;
    mapping_header* map_region(std::size_t bytes) noexcept;
    void unmap_region(mapping_header* h) noexcept;
    // Unmaps a mapping pushed out of the large-mapping cache (its header still holds its length).
    auto unmap_cached() noexcept {
        return [this](void* p, std::size_t) { unmap_region(static_cast<mapping_header*>(p)); };
    }

    central_list central_[classes];
    std::uint64_t id_;
    thread_cache_allocator* registry_prev_ = nullptr;  // guarded by the registry lock
    thread_cache_allocator* registry_next_ = nullptr;
    std::size_t segment_bytes_;

    mutable std::mutex records_lock_;  // the records below, and folding counters into shared_*
    thread_cache* records_ = nullptr;
    thread_cache* free_records_ = nullptr;
    std::size_t records_in_use_ = 0;
    mapping_header* slabs_ = nullptr;
    std::byte* slab_cursor_ = nullptr;
    std::byte* slab_end_ = nullptr;

    std::mutex segment_lock_;  // the segments and the current segment's free tail
    mapping_header* segments_ = nullptr;
    std::byte* segment_cursor_ = nullptr;
    std::byte* segment_end_ = nullptr;

    std::mutex large_lock_;  // large_ and large_cache_
    mapping_header* large_ = nullptr;
    mapping_cache large_cache_;  // freed large mappings kept for reuse, headers intact

    // Counts kept off the fast path: caches given back, large blocks, bypassing calls; mappings.
    std::atomic<std::uint64_t> shared_requested_{0};
    std::atomic<std::uint64_t> shared_live_{0};
    std::atomic<std::uint64_t> reserved_bytes_{0};
    std::atomic<std::uint64_t> mappings_{0};
};

static_assert(capabilities_consistent<thread_cache_allocator>());

// ---- Slow paths, out of line.

inline thread_cache_allocator::thread_cache_allocator(thread_cache_config config) noexcept {
    const std::uint32_t max_batch = std::clamp<std::uint32_t>(config.max_batch, 2, 256);
    const std::size_t batch_bytes = std::clamp<std::size_t>(config.batch_bytes, 4096, 256 * 1024);
    segment_bytes_ = os::round_to_pages(std::clamp<std::size_t>(config.segment_bytes, 1 << 20, std::size_t{1} << 30));
    for (unsigned cls = 0; cls < classes; ++cls)
        central_[cls].batch = static_cast<std::uint32_t>(std::clamp<std::size_t>(batch_bytes / class_size(cls), 2, max_batch));
    detail::tc_registry& r = detail::tc_registry_global.registry;
    std::lock_guard lock(r.lock);
    id_ = r.next_id++;
    registry_next_ = r.first;
    if (r.first != nullptr) r.first->registry_prev_ = this;
    r.first = this;
}

inline thread_cache_allocator::~thread_cache_allocator() {
    {
        detail::tc_registry& r = detail::tc_registry_global.registry;
        std::lock_guard lock(r.lock);
        (registry_prev_ != nullptr ? registry_prev_->registry_next_ : r.first) = registry_next_;
        if (registry_next_ != nullptr) registry_next_->registry_prev_ = registry_prev_;
    }
    // Other threads' entries for this id go stale and are dropped lazily; drop the caller's now,
    // so that a thread creating and destroying instances in a loop never fills its table.
    thread_table& t = detail::tc_this_thread;
    if (t.last_id == id_) {
        t.last_id = 0;
        t.last_cache = nullptr;
    }
    for (unsigned i = 0; i < t.used; ++i)
        if (t.entries[i].id == id_) t.entries[i] = t.entries[--t.used];
    large_cache_.clear(unmap_cached());
    for (mapping_header* list : {large_, segments_, slabs_})
        while (list != nullptr) {
            mapping_header* next = list->next;
            unmap_region(list);
            list = next;
        }
}

void* thread_cache_allocator::allocate_unusual(std::size_t size, std::size_t align) noexcept {
    if (align > caps.max_align) return nullptr;
    if (size <= max_small) return allocate_small(size_class(size, align), size);
    if (size > (SIZE_MAX >> 2)) return nullptr;  // no such mapping; keeps the rounding below exact
    const std::size_t bytes = large_mapping_bytes(os::page_size() + size);
    mapping_header* h;
    {
        std::lock_guard lock(large_lock_);
        h = static_cast<mapping_header*>(large_cache_.take(bytes));
        if (h != nullptr) intrusive::push_front(large_, h);
    }
    if (h == nullptr) {
        if ((h = map_region(bytes)) == nullptr) return nullptr;
        std::lock_guard lock(large_lock_);
        intrusive::push_front(large_, h);
    }
    shared_requested_.fetch_add(size, std::memory_order_relaxed);
    shared_live_.fetch_add(1, std::memory_order_relaxed);
    return reinterpret_cast<std::byte*>(h) + os::page_size();  // the header keeps a page to itself
}

void thread_cache_allocator::deallocate_unusual(void* p, std::size_t size, std::size_t align) noexcept {
    if (size <= max_small) return deallocate_small(p, size_class(size, align), size);
    auto* h = reinterpret_cast<mapping_header*>(static_cast<std::byte*>(p) - os::page_size());
    std::lock_guard lock(large_lock_);
    intrusive::unlink(large_, h);
    large_cache_.put(h, h->bytes, unmap_cached());
    shared_requested_.fetch_sub(size, std::memory_order_relaxed);
    shared_live_.fetch_sub(1, std::memory_order_relaxed);
}

// The calling thread has no cache for this instance in its last-used slot: look in its table,
// else take a record (evicting another instance's entry if the table is full). nullptr when the
// thread is past its exit hook or metadata cannot be mapped; the caller then bypasses caches.
auto thread_cache_allocator::find_or_register_cache() noexcept -> thread_cache* {
    thread_table& t = detail::tc_this_thread;
    thread_cache* c = nullptr;
    for (unsigned i = 0; i < t.used && c == nullptr; ++i)
        if (t.entries[i].id == id_) c = t.entries[i].cache;
    if (c == nullptr) {
        if (t.exiting) return nullptr;
        detail::tc_exit_hook.armed = true;  // the first touch registers its destructor for thread exit
        if (t.used == thread_table::slots) make_room(t);
        if ((c = acquire_cache()) == nullptr) return nullptr;
        t.entries[t.used++] = {id_, this, c};
    }
    t.last_id = id_;
    return t.last_cache = c;
}

// Registry lock held. The live instance with this id, or nullptr.
inline auto thread_cache_allocator::live_instance(std::uint64_t id) noexcept -> thread_cache_allocator* {
    for (thread_cache_allocator* a = detail::tc_registry_global.registry.first; a != nullptr; a = a->registry_next_)
        if (a->id_ == id) return a;
    return nullptr;
}

// The table is full: forget entries of dead instances; if all are alive, give the oldest
// entry's cache back to its instance (the registry lock keeps that instance alive meanwhile).
inline void thread_cache_allocator::make_room(thread_table& t) noexcept {
    std::lock_guard lock(detail::tc_registry_global.registry.lock);
    unsigned kept = 0;
    for (unsigned i = 0; i < t.used; ++i)
        if (live_instance(t.entries[i].id) != nullptr) t.entries[kept++] = t.entries[i];
    t.used = kept;
    if (kept < thread_table::slots) return;
    t.entries[0].owner->release_cache(t.entries[0].cache);
    std::copy(t.entries + 1, t.entries + t.used, t.entries);
    --t.used;
    t.last_id = 0;
}

void* thread_cache_allocator::refill_and_allocate(thread_cache& c, unsigned cls, std::size_t size) noexcept {
    central_list& cl = central_[cls];
    free_object* head = nullptr;
    std::uint32_t n;
    bool carved = false;
    {
        std::lock_guard lock(cl.lock);
        ++cl.counters.batches_fetched;
        n = take_batch(cl, head);
        if (n == 0) carved = (n = carve(cl, cls, cl.batch, head)) != 0;
    }
    if (n == 0) return nullptr;
    if (carved) link_run(head, n, class_size(cls));  // outside the lock: the run is ours alone
    c.bins[cls].head = head->next;
    c.bins[cls].count = n - 1;
    c.add_live(size, 1);
    return head;
}

// One free too many: the newest `batch` objects go back to central in one locked push.
void thread_cache_allocator::return_batch(thread_cache::bin& b, unsigned cls) noexcept {
    central_list& cl = central_[cls];
    free_object* first = b.head;
    free_object* last = first;
    for (std::uint32_t i = 1; i < cl.batch; ++i) last = last->next;
    b.head = last->next;
    b.count -= cl.batch;
    last->next = nullptr;
    std::lock_guard lock(cl.lock);
    first->next_batch = cl.full;
    cl.full = first;
    cl.counters.free_objects += cl.batch;
    ++cl.counters.batches_returned;
}

void* thread_cache_allocator::allocate_uncached(unsigned cls, std::size_t size) noexcept {
    central_list& cl = central_[cls];
    std::lock_guard lock(cl.lock);
    free_object* head = nullptr;
    if (take_batch(cl, head) == 0) {
        if (carve(cl, cls, 1, head) == 0) return nullptr;
        head->next = nullptr;
    }
    for (free_object* o = head->next; o != nullptr;) {  // the rest goes back, loose
        free_object* next = o->next;
        put_one(cl, o);
        o = next;
    }
    shared_requested_.fetch_add(size, std::memory_order_relaxed);
    shared_live_.fetch_add(1, std::memory_order_relaxed);
    return head;
}

void thread_cache_allocator::deallocate_uncached(void* p, unsigned cls, std::size_t size) noexcept {
    central_list& cl = central_[cls];
    std::lock_guard lock(cl.lock);
    put_one(cl, static_cast<free_object*>(p));
    shared_requested_.fetch_sub(size, std::memory_order_relaxed);
    shared_live_.fetch_sub(1, std::memory_order_relaxed);
}

// Lock held. A full batch if there is one, else every loose object; returns the count.
inline std::uint32_t thread_cache_allocator::take_batch(central_list& cl, free_object*& head) noexcept {
    std::uint32_t n = 0;
    if (cl.full != nullptr) {
        head = cl.full;
        cl.full = head->next_batch;
        n = cl.batch;
    } else if (cl.partial != nullptr) {
        head = cl.partial;
        n = cl.partial_count;
        cl.partial = nullptr;
        cl.partial_count = 0;
    }
    cl.counters.free_objects -= n;
    return n;
}

// Lock held. Adds one loose object; a batch's worth of loose objects becomes a full batch.
inline void thread_cache_allocator::put_one(central_list& cl, free_object* o) noexcept {
    o->next = cl.partial;
    cl.partial = o;
    ++cl.counters.free_objects;
    if (++cl.partial_count < cl.batch) return;
    o->next_batch = cl.full;
    cl.full = o;
    cl.partial = nullptr;
    cl.partial_count = 0;
}

// Lock held. Reserves up to `limit` untouched objects from the class's span (a new span if it
// is used up) and returns their count; the caller links them (link_run), touching their pages.
inline std::uint32_t thread_cache_allocator::carve(central_list& cl, unsigned cls, std::uint32_t limit,
                                                   free_object*& head) noexcept {
    const std::size_t size = class_size(cls);
    if (static_cast<std::size_t>(cl.carve_end - cl.carve) < size) {
        const std::size_t bytes = os::round_to_pages(std::max<std::size_t>(64 * 1024, 2 * cl.batch * size));
        std::byte* span = new_span(bytes);  // at most 512 KiB: always fits a fresh segment
        if (span == nullptr) return 0;
        cl.carve = span;
        cl.carve_end = span + bytes;
    }
    const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(limit, (cl.carve_end - cl.carve) / size));
    head = reinterpret_cast<free_object*>(cl.carve);
    cl.carve += n * size;
    cl.counters.objects_carved += n;
    return n;
}

// Links n consecutive objects of `size` bytes starting at head into a null-terminated list.
inline void thread_cache_allocator::link_run(free_object* head, std::uint32_t n, std::size_t size) noexcept {
    auto* o = reinterpret_cast<std::byte*>(head);
    for (std::uint32_t i = 1; i < n; ++i, o += size)
        reinterpret_cast<free_object*>(o)->next = reinterpret_cast<free_object*>(o + size);
    reinterpret_cast<free_object*>(o)->next = nullptr;
}

// A page-aligned span from the current segment, or from a new one (the old tail is dropped).
inline std::byte* thread_cache_allocator::new_span(std::size_t bytes) noexcept {
    std::lock_guard lock(segment_lock_);
    if (static_cast<std::size_t>(segment_end_ - segment_cursor_) < bytes) {
        mapping_header* s = map_region(segment_bytes_);
        if (s == nullptr) return nullptr;
        intrusive::push_front(segments_, s);
        segment_cursor_ = reinterpret_cast<std::byte*>(s) + os::page_size();
        segment_end_ = reinterpret_cast<std::byte*>(s) + segment_bytes_;
    }
    std::byte* span = segment_cursor_;
    segment_cursor_ += bytes;
    return span;
}

inline auto thread_cache_allocator::acquire_cache() noexcept -> thread_cache* {
    std::lock_guard lock(records_lock_);
    thread_cache* c = free_records_;
    if (c != nullptr) {
        free_records_ = c->next_free;
    } else {
        if (static_cast<std::size_t>(slab_end_ - slab_cursor_) < sizeof(thread_cache)) {
            mapping_header* s = map_region(slab_bytes);
            if (s == nullptr) return nullptr;
            intrusive::push_front(slabs_, s);
            slab_cursor_ = reinterpret_cast<std::byte*>(s) + align_up(sizeof(mapping_header), alignof(thread_cache));
            slab_end_ = reinterpret_cast<std::byte*>(s) + slab_bytes;
        }
        c = new (slab_cursor_) thread_cache();
        slab_cursor_ += sizeof(thread_cache);
        c->next_record = records_;
        records_ = c;
        for (unsigned cls = 0; cls < classes; ++cls) c->bins[cls].capacity = 2 * central_[cls].batch;
    }
    ++records_in_use_;
    return c;
}

// The owning thread leaves (exit or eviction): its objects go back to central, loose, and its
// counters are folded into the shared ones so stats() stays exact; the record is kept for reuse.
inline void thread_cache_allocator::release_cache(thread_cache* c) noexcept {
    for (unsigned cls = 0; cls < classes; ++cls) {
        thread_cache::bin& b = c->bins[cls];
        if (b.head == nullptr) continue;
        std::lock_guard lock(central_[cls].lock);
        for (free_object* o = b.head; o != nullptr;) {
            free_object* next = o->next;
            put_one(central_[cls], o);
            o = next;
        }
        b.head = nullptr;
        b.count = 0;
    }
    std::lock_guard lock(records_lock_);
    shared_requested_.fetch_add(c->requested.exchange(0, std::memory_order_relaxed), std::memory_order_relaxed);
    shared_live_.fetch_add(c->live.exchange(0, std::memory_order_relaxed), std::memory_order_relaxed);
    c->next_free = free_records_;
    free_records_ = c;
    --records_in_use_;
}

// Maps `bytes` with a header at the start, counted in stats() until unmap_region.
inline auto thread_cache_allocator::map_region(std::size_t bytes) noexcept -> mapping_header* {
    auto* h = static_cast<mapping_header*>(os::map_pages(bytes));
    if (h == nullptr) return nullptr;
    *h = {nullptr, nullptr, bytes};
    reserved_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    mappings_.fetch_add(1, std::memory_order_relaxed);
    return h;
}

inline void thread_cache_allocator::unmap_region(mapping_header* h) noexcept {
    reserved_bytes_.fetch_sub(h->bytes, std::memory_order_relaxed);
    mappings_.fetch_sub(1, std::memory_order_relaxed);
    os::unmap_pages(h, h->bytes);
}

inline allocator_stats thread_cache_allocator::stats() const noexcept {
    std::uint64_t requested = 0, live = 0;
    {
        std::lock_guard lock(records_lock_);
        for (const thread_cache* c = records_; c != nullptr; c = c->next_record) {
            requested += c->requested.load(std::memory_order_relaxed);
            live += c->live.load(std::memory_order_relaxed);
        }
        requested += shared_requested_.load(std::memory_order_relaxed);
        live += shared_live_.load(std::memory_order_relaxed);
    }
    return {.bytes_requested = requested,
            .bytes_reserved = reserved_bytes_.load(std::memory_order_relaxed),
            .chunks = mappings_.load(std::memory_order_relaxed),
            .blocks = live};
}

inline auto thread_cache_allocator::counters(std::size_t size) const noexcept -> central_counters {
    const central_list& cl = central_[size_class(size)];
    std::lock_guard lock(cl.lock);
    return cl.counters;
}

inline auto thread_cache_allocator::counters() const noexcept -> central_counters {
    central_counters sum;
    for (unsigned cls = 0; cls < classes; ++cls) {
        const central_counters c = counters(class_size(cls));
        sum.batches_fetched += c.batches_fetched;
        sum.batches_returned += c.batches_returned;
        sum.objects_carved += c.objects_carved;
        sum.free_objects += c.free_objects;
    }
    return sum;
}

inline std::uint32_t thread_cache_allocator::cached_objects(std::size_t size) const noexcept {
    const thread_table& t = detail::tc_this_thread;
    for (unsigned i = 0; i < t.used; ++i)
        if (t.entries[i].id == id_) return t.entries[i].cache->bins[size_class(size)].count;
    return 0;
}

inline std::size_t thread_cache_allocator::thread_caches() const noexcept {
    std::lock_guard lock(records_lock_);
    return records_in_use_;
}

// Thread exit: every cache of this thread whose instance is still alive goes back to it. The
// registry lock is held throughout, so no instance can finish its destructor meanwhile.
inline detail::tc_thread_exit_hook::~tc_thread_exit_hook() {
    tc_thread_table& t = tc_this_thread;
    t.exiting = true;
    t.last_id = 0;
    std::lock_guard lock(tc_registry_global.registry.lock);
    for (unsigned i = 0; i < t.used; ++i)
        if (thread_cache_allocator* owner = thread_cache_allocator::live_instance(t.entries[i].id))
            owner->release_cache(t.entries[i].cache);
    t.used = 0;
}

}  // namespace allocmeter
