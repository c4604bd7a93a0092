// What every workload shares: its configuration, the per-thread meter (operations, live
// bytes, operation checksum), the tracked heap through which workloads call an allocator,
// and the runner that starts the worker threads together and times them.
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "allocators/adapter.hpp"
#include "workloads/latency.hpp"
#include "workloads/rng.hpp"

namespace allocmeter {

/// How big a run is: `quick` for smoke tests, `standard` (spelled "default"), `full`.
enum class scale { quick, standard, full };

inline std::string_view to_string(scale s) {
    switch (s) {
        case scale::quick: return "quick";
        case scale::standard: return "default";
        case scale::full: return "full";
    }
    return "?";
}

inline std::optional<scale> parse_scale(std::string_view s) {
    if (s == "quick") return scale::quick;
    if (s == "default") return scale::standard;
    if (s == "full") return scale::full;
    return std::nullopt;
}

/// Picks the value for a scale: pick(s, quick, default, full).
constexpr std::uint64_t pick(scale s, std::uint64_t quick, std::uint64_t standard, std::uint64_t full) {
    return s == scale::quick ? quick : s == scale::standard ? standard : full;
}

/// Everything that determines a workload's operation stream.
struct workload_config {
    scale size = scale::standard;  ///< operation counts
    std::uint64_t seed = 1;        ///< PRNG seed; thread i draws stream i
    unsigned threads = 1;          ///< worker threads
    std::uint64_t latency_every = 64;  ///< time one allocation or free in this many (a power of two); 0: none
};

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

/// One documented workload parameter, for `allocmeter list` and the README.
struct workload_param {
    std::string_view name;
    std::uint64_t value;
    std::string_view meaning;
};

/// A block a workload holds: where it is and what was asked for (for the sized free).
struct block {
    void* p;
    std::uint32_t size;
    std::uint32_t align;
};

/// A vector with a capacity fixed before the timed region, so workloads never allocate
/// bookkeeping memory from the allocator under test while they are timed.
template <class T>
class fixed_vector {
public:
    explicit fixed_vector(std::size_t capacity) : data_(new T[capacity]), capacity_(capacity) {}
    void push_back(const T& v) noexcept {
        if (size_ == capacity_) [[unlikely]] overflow();
        data_[size_++] = v;
    }
    T& operator[](std::size_t i) noexcept { return data_[i]; }
    const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    T& back() noexcept { return data_[size_ - 1]; }
    void pop_back() noexcept { --size_; }
    void clear() noexcept { size_ = 0; }
    T* begin() noexcept { return data_.get(); }
    T* end() noexcept { return data_.get() + size_; }

private:
    [[noreturn, gnu::noinline]] static void overflow() {
        std::fputs("allocmeter: internal error: a workload outgrew its preallocated table\n", stderr);
        std::abort();
    }
    std::unique_ptr<T[]> data_;
    std::size_t capacity_;
    std::size_t size_ = 0;
};

/// The start value of an operation checksum.
inline constexpr std::uint64_t operation_hash_seed = 0x6a09e667f3bcc909ULL;

/// Folds one operation (kind, size, alignment; never an address) into a checksum.
constexpr std::uint64_t mix_operation(std::uint64_t hash, std::uint64_t kind, std::size_t size, std::size_t align) noexcept {
    const std::uint64_t v = kind | (static_cast<std::uint64_t>(size) << 8) |
                            (static_cast<std::uint64_t>(std::countr_zero(align)) << 56);
    return std::rotl(hash ^ v, 23) * 0x9e3779b97f4a7c15ULL;
}

/// Live bytes summed across threads (a sampler reads it too). Threads fold their changes in
/// batches, so the peak is exact to within threads x op_meter::flush_bytes.
struct live_board {
    alignas(64) std::atomic<std::int64_t> live{0};
    alignas(64) std::atomic<std::int64_t> peak{0};

    void add(std::int64_t delta) noexcept {
        const std::int64_t now = live.fetch_add(delta, std::memory_order_relaxed) + delta;
        std::int64_t seen = peak.load(std::memory_order_relaxed);
        while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
        }
    }
};

/// Requested bytes live on one thread and their peak; with a board, changes are folded into
/// the cross-thread total in batches of flush_bytes.
class live_meter {
public:
    static constexpr std::int64_t flush_bytes = 64 * 1024;

    explicit live_meter(live_board* board) noexcept : board_(board) {}

    void change(std::int64_t delta) noexcept {
        live_ += delta;
        if (live_ > peak_) peak_ = live_;
        if (board_ != nullptr) {
            pending_ += delta;
            if (pending_ >= flush_bytes || pending_ <= -flush_bytes) flush();
        }
    }
    /// Folds pending bytes into the shared board.
    void flush() noexcept {
        if (board_ != nullptr && pending_ != 0) board_->add(pending_);
        pending_ = 0;
    }
    std::int64_t peak() const noexcept { return peak_; }

private:
    live_board* board_;
    std::int64_t live_ = 0;
    std::int64_t peak_ = 0;
    std::int64_t pending_ = 0;
};

/// Per-thread counters: operations, requested bytes live (and their peak), and a checksum
/// of the operation stream (kind, size, alignment; never addresses) that is the same on
/// every allocator for the same seed.
class op_meter {
public:
    static constexpr std::int64_t flush_bytes = live_meter::flush_bytes;

    explicit op_meter(live_board* board, std::uint64_t latency_every = 0, std::uint64_t latency_phase = 0)
        : latency(latency_every, latency_phase), live_(board) {}

    latency_recorder latency;  ///< which operations to time, and their histograms

    /// An allocation of `size` bytes succeeded.
    void allocated(std::size_t size, std::size_t align) noexcept {
        ++ops_;
        mix(1, size, align);
        live_.change(static_cast<std::int64_t>(size));
    }
    /// An object died here: freed, or retired until a reset (one operation either way).
    void died(std::size_t size, std::size_t align) noexcept {
        ++ops_;
        mix(2, size, align);
        live_.change(-static_cast<std::int64_t>(size));
    }
    /// An object was handed to another thread to free: the operation is this thread's,
    /// the bytes stay live until the other thread calls released().
    void handed_off(std::size_t size, std::size_t align) noexcept {
        ++ops_;
        mix(3, size, align);
    }
    /// Another thread's object was freed here.
    void released(std::size_t size) noexcept { live_.change(-static_cast<std::int64_t>(size)); }

    /// Folds pending bytes into the shared board.
    void flush() noexcept { live_.flush(); }

    std::uint64_t ops() const noexcept { return ops_; }
    std::uint64_t checksum() const noexcept { return hash_; }
    std::int64_t peak_live() const noexcept { return live_.peak(); }

private:
    void mix(std::uint64_t kind, std::size_t size, std::size_t align) noexcept {
        hash_ = mix_operation(hash_, kind, size, align);
    }

    live_meter live_;
    std::uint64_t ops_ = 0;
    std::uint64_t hash_ = operation_hash_seed;
};

/// Called when an allocator returns nullptr: the cell cannot go on. Cells run in their own
/// process, so the message on stderr becomes the cell's failure reason.
[[noreturn, gnu::noinline, gnu::cold]] inline void allocation_failed(std::size_t size, std::size_t align) {
    std::fprintf(stderr, "allocation of %zu bytes (alignment %zu) returned nullptr\n", size, align);
    std::fflush(stderr);
    std::_Exit(70);
}

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

/// a.allocate(), timed when the latency sampler says so.
template <allocator A>
inline void* timed_allocate(A& a, latency_recorder& latency, std::size_t size, std::size_t align) {
    if (!latency.alloc_due()) [[likely]] return a.allocate(size, align);
    const std::uint64_t t0 = read_ticks();
    void* p = a.allocate(size, align);
    latency.record_alloc(read_ticks() - t0);
    return p;
}

/// a.deallocate(), timed when the latency sampler says so.
template <allocator A>
inline void timed_deallocate(A& a, latency_recorder& latency, void* p, std::size_t size, std::size_t align) noexcept {
    if (!latency.free_due()) [[likely]] return a.deallocate(p, size, align);
    const std::uint64_t t0 = read_ticks();
    a.deallocate(p, size, align);
    latency.record_free(read_ticks() - t0);
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

/// Which of every `latency_every` operations thread `index` times: from the seed, but not from
/// the thread's operation stream, which timing must not change.
constexpr std::uint64_t latency_phase(std::uint64_t seed, unsigned index) noexcept {
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (index + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// Start and finish lines shared by the runner and its worker threads. Each worker reads the
/// clock itself as it passes each line, so the timed span (first start to last finish) holds
/// none of the latency of waking threads at either end.
struct start_gate {
    std::atomic<unsigned> ready{0};
    std::atomic<bool> go{false};
    std::atomic<unsigned> done{0};
    std::atomic<std::int64_t> first_start{std::numeric_limits<std::int64_t>::max()};  ///< steady clock, ns
    std::atomic<std::int64_t> last_finish{std::numeric_limits<std::int64_t>::min()};

    /// Worker: set-up done; waits for the gate to open and notes when this thread started.
    void arrive_and_wait() noexcept {
        ready.fetch_add(1, std::memory_order_acq_rel);
        ready.notify_all();
        go.wait(false, std::memory_order_acquire);
        const std::int64_t t = now_ns();
        for (std::int64_t seen = first_start.load(std::memory_order_relaxed);
             t < seen && !first_start.compare_exchange_weak(seen, t, std::memory_order_relaxed);) {
        }
    }
    /// Worker: timed work done (teardown after this is not timed).
    void finish() noexcept {
        const std::int64_t t = now_ns();
        for (std::int64_t seen = last_finish.load(std::memory_order_relaxed);
             t > seen && !last_finish.compare_exchange_weak(seen, t, std::memory_order_relaxed);) {
        }
        done.fetch_add(1, std::memory_order_acq_rel);
        done.notify_all();
    }
    /// Runner: the span from the first worker's start to the last one's finish, in seconds.
    double span_s() const noexcept {
        return static_cast<double>(last_finish.load() - first_start.load()) * 1e-9;
    }

private:
    static std::int64_t now_ns() noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
};

/// A worker thread's view of the run.
struct thread_context {
    thread_context(unsigned i, const workload_config& c, live_board* board, start_gate& g)
        : index(i), config(c), random(c.seed, i), meter(board, c.latency_every, latency_phase(c.seed, i)), gate(g) {}

    unsigned index;                ///< 0 .. threads-1
    const workload_config& config;
    rng random;                    ///< this thread's stream
    op_meter meter;
    allocator_stats stats{};       ///< summed from the instances this thread used
    bool has_stats = false;

    /// Set-up done: waits for every other worker, then the timed region begins.
    void start() noexcept { gate.arrive_and_wait(); }
    /// Timed work done (teardown after this is not timed).
    void stop() noexcept {
        meter.flush();
        gate.finish();
    }
    /// Adds an instance's own counters to the cell's allocator stats.
    template <allocator A>
    void add_stats(const A& a) noexcept {
        if constexpr (reports_stats<A>) {
            const allocator_stats s = a.stats();
            stats.bytes_requested += s.bytes_requested;
            stats.bytes_reserved += s.bytes_reserved;
            stats.chunks += s.chunks;
            stats.blocks += s.blocks;
            has_stats = true;
        }
    }

private:
    start_gate& gate;
};

/// Called by the runner at the edges of the timed region (the harness reads rusage there).
/// `live` is the workers' shared count of live requested bytes, which they fold in every
/// live_meter::flush_bytes, for a sampler to read during the region.
class timed_region {
public:
    virtual ~timed_region() = default;
    virtual void begin(const live_board& live) = 0;
    virtual void end() = 0;
};

/// Runner: waits for `n` workers to arrive, opens the gate between region->begin() and
/// region->end(), and waits for all of them to finish. Returns the gate's span.
inline double run_gate(start_gate& gate, unsigned n, timed_region* region, const live_board& live) {
    for (unsigned r; (r = gate.ready.load(std::memory_order_acquire)) < n;) gate.ready.wait(r);
    if (region != nullptr) region->begin(live);
    gate.go.store(true, std::memory_order_release);
    gate.go.notify_all();
    for (unsigned d; (d = gate.done.load(std::memory_order_acquire)) < n;) gate.done.wait(d);
    if (region != nullptr) region->end();
    return gate.span_s();
}

/// What one run of a workload produced.
struct workload_result {
    double wall_s = 0;                 ///< from the first worker's start to the last one's stop()
    std::uint64_t ops = 0;             ///< operations, all threads
    std::uint64_t checksum = 0;        ///< sum of the per-thread operation checksums
    std::int64_t peak_live_bytes = 0;  ///< peak requested bytes live (see live_board)
    std::optional<allocator_stats> stats;  ///< the allocator's own counters, where it keeps them
    latency_histogram alloc_ticks, free_ticks;  ///< sampled latencies, all threads (config.latency_every)
};

/// Runs workload W on allocator A: one worker per thread, released together; times the span
/// from the first worker's start to the last one's stop().
template <class W, allocator A>
workload_result run_workload(const workload_config& config, timed_region* region = nullptr) {
    const unsigned n = config.threads == 0 ? 1 : config.threads;
    typename W::template shared_state<A> shared(config);
    live_board board;
    start_gate gate;
    std::vector<std::unique_ptr<thread_context>> contexts;
    for (unsigned i = 0; i < n; ++i)
        contexts.push_back(std::make_unique<thread_context>(i, config, &board, gate));

    std::vector<std::thread> workers;
    for (unsigned i = 0; i < n; ++i)
        workers.emplace_back([&, i] { W::template run_thread<A>(*contexts[i], shared); });

    const double wall_s = run_gate(gate, n, region, board);
    for (auto& w : workers) w.join();
    if constexpr (requires { shared.heap; }) contexts[0]->add_stats(shared.heap);

    workload_result r;
    r.wall_s = wall_s;
    allocator_stats total{};
    bool any_stats = false;
    for (const auto& c : contexts) {
        if (c->meter.latency.enabled()) {
            r.alloc_ticks.merge(c->meter.latency.allocs());
            r.free_ticks.merge(c->meter.latency.frees());
        }
        r.ops += c->meter.ops();
        r.checksum += c->meter.checksum();
        total.bytes_requested += c->stats.bytes_requested;
        total.bytes_reserved += c->stats.bytes_reserved;
        total.chunks += c->stats.chunks;
        total.blocks += c->stats.blocks;
        any_stats = any_stats || c->has_stats;
    }
    r.peak_live_bytes = n > 1 ? board.peak.load() : contexts[0]->meter.peak_live();
    if (any_stats) r.stats = total;
    return r;
}

}  // namespace allocmeter
