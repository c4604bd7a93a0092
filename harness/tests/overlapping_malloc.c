/* A malloc replacement that, for a stretch of its calls, hands out a block inside the newest
   block it returned while that one is still live: blocks that overlap. What a program writes
   into such a block stays inside memory glibc gave out, and freeing it does nothing, so nothing
   crashes and a churn cell is "ok"; only run --verify sees one block's tag over another's. */
#include <stddef.h>
#include <stdint.h>

#include "glibc_passthrough.h"

/* The stretch: past the cell's set-up, inside its timed workload (a quick churn makes 151,000
   allocations); one call in `every` there overlaps. */
enum { first_call = 20000, last_call = 100000, every = 997, offset = 16, max_fakes = 1024 };

static unsigned long calls;
static char* newest;        /* the newest block from glibc, while live */
static size_t newest_size;
static void* fakes[max_fakes];  /* blocks handed out inside another, still live */

static int forget_fake(void* p) {
    for (int i = 0; i < max_fakes; ++i)
        if (fakes[i] == p) {
            fakes[i] = NULL;
            return 1;
        }
    return 0;
}

static void* overlapping(size_t n) {
    if (calls < first_call || calls > last_call || calls % every != 0) return NULL;
    if (newest == NULL || n + offset > newest_size) return NULL;
    for (int i = 0; i < max_fakes; ++i)
        if (fakes[i] == NULL) return fakes[i] = newest + offset;
    return NULL;
}

void* malloc(size_t n) {
    ++calls;
    void* p = overlapping(n);
    if (p != NULL) return p;
    newest = __libc_malloc(n);
    newest_size = n;
    return newest;
}
void free(void* p) {
    if (p == NULL || forget_fake(p)) return;
    if (p == newest) newest = NULL;
    __libc_free(p);
}
void* realloc(void* p, size_t n) {
    if (p == newest) newest = NULL;
    return __libc_realloc(p, n);
}
