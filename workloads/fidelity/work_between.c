/* work_between: real computation between allocation calls. Each step allocates a block, fills
 * it, hashes its contents several times over (FNV-1a) and frees the oldest of a small window of
 * live blocks, so the allocator is a small share of the time. argv[1]: steps. */
#include <stdint.h>
#include <stdlib.h>

#include "fidelity_common.h"

enum { window = 64, hash_rounds = 8 };

static uint64_t fnv1a(const unsigned char* p, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

int main(int argc, char** argv) {
    const unsigned long steps = operation_count(argc, argv, 100000);
    unsigned char* live[window] = {0};
    uint64_t rng = 0xD1B54A32D192ED03ULL, digest = 0xcbf29ce484222325ULL;
    for (unsigned long i = 0; i < steps; ++i) {
        const size_t size = 64 + random_size(&rng, 960);
        unsigned char* block = malloc(size);
        if (block == NULL) return 1;
        for (size_t b = 0; b < size; ++b) block[b] = (unsigned char)(i + b);
        for (int r = 0; r < hash_rounds; ++r) digest = fnv1a(block, size, digest);
        free(live[i % window]);
        live[i % window] = block;
    }
    for (size_t s = 0; s < window; ++s) free(live[s]);
    return digest == 0 ? 1 : 0;
}
