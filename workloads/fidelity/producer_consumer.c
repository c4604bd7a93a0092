/* producer_consumer: two threads only allocate and push blocks through a bounded queue, two
 * others only pop and free them, so every block dies on another thread than the one that made
 * it. Blocks go through in batches (one lock per batch), so the queue costs little beside the
 * allocator. argv[1]: blocks per producer. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "fidelity_common.h"

enum { producers = 2, consumers = 2, batch = 64, queue_batches = 64 };

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_full, not_empty;
    char** slots[queue_batches];  /* each a batch of `batch` blocks; NULL batch: end of work */
    unsigned head, count;
};

static struct queue q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0};
static unsigned long per_producer;

static void push(char** b) {
    pthread_mutex_lock(&q.lock);
    while (q.count == queue_batches) pthread_cond_wait(&q.not_full, &q.lock);
    q.slots[(q.head + q.count++) % queue_batches] = b;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
}

static char** pop(void) {
    pthread_mutex_lock(&q.lock);
    while (q.count == 0) pthread_cond_wait(&q.not_empty, &q.lock);
    char** b = q.slots[q.head];
    q.head = (q.head + 1) % queue_batches;
    --q.count;
    pthread_cond_signal(&q.not_full);
    pthread_mutex_unlock(&q.lock);
    return b;
}

static void* produce(void* arg) {
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)((uintptr_t)arg + 1);
    for (unsigned long made = 0; made < per_producer; made += batch) {
        char** b = malloc(batch * sizeof *b);  /* the batch itself crosses threads too */
        if (b == NULL) abort();
        for (int i = 0; i < batch; ++i) {
            b[i] = malloc(random_size(&rng, 4096));
            if (b[i] == NULL) abort();
            b[i][0] = (char)i;
        }
        push(b);
    }
    return NULL;
}

static void* consume(void* arg) {
    unsigned long* seen = arg;
    for (char** b; (b = pop()) != NULL; free(b))
        for (int i = 0; i < batch; ++i) {
            *seen += (unsigned char)b[i][0];
            free(b[i]);
        }
    return NULL;
}

int main(int argc, char** argv) {
    per_producer = operation_count(argc, argv, 400000);
    pthread_t p[producers], c[consumers];
    unsigned long seen[consumers] = {0};
    for (uintptr_t i = 0; i < consumers; ++i)
        if (pthread_create(&c[i], NULL, consume, &seen[i]) != 0) return 1;
    for (uintptr_t i = 0; i < producers; ++i)
        if (pthread_create(&p[i], NULL, produce, (void*)i) != 0) return 1;
    for (int i = 0; i < producers; ++i) pthread_join(p[i], NULL);
    for (int i = 0; i < consumers; ++i) push(NULL);  /* one end mark per consumer */
    for (int i = 0; i < consumers; ++i) pthread_join(c[i], NULL);
    return seen[0] + seen[1] == 0 ? 1 : 0;
}
