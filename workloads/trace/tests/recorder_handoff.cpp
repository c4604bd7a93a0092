// recorder_handoff: a program for the recorder's ordering test. THREADS threads in a ring hand
// blocks on through one-slot boxes (atomics, no lock), as fast as they can: every block
// allocated by one thread is freed by the next, and the allocator gives a freed block out again
// at once, large ones often to the thread that allocated them first (they go back to its
// arena). An allocation and the free of the block by another thread, and a free and the reuse
// of the address by another thread, are then as close together as the hardware allows: the
// pairs that the recorder's keys must put in order. It prints
//   allocations=N frees=M
// counted as recorder_stress counts them, for its blocks: all of marker sizes (small ones with
// size % 64 == 13, large ones with (size & 0xFFF) == 0x440).
//
// Arguments: [ITERATIONS] [THREADS] (default 200000 per thread, 2 threads).
// Build with -fno-builtin so the compiler keeps every call.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "workloads/trace/tests/target_support.hpp"

namespace {

using allocmeter::testing::use;

struct alignas(64) box {
    std::atomic<void*> block{nullptr};
};

std::atomic<long> allocations{0};
std::atomic<long> frees{0};
std::atomic<std::size_t> finished{0};  // ring members done with their iterations

// Small (per-thread caches) and large (back to the owning arena) in turn.
std::size_t size_for(long i) {
    const auto k = static_cast<std::size_t>(i);
    return i % 2 == 0 ? 13 + 64 * (k % 16) : 0x1440 + 0x1000 * (k % 3);
}

// Frees the block the previous thread handed over, if any; 1 if there was one.
long take(box& mine) {
    void* q = mine.block.exchange(nullptr, std::memory_order_acq_rel);
    if (q == nullptr) return 0;
    std::free(q);
    return 1;
}

void ring_member(std::vector<box>& boxes, std::size_t me, long iterations) {
    box& mine = boxes[me];
    box& next = boxes[(me + 1) % boxes.size()];
    long allocated = 0, freed = 0;
    for (long i = 0; i < iterations; ++i) {
        void* p = std::malloc(size_for(i));
        use(p);
        ++allocated;
        // Only this thread fills the next box, only the next thread empties it. While it is
        // full, free what the previous thread handed here (else the ring could wait in a circle).
        while (next.block.load(std::memory_order_acquire) != nullptr) {
            freed += take(mine);
            std::this_thread::yield();
        }
        next.block.store(p, std::memory_order_release);
        freed += take(mine);
    }
    // Go on emptying this box until every member is done: the previous one may still be
    // waiting for it. What is left in the boxes then, main frees.
    finished.fetch_add(1, std::memory_order_acq_rel);
    while (finished.load(std::memory_order_acquire) < boxes.size()) {
        freed += take(mine);
        std::this_thread::yield();
    }
    allocations.fetch_add(allocated);
    frees.fetch_add(freed);
}

}  // namespace

int main(int argc, char** argv) {
    const long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
    const std::size_t threads = argc > 2 ? static_cast<std::size_t>(std::atol(argv[2])) : 2;
    if (iterations <= 0 || threads < 2) {
        std::fprintf(stderr, "usage: recorder_handoff [ITERATIONS > 0] [THREADS >= 2]\n");
        return 2;
    }
    std::vector<box> boxes(threads);
    std::vector<std::thread> ring;
    for (std::size_t t = 0; t < threads; ++t) ring.emplace_back(ring_member, std::ref(boxes), t, iterations);
    for (auto& t : ring) t.join();
    for (box& b : boxes)
        if (void* p = b.block.exchange(nullptr)) {
            std::free(p);
            frees.fetch_add(1);
        }
    std::printf("allocations=%ld frees=%ld\n", allocations.load(), frees.load());
    return 0;
}
