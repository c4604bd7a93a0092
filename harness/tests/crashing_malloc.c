/* A malloc replacement that serves the first calls through glibc and then crashes with
   SIGSEGV: the harness must turn that into a failed cell and carry on with the matrix. */
#include <signal.h>
#include <stddef.h>

#include "glibc_passthrough.h"

static unsigned long calls;

static void count_and_maybe_crash(void) {
    if (++calls == 200000) raise(SIGSEGV);
}

void* malloc(size_t n) { count_and_maybe_crash(); return __libc_malloc(n); }
void* realloc(void* p, size_t n) { return __libc_realloc(p, n); }
void free(void* p) { __libc_free(p); }
