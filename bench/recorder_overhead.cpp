// recorder_overhead: what recording costs, as figures (a benchmark, not a test: it asserts
// nothing about time). Runs an allocation-heavy workload (this program, "work THREADS OPS")
// and two programs Debian ships (sort on a generated 20 MB file, python3 on a small script)
// unrecorded, under the recorder, and under an older recorder (--old-shim), then prints the
// median wall time of each, the ratios, and the trace's size in bytes per event.
//
//   recorder_overhead [--runs N] [--ops N] [--old-shim PATH] [--quick]
//   scripts/recorder-overhead.sh builds the old (global lock) recorder from git and runs this.

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/recording/trace_spool.hpp"

#ifndef RECORDER_SHIM
#error "RECORDER_SHIM must name the recorder shared library"
#endif

extern char** environ;

namespace tr = allocmeter::trace;
namespace fs = std::filesystem;

namespace {

// ---- the workload -----------------------------------------------------------------------------

std::uint64_t next(std::uint64_t& s) {  // xorshift64*
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
}

// Mixed sizes: mostly small, some medium, a few large, as allocation-heavy programs make them.
std::size_t pick_size(std::uint64_t r) {
    const unsigned kind = static_cast<unsigned>(r % 100);
    r >>= 8;
    if (kind < 70) return 16 + r % 241;    // 16 .. 256 B
    if (kind < 95) return 257 + r % 3840;  // .. 4 KiB
    return 4097 + r % 61440;               // .. 64 KiB
}

// ops malloc/free pairs over a working set of 4096 live blocks, one byte written in each.
void work_thread(unsigned seed, long ops) {
    constexpr std::size_t live = 4096;
    std::vector<void*> slot(live, nullptr);
    std::uint64_t s = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (long i = 0; i < ops; ++i) {
        const std::uint64_t r = next(s);
        void*& p = slot[r % live];
        std::free(p);
        p = std::malloc(pick_size(r >> 12));
        if (p == nullptr) std::abort();
        static_cast<volatile char*>(p)[0] = 1;
    }
    for (void* p : slot) std::free(p);
}

int work(int threads, long ops) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) ts.emplace_back(work_thread, static_cast<unsigned>(t), ops / threads);
    for (auto& t : ts) t.join();
    return 0;
}

// ---- running programs -------------------------------------------------------------------------

std::string self_path() { return fs::read_symlink("/proc/self/exe").string(); }

// The environment without the recorder's variables, plus `extra`.
std::vector<std::string> environment(const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string v = *e;
        if (v.rfind("LD_PRELOAD=", 0) == 0 || v.rfind("ALLOCMETER_", 0) == 0) continue;
        env.push_back(v);
    }
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

// Runs argv with env, stdout to /dev/null, and returns its wall time in seconds; nullopt when
// it did not exit with 0.
std::optional<double> timed_run(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    std::vector<char*> a, e;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    for (auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
    e.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    const auto t0 = std::chrono::steady_clock::now();
    pid_t pid;
    const int rc = posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), e.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        std::fprintf(stderr, "recorder_overhead: cannot start %s: %s\n", a[0], std::strerror(rc));
        return std::nullopt;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "recorder_overhead: %s failed (status %d)\n", a[0], status);
        return std::nullopt;
    }
    return s;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::uint64_t count_events(const std::string& trace) {
    tr::trace_reader r(trace);
    std::uint64_t n = 0;
    for (tr::event e; r.next(e);) ++n;
    return n;
}

struct program {
    std::string name;
    std::vector<std::string> argv;
};

struct row {
    std::vector<double> plain, rec, conv, old;
    std::uint64_t events = 0, old_events = 0;
    double bytes_per_event = 0, spool_bytes_per_event = 0, old_bytes_per_event = 0;
    bool failed = false;
};

row measure(const program& p, int runs, const std::string& old_shim, const fs::path& dir) {
    row r;
    const std::string spool = (dir / "run.trace.spool").string(), trace = (dir / "run.trace").string();
    const std::string old_trace = (dir / "old.trace").string();
    for (int i = 0; i < runs && !r.failed; ++i) {
        // Interleaved, so that a change in the machine's load hits every column alike.
        if (auto t = timed_run(p.argv, environment({})))
            r.plain.push_back(*t);
        else
            r.failed = true;

        fs::remove(spool);
        if (auto t = timed_run(p.argv, environment({"LD_PRELOAD=" RECORDER_SHIM, "ALLOCMETER_SPOOL=" + spool}))) {
            r.rec.push_back(*t);
            const auto c0 = std::chrono::steady_clock::now();
            const tr::spool_summary s = tr::convert_spool(spool, trace);
            r.conv.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count());
            r.events = s.events;
            r.bytes_per_event =
                static_cast<double>(fs::file_size(trace)) / static_cast<double>(std::max<std::uint64_t>(s.events, 1));
            r.spool_bytes_per_event =
                static_cast<double>(fs::file_size(spool)) / static_cast<double>(std::max<std::uint64_t>(s.records, 1));
        } else {
            r.failed = true;
        }

        if (!old_shim.empty()) {
            fs::remove(old_trace);
            if (auto t =
                    timed_run(p.argv, environment({"LD_PRELOAD=" + old_shim, "ALLOCMETER_TRACE_OUT=" + old_trace}))) {
                r.old.push_back(*t);
                if (i == 0) {
                    r.old_events = count_events(old_trace);
                    r.old_bytes_per_event = static_cast<double>(fs::file_size(old_trace)) /
                                            static_cast<double>(std::max<std::uint64_t>(r.old_events, 1));
                }
            } else {
                r.failed = true;
            }
        }
    }
    fs::remove(spool);
    fs::remove(trace);
    fs::remove(old_trace);
    return r;
}

// 20 MB of numbers, one per line, from a seeded generator.
void write_numbers(const std::string& path) {
    std::ofstream out(path);
    std::uint64_t s = 42;
    std::string line;
    for (std::size_t bytes = 0; bytes < 20u << 20;) {
        line = std::to_string(next(s) % 1000000000) + "\n";
        out << line;
        bytes += line.size();
    }
}

const char* python_script = R"(import json
rows = [{"name": "item%d" % i, "tags": ["t%d" % (i % 7)] * (i % 40), "text": "x" * (i % 600)} for i in range(60000)]
blob = json.dumps(rows)
back = json.loads(blob)
index = {}
for r in back:
    index.setdefault(r["name"][-2:], []).append(r["text"])
print(len(blob), len(index))
)";

std::string human(std::uint64_t n) {
    char buf[32];
    if (n >= 1000000)
        std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(n) / 1e6);
    else if (n >= 1000)
        std::snprintf(buf, sizeof buf, "%.0fk", static_cast<double>(n) / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
    return buf;
}

const char* const usage = R"(recorder_overhead: the recorder's overhead, measured

usage: recorder_overhead [--runs N] [--ops N] [--old-shim PATH] [--quick]

Runs each program unrecorded, recorded (the recorder next to this binary: LD_PRELOAD and
ALLOCMETER_SPOOL, then the spool is converted, timed apart), and, with --old-shim, under an
older recorder that writes its trace itself (ALLOCMETER_TRACE_OUT). Prints medians of N runs
(default 5) of wall time, the ratio to unrecorded, and the trace's bytes per event.
  --ops N   malloc/free pairs of the allocation workload (default 4000000)
  --quick   1 run each, 400000 ops: a smoke test of the benchmark itself

example:
  scripts/recorder-overhead.sh            (builds the old recorder from git, then runs this)
)";

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 4 && std::strcmp(argv[1], "work") == 0) return work(std::atoi(argv[2]), std::atol(argv[3]));
    int runs = 5;
    long ops = 4000000;
    std::string old_shim;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--runs" && i + 1 < argc)
            runs = std::max(1, std::atoi(argv[++i]));
        else if (a == "--ops" && i + 1 < argc)
            ops = std::max(1L, std::atol(argv[++i]));
        else if (a == "--old-shim" && i + 1 < argc)
            old_shim = fs::absolute(argv[++i]).string();
        else if (a == "--quick")
            runs = 1, ops = 400000;
        else {
            std::fputs(usage, a == "--help" || a == "-h" ? stdout : stderr);
            return a == "--help" || a == "-h" ? 0 : 2;
        }
    }
    std::string tmpl = (fs::temp_directory_path() / "recorder_overhead.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        std::perror("recorder_overhead: mkdtemp");
        return 1;
    }
    const fs::path dir = tmpl;
    const std::string numbers = (dir / "numbers.txt").string(), script = (dir / "script.py").string();
    write_numbers(numbers);
    std::ofstream(script) << python_script;

    const std::string self = self_path(), n = std::to_string(ops);
    std::vector<program> programs = {
        {"alloc, 1 thread", {self, "work", "1", n}},
        {"alloc, 2 threads", {self, "work", "2", n}},
        {"sort -n, 20 MB", {"/usr/bin/sort", "-n", numbers}},
        {"python3 json", {"/usr/bin/python3", script}},
    };

    struct utsname u;
    uname(&u);
    std::printf("recorder overhead on %s (%u CPUs), median of %d run%s, wall seconds; alloc = %s malloc/free pairs\n",
                u.nodename, std::thread::hardware_concurrency(), runs, runs == 1 ? "" : "s",
                human(static_cast<std::uint64_t>(ops)).c_str());
    std::printf("%-18s %8s %8s %16s %8s %16s %8s %11s %11s %9s\n", "program", "events", "plain", "new recorder",
                "convert", "old recorder", "old/new", "B/event new", "B/event old", "spool B/e");
    for (const program& p : programs) {
        std::fflush(stdout);
        const row r = measure(p, runs, old_shim, dir);
        if (r.failed) {
            std::printf("%-18s failed (see above)\n", p.name.c_str());
            continue;
        }
        const double plain = median(r.plain), rec = median(r.rec), old = median(r.old);
        char oldcol[32] = "-", gain[16] = "-", oldb[16] = "-";
        if (!r.old.empty()) {
            std::snprintf(oldcol, sizeof oldcol, "%.3f %6.2fx", old, old / plain);
            std::snprintf(gain, sizeof gain, "%.2fx", old / rec);
            std::snprintf(oldb, sizeof oldb, "%.2f", r.old_bytes_per_event);
        }
        std::printf("%-18s %8s %8.3f %8.3f %6.2fx %8.3f %16s %8s %11.2f %11s %9.2f\n", p.name.c_str(),
                    human(r.events).c_str(), plain, rec, rec / plain, median(r.conv), oldcol, gain, r.bytes_per_event,
                    oldb, r.spool_bytes_per_event);
    }
    std::printf(
        "new recorder: the program's run under the shim (spool written); convert: spool to trace, apart.\n"
        "B/event: the trace file (zstd) over its events; spool B/e: the raw spool over its records.\n");
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}
