/* A malloc replacement that never returns: the harness must end its cell at --timeout, at a
   stop (SIGINT, SIGTERM) and when the harness itself is killed, and leave nothing running. */
#include <stddef.h>

extern void* __libc_malloc(size_t);
extern void __libc_free(void*);

static volatile unsigned long spins;

static void* never(void) {
    for (;;) ++spins;
    return NULL;
}

void* malloc(size_t n) { (void)n; return never(); }
void* calloc(size_t n, size_t m) { (void)n; (void)m; return never(); }
void* realloc(void* p, size_t n) { (void)p; (void)n; return never(); }
void* memalign(size_t a, size_t n) { (void)a; (void)n; return never(); }
void* aligned_alloc(size_t a, size_t n) { (void)a; (void)n; return never(); }
int posix_memalign(void** out, size_t a, size_t n) { (void)a; (void)n; *out = never(); return 0; }
void free(void* p) { __libc_free(p); }
