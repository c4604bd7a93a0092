// Uses two installed reference allocators the way a program would: a bump allocator's blocks
// are aligned, distinct and keep their bytes until reset(); a pool reuses a freed block.
// Exits 0 only when every check holds, else names the first that failed.
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "allocators/bump_allocator.hpp"
#include "allocators/pool_allocator.hpp"

namespace {

int fail(const char* what) {
    std::fprintf(stderr, "consumer: %s\n", what);
    return 1;
}

}  // namespace

int main() {
    allocmeter::bump_allocator bump(std::size_t{1} << 20);
    auto* a = static_cast<unsigned char*>(bump.allocate(100, 64));
    auto* b = static_cast<unsigned char*>(bump.allocate(100, 64));
    if (a == nullptr || b == nullptr) return fail("bump_allocator returned null");
    if (reinterpret_cast<std::uintptr_t>(a) % 64 != 0 || reinterpret_cast<std::uintptr_t>(b) % 64 != 0)
        return fail("bump_allocator broke the 64-byte alignment");
    if (b < a + 100) return fail("bump_allocator's blocks overlap");
    std::memset(a, 0xa5, 100);
    std::memset(b, 0x5a, 100);
    if (a[99] != 0xa5 || b[0] != 0x5a) return fail("bump_allocator's blocks did not keep their bytes");
    if (bump.stats().blocks != 2) return fail("bump_allocator counts other than 2 blocks");
    bump.reset();
    if (bump.allocate(100, 64) != a) return fail("bump_allocator did not start over after reset()");

    allocmeter::pool_allocator<32> pool;
    void* p = pool.allocate(32, 8);
    void* q = pool.allocate(32, 8);
    if (p == nullptr || q == nullptr || p == q) return fail("pool_allocator gave null or the same block twice");
    pool.deallocate(p, 32, 8);
    if (pool.allocate(32, 8) != p) return fail("pool_allocator did not reuse the block just freed");
    std::puts("consumer: bump_allocator and pool_allocator ok");
    return 0;
}
