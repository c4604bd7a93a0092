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

#include "glibc_passthrough.h"

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
void* realloc(void* p, size_t n) { return __libc_realloc(p, n); }
void free(void* p) { __libc_free(p); }
