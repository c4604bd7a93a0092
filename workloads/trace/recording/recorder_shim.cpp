// recorder_shim: an LD_PRELOAD library that records every allocation call of a program into a
// spool file: per-thread blocks of raw records, which `allocmeter record` converts into an
// allocmeter trace once the program has exited (docs/trace-format.md, "The recorder").
//
//   LD_PRELOAD=liballocmeter_recorder.so ALLOCMETER_SPOOL=app.trace.spool [ALLOCMETER_TIMESTAMPS=1]
//     [ALLOCMETER_ORDER=counter] ./app
//
// Without ALLOCMETER_SPOOL nothing is recorded and every call is forwarded.
//
// How it works
// - The real functions come from dlsym(RTLD_NEXT, ...). dlsym itself may call calloc/malloc;
//   while it runs, those calls are served from a static bootstrap buffer that is never handed
//   to the real free.
// - A thread_local recursion guard: a call made while this thread is already inside the shim
//   (registering the thread-exit hook, the C++ runtime's operator new calling malloc, a signal
//   handler that allocates, ...) goes straight to the real function and is not recorded.
// - No global lock, and no shared write per event. Each thread appends raw records
//   (trace_spool.hpp: an opcode byte, then varint deltas of key, time and address, then the
//   call's arguments) to its own 64 KiB buffer, mapped with mmap, never malloc'd.
// - Each record carries an ordering key, read after an allocating call returns and before a
//   releasing call is made, so that an address freed by one thread and reused by another, or a
//   block allocated by one thread and freed by another, has its two events in key order.
//   realloc reads one key before the real call (the release point of the old address) and one
//   after (the allocation point of the result) and holds nothing across the call; the
//   converter puts the trace's realloc event at the second key.
// - From the second recorded thread on, the key is the TSC (rdtsc), on a host whose TSC is
//   invariant (take_key(): why no lfence, order_source_for_this_host(): when, use_tsc_keys():
//   the switch). Reading it writes nothing shared: two threads that allocate never touch a
//   common cache line. A thread's keys are made strictly increasing. While one thread records,
//   the key is the global counter, which costs less than rdtsc when no other core writes it;
//   on such a host only that thread ever takes a counter key, so it increments the counter
//   with a plain load and store, no locked instruction (take_key()).
//   Ties and small disagreements between cores are the converter's: it lets a record that comes
//   too early wait for the other thread's record on the same address (trace_spool.cpp, "TSC
//   keys"). Elsewhere, or with ALLOCMETER_ORDER=counter, the key stays the global counter, taken
//   with fetch_add: exact, but one cache line written by every thread on every event (at 2
//   threads on an allocation loop it made recording about 2.7 times slower than the program).
// - Addresses are not turned into ids here, and nothing is encoded into the trace format on the
//   program's threads: the converter (trace_spool.cpp) merges the threads' streams by key and
//   gives each address the smallest id not live, after the program has exited.
// - A full buffer becomes one framed, checksummed block, written with ONE write() call to ONE
//   spool descriptor opened O_APPEND. One file rather than one per thread: a single open() at
//   start (none per thread, no descriptor per thread for programs that start thousands), one
//   file to convert and delete; O_APPEND places each write() whole at the end of a regular
//   file, so blocks of different threads never interleave, and at 64 KiB per write the file's
//   lock is taken once per ~10,000 events.
// - A buffer's busy flag is a handshake that only its owner and the exit flush use (begin()):
//   the owner sets it, then checks that recording still runs, and clears it after appending; no
//   thread ever waits on another thread's buffer while the program runs. The barrier that such a
//   handshake needs is paid by the exit flush (membarrier), not by each event, where the kernel
//   allows it.
// - Threads: a thread's first recorded event takes a buffer (a free one left by an exited
//   thread, else a new mapping, added to a registry that is only pushed to) and a new spool
//   key, announces itself with a block of no records (announce(): one small write() per thread,
//   so that a converter reading the spool while the program runs knows every thread that may
//   still take a key below those it converts), and records thread_start (parent: the thread that
//   called pthread_create, through our trampoline). A thread-exit hook, registered the way thread_local destructors are, records
//   thread_exit, writes the thread's last block and frees the buffer; the thread's later calls
//   (other thread_local destructors) are forwarded unrecorded, and an object they free stays
//   live in the trace.
// - Exit (a destructor function): recording stops first (stop_recording(): the recording flag is
//   cleared, then every thread is made to pass a full barrier), which refuses every append that
//   begins later; then every registered buffer is written, each after its owner (a thread still
//   running) has finished the append it was in. The trace holds exactly the events whose append
//   began before the stop (but a realloc caught between its two keys, which is then not recorded
//   at all). A program that is killed or calls _exit leaves the blocks written so far; record
//   converts those and says the trace may be incomplete.
// - Conversion runs in `allocmeter record`, while the program runs and after it exits, not in
//   the program: the program's exit is not slowed by the merge and zstd, the converter's tables never enter the recorded heap, it
//   cannot race threads that outlive exit, and a killed program's blocks are still converted.
// - fork: the child is NOT traced. Its atfork handler stops recording in the child and closes
//   the child's copy of the spool descriptor; its copies of the buffers are discarded, never
//   written, so nothing of the child reaches the parent's spool. The spool is created O_EXCL
//   with the creator's pid in its header: another process that inherits the environment (a
//   fork child that execs) finds it taken and is not traced; the recorded process itself, after
//   an exec, appends a new header, where the converter starts over, so the trace is of the
//   program it became (claim_spool()).
// - ALLOCMETER_TIMESTAMPS=1 (record --timestamps): each record also carries CLOCK_MONOTONIC in
//   ns, read right after its key (clock_gettime is a vDSO call: no system call).
// - Failed calls are recorded with address 0 (id 0 in the trace). Sizes, counts and alignments
//   are recorded as requested; the converter clamps those above 2^48. A free of an address the
//   recording never saw allocated (allocated before recording started) is dropped by the converter.

#include "workloads/trace/recording/trace_spool.hpp"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

// glibc's registration of thread_local destructors (what the C++ runtime calls), and this DSO.
extern "C" int __cxa_thread_atexit_impl(void (*fn)(void*), void* arg, void* dso);
extern "C" void* __dso_handle;

namespace {

namespace tr = allocmeter::trace;

#define AM_TLS __attribute__((tls_model("initial-exec")))

// ---- real functions --------------------------------------------------------------------------

using malloc_fn = void* (*)(std::size_t);
using calloc_fn = void* (*)(std::size_t, std::size_t);
using realloc_fn = void* (*)(void*, std::size_t);
using free_fn = void (*)(void*);
using posix_memalign_fn = int (*)(void**, std::size_t, std::size_t);
using aligned_alloc_fn = void* (*)(std::size_t, std::size_t);
using valloc_fn = void* (*)(std::size_t);
using new_fn = void* (*)(std::size_t);
using new_nt_fn = void* (*)(std::size_t, const std::nothrow_t&);
using new_al_fn = void* (*)(std::size_t, std::align_val_t);
using new_al_nt_fn = void* (*)(std::size_t, std::align_val_t, const std::nothrow_t&);
using del_fn = void (*)(void*);
using del_nt_fn = void (*)(void*, const std::nothrow_t&);
using del_sz_fn = void (*)(void*, std::size_t);
using del_al_fn = void (*)(void*, std::align_val_t);
using del_al_nt_fn = void (*)(void*, std::align_val_t, const std::nothrow_t&);
using del_sz_al_fn = void (*)(void*, std::size_t, std::align_val_t);
using pthread_create_fn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

struct real_functions {
    malloc_fn malloc;
    calloc_fn calloc;
    realloc_fn realloc;
    free_fn free;
    posix_memalign_fn posix_memalign;
    aligned_alloc_fn aligned_alloc;
    aligned_alloc_fn memalign;
    valloc_fn valloc;
    valloc_fn pvalloc;
    new_fn new_, new_arr;
    new_nt_fn new_nt, new_arr_nt;
    new_al_fn new_al, new_arr_al;
    new_al_nt_fn new_al_nt, new_arr_al_nt;
    del_fn del, del_arr;
    del_nt_fn del_nt, del_arr_nt;
    del_sz_fn del_sz, del_arr_sz;
    del_al_fn del_al, del_arr_al;
    del_al_nt_fn del_al_nt, del_arr_al_nt;
    del_sz_al_fn del_sz_al, del_arr_sz_al;
    pthread_create_fn pthread_create;
};

real_functions real;
std::atomic<int> resolve_state{0};  // 0 not yet, 1 resolving, 2 done
AM_TLS thread_local bool resolving_here = false;

// Bootstrap buffer for allocations made while dlsym runs. Each block has a 16-byte header
// holding its size, so realloc can copy out of it. Never freed.
alignas(64) unsigned char bootstrap_buf[64 * 1024];
std::atomic<std::size_t> bootstrap_used{0};

bool in_bootstrap(const void* p) {
    auto* c = static_cast<const unsigned char*>(p);
    return c >= bootstrap_buf && c < bootstrap_buf + sizeof bootstrap_buf;
}

void* bootstrap_alloc(std::size_t size, std::size_t align = 16) {
    if (align < 16) align = 16;
    std::size_t need = (size + 15) / 16 * 16 + align;
    std::size_t off = bootstrap_used.fetch_add(need);
    if (off + need > sizeof bootstrap_buf) return nullptr;
    std::uintptr_t base = reinterpret_cast<std::uintptr_t>(bootstrap_buf + off) + 16;
    base = (base + align - 1) / align * align;
    std::memcpy(reinterpret_cast<void*>(base - sizeof(std::size_t)), &size, sizeof size);
    return reinterpret_cast<void*>(base);  // memory is zero: static storage, never reused
}

std::size_t bootstrap_size(const void* p) {
    std::size_t s;
    std::memcpy(&s, static_cast<const unsigned char*>(p) - sizeof s, sizeof s);
    return s;
}

template <class F>
void sym(F& f, const char* name) {
    f = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

void resolve() {
    int expected = 0;
    if (!resolve_state.compare_exchange_strong(expected, 1)) {
        while (resolve_state.load(std::memory_order_acquire) != 2) {
            if (resolving_here) return;  // dlsym re-entered us: callers use the bootstrap buffer
        }
        return;
    }
    resolving_here = true;
    real_functions r{};
    sym(r.malloc, "malloc");
    sym(r.calloc, "calloc");
    sym(r.realloc, "realloc");
    sym(r.free, "free");
    sym(r.posix_memalign, "posix_memalign");
    sym(r.aligned_alloc, "aligned_alloc");
    sym(r.memalign, "memalign");
    sym(r.valloc, "valloc");
    sym(r.pvalloc, "pvalloc");
    sym(r.new_, "_Znwm");
    sym(r.new_arr, "_Znam");
    sym(r.new_nt, "_ZnwmRKSt9nothrow_t");
    sym(r.new_arr_nt, "_ZnamRKSt9nothrow_t");
    sym(r.new_al, "_ZnwmSt11align_val_t");
    sym(r.new_arr_al, "_ZnamSt11align_val_t");
    sym(r.new_al_nt, "_ZnwmSt11align_val_tRKSt9nothrow_t");
    sym(r.new_arr_al_nt, "_ZnamSt11align_val_tRKSt9nothrow_t");
    sym(r.del, "_ZdlPv");
    sym(r.del_arr, "_ZdaPv");
    sym(r.del_nt, "_ZdlPvRKSt9nothrow_t");
    sym(r.del_arr_nt, "_ZdaPvRKSt9nothrow_t");
    sym(r.del_sz, "_ZdlPvm");
    sym(r.del_arr_sz, "_ZdaPvm");
    sym(r.del_al, "_ZdlPvSt11align_val_t");
    sym(r.del_arr_al, "_ZdaPvSt11align_val_t");
    sym(r.del_al_nt, "_ZdlPvSt11align_val_tRKSt9nothrow_t");
    sym(r.del_arr_al_nt, "_ZdaPvSt11align_val_tRKSt9nothrow_t");
    sym(r.del_sz_al, "_ZdlPvmSt11align_val_t");
    sym(r.del_arr_sz_al, "_ZdaPvmSt11align_val_t");
    sym(r.pthread_create, "pthread_create");
    real = r;
    resolving_here = false;
    resolve_state.store(2, std::memory_order_release);
}

inline bool ready() {
    if (resolve_state.load(std::memory_order_acquire) == 2) [[likely]]
        return true;
    resolve();
    return resolve_state.load(std::memory_order_acquire) == 2;
}

// ---- recursion guard -------------------------------------------------------------------------

AM_TLS thread_local int depth = 0;

struct guard {
    guard() { ++depth; }
    ~guard() { --depth; }
    guard(const guard&) = delete;
    guard& operator=(const guard&) = delete;
};

// ---- the spool and the per-thread buffers ----------------------------------------------------

// Where the ordering keys come from (chosen once, at start; see order_source_for_this_host()).
enum class order_source : std::uint8_t {
    counter,  // one global counter: exact, but one shared cache line written by every event
    tsc,      // the invariant TSC, read on each thread's own core
};

// What every call reads and only start and stop write: one cache line, which every core keeps a
// shared copy of while the program runs (nothing written per event lives on it).
struct alignas(64) recorder_settings {
    std::atomic<bool> recording{false};  // appends allowed: set at start, cleared at exit (and by a failed write)
    bool timestamps = false;             // records carry CLOCK_MONOTONIC
    order_source host_order = order_source::counter;  // what this host allows (order_source_for_this_host())
    // The keys in use: the counter while one thread records (it costs less than rdtsc when
    // nobody shares its line, and its deltas take a byte), the TSC from the second thread on
    // (use_tsc_keys()), where the host allows it. Written once; every event reads it.
    std::atomic<order_source> order{order_source::counter};
    std::uint64_t tsc_offset = 0;  // added to every TSC key: above every counter key (use_tsc_keys())
    bool asymmetric = false;  // membarrier registered: begin() needs only a compiler barrier (see begin())
};
recorder_settings settings;
int spool_fd = -1;

// The global counter (the keys while one thread records, or on a host without TSC keys), alone
// on its cache line.
alignas(64) std::atomic<std::uint64_t> next_seq{0};
alignas(64) std::atomic<std::uint32_t> next_key{0};  // spool keys: one per recorded thread

constexpr std::size_t block_bytes = 64 * 1024;  // header + payload: one write()
constexpr std::size_t payload_limit = block_bytes - tr::spool_block_header_bytes - tr::spool_max_record_bytes;

enum : int { buffer_owned = 0, buffer_free = 1 };

// One thread's records not yet written. Lives in its own mapping and is never unmapped (the
// exit flush walks every buffer ever made); a free one is reused by the next new thread.
struct thread_buffer {
    std::atomic<int> busy{0};             // owner inside an append (see begin())
    std::atomic<int> state{buffer_owned};  // buffer_free once its thread exited and it is written
    thread_buffer* next = nullptr;        // registry link, fixed before the buffer is published
    std::uint32_t key = 0;                // the owning thread's spool key
    std::uint64_t last_key = 0;           // the owner's last ordering key (TSC: each key is above it)
    tr::spool_block_state block;          // delta bases and count of the block being filled
    unsigned char* cur = nullptr;         // end of the payload so far
    alignas(64) unsigned char bytes[block_bytes];  // block header, then payload
};

std::atomic<thread_buffer*> buffers{nullptr};  // registry of every buffer: pushed to, never popped

unsigned char* payload(thread_buffer& b) { return b.bytes + tr::spool_block_header_bytes; }

AM_TLS thread_local thread_buffer* my_buffer = nullptr;
AM_TLS thread_local bool my_exited = false;     // thread_exit recorded (or the thread cannot be recorded)
AM_TLS thread_local std::uint32_t my_parent = 0;  // creating thread's key + 1, set by our trampoline

inline std::uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no system call
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Refuses every append that begins from now on; an append that began before is seen busy by a
// load of its buffer's flag made after this returns (the other half of begin()'s handshake).
void stop_recording() {
    settings.recording.store(false, std::memory_order_relaxed);
    // A full barrier on every thread of the process: each either has its busy store visible to
    // us now, or will load `recording` after the barrier and see false.
    if (settings.asymmetric && syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with begin()'s fence (set when not asymmetric)
}

// Writes b's records as one block (one write() call) and starts a new block. The caller is
// b's owner inside an append, or the exit flush after the owner left its append. A failed or
// short write (disk full) stops recording; a torn block is reported by the converter.
void write_block(thread_buffer& b) {
    if (b.block.count == 0) return;
    const int saved_errno = errno;  // the program's errno is the real call's
    const auto n = static_cast<std::uint32_t>(b.cur - payload(b));
    tr::finish_spool_block(b.bytes, b.key, b.block, n);
    const std::size_t len = tr::spool_block_header_bytes + n;
    ssize_t w;
    do {
        w = ::write(spool_fd, b.bytes, len);
    } while (w < 0 && errno == EINTR);
    if (w != static_cast<ssize_t>(len)) stop_recording();
    b.block = {};
    b.cur = payload(b);
    errno = saved_errno;
}

// The event's ordering key. TSC: at least one above this thread's last key, so a thread's keys
// strictly increase (a thread moved to a core whose TSC is a little behind keeps its order; the
// converter repairs what such skew does across threads). Counter: unique and exact.
//
// No lfence around the rdtsc, on purpose: it costs as much as the rest of the recording (it
// waits for the real call's loads to complete). What it would buy: an allocation's key is read
// after the loads that saw the block released by another thread, and a free's key after the
// load that received the pointer from another thread. Unfenced, the rdtsc may execute early,
// but only by as long as those loads are still in flight (it never passes a retired instruction,
// and an interrupt or fault squashes it), which is far below the converter's repair window
// (spool_reorder_window). In the other direction nothing can go wrong: a key taken before a
// call is read before the call's stores are made visible (stores become visible after they
// retire, and they retire after the rdtsc), so the next owner of the block, or of the pointer,
// sees the block only after our key was read.
[[gnu::always_inline]] inline std::uint64_t take_key(thread_buffer& b) {
    std::uint64_t k;
#if defined(__x86_64__)
    if (settings.order.load(std::memory_order_acquire) == order_source::tsc) {
        asm volatile("" ::: "memory");  // the compiler keeps the key between the calls it separates
        k = __builtin_ia32_rdtsc() + settings.tsc_offset;
        asm volatile("" ::: "memory");
        if (k <= b.last_key) k = b.last_key + 1;
        b.last_key = k;
        return k;
    }
    if (settings.host_order == order_source::tsc) {
        // The first thread to record, alone: every other thread switches to the TSC before its
        // first key (use_tsc_keys()), and only reads the counter, once. A locked add here cost
        // about a tenth of a single-threaded program's time under the recorder.
        k = next_seq.load(std::memory_order_relaxed);
        next_seq.store(k + 1, std::memory_order_relaxed);
        b.last_key = k;
        return k;
    }
#endif
    k = next_seq.fetch_add(1, std::memory_order_relaxed);
    b.last_key = k;
    return k;
}

// A second thread records: from now on the keys are TSC readings, where the host allows them.
// Why switching while threads run is safe: every TSC key is above every counter key taken
// before the switch (tsc_offset is the counter's value then, and the TSC only adds to it), and
// a thread that takes a counter key after the switch has not yet seen it, so (read-read
// coherence of `order`) that event is not after, in the program's order, any event keyed with
// the TSC: it is unordered with them, or before them.
__attribute__((noinline)) void use_tsc_keys() {
    if (settings.host_order != order_source::tsc) return;
    static std::atomic<bool> switching{false};
    if (switching.exchange(true, std::memory_order_relaxed)) {
        // Another thread switches: wait the two stores it takes, so that this thread never
        // takes a counter key (the first thread increments the counter without a lock).
        while (settings.order.load(std::memory_order_acquire) != order_source::tsc) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        }
        return;
    }
    settings.tsc_offset = next_seq.load(std::memory_order_relaxed) + 1;
    settings.order.store(order_source::tsc, std::memory_order_release);  // publishes tsc_offset
}

// Begins an append to b: enter() sets busy and checks that recording still runs, then begin()
// takes the key; false (and nothing may be appended) when recording has stopped. Why this needs neither a
// lock nor a shared write: it is a Dekker handshake with stop_recording(). Here: store busy,
// full barrier, load recording. There: store recording = false, full barrier, load each busy
// (the exit flush, which waits while it is set). With a barrier between each store and the
// load after it, at least one side sees the other's store: either we see the stop and never
// touch the buffer, or the flush sees busy and waits for our end() (release; its load of busy
// acquires, so it then reads the records we appended). The barrier here is the expensive half,
// so it is moved to the stopping side when the kernel can: membarrier(PRIVATE_EXPEDITED) makes
// every running thread of the process execute a full barrier (a thread that is not running has
// passed one in its context switch), and then a compiler barrier suffices here: our store and
// load are then both before or both after the point where our thread executed that barrier.
[[gnu::always_inline]] inline bool enter(thread_buffer& b) {
    b.busy.store(1, std::memory_order_relaxed);
    if (settings.asymmetric) [[likely]]
        std::atomic_signal_fence(std::memory_order_seq_cst);
    else
        std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!settings.recording.load(std::memory_order_relaxed)) [[unlikely]] {
        b.busy.store(0, std::memory_order_release);
        return false;
    }
    return true;
}

[[gnu::always_inline]] inline bool begin(thread_buffer& b, std::uint64_t& key) {
    if (!enter(b)) return false;
    key = take_key(b);
    return true;
}

inline void end(thread_buffer& b) { b.busy.store(0, std::memory_order_release); }

// Appends r (its key taken by begin()) and ends the append. A buffer with no room left for
// the largest record is written at once, so the next append always fits.
[[gnu::always_inline]] inline void commit(thread_buffer& b, const tr::spool_record& r) {
    b.cur = tr::encode_spool_record(b.cur, b.block, r, settings.timestamps);
    if (static_cast<std::size_t>(b.cur - payload(b)) > payload_limit) [[unlikely]]
        write_block(b);
    end(b);
}

// Runs at thread exit (registered by start_thread, like a thread_local destructor): records
// thread_exit, writes the thread's last block and frees its buffer. The thread's later calls
// (other TLS destructors) are forwarded unrecorded.
void on_thread_exit(void*) {
    guard g;
    thread_buffer* b = my_buffer;
    if (b != nullptr && !my_exited) {
        tr::spool_record r;
        r.kind = tr::op::thread_exit;
        if (begin(*b, r.seq)) {
            if (settings.timestamps) r.time_ns = now_ns();
            b->cur = tr::encode_spool_record(b->cur, b->block, r, settings.timestamps);
            write_block(*b);  // the thread's last block, whatever its size
            end(*b);
            // Free for the next thread only once written. When recording has stopped, the
            // exit flush may still have to write this buffer: it is then not reused.
            b->state.store(buffer_free, std::memory_order_release);
        }
    }
    my_exited = true;
    my_buffer = nullptr;
}

// A lower bound of the keys this thread takes from now on: the TSC or the counter as it is now.
inline std::uint64_t key_floor() {
#if defined(__x86_64__)
    if (settings.order.load(std::memory_order_acquire) == order_source::tsc)
        return __builtin_ia32_rdtsc() + settings.tsc_offset;
#endif
    return next_seq.load(std::memory_order_relaxed);
}

// Writes a block of no records for b's new thread, before it takes its first key: the thread
// exists, and its keys are at least the block's base key. A converter that follows the spool
// while the program runs (trace_spool.hpp, spool_converter) then knows every thread that may
// still write a key below the ones it converts; a thread not announced when it reads the file
// takes all its keys after that.
void announce(thread_buffer& b) {
    if (!enter(b)) return;
    const int saved_errno = errno;
    unsigned char block[tr::spool_block_header_bytes];
    tr::spool_block_state s;
    s.base_seq = s.prev_seq = key_floor();
    tr::finish_spool_block(block, b.key, s, 0);
    ssize_t w;
    do {
        w = ::write(spool_fd, block, sizeof block);
    } while (w < 0 && errno == EINTR);
    if (w != static_cast<ssize_t>(sizeof block)) stop_recording();
    errno = saved_errno;
    end(b);
}

// A thread's first event: a buffer and a key, its thread_start, and on_thread_exit registered
// (as the C++ runtime registers a thread_local destructor, but once, here: a thread_local
// object with a destructor would put a TLS-init call on every recorded call). nullptr when the
// thread cannot be recorded (no memory, or more threads than a trace can name); it is then not
// tried again.
__attribute__((noinline)) thread_buffer* start_thread() {
    const int saved_errno = errno;
    const std::uint32_t key = next_key.fetch_add(1, std::memory_order_relaxed);
    thread_buffer* b = nullptr;
    if (key < tr::max_threads) {
        for (thread_buffer* c = buffers.load(std::memory_order_acquire); c != nullptr && b == nullptr; c = c->next) {
            int expected = buffer_free;
            if (c->state.compare_exchange_strong(expected, buffer_owned, std::memory_order_acquire)) b = c;
        }
        if (b == nullptr) {
            void* m = ::mmap(nullptr, sizeof(thread_buffer), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                             -1, 0);
            if (m != MAP_FAILED) {
                b = new (m) thread_buffer;  // default-initialised: the 64 KiB stay untouched zero pages
                b->cur = payload(*b);
                b->next = buffers.load(std::memory_order_relaxed);
                while (!buffers.compare_exchange_weak(b->next, b, std::memory_order_release,
                                                      std::memory_order_relaxed)) {
                }
            }
        }
    }
    errno = saved_errno;
    if (b == nullptr) {
        my_exited = true;
        return nullptr;
    }
    b->key = key;
    b->last_key = 0;
    my_buffer = b;
    if (key != 0) use_tsc_keys();
    announce(*b);
    __cxa_thread_atexit_impl(on_thread_exit, nullptr, &__dso_handle);  // may allocate: inside the guard
    tr::spool_record r;
    r.kind = tr::op::thread_start;
    r.parent = my_parent;
    if (begin(*b, r.seq)) {
        if (settings.timestamps) r.time_ns = now_ns();
        commit(*b, r);
    }
    return b;
}

[[gnu::always_inline]] inline thread_buffer* buffer() {
    thread_buffer* b = my_buffer;
    if (b == nullptr) [[unlikely]]
        b = start_thread();
    return b;
}

// Records r now: after an allocating call returned, before a releasing call is made.
[[gnu::always_inline]] inline void record(tr::spool_record& r) {
    thread_buffer* b = buffer();
    if (b == nullptr || !begin(*b, r.seq)) return;
    if (settings.timestamps) r.time_ns = now_ns();
    commit(*b, r);
}

// True when this call should be recorded: the recorder runs, this thread is not inside the
// shim and has not exited. Acquire (free on x86): the settings written before recording
// started are then visible to a thread that was already running.
[[gnu::always_inline]] inline bool should_record() {
    return depth == 0 && settings.recording.load(std::memory_order_acquire) && !my_exited;
}

inline std::uint64_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// ---- generic wrappers ------------------------------------------------------------------------

template <class Call>
void* alloc_event(tr::spool_record r, Call call) {
    if (!should_record()) return call();
    guard g;
    void* p = call();
    r.addr = address(p);
    record(r);
    return p;
}

// operator new may throw: record the failure with address 0, then rethrow.
template <class Call>
void* new_event(tr::spool_record r, Call call) {
    if (!should_record()) return call();
    guard g;
    void* p = nullptr;
    try {
        p = call();
    } catch (...) {
        record(r);
        throw;
    }
    r.addr = address(p);
    record(r);
    return p;
}

template <class Call>
void free_event(tr::spool_record r, void* p, Call call) {
    if (in_bootstrap(p)) return;  // bootstrap blocks are never freed
    if (!should_record()) return call();
    guard g;
    r.addr = address(p);
    record(r);
    call();
}

tr::spool_record make(tr::op kind, std::uint64_t size = 0, std::uint8_t flags = 0, std::uint64_t align = 0) {
    tr::spool_record r;
    r.kind = kind;
    r.size = size;
    r.flags = flags;
    r.alignment = align;
    return r;
}

// ---- start and stop --------------------------------------------------------------------------

std::string read_cmdline() {
    std::string s;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return s;
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        s.append(buf, static_cast<std::size_t>(n));
        if (s.size() > tr::max_string) break;
    }
    close(fd);
    while (!s.empty() && s.back() == '\0') s.pop_back();
    for (char& c : s)
        if (c == '\0') c = ' ';
    if (s.size() > tr::max_string) s.resize(tr::max_string);
    return s;
}

// The child of fork is not traced: it stops recording (it has one thread, this one), so its
// copies of the buffers are never appended to or written, and it drops its copy of the spool
// descriptor.
void atfork_child() {
    settings.recording.store(false, std::memory_order_relaxed);
    if (spool_fd >= 0) ::close(spool_fd);
    spool_fd = -1;
}

// True when the spool at `path` was created by this process: an earlier image of it, before
// it exec'd into this one (exec runs no destructors, so that image's last blocks are lost).
bool spool_is_mine(const char* path) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    unsigned char h[tr::spool_header_bytes];
    const bool whole = ::read(fd, h, sizeof h) == static_cast<ssize_t>(sizeof h);
    ::close(fd);
    std::uint32_t pid;
    std::memcpy(&pid, h + 16, sizeof pid);
    return whole && std::memcmp(h, tr::spool_magic, sizeof tr::spool_magic) == 0 &&
           pid == static_cast<std::uint32_t>(::getpid());
}

// Opens the spool for this process, or -1 when this process is not to be traced. O_EXCL: the
// first process claims it. Another process that inherits the environment (a fork child that
// execs, the programs a shell script starts) finds it taken and runs unrecorded. The same
// process after an exec appends its header again, and the converter starts over from there:
// the trace is of the program it became (`allocmeter record -- sh -c 'exec ./app'` records ./app).
int claim_spool(const char* path) {
    const int flags = O_WRONLY | O_APPEND | O_CLOEXEC;
    const int fd = ::open(path, flags | O_CREAT | O_EXCL, 0644);
    if (fd >= 0 || errno != EEXIST || !spool_is_mine(path)) return fd;
    return ::open(path, flags);  // never truncated: a converter may be reading it
}

// The TSC where it can order events of different threads: x86-64, invariant (cpuid: it ticks at
// one rate in every power state, which is also what makes the kernel's TSC checks apply), and
// not disabled for this process (prctl PR_SET_TSC; a sandbox may make rdtsc fault). The kernel's
// own clocksource choice is not asked: hypervisors often boot guests with tsc=unstable as a
// policy (migration), which says nothing about the cores' agreement within one run, and the
// converter repairs the small disagreements that occur. `order` is ALLOCMETER_ORDER: "counter"
// forces the global counter; anything else (unset, "auto") lets the host decide.
order_source order_source_for_this_host(const char* order) {
    if (order != nullptr && std::strcmp(order, "counter") == 0) return order_source::counter;
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) == 0 || a < 0x80000007) return order_source::counter;
    __get_cpuid(0x80000007, &a, &b, &c, &d);
    const bool invariant = (d >> 8) & 1;
    int mode = PR_TSC_ENABLE;
    if (::prctl(PR_GET_TSC, &mode, 0, 0, 0) != 0) mode = PR_TSC_ENABLE;  // unsupported: rdtsc is not restricted
    return invariant && mode == PR_TSC_ENABLE ? order_source::tsc : order_source::counter;
#else
    return order_source::counter;
#endif
}

// True when membarrier(PRIVATE_EXPEDITED) is available to stop_recording() (Linux 4.14 and
// later, unless a seccomp filter refuses it); begin() then needs no fence of its own.
bool register_membarrier() {
    const long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
    return syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

__attribute__((constructor)) void recorder_start() {
    if (!ready()) return;
    const char* out = std::getenv("ALLOCMETER_SPOOL");
    if (out == nullptr || *out == '\0') return;
    const char* ts = std::getenv("ALLOCMETER_TIMESTAMPS");
    settings.timestamps = ts != nullptr && *ts != '\0' && std::strcmp(ts, "0") != 0;
    settings.host_order = order_source_for_this_host(std::getenv("ALLOCMETER_ORDER"));
    guard g;
    const int fd = claim_spool(out);
    if (fd < 0) return;
    std::string header;
    try {
        tr::spool_header h;
        h.pointer_size = sizeof(void*);
        const long ps = sysconf(_SC_PAGESIZE);
        h.page_size = ps > 0 ? static_cast<std::uint32_t>(ps) : 4096;
        h.timestamps = settings.timestamps;
        h.tsc_keys = settings.host_order == order_source::tsc;
        h.pid = static_cast<std::uint32_t>(::getpid());
        h.command_line = read_cmdline();
        struct utsname u;
        if (uname(&u) == 0) h.host = u.nodename;
        header = tr::encode_spool_header(h);
    } catch (...) {
        ::close(fd);
        return;
    }
    if (::write(fd, header.data(), header.size()) != static_cast<ssize_t>(header.size())) {
        ::close(fd);
        return;
    }
    spool_fd = fd;
    pthread_atfork(nullptr, nullptr, atfork_child);
    settings.asymmetric = register_membarrier();
    settings.recording.store(true, std::memory_order_release);
}

// Process exit: stop first, then write every buffer once its owner is out of its append.
__attribute__((destructor)) void recorder_stop() {
    if (spool_fd < 0) return;
    guard g;
    stop_recording();
    for (thread_buffer* b = buffers.load(std::memory_order_acquire); b != nullptr; b = b->next) {
        // This thread's own buffer is busy only if exit() ran in a signal handler that
        // interrupted an append: waiting would never end, so that block is lost.
        if (b == my_buffer && b->busy.load(std::memory_order_relaxed)) continue;
        while (b->busy.load(std::memory_order_acquire)) cpu_relax();
        write_block(*b);
    }
    ::close(spool_fd);
    spool_fd = -1;
}

// ---- pthread_create: remember the parent thread ----------------------------------------------

struct start_args {
    void* (*fn)(void*);
    void* arg;
    std::uint32_t parent;  // key + 1
};

void* thread_trampoline(void* a) {
    start_args s = *static_cast<start_args*>(a);
    {
        guard g;
        real.free(a);
    }
    my_parent = s.parent;
    return s.fn(s.arg);
}

}  // namespace

// ---- the interposed C functions ----------------------------------------------------------------

extern "C" {

void* malloc(std::size_t size) noexcept {
    if (!ready()) return bootstrap_alloc(size);
    return alloc_event(make(tr::op::malloc, size), [&] { return real.malloc(size); });
}

void* calloc(std::size_t n, std::size_t size) noexcept {
    if (!ready()) {
        if (size != 0 && n > SIZE_MAX / size) return nullptr;
        return bootstrap_alloc(n * size);
    }
    tr::spool_record r = make(tr::op::calloc, size);
    r.count = n;
    return alloc_event(r, [&] { return real.calloc(n, size); });
}

void free(void* p) noexcept {
    if (in_bootstrap(p)) return;
    if (!ready()) return;  // cannot happen for a block we did not hand out
    free_event(make(tr::op::free), p, [&] { real.free(p); });
}

void* realloc(void* p, std::size_t size) noexcept {
    if (!ready() || in_bootstrap(p)) {
        if (!ready()) {
            void* n = bootstrap_alloc(size);
            if (n != nullptr && p != nullptr) std::memcpy(n, p, std::min(size, bootstrap_size(p)));
            return n;
        }
        // Out of the bootstrap buffer into real memory: recorded as realloc(NULL, size).
        void* n = malloc(size);
        if (n != nullptr && p != nullptr) std::memcpy(n, p, std::min(size, bootstrap_size(p)));
        return n;
    }
    if (!should_record()) return real.realloc(p, size);
    guard g;
    thread_buffer* b = buffer();
    if (b == nullptr) return real.realloc(p, size);
    tr::spool_record r = make(tr::op::realloc, size);
    r.old_addr = address(p);
    // First key: the release point of p, before the call. Nothing is held across the call;
    // another thread may receive p before the second key, and the converter gives it a new id.
    if (!begin(*b, r.seq)) return real.realloc(p, size);
    end(*b);
    void* q = real.realloc(p, size);
    // Second key: the allocation point of the result. If recording stopped in between, the
    // realloc is not recorded (the trace then ends with p still live).
    if (begin(*b, r.seq2)) {
        r.addr = address(q);
        if (settings.timestamps) r.time_ns = now_ns();
        commit(*b, r);
    }
    return q;
}

namespace {
tr::spool_record aligned_ev(std::size_t size, std::size_t align, tr::align_fn which) {
    return make(tr::op::aligned, size, static_cast<std::uint8_t>(which), align);
}
std::size_t page_size() {
    static const std::size_t ps = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return ps;
}
}  // namespace

int posix_memalign(void** out, std::size_t align, std::size_t size) noexcept {
    if (!ready()) {
        *out = bootstrap_alloc(size, align);
        return *out == nullptr ? ENOMEM : 0;
    }
    int rc = 0;
    void* p = alloc_event(aligned_ev(size, align, tr::align_fn::posix_memalign), [&]() -> void* {
        void* q = nullptr;
        rc = real.posix_memalign(&q, align, size);
        return rc == 0 ? q : nullptr;
    });
    if (rc == 0) *out = p;
    return rc;
}

void* aligned_alloc(std::size_t align, std::size_t size) noexcept {
    if (!ready()) return bootstrap_alloc(size, align);
    return alloc_event(aligned_ev(size, align, tr::align_fn::aligned_alloc),
                       [&] { return real.aligned_alloc(align, size); });
}

void* memalign(std::size_t align, std::size_t size) noexcept {
    if (!ready()) return bootstrap_alloc(size, align);
    return alloc_event(aligned_ev(size, align, tr::align_fn::memalign), [&] { return real.memalign(align, size); });
}

void* valloc(std::size_t size) noexcept {
    if (!ready()) return bootstrap_alloc(size, 4096);
    return alloc_event(aligned_ev(size, page_size(), tr::align_fn::valloc), [&] { return real.valloc(size); });
}

void* pvalloc(std::size_t size) noexcept {
    if (!ready()) return bootstrap_alloc(size, 4096);
    return alloc_event(aligned_ev(size, page_size(), tr::align_fn::pvalloc), [&] { return real.pvalloc(size); });
}

int pthread_create(pthread_t* t, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) noexcept {
    if (!ready() || real.pthread_create == nullptr) return EAGAIN;
    if (!should_record()) return real.pthread_create(t, attr, fn, arg);
    start_args* a;
    std::uint32_t parent = 0;
    {
        guard g;
        if (thread_buffer* b = buffer()) parent = b->key + 1;  // the creator is recorded first
        a = static_cast<start_args*>(real.malloc(sizeof(start_args)));
    }
    if (a == nullptr) return real.pthread_create(t, attr, fn, arg);
    *a = {fn, arg, parent};
    int rc = real.pthread_create(t, attr, thread_trampoline, a);
    if (rc != 0) {
        guard g;
        real.free(a);
    }
    return rc;
}

}  // extern "C"

// ---- C++ operator new and delete -------------------------------------------------------------

namespace {
constexpr std::uint8_t A = tr::new_array, AL = tr::new_aligned, NT = tr::new_nothrow;
constexpr std::uint8_t DA = tr::delete_array, DS = tr::delete_sized, DAL = tr::delete_aligned;
inline std::size_t al(std::align_val_t a) { return static_cast<std::size_t>(a); }
}  // namespace

void* operator new(std::size_t n) {
    ready();
    return new_event(make(tr::op::new_, n), [&] { return real.new_(n); });
}
void* operator new[](std::size_t n) {
    ready();
    return new_event(make(tr::op::new_, n, A), [&] { return real.new_arr(n); });
}
void* operator new(std::size_t n, const std::nothrow_t& t) noexcept {
    ready();
    return alloc_event(make(tr::op::new_, n, NT), [&] { return real.new_nt(n, t); });
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
    ready();
    return alloc_event(make(tr::op::new_, n, A | NT), [&] { return real.new_arr_nt(n, t); });
}
void* operator new(std::size_t n, std::align_val_t a) {
    ready();
    return new_event(make(tr::op::new_, n, AL, al(a)), [&] { return real.new_al(n, a); });
}
void* operator new[](std::size_t n, std::align_val_t a) {
    ready();
    return new_event(make(tr::op::new_, n, A | AL, al(a)), [&] { return real.new_arr_al(n, a); });
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept {
    ready();
    return alloc_event(make(tr::op::new_, n, AL | NT, al(a)), [&] { return real.new_al_nt(n, a, t); });
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept {
    ready();
    return alloc_event(make(tr::op::new_, n, A | AL | NT, al(a)), [&] { return real.new_arr_al_nt(n, a, t); });
}

void operator delete(void* p) noexcept {
    ready();
    free_event(make(tr::op::delete_), p, [&] { real.del(p); });
}
void operator delete[](void* p) noexcept {
    ready();
    free_event(make(tr::op::delete_, 0, DA), p, [&] { real.del_arr(p); });
}
void operator delete(void* p, const std::nothrow_t& t) noexcept {
    ready();
    free_event(make(tr::op::delete_), p, [&] { real.del_nt(p, t); });
}
void operator delete[](void* p, const std::nothrow_t& t) noexcept {
    ready();
    free_event(make(tr::op::delete_, 0, DA), p, [&] { real.del_arr_nt(p, t); });
}
void operator delete(void* p, std::size_t n) noexcept {
    ready();
    free_event(make(tr::op::delete_, n, DS), p, [&] { real.del_sz(p, n); });
}
void operator delete[](void* p, std::size_t n) noexcept {
    ready();
    free_event(make(tr::op::delete_, n, DA | DS), p, [&] { real.del_arr_sz(p, n); });
}
void operator delete(void* p, std::align_val_t a) noexcept {
    ready();
    free_event(make(tr::op::delete_, 0, DAL, al(a)), p, [&] { real.del_al(p, a); });
}
void operator delete[](void* p, std::align_val_t a) noexcept {
    ready();
    free_event(make(tr::op::delete_, 0, DA | DAL, al(a)), p, [&] { real.del_arr_al(p, a); });
}
void operator delete(void* p, std::align_val_t a, const std::nothrow_t& t) noexcept {
    ready();
    free_event(make(tr::op::delete_, 0, DAL, al(a)), p, [&] { real.del_al_nt(p, a, t); });
}
void operator delete[](void* p, std::align_val_t a, const std::nothrow_t& t) noexcept {
    ready();
    free_event(make(tr::op::delete_, 0, DA | DAL, al(a)), p, [&] { real.del_arr_al_nt(p, a, t); });
}
void operator delete(void* p, std::size_t n, std::align_val_t a) noexcept {
    ready();
    free_event(make(tr::op::delete_, n, DS | DAL, al(a)), p, [&] { real.del_sz_al(p, n, a); });
}
void operator delete[](void* p, std::size_t n, std::align_val_t a) noexcept {
    ready();
    free_event(make(tr::op::delete_, n, DA | DS | DAL, al(a)), p, [&] { real.del_arr_sz_al(p, n, a); });
}
