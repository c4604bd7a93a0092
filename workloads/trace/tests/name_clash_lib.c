// A library whose globals have the names of helpers inside the recorder. Preloaded first, a
// recorder that exported those names would take this library's references to them.
int page_size = 7;
int aligned_ev = 3;

int name_clash_globals_intact(void) {
    page_size += 1;
    aligned_ev += 1;
    return page_size == 8 && aligned_ev == 4;
}
