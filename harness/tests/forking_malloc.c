/* A malloc replacement (glibc's, passed through) whose library starts a helper process when it
   is loaded, as some allocators start a background thread or process: the helper sleeps with
   the cell's stdout, stderr and result pipe still open. The harness must not wait for it, and
   must not leave it running. With FORKING_MALLOC_PID_FILE set, the helper's pid is appended to
   that file. */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

__attribute__((constructor)) static void start_helper(void) {
    const pid_t helper = fork();
    if (helper == 0) {
        sleep(300);
        _exit(0);
    }
    const char* file = getenv("FORKING_MALLOC_PID_FILE");
    if (helper > 0 && file != NULL) {
        char line[32];
        const int n = snprintf(line, sizeof line, "%d\n", (int)helper);
        const int fd = open(file, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            if (write(fd, line, (size_t)n) != n) { /* the test then finds no pid and says so */ }
            close(fd);
        }
    }
}

void* malloc(size_t n) { return __libc_malloc(n); }
void* calloc(size_t n, size_t m) { return __libc_calloc(n, m); }
void* realloc(void* p, size_t n) { return __libc_realloc(p, n); }
void* memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
    *out = __libc_memalign(a, n);
    return *out ? 0 : 12;
}
void free(void* p) { __libc_free(p); }
