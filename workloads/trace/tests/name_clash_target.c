// A program linked with name_clash_lib, whose globals have the names of helpers inside the
// recorder: recorded, it must run as it does alone. Exits 0 when the library's globals and the
// program's allocations are intact.
#include <stdlib.h>

int name_clash_globals_intact(void);

int main(void) {
    void* a = valloc(100);  // the recorder's valloc asks for the page size
    void* b = aligned_alloc(64, 128);
    const int ok = a != NULL && b != NULL && name_clash_globals_intact();
    free(a);
    free(b);
    return ok ? 0 : 1;
}
