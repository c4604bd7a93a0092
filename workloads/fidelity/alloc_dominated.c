/* alloc_dominated: one thread, a tight loop of malloc and free of mixed sizes over a ring of
 * live blocks: almost all of its time is the allocator's. argv[1]: operations (default below). */
#include <stdint.h>
#include <stdlib.h>

#include "fidelity_common.h"

enum { live_slots = 4096 };

int main(int argc, char** argv) {
    const unsigned long ops = operation_count(argc, argv, 2500000);
    static char* live[live_slots];
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    unsigned long touched = 0;
    for (unsigned long i = 0; i < ops; ++i) {
        const size_t slot = (size_t)(next_random(&rng) % live_slots);
        free(live[slot]);
        const size_t size = random_size(&rng, 8192);
        live[slot] = malloc(size);
        if (live[slot] == NULL) return 1;
        live[slot][0] = (char)i;  /* one byte written, so the block is really used */
        touched += (unsigned char)live[slot][0];
    }
    for (size_t s = 0; s < live_slots; ++s) free(live[s]);
    return touched == 0 ? 1 : 0;  /* never 0: keeps the loop's work observable */
}
