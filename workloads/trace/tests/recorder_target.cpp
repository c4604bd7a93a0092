// recorder_target: a program for recorder_test. Three worker threads make a known number of
// allocation calls of every kind the recorder interposes, and free some blocks that another
// thread allocated. Every allocation the program itself makes has a "marker" size:
// (size & 0xFFF) == 0x440 and size >= 0x1000 (for calloc, the element size), so the test can
// tell them from the allocations of libc and the C++ runtime. It prints one line:
//   allocations=N frees=M
// N counts allocating calls (a realloc that allocated counts once), M counts free/delete calls
// on the program's own blocks (the objects a realloc replaced are not counted as frees).
//
// With the argument "fork" the main thread also forks a child that allocates (marker sizes)
// and leaves through exit(); children are not traced, so the counts do not include it.
// Build with -fno-builtin so the compiler keeps every call.

#include <malloc.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "workloads/trace/tests/target_support.hpp"

namespace {

constexpr std::size_t marker(unsigned k) { return 0x1000u * k + 0x440u; }

constexpr int workers = 3;
// 200 per worker; the fork run makes more so the recorder has compressed output pending in
// its stdio buffer when fork() copies it.
int iterations = 200;

std::atomic<long> allocations{0};
std::atomic<long> frees{0};

using allocmeter::testing::use;

void* counted(void* p) {
    use(p);
    allocations.fetch_add(1, std::memory_order_relaxed);
    return p;
}

void count_free() { frees.fetch_add(1, std::memory_order_relaxed); }

struct big {
    char bytes[marker(7)];
};
struct alignas(64) aligned_big {
    char bytes[marker(9)];
};
static_assert(sizeof(aligned_big) == marker(9));

// Blocks handed to another thread to free: queue i is drained by worker i.
struct handoff {
    std::mutex m;
    std::deque<void*> q;
};
handoff queues[workers];

void give(int to, void* p) {
    std::lock_guard<std::mutex> l(queues[to].m);
    queues[to].q.push_back(p);
}

void worker(int w, std::barrier<>& produced) {
    const int next = (w + 1) % workers;
    std::vector<void*> mine;
    for (int i = 0; i < iterations; ++i) {
        void* p1 = counted(std::malloc(marker(1)));
        void* p2 = counted(std::calloc(2, marker(2)));

        void* buf = counted(std::malloc(marker(1)));
        for (unsigned k = 2; k <= 4; ++k) buf = counted(std::realloc(buf, marker(k)));

        void* p3 = nullptr;
        if (posix_memalign(&p3, 64, marker(5)) != 0) p3 = nullptr;
        counted(p3);
        void* p4 = counted(aligned_alloc(64, marker(6)));

        big* p5 = new big;
        counted(p5);
        char* p6 = new char[marker(8)];
        counted(p6);
        aligned_big* p7 = new aligned_big;
        counted(p7);

        void* p8 = counted(memalign(64, marker(10)));
        void* p9 = counted(valloc(marker(11)));
        void* p10 = counted(pvalloc(marker(12)));

        // Cross-thread frees: p1 and p4 are freed by the next worker.
        give(next, p1);
        give(next, p4);

        std::free(p2);
        count_free();
        std::free(buf);
        count_free();
        std::free(p3);
        count_free();
        delete p5;  // sized delete
        count_free();
        delete[] p6;
        count_free();
        delete p7;  // sized, aligned delete
        count_free();
        std::free(p8);
        count_free();
        std::free(p9);
        count_free();
        std::free(p10);
        count_free();
    }
    produced.arrive_and_wait();  // every block handed to this worker is now in its queue
    std::lock_guard<std::mutex> l(queues[w].m);
    for (void* p : queues[w].q) {
        std::free(p);
        count_free();
    }
    queues[w].q.clear();
}

}  // namespace

int main(int argc, char** argv) {
    const bool do_fork = argc > 1 && std::strcmp(argv[1], "fork") == 0;
    if (do_fork) iterations = 3000;
    {
        std::barrier<> produced(workers);
        std::vector<std::thread> threads;
        for (int w = 0; w < workers; ++w) threads.emplace_back(worker, w, std::ref(produced));
        for (auto& t : threads) t.join();
    }
    if (do_fork) {
        std::fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) return 2;
        if (pid == 0) {
            // Not traced: these calls must not appear in the trace.
            for (int i = 0; i < 10; ++i) {
                void* p = std::malloc(marker(13));
                use(p);
                std::free(p);
            }
            std::exit(0);  // flushes every stdio stream, the recorder's included
        }
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
    }
    std::printf("allocations=%ld frees=%ld\n", allocations.load(), frees.load());
    return 0;
}
