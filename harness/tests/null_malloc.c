/* A malloc replacement (glibc's, passed through) that returns NULL once it has served
   NULL_MALLOC_AFTER calls (0 when unset: from the first call on). The cell must say that the
   allocator returned NULL, and for how many bytes. */
#include <stddef.h>
#include <stdlib.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

static unsigned long calls, limit = (unsigned long)-1;

static int refuse(void) {
    if (limit == (unsigned long)-1) {
        /* getenv does not allocate */
        const char* text = getenv("NULL_MALLOC_AFTER");
        limit = text != NULL ? strtoul(text, NULL, 10) : 0;
    }
    return ++calls > limit;
}

void* malloc(size_t n) { return refuse() ? NULL : __libc_malloc(n); }
void* calloc(size_t n, size_t m) { return refuse() ? NULL : __libc_calloc(n, m); }
void* realloc(void* p, size_t n) { return refuse() ? NULL : __libc_realloc(p, n); }
void* memalign(size_t a, size_t n) { return refuse() ? NULL : __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { return refuse() ? NULL : __libc_memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
    *out = refuse() ? NULL : __libc_memalign(a, n);
    return *out ? 0 : 12;
}
void free(void* p) { __libc_free(p); }
