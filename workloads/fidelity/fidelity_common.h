/* What the fidelity test programs share: a seeded generator (each program's work is fixed by
 * its seed and its operation count, never by a duration) and the count from argv[1]. */
#ifndef ALLOCMETER_FIDELITY_COMMON_H
#define ALLOCMETER_FIDELITY_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* xorshift64*: small, fast, the same sequence everywhere. */
static inline uint64_t next_random(uint64_t* state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A size from 1 to max, small sizes far more often than large ones (as in most programs). */
static inline size_t random_size(uint64_t* state, size_t max) {
    const uint64_t r = next_random(state);
    const unsigned shift = (unsigned)(r % 4);  /* 1/4 up to max, 1/4 up to max/4, ... */
    const size_t limit = max >> (2 * shift);
    return 1 + (size_t)((r >> 8) % (limit > 0 ? limit : 1));
}

/* The operation count: argv[1] when given (a positive whole number), else `standard`. */
static inline unsigned long operation_count(int argc, char** argv, unsigned long standard) {
    if (argc < 2) return standard;
    char* end = NULL;
    const unsigned long n = strtoul(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || n == 0) {
        fprintf(stderr, "%s: '%s' is not an operation count; give a positive whole number, or nothing for %lu\n", argv[0], argv[1],
                standard);
        exit(2);
    }
    return n;
}

#endif
