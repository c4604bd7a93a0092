/* What the test malloc libraries that change only some calls share: glibc's own entry points,
   and calloc, memalign, aligned_alloc and posix_memalign passed straight through to them. A
   library including this defines malloc, realloc and free itself (passed through, or not). */
#ifndef ALLOCMETER_TESTS_GLIBC_PASSTHROUGH_H
#define ALLOCMETER_TESTS_GLIBC_PASSTHROUGH_H

#include <errno.h>
#include <stddef.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

void* calloc(size_t n, size_t m) { return __libc_calloc(n, m); }
void* memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
    *out = __libc_memalign(a, n);
    return *out ? 0 : ENOMEM;
}

#endif
