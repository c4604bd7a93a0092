/* A library that defines no malloc: preloading it must not pass for an allocator. */
int no_malloc_here(void) { return 42; }
