/* many_calls_target N: makes N allocation calls (and as many frees) on one thread over a
   working set of 1,000 blocks of 16 B-4 KiB: a trace with many calls and few live bytes, whose
   replay plan (16 bytes a call) is far larger than what the program ever holds. */
#include <stdlib.h>

int main(int argc, char **argv) {
    const long count = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    enum { working_set = 1000 };
    static void *live[working_set];
    unsigned long x = 88172645463325252UL;  /* xorshift64: the same calls on every run */
    for (long i = 0; i < count; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        void **slot = &live[x % working_set];
        free(*slot);
        *slot = malloc(16 + (x >> 32) % 4081);
        if (*slot == NULL) abort();
        ((volatile char *)*slot)[0] = 1;
    }
    for (int i = 0; i < working_set; ++i) free(live[i]);
    return 0;
}
