/* short_threads: work handed to new threads as old ones finish. 20 threads in all, 2 alive at
 * a time (the next starts when the oldest is joined); each does malloc/free churn over a ring
 * of its own live blocks and frees them all before it ends. argv[1]: operations per thread. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "fidelity_common.h"

enum { total_threads = 20, alive_at_once = 2, live_slots = 512 };

struct job {
    unsigned long ops;
    uint64_t seed;
    int failed;
};

static void* churn(void* arg) {
    struct job* j = arg;
    char* live[live_slots] = {0};
    uint64_t rng = j->seed;
    for (unsigned long i = 0; i < j->ops; ++i) {
        const size_t slot = (size_t)(next_random(&rng) % live_slots);
        free(live[slot]);
        live[slot] = malloc(random_size(&rng, 2048));
        if (live[slot] == NULL) j->failed = 1;
        else live[slot][0] = (char)i;
    }
    for (size_t s = 0; s < live_slots; ++s) free(live[s]);
    return NULL;
}

int main(int argc, char** argv) {
    const unsigned long ops = operation_count(argc, argv, 200000);
    struct job jobs[total_threads];
    pthread_t threads[total_threads];
    int failed = 0;
    for (int t = 0; t < total_threads; ++t) {
        if (t >= alive_at_once) {  /* wait for the oldest before the next starts */
            pthread_join(threads[t - alive_at_once], NULL);
            failed |= jobs[t - alive_at_once].failed;
        }
        jobs[t] = (struct job){ops, 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1), 0};
        if (pthread_create(&threads[t], NULL, churn, &jobs[t]) != 0) return 1;
    }
    for (int t = total_threads - alive_at_once; t < total_threads; ++t) {
        pthread_join(threads[t], NULL);
        failed |= jobs[t].failed;
    }
    return failed;
}
