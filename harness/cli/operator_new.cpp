// The executable's operator new: malloc, as libstdc++'s is, but when malloc returns NULL and
// no new_handler is set it says how many bytes were asked for and exits, instead of throwing.
// In a cell malloc is the allocator under test, and an allocator that returns NULL often leaves
// no memory to throw std::bad_alloc with, which ended the cell as "terminate called without
// an active exception". Compiled into the executable itself (not a library) so that it
// replaces the default.
#include <cstdio>
#include <cstdlib>
#include <new>

#include "workloads/timed_allocation.hpp"

void* operator new(std::size_t size) {
    const std::size_t asked = size == 0 ? 1 : size;
    for (;;) {
        if (void* p = std::malloc(asked)) return p;
        const std::new_handler handler = std::get_new_handler();
        if (handler == nullptr) allocmeter::allocation_failed(size, alignof(std::max_align_t), " by the harness itself (operator new)");
        handler();
    }
}

void* operator new[](std::size_t size) { return ::operator new(size); }
