/* A malloc replacement that serves the first calls through glibc and then crashes with
   SIGSEGV: the harness must turn that into a failed cell and carry on with the matrix. */
#include <signal.h>
#include <stddef.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

static unsigned long calls;

static void count_and_maybe_crash(void) {
    if (++calls == 200000) raise(SIGSEGV);
}

void* malloc(size_t n) { count_and_maybe_crash(); return __libc_malloc(n); }
void* calloc(size_t n, size_t m) { return __libc_calloc(n, m); }
void* realloc(void* p, size_t n) { return __libc_realloc(p, n); }
void* memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
    *out = __libc_memalign(a, n);
    return *out ? 0 : 12;
}
void free(void* p) { __libc_free(p); }
