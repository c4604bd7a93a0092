// The plan file: a fixed header, then per thread its slot and wait counts, then every
// thread's slots, every thread's gaps (a timed plan: one per slot), every thread's waits, the
// leaks and the launch schedule, as the structs lie in memory. Written
// and read by the same build (the header checks the magic, the version and the struct sizes):
// whole by save_plan, or in place as the plan is built by plan_to_file.
#include "workloads/trace/replay/replay_plan_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <vector>

#include "workloads/trace/replay/plan_builder.hpp"

namespace allocmeter::trace {

namespace {

constexpr char plan_magic[8] = {'A', 'M', 'P', 'L', 'A', 'N', '1', '\0'};

struct plan_file_header {
    char magic[8];
    std::uint32_t version;       ///< 2
    std::uint32_t threads;
    std::uint32_t slot_bytes;    ///< sizeof(replay_step): the build that wrote it
    std::uint32_t wait_bytes;    ///< sizeof(replay_dependency)
    std::uint32_t leak_bytes;    ///< sizeof(replay_leak)
    std::uint32_t launch_bytes;  ///< sizeof(replay_launch)
    std::uint32_t timed;         ///< 1: gaps follow the slots
    std::uint32_t reserved;
    std::uint64_t max_id, checksum, leaks, launches, steps, dependencies, peak_live_bytes;
    std::uint64_t recorded_peak_rss_bytes;  ///< the trace's highest RSS sample; 0 when it has none
};
static_assert(std::is_trivially_copyable_v<replay_step> && std::is_trivially_copyable_v<replay_dependency> &&
              std::is_trivially_copyable_v<replay_leak> && std::is_trivially_copyable_v<replay_launch>);
constexpr std::uint32_t plan_version = 3;

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

plan_file_header header_of(const replay_plan_totals& plan, std::uint32_t threads, std::uint64_t leaks,
                           std::uint64_t launches, bool timed) {
    plan_file_header h{};
    std::memcpy(h.magic, plan_magic, sizeof plan_magic);
    h.version = plan_version;
    h.threads = threads;
    h.slot_bytes = sizeof(replay_step);
    h.wait_bytes = sizeof(replay_dependency);
    h.leak_bytes = sizeof(replay_leak);
    h.launch_bytes = sizeof(replay_launch);
    h.timed = timed ? 1 : 0;
    h.max_id = plan.max_id;
    h.checksum = plan.checksum;
    h.leaks = leaks;
    h.launches = launches;
    h.steps = plan.steps;
    h.dependencies = plan.dependencies;
    h.peak_live_bytes = plan.peak_live_bytes;
    h.recorded_peak_rss_bytes = plan.recorded_rss.peak_bytes;
    return h;
}

// ---- the OS calls of a plan file written in place ------------------------------------------

void pwrite_all(int fd, const void* data, std::size_t n, std::uint64_t at, const std::string& path) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (n != 0) {
        const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(at));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) fail(path, std::string("write error: ") + std::strerror(w < 0 ? errno : EIO));
        p += w;
        n -= static_cast<std::size_t>(w);
        at += static_cast<std::uint64_t>(w);
    }
}

void pread_all(int fd, void* data, std::size_t n, std::uint64_t at, const std::string& path) {
    auto* p = static_cast<unsigned char*>(data);
    while (n != 0) {
        const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(at));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) fail(path, std::string("read error: ") + (r < 0 ? std::strerror(errno) : "short file"));
        p += r;
        n -= static_cast<std::size_t>(r);
        at += static_cast<std::uint64_t>(r);
    }
}

/// plan_builder's sink for a plan written as it is built. Each thread's slot count is known from
/// the first pass, so the file is laid out (and its space reserved) up front and the slots
/// region is mapped shared: a slot is stored in its final place, and a publish bit set on an
/// old slot is one store. Pages written are dropped from the mapping every few MiB (they stay
/// in the page cache, bound for the file), so what this process holds stays bounded. Waits
/// counts are known only at the end: each thread's go to a small buffer, spilled in blocks to
/// an unlinked scratch file, and are copied into place by finish().
class plan_file_sink {
public:
    plan_file_sink(const std::string& path, const std::vector<std::uint64_t>& slots, bool timed)
        : path_(path),
          timed_(timed),
          threads_(static_cast<std::uint32_t>(slots.size())),
          start_(slots.size()),
          pushed_of_(slots.size(), 0),
          waits_(slots.size()) {
        slots_at_ = sizeof(plan_file_header) + slots.size() * sizeof(thread_counts);
        std::uint64_t total = 0;
        for (std::size_t t = 0; t < slots.size(); ++t) {
            start_[t] = total;
            total += slots[t];
        }
        slots_end_ = slots_at_ + total * sizeof(replay_step);
        if (timed_) slots_end_ += (total * sizeof(std::uint32_t) + 7) / 8 * 8;  // the gaps, padded
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd_ < 0) fail(path, std::string("cannot create: ") + std::strerror(errno));
        // Reserved, so that a full disk is an error here and not a SIGBUS on a mapped store.
        if (const int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(slots_end_)); rc != 0)
            fail(path, "cannot reserve " + std::to_string(slots_end_) + " bytes: " + std::strerror(rc));
        void* m = ::mmap(nullptr, slots_end_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
        if (m == MAP_FAILED) fail(path, std::string("cannot map: ") + std::strerror(errno));
        map_ = static_cast<unsigned char*>(m);
        slots_ = reinterpret_cast<replay_step*>(map_ + slots_at_);
        gaps_ = reinterpret_cast<std::uint32_t*>(map_ + slots_at_ + total * sizeof(replay_step));
        gapped_of_.assign(slots.size(), 0);
        const std::string scratch = path + ".waits";
        spill_fd_ = ::open(scratch.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (spill_fd_ < 0) fail(scratch, std::string("cannot create: ") + std::strerror(errno));
        ::unlink(scratch.c_str());  // gone when closed, whatever happens
    }
    plan_file_sink(const plan_file_sink&) = delete;
    plan_file_sink& operator=(const plan_file_sink&) = delete;

    /// Closes everything; a plan that finish() did not complete is removed.
    ~plan_file_sink() {
        if (map_ != nullptr) ::munmap(map_, slots_end_);
        if (spill_fd_ >= 0) ::close(spill_fd_);
        if (fd_ >= 0) {
            ::close(fd_);
            ::unlink(path_.c_str());
        }
    }

    void push(std::uint32_t t, const replay_step& s) {
        slots_[start_[t] + pushed_of_[t]++] = s;
        if (++pushed_ % drop_every == 0) drop_written_pages();
    }
    replay_step& slot(std::uint32_t t, std::uint64_t index) { return slots_[start_[t] + index]; }
    void gap(std::uint32_t t, std::uint32_t g) { gaps_[start_[t] + gapped_of_[t]++] = g; }
    void wait(std::uint32_t t, const replay_dependency& d) {
        thread_waits& w = waits_[t];
        if (w.buffer.empty()) w.buffer.reserve(wait_block);
        w.buffer.push_back(d);
        if (w.buffer.size() == wait_block) spill(w);
    }

    /// Writes the waits, the leaks, the launches, the counts and the header, and closes the file.
    void finish(const replay_plan_totals& plan, const std::vector<replay_leak>& leaks,
                const std::vector<replay_launch>& launches) {
        ::munmap(map_, slots_end_);
        map_ = nullptr;
        std::vector<thread_counts> counts(threads_);
        std::uint64_t at = slots_end_;
        std::vector<replay_dependency> block(wait_block);
        for (std::uint32_t t = 0; t < threads_; ++t) {
            thread_waits& w = waits_[t];
            counts[t] = {pushed_of_[t], w.spilled.size() * wait_block + w.buffer.size()};
            for (const std::uint64_t from : w.spilled) {
                pread_all(spill_fd_, block.data(), wait_block * sizeof(replay_dependency), from, path_ + ".waits");
                pwrite_all(fd_, block.data(), wait_block * sizeof(replay_dependency), at, path_);
                at += wait_block * sizeof(replay_dependency);
            }
            pwrite_all(fd_, w.buffer.data(), w.buffer.size() * sizeof(replay_dependency), at, path_);
            at += w.buffer.size() * sizeof(replay_dependency);
            w = {};
        }
        pwrite_all(fd_, leaks.data(), leaks.size() * sizeof(replay_leak), at, path_);
        at += leaks.size() * sizeof(replay_leak);
        pwrite_all(fd_, launches.data(), launches.size() * sizeof(replay_launch), at, path_);
        const plan_file_header h = header_of(plan, threads_, leaks.size(), launches.size(), timed_);
        pwrite_all(fd_, &h, sizeof h, 0, path_);
        pwrite_all(fd_, counts.data(), counts.size() * sizeof(thread_counts), sizeof h, path_);
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) {
            ::unlink(path_.c_str());
            fail(path_, std::string("write error on close: ") + std::strerror(errno));
        }
    }

private:
    static constexpr std::size_t wait_block = 512;               ///< waits a thread buffers (8 KiB)
    static constexpr std::uint64_t drop_every = std::uint64_t{1} << 18;  ///< slots (4 MiB) between drops

    struct thread_waits {
        std::vector<replay_dependency> buffer;
        std::vector<std::uint64_t> spilled;  // offsets of its full blocks in the scratch file
    };

    void drop_written_pages() { ::madvise(map_, slots_end_, MADV_DONTNEED); }

    void spill(thread_waits& w) {
        pwrite_all(spill_fd_, w.buffer.data(), w.buffer.size() * sizeof(replay_dependency), spill_size_, path_ + ".waits");
        w.spilled.push_back(spill_size_);
        spill_size_ += w.buffer.size() * sizeof(replay_dependency);
        w.buffer.clear();
    }

    std::string path_;
    bool timed_;
    std::uint32_t threads_;
    int fd_ = -1, spill_fd_ = -1;
    unsigned char* map_ = nullptr;
    std::uint64_t slots_at_ = 0, slots_end_ = 0;
    replay_step* slots_ = nullptr;
    std::uint32_t* gaps_ = nullptr;          // timed: after every slot
    std::vector<std::uint64_t> gapped_of_;   // per thread: gaps written
    std::vector<std::uint64_t> start_;      // per thread: the index of its first slot
    std::vector<std::uint64_t> pushed_of_;  // per thread: slots pushed
    std::uint64_t pushed_ = 0;
    std::vector<thread_waits> waits_;
    std::uint64_t spill_size_ = 0;
};

}  // namespace

void save_plan(const replay_plan& plan, const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) fail(path, std::string("cannot create: ") + std::strerror(errno));
    const bool timed = !plan.gaps.empty();
    const plan_file_header h = header_of(plan, static_cast<std::uint32_t>(plan.threads.size()), plan.leaks.size(),
                                         plan.launches.size(), timed);
    try {
        put(f, &h, 1, path);
        for (std::size_t t = 0; t < plan.threads.size(); ++t) {
            const thread_counts c{plan.threads[t].size(), plan.waits[t].size()};
            put(f, &c, 1, path);
        }
        for (const auto& slots : plan.threads) put(f, slots.data(), slots.size(), path);
        if (timed) {
            std::uint64_t n = 0;
            for (const auto& g : plan.gaps) {
                put(f, g.data(), g.size(), path);
                n += g.size();
            }
            const std::uint32_t pad = 0;
            if (n % 2 != 0) put(f, &pad, 1, path);
        }
        for (const auto& waits : plan.waits) put(f, waits.data(), waits.size(), path);
        put(f, plan.leaks.data(), plan.leaks.size(), path);
        put(f, plan.launches.data(), plan.launches.size(), path);
    } catch (...) {
        std::fclose(f);
        throw;
    }
    if (std::fclose(f) != 0) fail(path, std::string("write error: ") + std::strerror(errno));
}

replay_plan_totals plan_to_file(const std::string& trace_path, const std::string& plan_path, replay_order order) {
    detail::planned_trace trace(trace_path, order);
    plan_file_sink sink(plan_path, trace.slots(), order == replay_order::timed);
    replay_plan_totals totals;
    std::vector<replay_leak> leaks;  // live at the end: as many as the trace's live objects
    const std::vector<replay_launch> launches = trace.build(sink, totals, [&](const replay_leak& l) { leaks.push_back(l); });
    sink.finish(totals, leaks, launches);
    return totals;
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
    if (std::memcmp(h.magic, plan_magic, sizeof plan_magic) != 0 || h.version != plan_version ||
        h.slot_bytes != sizeof(replay_step) || h.wait_bytes != sizeof(replay_dependency) ||
        h.leak_bytes != sizeof(replay_leak) || h.launch_bytes != sizeof(replay_launch)) {
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
    if (h.timed != 0) {
        std::uint64_t total = 0;
        for (std::uint32_t t = 0; t < h.threads; ++t) {
            view_.gaps.emplace_back(reinterpret_cast<const std::uint32_t*>(take(counts[t].slots, sizeof(std::uint32_t))),
                                    counts[t].slots);
            total += counts[t].slots;
        }
        if (total % 2 != 0) take(1, sizeof(std::uint32_t));
    }
    for (std::uint32_t t = 0; t < h.threads; ++t)
        view_.waits.emplace_back(
            reinterpret_cast<const replay_dependency*>(take(counts[t].waits, sizeof(replay_dependency))), counts[t].waits);
    view_.leaks = {reinterpret_cast<const replay_leak*>(take(h.leaks, sizeof(replay_leak))), h.leaks};
    view_.launches = {reinterpret_cast<const replay_launch*>(take(h.launches, sizeof(replay_launch))), h.launches};
    for (const replay_launch& l : view_.launches)
        if (l.thread >= h.threads || (l.after.thread != replay_dependency::none && l.after.thread >= h.threads)) {
            unmap();
            fail(path, "damaged replay plan (a launch names no thread of the plan)");
        }
    view_.max_id = h.max_id;
    view_.checksum = h.checksum;
    steps_ = h.steps;
    dependencies_ = h.dependencies;
    peak_live_bytes_ = h.peak_live_bytes;
    recorded_peak_rss_bytes_ = h.recorded_peak_rss_bytes;
}

mapped_plan::~mapped_plan() { unmap(); }

void mapped_plan::unmap() noexcept {
    if (base_ != nullptr) ::munmap(base_, bytes_);
    base_ = nullptr;
}

}  // namespace allocmeter::trace
