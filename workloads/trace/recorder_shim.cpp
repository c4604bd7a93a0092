// recorder_shim: an LD_PRELOAD library that records every allocation call of a program into an
// allocmeter trace (spec: docs/trace-format.md).
//
//   LD_PRELOAD=liballocmeter_recorder.so ALLOCMETER_TRACE_OUT=app.trace ./app args
//
// Without ALLOCMETER_TRACE_OUT nothing is recorded and every call is forwarded.
//
// How it works
// - The real functions come from dlsym(RTLD_NEXT, ...). dlsym itself may call calloc/malloc;
//   while it runs, those calls are served from a static bootstrap buffer that is never handed
//   to the real free.
// - A thread_local recursion guard: a call made while this thread is already inside the shim
//   (the trace writer, zstd, stdio, the C++ runtime's operator new calling malloc, ...) goes
//   straight to the real function and is not recorded.
// - Addresses become dense object ids (smallest id not live, starting at 1; 0 is NULL)
//   through an open-addressing hash table and a min-heap of free ids, both in memory that
//   comes from mmap directly, never from malloc.
// - ONE global spinlock (first version) protects the id table, the thread-id counter, the
//   global sequence number and the single trace_writer, so the lock also fixes the order of
//   events. The sequence number is taken inside the lock, after an allocating call returned
//   and before a releasing call is made: an address is never seen reused before its free.
//   realloc holds the lock across the real call, because it both releases and allocates.
//   DESIGN.md wants per-thread buffers without a global lock; this is not that yet.
// - Thread ids are dense, assigned on a thread's first recorded event, which is a
//   thread_start (parent: the thread that called pthread_create when that thread was already
//   recorded). A thread_local destructor appends thread_exit; the thread's later calls (other
//   TLS destructors) are forwarded unrecorded, and an object they free stays live in the trace.
// - At process exit (a destructor function) recording stops and the writer is closed.
// - fork: the child stops recording (pthread_atfork child handler) and is NOT traced. The
//   child's copy of the writer's FILE buffer is pointed at /dev/null so that the child's
//   exit() cannot write the parent's buffered bytes into the trace.
// - Failed calls are recorded with id 0. Sizes, counts and alignments above 2^48 are
//   recorded as 2^48 (with id 0: such a call cannot succeed).

#include "workloads/trace/trace_format.hpp"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

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

// ---- the global lock -------------------------------------------------------------------------

std::atomic_flag lock_flag = ATOMIC_FLAG_INIT;

void lock() {
    while (lock_flag.test_and_set(std::memory_order_acquire)) {
        while (lock_flag.test(std::memory_order_relaxed)) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
}
void unlock() { lock_flag.clear(std::memory_order_release); }

struct locked {
    locked() { lock(); }
    ~locked() { unlock(); }
    locked(const locked&) = delete;
    locked& operator=(const locked&) = delete;
};

// ---- mmap-backed id table --------------------------------------------------------------------

void* map_bytes(std::size_t n) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

// address -> id, linear probing, deletion by backward shift (no tombstones). Key 0 = empty.
class id_table {
public:
    // Inserts (addr, id); false when memory ran out.
    bool insert(std::uintptr_t addr, std::uint64_t id) {
        if ((count_ + 1) * 2 > cap_ && !grow()) return false;
        std::size_t i = slot(addr);
        while (slots_[i].key != 0) {
            if (slots_[i].key == addr) {  // stale entry (should not happen): overwrite
                slots_[i].id = id;
                return true;
            }
            i = (i + 1) & (cap_ - 1);
        }
        slots_[i] = {addr, id};
        ++count_;
        return true;
    }

    // Removes addr; returns its id, or 0 when it was not there.
    std::uint64_t erase(std::uintptr_t addr) {
        if (cap_ == 0) return 0;
        std::size_t i = slot(addr);
        while (slots_[i].key != addr) {
            if (slots_[i].key == 0) return 0;
            i = (i + 1) & (cap_ - 1);
        }
        std::uint64_t id = slots_[i].id;
        // backward-shift deletion
        std::size_t j = i;
        for (;;) {
            j = (j + 1) & (cap_ - 1);
            if (slots_[j].key == 0) break;
            std::size_t home = slot(slots_[j].key);
            // move j into the hole i when its home is not in (i, j] cyclically
            bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
            if (movable) {
                slots_[i] = slots_[j];
                i = j;
            }
        }
        slots_[i] = {0, 0};
        --count_;
        return id;
    }

    std::uint64_t find(std::uintptr_t addr) const {
        if (cap_ == 0) return 0;
        std::size_t i = slot(addr);
        while (slots_[i].key != 0) {
            if (slots_[i].key == addr) return slots_[i].id;
            i = (i + 1) & (cap_ - 1);
        }
        return 0;
    }

private:
    struct entry {
        std::uintptr_t key;
        std::uint64_t id;
    };

    std::size_t slot(std::uintptr_t a) const {
        std::uint64_t h = a * 0x9E3779B97F4A7C15ull;
        return static_cast<std::size_t>(h >> 20) & (cap_ - 1);
    }

    bool grow() {
        std::size_t ncap = cap_ == 0 ? (std::size_t{1} << 16) : cap_ * 2;
        auto* n = static_cast<entry*>(map_bytes(ncap * sizeof(entry)));
        if (n == nullptr) return false;
        entry* old = slots_;
        std::size_t ocap = cap_;
        slots_ = n;
        cap_ = ncap;
        for (std::size_t k = 0; k < ocap; ++k) {
            if (old[k].key == 0) continue;
            std::size_t i = slot(old[k].key);
            while (slots_[i].key != 0) i = (i + 1) & (cap_ - 1);
            slots_[i] = old[k];
        }
        if (old != nullptr) munmap(old, ocap * sizeof(entry));
        return true;
    }

    entry* slots_ = nullptr;
    std::size_t cap_ = 0;
    std::size_t count_ = 0;
};

// Free ids as a binary min-heap in mmap'd memory: the smallest id that is not live is
// min(heap top, next_id).
class id_pool {
public:
    std::uint64_t take() {
        if (size_ == 0) return next_++;
        std::uint64_t top = heap_[0];
        heap_[0] = heap_[--size_];
        std::size_t i = 0;
        for (;;) {
            std::size_t l = 2 * i + 1, r = l + 1, m = i;
            if (l < size_ && heap_[l] < heap_[m]) m = l;
            if (r < size_ && heap_[r] < heap_[m]) m = r;
            if (m == i) break;
            std::swap(heap_[i], heap_[m]);
            i = m;
        }
        return top;
    }

    // Returns an id to the pool; false when memory ran out (the id is then never reused).
    bool give(std::uint64_t id) {
        if (size_ == cap_ && !grow()) return false;
        std::size_t i = size_++;
        heap_[i] = id;
        while (i > 0) {
            std::size_t p = (i - 1) / 2;
            if (heap_[p] <= heap_[i]) break;
            std::swap(heap_[p], heap_[i]);
            i = p;
        }
        return true;
    }

private:
    bool grow() {
        std::size_t ncap = cap_ == 0 ? 8192 : cap_ * 2;
        auto* n = static_cast<std::uint64_t*>(map_bytes(ncap * sizeof(std::uint64_t)));
        if (n == nullptr) return false;
        if (heap_ != nullptr) {
            std::memcpy(n, heap_, size_ * sizeof(std::uint64_t));
            munmap(heap_, cap_ * sizeof(std::uint64_t));
        }
        heap_ = n;
        cap_ = ncap;
        return true;
    }

    std::uint64_t* heap_ = nullptr;
    std::size_t size_ = 0, cap_ = 0;
    std::uint64_t next_ = 1;
};

// ---- recorder state (all under the lock unless atomic) ---------------------------------------

std::atomic<bool> recording{false};
std::atomic<std::uint64_t> next_seq{0};
tr::trace_writer* writer = nullptr;  // placement-new'd into writer_storage
alignas(tr::trace_writer) unsigned char writer_storage[sizeof(tr::trace_writer)];
id_table objects;
id_pool ids;
std::uint32_t next_thread = 0;
int trace_fd = -1;  // the writer's file descriptor, found after it opened the file

constexpr std::uint32_t no_tid = tr::no_thread;

struct thread_state;
AM_TLS thread_local std::uint32_t my_tid = no_tid;
AM_TLS thread_local bool my_exited = false;
AM_TLS thread_local std::uint32_t my_parent = no_tid;  // set by our pthread_create trampoline

// A thread_local object whose destructor appends thread_exit. Touched on a thread's first
// event (inside the guard: registering the destructor may call calloc).
struct thread_state {
    bool armed = false;
    ~thread_state();
};
AM_TLS thread_local thread_state tstate;

void stop_locked() {
    recording.store(false, std::memory_order_relaxed);
}

// Appends one event under the lock; on any writer error recording stops.
void append_locked(tr::event& e) {
    try {
        writer->append(e);
    } catch (...) {
        stop_locked();
    }
}

// Assigns this thread's id if needed and appends its thread_start. Under the lock.
bool ensure_thread_locked() {
    if (my_tid != no_tid) return true;
    if (next_thread >= tr::max_threads) return false;
    my_tid = next_thread++;
    tr::event e;
    e.kind = tr::op::thread_start;
    e.thread = my_tid;
    e.seq = next_seq.fetch_add(1, std::memory_order_relaxed);
    e.parent = my_parent;
    append_locked(e);
    return true;
}

thread_state::~thread_state() {
    if (!armed) return;
    guard g;
    locked l;
    if (recording.load(std::memory_order_relaxed) && my_tid != no_tid && !my_exited) {
        tr::event e;
        e.kind = tr::op::thread_exit;
        e.thread = my_tid;
        e.seq = next_seq.fetch_add(1, std::memory_order_relaxed);
        append_locked(e);
    }
    my_exited = true;
}

// True when this call should be recorded: the recorder runs, this thread is not inside the
// shim and has not exited.
inline bool should_record() {
    return depth == 0 && recording.load(std::memory_order_relaxed) && !my_exited;
}

// Called with the guard held and the lock NOT held: make sure the thread_local destructor is
// registered before taking the lock (registration may allocate).
inline void arm_thread() {
    if (!tstate.armed) tstate.armed = true;
}

constexpr std::uint64_t clamp(std::uint64_t v) { return v > tr::max_size ? tr::max_size : v; }

// Records an allocating event for result p. Fills seq, thread, id. Under the lock.
void record_alloc_locked(tr::event& e, void* p) {
    if (!recording.load(std::memory_order_relaxed) || my_exited) return;
    if (!ensure_thread_locked()) return;
    e.thread = my_tid;
    e.id = 0;
    if (p != nullptr) {
        e.id = ids.take();
        if (!objects.insert(reinterpret_cast<std::uintptr_t>(p), e.id)) {
            stop_locked();
            return;
        }
    }
    e.size = clamp(e.size);
    e.count = clamp(e.count);
    e.alignment = clamp(e.alignment);
    e.seq = next_seq.fetch_add(1, std::memory_order_relaxed);
    append_locked(e);
}

// Releases p's id (not recorded when p is unknown). Returns false when nothing is recorded.
bool release_id_locked(void* p, std::uint64_t& id) {
    id = 0;
    if (p == nullptr) return true;
    id = objects.erase(reinterpret_cast<std::uintptr_t>(p));
    if (id == 0) return false;  // allocated before recording started, or unrecorded
    ids.give(id);
    return true;
}

// Records a releasing event for p before the real release. Under the lock.
void record_free_locked(tr::event& e, void* p) {
    if (!recording.load(std::memory_order_relaxed)) return;
    if (my_exited) {
        // The thread already wrote thread_exit: drop the address so a later allocation at
        // the same address gets a fresh id; the old id stays live in the trace (a leak).
        if (p != nullptr) objects.erase(reinterpret_cast<std::uintptr_t>(p));
        return;
    }
    std::uint64_t id;
    if (!release_id_locked(p, id)) return;
    if (!ensure_thread_locked()) return;
    e.thread = my_tid;
    e.id = id;
    e.size = clamp(e.size);
    e.alignment = clamp(e.alignment);
    e.seq = next_seq.fetch_add(1, std::memory_order_relaxed);
    append_locked(e);
}

// ---- generic wrappers ------------------------------------------------------------------------

template <class Call>
void* alloc_event(tr::event e, Call call) {
    if (!should_record()) return call();
    guard g;
    arm_thread();
    void* p = call();
    locked l;
    record_alloc_locked(e, p);
    return p;
}

// operator new may throw: record the failure with id 0, then rethrow.
template <class Call>
void* new_event(tr::event e, Call call) {
    if (!should_record()) return call();
    guard g;
    arm_thread();
    void* p = nullptr;
    try {
        p = call();
    } catch (...) {
        {
            locked l;
            record_alloc_locked(e, nullptr);
        }
        throw;
    }
    locked l;
    record_alloc_locked(e, p);
    return p;
}

template <class Call>
void free_event(tr::event e, void* p, Call call) {
    if (in_bootstrap(p)) return;  // bootstrap blocks are never freed
    if (!should_record()) return call();
    guard g;
    arm_thread();
    {
        locked l;
        record_free_locked(e, p);
    }
    call();
}

tr::event make(tr::op kind, std::uint64_t size = 0, std::uint8_t flags = 0, std::uint64_t align = 0) {
    tr::event e;
    e.kind = kind;
    e.size = size;
    e.flags = flags;
    e.alignment = align;
    return e;
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

// The writer keeps its FILE private; find its descriptor by the file's identity.
int find_fd(const char* path) {
    struct stat want;
    if (stat(path, &want) != 0) return -1;
    int found = -1;
    for (int fd = 0; fd < 4096; ++fd) {
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino) found = fd;
    }
    return found;  // the highest: the one just opened
}

// The forking thread holds the lock across fork() so the child's copy of the recorder state is
// consistent; it is inside the guard meanwhile, so allocations made by other atfork handlers
// or by fork itself are forwarded instead of deadlocking on the lock.
void atfork_prepare() {
    ++depth;
    lock();
}
void atfork_parent() {
    unlock();
    --depth;
}
void atfork_child() {
    // The child is not traced. Its copy of the writer's stdio buffer must never reach the
    // trace file (exit() flushes every FILE): point that descriptor at /dev/null.
    recording.store(false, std::memory_order_relaxed);
    if (trace_fd >= 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, trace_fd);
            close(null);
        }
    }
    writer = nullptr;  // never closed in the child
    unlock();
    --depth;
}

__attribute__((constructor)) void recorder_start() {
    if (!ready()) return;
    const char* out = std::getenv("ALLOCMETER_TRACE_OUT");
    if (out == nullptr || *out == '\0') return;
    guard g;
    try {
        tr::trace_header h;
        h.pointer_size = sizeof(void*);
        long ps = sysconf(_SC_PAGESIZE);
        h.page_size = ps > 0 ? static_cast<std::uint32_t>(ps) : 4096;
        h.clock = tr::clock_source::none;
        h.command_line = read_cmdline();
        struct utsname u;
        if (uname(&u) == 0) h.host = u.nodename;
        writer = new (writer_storage) tr::trace_writer(out, h);
    } catch (...) {
        writer = nullptr;
        return;
    }
    trace_fd = find_fd(out);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    recording.store(true, std::memory_order_release);
}

__attribute__((destructor)) void recorder_stop() {
    guard g;
    tr::trace_writer* w;
    {
        locked l;
        recording.store(false, std::memory_order_relaxed);
        w = writer;
        writer = nullptr;
    }
    if (w == nullptr) return;
    try {
        w->close();
    } catch (...) {
    }
    // The writer is not destroyed: other threads may still run, and its memory is static.
}

// ---- pthread_create: remember the parent thread ----------------------------------------------

struct start_args {
    void* (*fn)(void*);
    void* arg;
    std::uint32_t parent;
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
    tr::event e = make(tr::op::calloc, size);
    e.count = n;
    return alloc_event(e, [&] { return real.calloc(n, size); });
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
    arm_thread();
    // The lock is held across the real call: realloc releases and allocates in one step, and
    // another thread must not see the released address before this event is recorded.
    locked l;
    void* r = real.realloc(p, size);
    if (!recording.load(std::memory_order_relaxed)) return r;
    if (my_exited) {
        if (p != nullptr && (r != nullptr || size == 0)) objects.erase(reinterpret_cast<std::uintptr_t>(p));
        return r;
    }
    if (!ensure_thread_locked()) return r;
    tr::event e = make(tr::op::realloc, clamp(size));
    e.thread = my_tid;
    const auto old_addr = reinterpret_cast<std::uintptr_t>(p);
    e.old_id = p == nullptr ? 0 : objects.find(old_addr);
    if (r == nullptr && size != 0) {
        e.id = 0;  // failure: the old object stays live
    } else if (r != nullptr && r == p && e.old_id != 0) {
        e.id = e.old_id;  // in place: same object, same id, table unchanged
    } else {
        if (e.old_id != 0) {
            objects.erase(old_addr);
            ids.give(e.old_id);
        }
        if (r != nullptr) {
            e.id = ids.take();
            if (!objects.insert(reinterpret_cast<std::uintptr_t>(r), e.id)) {
                stop_locked();
                return r;
            }
        }
        if (p != nullptr && r != nullptr && r != p) e.flags = tr::realloc_moved;
    }
    e.seq = next_seq.fetch_add(1, std::memory_order_relaxed);
    append_locked(e);
    return r;
}

namespace {
tr::event aligned_ev(std::size_t size, std::size_t align, tr::align_fn which) {
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
    if (!should_record() || my_tid == no_tid) return real.pthread_create(t, attr, fn, arg);
    start_args* a;
    {
        guard g;
        a = static_cast<start_args*>(real.malloc(sizeof(start_args)));
    }
    if (a == nullptr) return real.pthread_create(t, attr, fn, arg);
    *a = {fn, arg, my_tid};
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
