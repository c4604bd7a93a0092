// The plan file: a fixed header, then per thread its slot and wait counts, then every
// thread's slots, every thread's waits, and the leaks, as the structs lie in memory. Written
// and read by the same build (the header checks the magic, the version and the struct sizes).
#include "workloads/trace/replay/replay_plan_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <type_traits>

namespace allocmeter::trace {

namespace {

constexpr char plan_magic[8] = {'A', 'M', 'P', 'L', 'A', 'N', '1', '\0'};

struct plan_file_header {
    char magic[8];
    std::uint32_t version;       ///< 1
    std::uint32_t threads;
    std::uint32_t slot_bytes;    ///< sizeof(replay_step): the build that wrote it
    std::uint32_t wait_bytes;    ///< sizeof(replay_dependency)
    std::uint32_t leak_bytes;    ///< sizeof(replay_leak)
    std::uint32_t reserved;
    std::uint64_t max_id, checksum, leaks, steps, dependencies, peak_live_bytes;
};
static_assert(std::is_trivially_copyable_v<replay_step> && std::is_trivially_copyable_v<replay_dependency> &&
              std::is_trivially_copyable_v<replay_leak>);

struct thread_counts {
    std::uint64_t slots, waits;
};

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
    throw trace_error(path, trace_error::no_offset, problem);
}

template <class T>
void put(std::FILE* f, const T* data, std::size_t n, const std::string& path) {
    if (n != 0 && std::fwrite(data, sizeof(T), n, f) != n) fail(path, std::string("write error: ") + std::strerror(errno));
}

}  // namespace

void save_plan(const replay_plan& plan, const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) fail(path, std::string("cannot create: ") + std::strerror(errno));
    plan_file_header h{};
    std::memcpy(h.magic, plan_magic, sizeof plan_magic);
    h.version = 1;
    h.threads = static_cast<std::uint32_t>(plan.threads.size());
    h.slot_bytes = sizeof(replay_step);
    h.wait_bytes = sizeof(replay_dependency);
    h.leak_bytes = sizeof(replay_leak);
    h.max_id = plan.max_id;
    h.checksum = plan.checksum;
    h.leaks = plan.leaks.size();
    h.steps = plan.steps;
    h.dependencies = plan.dependencies;
    h.peak_live_bytes = plan.peak_live_bytes;
    try {
        put(f, &h, 1, path);
        for (std::size_t t = 0; t < plan.threads.size(); ++t) {
            const thread_counts c{plan.threads[t].size(), plan.waits[t].size()};
            put(f, &c, 1, path);
        }
        for (const auto& slots : plan.threads) put(f, slots.data(), slots.size(), path);
        for (const auto& waits : plan.waits) put(f, waits.data(), waits.size(), path);
        put(f, plan.leaks.data(), plan.leaks.size(), path);
    } catch (...) {
        std::fclose(f);
        throw;
    }
    if (std::fclose(f) != 0) fail(path, std::string("write error: ") + std::strerror(errno));
}

mapped_plan::mapped_plan(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(plan_file_header))) {
        ::close(fd);
        fail(path, "not a replay plan (too short)");
    }
    bytes_ = static_cast<std::size_t>(st.st_size);
    base_ = ::mmap(nullptr, bytes_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    ::close(fd);
    if (base_ == MAP_FAILED) {
        base_ = nullptr;
        fail(path, std::string("cannot map: ") + std::strerror(errno));
    }
    const auto* at = static_cast<const unsigned char*>(base_);
    const unsigned char* const end = at + bytes_;
    plan_file_header h;
    std::memcpy(&h, at, sizeof h);
    if (std::memcmp(h.magic, plan_magic, sizeof plan_magic) != 0 || h.version != 1 ||
        h.slot_bytes != sizeof(replay_step) || h.wait_bytes != sizeof(replay_dependency) ||
        h.leak_bytes != sizeof(replay_leak)) {
        unmap();
        fail(path, "not a replay plan of this build of allocmeter");
    }
    at += sizeof h;
    // Each piece must fit in what is left; a short file is refused before any span is made.
    const auto take = [&](std::uint64_t count, std::size_t size) {
        if (count > static_cast<std::uint64_t>(end - at) / size) {
            unmap();
            fail(path, "truncated replay plan");
        }
        const unsigned char* p = at;
        at += count * size;
        return p;
    };
    const auto* counts = reinterpret_cast<const thread_counts*>(take(h.threads, sizeof(thread_counts)));
    for (std::uint32_t t = 0; t < h.threads; ++t)
        view_.threads.emplace_back(reinterpret_cast<const replay_step*>(take(counts[t].slots, sizeof(replay_step))),
                                   counts[t].slots);
    for (std::uint32_t t = 0; t < h.threads; ++t)
        view_.waits.emplace_back(
            reinterpret_cast<const replay_dependency*>(take(counts[t].waits, sizeof(replay_dependency))), counts[t].waits);
    view_.leaks = {reinterpret_cast<const replay_leak*>(take(h.leaks, sizeof(replay_leak))), h.leaks};
    view_.max_id = h.max_id;
    view_.checksum = h.checksum;
    steps_ = h.steps;
    dependencies_ = h.dependencies;
    peak_live_bytes_ = h.peak_live_bytes;
}

mapped_plan::~mapped_plan() { unmap(); }

void mapped_plan::unmap() noexcept {
    if (base_ != nullptr) ::munmap(base_, bytes_);
    base_ = nullptr;
}

}  // namespace allocmeter::trace
