/* sparse_touch_target MIB PERCENT [HOLD_MS]: allocates MIB blocks of 1 MiB with malloc, writes
   one byte in every 4096 of the first PERCENT % of each, holds them all for HOLD_MS ms (200 by
   default) and frees them: a program that allocates much and touches little, so its resident
   set grows by about PERCENT % of what it allocated. Tests of record's RSS samples and of
   run --touch auto record it. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sparse_touch_target MIB PERCENT [HOLD_MS]\n");
        return 2;
    }
    const long blocks = strtol(argv[1], NULL, 10);
    const long percent = strtol(argv[2], NULL, 10);
    const long hold_ms = argc > 3 ? strtol(argv[3], NULL, 10) : 200;
    const size_t block = (size_t)1 << 20;
    if (blocks <= 0 || percent < 0 || percent > 100 || hold_ms < 0) return 2;
    char **held = malloc((size_t)blocks * sizeof *held);
    if (held == NULL) return 1;
    const size_t touched = block * (size_t)percent / 100;
    for (long i = 0; i < blocks; ++i) {
        held[i] = malloc(block);
        if (held[i] == NULL) return 1;
        for (size_t off = 0; off < touched; off += 4096) ((volatile char *)held[i])[off] = 1;
    }
    const struct timespec hold = {hold_ms / 1000, (hold_ms % 1000) * 1000000L};
    nanosleep(&hold, NULL);
    for (long i = 0; i < blocks; ++i) free(held[i]);
    free(held);
    printf("allocated %ld MiB, touched %ld%%\n", blocks, percent);
    return 0;
}
