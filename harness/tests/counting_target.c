/* counting_target N (N a multiple of 4): makes exactly N allocation calls on a worker thread,
   N/2 malloc, N/4 calloc and N/4 posix_memalign, and frees them all on the main thread
   (cross-thread frees), so a test can check that `allocmeter trace info` counts exactly that
   many more than for `counting_target 0`: what the C runtime allocates for itself is the same
   in both runs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void **blocks;
static long count;

static void *make(void *arg) {
    (void)arg;
    for (long i = 0; i < count; ++i) {
        const size_t size = 16 + (size_t)(i * 37 % 2000);
        if (i % 4 == 1) blocks[i] = calloc(4, size / 4 + 1);
        else if (i % 4 == 3) {
            if (posix_memalign(&blocks[i], 64, size) != 0) blocks[i] = NULL;
        } else blocks[i] = malloc(size);
        if (blocks[i] == NULL) abort();
        ((volatile char *)blocks[i])[0] = 1;
    }
    return NULL;
}

int main(int argc, char **argv) {
    count = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    void *table[count > 0 ? count : 1];
    blocks = table;
    pthread_t worker;
    if (pthread_create(&worker, NULL, make, NULL) != 0 || pthread_join(worker, NULL) != 0) return 2;
    for (long i = 0; i < count; ++i) free(blocks[i]);
    return 0;
}
