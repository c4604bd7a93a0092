// recorder_stress: a program for the recorder's stress test. Two rounds of four threads make
// many malloc/calloc/realloc/free calls; a third of the blocks are freed by another thread, so
// addresses come back to other threads at once (small sizes through glibc's per-thread cache,
// large ones through the owning arena) and the second round's threads reuse the first's
// recorder buffers. Only the recorder's seq order keeps such a trace valid. It prints
//   allocations=N frees=M
// counted as recorder_target counts them (a realloc counts as one allocation; the objects it
// replaced are not frees), for blocks of its own marker sizes: small ones with size % 64 == 13
// (below 1 KiB), large ones with (size & 0xFFF) == 0x440 and size >= 0x1000.
//
// Arguments: [ITERATIONS] [kill] [linger]. With "kill", thread 0 kills the process with SIGKILL
// half-way. With "linger", two more threads keep allocating (sizes that are not markers) while
// main returns: the process exits with threads still running.
// Build with -fno-builtin so the compiler keeps every call.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <barrier>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "workloads/trace/tests/target_support.hpp"

namespace {

constexpr int workers = 4;
constexpr int rounds = 2;
constexpr int slots = 64;

long iterations = 30000;
bool kill_half_way = false;
bool linger = false;

std::atomic<long> allocations{0};
std::atomic<long> frees{0};

std::size_t small_size(std::uint64_t r) { return 13 + 64 * (r % 16); }
std::size_t large_size(std::uint64_t r) { return 0x1000 * (1 + r % 3) + 0x440; }

std::uint64_t next(std::uint64_t& s) {  // xorshift64*: seeded, so every run makes the same calls
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
}

using allocmeter::testing::use;

// Blocks handed to a thread for it to free.
struct mailbox {
    std::mutex m;
    std::vector<void*> blocks;
};
mailbox boxes[workers];

void release(void* p) {
    std::free(p);
    frees.fetch_add(1, std::memory_order_relaxed);
}

void drain(int w) {
    std::vector<void*> got;
    {
        std::lock_guard<std::mutex> l(boxes[w].m);
        got.swap(boxes[w].blocks);
    }
    for (void* p : got) release(p);
}

void worker(int round, int w, std::barrier<>& done) {
    std::uint64_t s = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(1 + w + workers * round);
    void* slot[slots] = {};
    for (long i = 0; i < iterations; ++i) {
        if (kill_half_way && round == 0 && w == 0 && i == iterations / 2) ::kill(::getpid(), SIGKILL);
        const std::uint64_t r = next(s);
        void*& p = slot[r % slots];
        const unsigned action = static_cast<unsigned>((r >> 8) % 8);
        const std::size_t size = (r >> 16) % 4 == 0 ? large_size(r >> 20) : small_size(r >> 20);
        if (p == nullptr) {
            p = action == 0 ? std::calloc(1, size) : std::malloc(size);
            use(p);
            allocations.fetch_add(1, std::memory_order_relaxed);
        } else if (action < 3) {
            release(p);
            p = nullptr;
        } else if (action < 6) {  // another thread frees it
            std::lock_guard<std::mutex> l(boxes[(w + 1) % workers].m);
            boxes[(w + 1) % workers].blocks.push_back(p);
            p = nullptr;
        } else {
            p = std::realloc(p, size);
            use(p);
            allocations.fetch_add(1, std::memory_order_relaxed);
        }
        if (i % 16 == 0) drain(w);
    }
    for (void*& p : slot)
        if (p != nullptr) release(p);
    done.arrive_and_wait();  // every block handed to this thread is in its mailbox now
    drain(w);
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "kill") == 0)
            kill_half_way = true;
        else if (std::strcmp(argv[i], "linger") == 0)
            linger = true;
        else
            iterations = std::atol(argv[i]);
    }
    for (int round = 0; round < rounds; ++round) {
        std::barrier<> done(workers);
        std::vector<std::thread> threads;
        for (int w = 0; w < workers; ++w) threads.emplace_back(worker, round, w, std::ref(done));
        for (auto& t : threads) t.join();
    }
    std::printf("allocations=%ld frees=%ld\n", allocations.load(), frees.load());
    std::fflush(stdout);
    if (linger) {
        std::atomic<int> started{0};
        for (int t = 0; t < 2; ++t)
            std::thread([&started] {
                started.fetch_add(1);
                for (std::size_t i = 0;; ++i) {
                    void* p = std::malloc(24 + 8 * (i % 16));
                    use(p);
                    std::free(p);
                }
            }).detach();
        while (started.load() < 2) std::this_thread::yield();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return 0;  // exit() with the lingering threads still allocating
}
