// What the programs recorded by the recorder tests share: keeping an allocation alive in the
// eyes of the compiler (they are built with -fno-builtin too).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace allocmeter::testing {

/// Keeps the compiler from eliding an allocation: the pointer escapes and the block is written.
/// Aborts when the allocation failed.
inline void use(void* p) {
    if (p == nullptr) {
        std::fputs("allocation failed\n", stderr);
        std::abort();
    }
    static_cast<volatile char*>(p)[0] = 1;
    asm volatile("" : : "r"(p) : "memory");
}

}  // namespace allocmeter::testing
