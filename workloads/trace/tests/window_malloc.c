// window_malloc: a malloc for one recorder test, preloaded after the recorder. All threads share
// one LIFO list of fixed 256 KiB blocks, so a block freed by one thread is the next one any
// thread gets. Its realloc, when armed, frees the old block and then waits (the "window") until
// the program says another thread has allocated it: the case the recorder's two realloc seqs
// exist for, made certain instead of rare.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BLOCK ((size_t)256 << 10)
#define ARENA ((size_t)1 << 30)

// [0] set by the program: the next realloc waits; [1] set here: the old block is free;
// [2] set by the program: the window may close.
int window_malloc_window[3];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char* arena;
static size_t used;
static void* free_list;  // each free block's first word links to the next

static void* take(size_t n) {
    if (n > BLOCK) return NULL;
    pthread_mutex_lock(&lock);
    if (arena == NULL) {
        void* m = mmap(NULL, ARENA + BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m != MAP_FAILED) arena = (unsigned char*)(((uintptr_t)m + BLOCK - 1) & ~(uintptr_t)(BLOCK - 1));
    }
    void* p = NULL;
    if (free_list != NULL) {
        p = free_list;
        memcpy(&free_list, p, sizeof free_list);
    } else if (arena != NULL && used + BLOCK <= ARENA) {
        p = arena + used;
        used += BLOCK;
    }
    pthread_mutex_unlock(&lock);
    return p;
}

static int ours(const void* p) {
    return arena != NULL && (const unsigned char*)p >= arena && (const unsigned char*)p < arena + ARENA;
}

void free(void* p) {
    if (p == NULL || !ours(p)) return;  // ld.so's early blocks are not ours
    pthread_mutex_lock(&lock);
    memcpy(p, &free_list, sizeof free_list);
    free_list = p;
    pthread_mutex_unlock(&lock);
}

void* malloc(size_t n) {
    void* p = take(n);
    if (p == NULL) errno = ENOMEM;
    return p;
}

void* calloc(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) return NULL;
    void* p = malloc(n * size);
    if (p != NULL) memset(p, 0, n * size);
    return p;
}

void* realloc(void* old, size_t n) {
    if (old == NULL) return malloc(n);
    void* p = take(n);
    if (p == NULL) return NULL;
    memcpy(p, old, n < BLOCK ? n : BLOCK);
    free(old);
    if (__atomic_exchange_n(&window_malloc_window[0], 0, __ATOMIC_ACQ_REL)) {
        __atomic_store_n(&window_malloc_window[1], 1, __ATOMIC_RELEASE);
        for (int i = 0; i < 5000 && !__atomic_load_n(&window_malloc_window[2], __ATOMIC_ACQUIRE); ++i) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
    }
    return p;
}

int posix_memalign(void** out, size_t align, size_t n) {
    if (align > BLOCK) return EINVAL;
    *out = take(n);
    return *out == NULL ? ENOMEM : 0;
}
void* aligned_alloc(size_t align, size_t n) { return align > BLOCK ? NULL : take(n); }
void* memalign(size_t align, size_t n) { return align > BLOCK ? NULL : take(n); }
void* valloc(size_t n) { return take(n); }
void* pvalloc(size_t n) { return take(n); }
size_t malloc_usable_size(void* p) { return p == NULL ? 0 : BLOCK; }
