// trace_flip_survey: flips single bits of a compressed trace file and reads each damaged copy
// as validate() and load_sorted() do, counting how many are refused, read the same, or read as
// other content (what a trace's checks exist to rule out). The measurement behind the trace
// checks of docs/trace-format.md; a test runs it on a few flips so that it keeps working.
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "workloads/trace/format/trace_format.hpp"

using namespace allocmeter::trace;

namespace {

using bytes = std::vector<std::uint8_t>;

const char* const usage =
    "usage: trace_flip_survey [--as-v2] [--every N] [--threads N] FILE\n"
    "\n"
    "Flips each bit of FILE, a compressed trace (every Nth bit with --every), and reads each\n"
    "damaged copy as validate() and load_sorted() do. Prints how many were refused, read the same,\n"
    "and read other content. --as-v2 first rewrites FILE as format version 2 (same events, the\n"
    "writer's chunks) and flips that. Exit 1 when any flip read other content, 2 on bad usage.\n"
    "\n"
    "example: build/trace_flip_survey --as-v2 workloads/traces/cc1-compile.trace\n";

bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(in), {});
}

// The decompressed stream as the reader's zstd loop sees it; false where the reader's zstd
// would fail (corrupt data, or the file ending inside a frame).
bool decompress(ZSTD_DCtx* d, const bytes& in, bytes& out) {
    out.clear();
    ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
    static thread_local bytes buf(ZSTD_DStreamOutSize());
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    std::size_t r = 0;
    for (;;) {
        ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
        r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r)) return false;
        out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(ob.pos));
        if (ib.pos == ib.size && ob.pos < ob.size) break;
    }
    return r == 0;
}

// One memfd per worker stands in for the damaged file: no disk writes per flip.
class memfd_file {
public:
    memfd_file() : fd_(memfd_create("trace_flip_survey", MFD_CLOEXEC)), path_("/proc/self/fd/" + std::to_string(fd_)) {}
    ~memfd_file() { ::close(fd_); }
    bool write(const bytes& b) {
        if (::ftruncate(fd_, 0) != 0) return false;
        return ::pwrite(fd_, b.data(), b.size(), 0) == static_cast<ssize_t>(b.size());
    }
    const std::string& path() const { return path_; }

private:
    int fd_;
    std::string path_;
};

std::vector<event> without_offsets(std::vector<event> v) {
    for (event& e : v) e.at = 0;
    return v;
}

bool same_header(const trace_header& a, const trace_header& b) {
    return a.version == b.version && a.pointer_size == b.pointer_size && a.timestamps == b.timestamps &&
           a.page_size == b.page_size && a.clock == b.clock && a.command_line == b.command_line && a.host == b.host;
}

// FILE rewritten as version 2 into `out`: every event in file order, so each thread keeps its order.
void rewrite_as_v2(const std::string& file, const std::string& out) {
    trace_reader r(file);
    trace_header h = r.header();
    h.version = 2;
    trace_writer w(out, h);
    for (event e; r.next(e);) w.append(e);
    w.close();
}

struct tally {
    std::atomic<std::uint64_t> zstd_refused{0}, reader_refused{0}, same_stream{0}, same_content{0}, other{0};
    std::mutex lock;
    std::vector<std::string> examples;  // the first flips read as other content
};

}  // namespace

int main(int argc, char** argv) {
    bool as_v2 = false;
    std::uint64_t every = 1;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    std::string file;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            return 0;
        } else if (a == "--as-v2") {
            as_v2 = true;
        } else if ((a == "--every" || a == "--threads") && i + 1 < argc) {
            const long v = std::strtol(argv[++i], nullptr, 10);
            if (v < 1) {
                std::fprintf(stderr, "trace_flip_survey: %s needs a number of at least 1\n%s", a.c_str(), usage);
                return 2;
            }
            if (a == "--every") {
                every = static_cast<std::uint64_t>(v);
            } else {
                threads = static_cast<unsigned>(v);
            }
        } else if (!a.starts_with("-") && file.empty()) {
            file = a;
        } else {
            std::fprintf(stderr, "trace_flip_survey: unexpected argument '%s'\n%s", a.c_str(), usage);
            return 2;
        }
    }
    if (file.empty()) {
        std::fprintf(stderr, "trace_flip_survey: give a trace file\n%s", usage);
        return 2;
    }

    bytes original;
    trace_header want_header;
    std::vector<event> want;
    try {
        std::string subject = file;
        const std::string v2 = (std::filesystem::temp_directory_path() /
                                ("trace_flip_survey_" + std::to_string(::getpid()) + ".trace")).string();
        if (as_v2) {
            rewrite_as_v2(file, v2);
            subject = v2;
        }
        original = read_file(subject);
        validate(subject);
        want = without_offsets(load_sorted(subject, &want_header));
        if (as_v2) std::filesystem::remove(v2);
    } catch (const trace_error& e) {
        std::fprintf(stderr, "trace_flip_survey: %s\n", e.what());
        return 2;
    }
    ZSTD_DCtx* d0 = ZSTD_createDCtx();
    bytes stream;
    if (original.empty() || !decompress(d0, original, stream)) {
        std::fprintf(stderr, "trace_flip_survey: %s: cannot decompress\n", file.c_str());
        return 2;
    }
    ZSTD_freeDCtx(d0);

    const std::uint64_t bits = original.size() * 8;
    tally t;
    std::atomic<std::uint64_t> next{0};
    const auto worker = [&] {
        memfd_file f;
        ZSTD_DCtx* d = ZSTD_createDCtx();
        bytes damaged, out;
        for (std::uint64_t k; (k = next.fetch_add(1)) * every < bits;) {
            const std::uint64_t bit = k * every;
            damaged = original;
            damaged[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
            if (!decompress(d, damaged, out)) {
                ++t.zstd_refused;  // the reader reads the whole stream, so its zstd fails the same way
                continue;
            }
            if (out == stream) {
                ++t.same_stream;
                continue;
            }
            f.write(damaged);
            try {
                {  // the reader alone first: it refuses most damage at a fraction of validate()'s cost
                    trace_reader r(f.path());
                    for (event e; r.next(e);) {
                    }
                }
                validate(f.path());
                trace_header h;
                const std::vector<event> got = without_offsets(load_sorted(f.path(), &h));
                if (same_header(h, want_header) && got == want) {
                    ++t.same_content;
                    continue;
                }
                ++t.other;
                std::lock_guard<std::mutex> g(t.lock);
                if (t.examples.size() < 10) t.examples.push_back("bit " + std::to_string(bit));
            } catch (const trace_error&) {
                ++t.reader_refused;
            }
        }
        ZSTD_freeDCtx(d);
    };
    std::vector<std::thread> pool;
    for (unsigned i = 0; i < threads; ++i) pool.emplace_back(worker);
    for (std::thread& th : pool) th.join();

    const std::uint64_t flips = t.zstd_refused + t.reader_refused + t.same_stream + t.same_content + t.other;
    std::printf("%s%s: format version %u, %zu bytes, %llu of %llu bits flipped (every %llu)\n", file.c_str(),
                as_v2 ? " rewritten as version 2" : "", want_header.version, original.size(),
                static_cast<unsigned long long>(flips), static_cast<unsigned long long>(bits),
                static_cast<unsigned long long>(every));
    std::printf("  refused:              %llu (%llu by zstd, %llu by the trace reader)\n",
                static_cast<unsigned long long>(t.zstd_refused + t.reader_refused),
                static_cast<unsigned long long>(t.zstd_refused), static_cast<unsigned long long>(t.reader_refused));
    std::printf("  read the same:        %llu (%llu with the same decompressed stream)\n",
                static_cast<unsigned long long>(t.same_stream + t.same_content),
                static_cast<unsigned long long>(t.same_stream));
    std::printf("  read other content:   %llu\n", static_cast<unsigned long long>(t.other));
    for (const std::string& e : t.examples) std::printf("    %s\n", e.c_str());
    return t.other == 0 ? 0 : 1;
}
