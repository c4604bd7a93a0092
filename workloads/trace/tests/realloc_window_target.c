// realloc_window_target: for recorder_test, run with window_malloc preloaded after the recorder.
// The main thread reallocs a block (1111 B -> 2222 B); window_malloc frees the old block and
// waits, and meanwhile a second thread allocates 3333 B and gets exactly that block, then frees
// it. Prints "reused=1 moved=1" when that happened as planned. The trace must give the second
// thread's block a new id: the realloc's old object is still live until its second seq.
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

extern int window_malloc_window[3];

static void* volatile old_block;
static int reused;
static int ready;

static void* other(void* unused) {
    (void)unused;
    // This thread's first calls: the recorder sets it up now (its own allocations would take
    // the freed block first), not in the window.
    free(malloc(16));
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&window_malloc_window[1], __ATOMIC_ACQUIRE)) sched_yield();
    void* q = malloc(3333);
    reused = q == old_block;
    free(q);
    __atomic_store_n(&window_malloc_window[2], 1, __ATOMIC_RELEASE);
    return NULL;
}

int main(void) {
    old_block = malloc(1111);
    pthread_t t;
    if (pthread_create(&t, NULL, other, NULL) != 0) return 2;
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) sched_yield();
    __atomic_store_n(&window_malloc_window[0], 1, __ATOMIC_RELEASE);
    void* moved = realloc(old_block, 2222);
    pthread_join(t, NULL);
    printf("reused=%d moved=%d\n", reused, moved != old_block);
    free(moved);
    return 0;
}
