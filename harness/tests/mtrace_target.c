/* mtrace_target: logs its own allocation calls with glibc's mtrace() and prints how many
   trace events of each kind they should import as, for the `trace import --format mtrace`
   test. Run: LD_PRELOAD=libc_malloc_debug.so.0 MALLOC_TRACE=FILE mtrace_target (glibc >= 2.34). */
#include <malloc.h>
#include <mcheck.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { blocks = 200 };

int main(void) {
    /* Allocated before mtrace(): the log has its free but not its malloc (the import skips it). */
    char* early = malloc(32);
    /* stdout's buffer is allocated on first use: use it now, so the log holds only the calls below. */
    printf("mtrace_target: start\n");
    fflush(stdout);
    mtrace();

    unsigned mallocs = 0, reallocs = 0, frees = 0, allocations = 0, in_place = 0, moved = 0, failed = 0;
    void* b[blocks];
    for (int i = 0; i < blocks; ++i) {
        b[i] = malloc(16 + 8 * (size_t)i);
        memset(b[i], i, 16);
        ++mallocs, ++allocations;
    }
    for (int i = 0; i < blocks; i += 2) free(b[i]), ++frees;

    /* mtrace prints calloc and the aligned calls as '+' lines, so they import as mallocs. */
    void* c = calloc(10, 24);
    void* m = memalign(64, 200);
    void* pm = NULL;
    if (posix_memalign(&pm, 128, 300) != 0) return 1;
    void* aa = aligned_alloc(256, 512);
    mallocs += 4, allocations += 4;

    /* In place: malloc(100) has 104 usable bytes, so growing it to 104 stays where it is. */
    char* g = malloc(100);
    char* g2 = realloc(g, 104);
    ++mallocs, ++reallocs, allocations += 2, in_place += g2 == g, moved += g2 != g;
    /* Moved: the live block just after it keeps it from growing where it is. */
    char* fence = malloc(64);
    char* mv = realloc(g2, 100000);
    ++mallocs, ++reallocs, allocations += 2, in_place += mv == g2, moved += mv != g2;
    /* realloc(NULL, n) is logged as '+', realloc(p, 0) as '-'. */
    char* rn = realloc(NULL, 50);
    ++mallocs, ++allocations;
    if (realloc(rn, 0) != NULL) return 1;
    ++frees;
    /* 2^48 bytes fit in no address space: '!', and c stays allocated. */
    void* big = realloc(c, (size_t)1 << 48);
    ++reallocs;
    if (big == NULL) ++failed;
    else c = big, ++allocations;
    /* A failed malloc is '+ (nil) SIZE': a malloc with id 0. */
    void* huge = malloc(SIZE_MAX / 2);
    ++mallocs;
    if (huge == NULL) ++failed;
    else ++allocations;

    free(early);  /* skipped by the import */
    free(NULL);   /* not logged at all */
    void* rest[] = {c, m, pm, aa, fence, mv, huge};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; ++i)
        if (rest[i] != NULL) free(rest[i]), ++frees;
    for (int i = 1; i < blocks; i += 2) free(b[i]), ++frees;
    muntrace();

    printf("mtrace_target: malloc=%u realloc=%u free=%u skipped_free=1 allocations=%u in_place=%u moved=%u failed=%u\n",
           mallocs, reallocs, frees, allocations, in_place, moved, failed);
    return 0;
}
