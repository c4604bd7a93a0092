// trace_reader_fuzz: a libFuzzer target for the trace reader, run by `make fuzz`. Each input
// becomes a trace file (trace_fuzz_input.hpp) that validate() must accept or refuse with a
// trace_error; an accepted trace must then load, plan and replay (simulated) consistently, and
// the streamed global order and plan must be the whole-trace ones.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/format/trace_order.hpp"
#include "workloads/trace/fuzz/trace_fuzz_input.hpp"
#include "workloads/trace/replay/replay_plan.hpp"

using namespace allocmeter::trace;

namespace {

// A broken invariant is a finding: say which, then trap so libFuzzer saves the input.
#define FUZZ_CHECK(cond)                                                                              \
    do {                                                                                              \
        if (!(cond)) {                                                                                \
            std::fprintf(stderr, "trace_reader_fuzz: invariant broken at line %d: %s\n", __LINE__, #cond); \
            __builtin_trap();                                                                         \
        }                                                                                             \
    } while (0)

// The reader opens a path: one memfd, rewritten for every input, stands in for the file, so
// the fuzz loop touches no disk.
class memfd_file {
public:
    memfd_file() : fd_(memfd_create("trace_reader_fuzz", MFD_CLOEXEC)) {
        if (fd_ < 0) {
            std::perror("trace_reader_fuzz: memfd_create");
            std::abort();
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }

    void write(const std::vector<std::uint8_t>& bytes) {
        if (::ftruncate(fd_, 0) != 0) fatal("ftruncate");
        for (std::size_t done = 0; done < bytes.size();) {
            const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
            if (n <= 0) fatal("pwrite");
            done += static_cast<std::size_t>(n);
        }
    }
    const std::string& path() const noexcept { return path_; }

private:
    [[noreturn]] static void fatal(const char* what) {
        std::perror(what);
        std::abort();
    }
    int fd_;
    std::string path_;
};

bool allocating(const event& e) {
    return e.kind == op::malloc || e.kind == op::calloc || e.kind == op::aligned || e.kind == op::new_;
}
bool releasing(const event& e) { return e.kind == op::free || e.kind == op::free_sized || e.kind == op::delete_; }

// What load_sorted gives for an accepted trace agrees with validate()'s summary and with the
// spec's rules for a whole trace: dense thread ids, time never going back within a thread.
void check_events(const std::vector<event>& events, const trace_summary& s, const trace_header& h) {
    FUZZ_CHECK(events.size() == s.events);
    FUZZ_CHECK((s.threads == 0) == events.empty());
    FUZZ_CHECK(s.peak_live_objects <= s.events);
    FUZZ_CHECK(h.version >= oldest_format_version && h.version <= format_version);
    FUZZ_CHECK(h.pointer_size == 4 || h.pointer_size == 8);
    FUZZ_CHECK(!h.timestamps || h.clock != clock_source::none);
    FUZZ_CHECK(s.threads <= s.events);  // a replay starts one thread per recorded thread
    // RSS samples only where the header announces them (version 2), each within the format's limits.
    FUZZ_CHECK(h.rss_samples || s.rss.samples == 0);
    FUZZ_CHECK(!h.rss_samples || h.version >= 2);
    FUZZ_CHECK(s.rss.samples <= max_rss_points && s.rss.peak_bytes <= max_size && s.rss.first_bytes <= s.rss.peak_bytes);
    std::vector<bool> seen(s.threads, false);
    std::vector<std::uint64_t> last_time(s.threads, 0);
    for (std::size_t i = 0; i < events.size(); ++i) {
        const event& e = events[i];
        FUZZ_CHECK(e.thread < s.threads);
        FUZZ_CHECK(e.time_ns >= last_time[e.thread]);
        last_time[e.thread] = e.time_ns;
        seen[e.thread] = true;
        FUZZ_CHECK(e.id <= s.max_id && e.old_id <= s.max_id);
        FUZZ_CHECK(e.size <= max_size && e.count <= max_size && e.alignment <= max_size);
        FUZZ_CHECK(i == 0 || events[i - 1].seq < e.seq);  // validate() refuses a seq used twice
        FUZZ_CHECK(h.timestamps || e.time_ns == 0);
    }
    for (bool b : seen) FUZZ_CHECK(b);
}

// Counts the plan must have, derived from the events directly.
struct expected_counts {
    std::uint64_t allocs = 0, frees = 0, reallocs = 0;
};

expected_counts count_steps(const std::vector<event>& events) {
    expected_counts c;
    for (const event& e : events) {
        if (allocating(e)) {
            c.allocs += e.id != 0;
        } else if (releasing(e)) {
            c.frees += e.id != 0;
        } else if (e.kind == op::realloc) {
            if (e.id == 0) {
                c.frees += e.size == 0 && e.old_id != 0;  // realloc(p, 0) freed p; a failure did nothing
            } else {
                (e.old_id == 0 ? c.allocs : c.reallocs) += 1;
            }
        }
    }
    return c;
}

// The plan's shape: counts, table bounds, realloc heads followed by their old object's free
// slot, and waits that point at real, other-thread slots that publish.
void check_plan_shape(const replay_plan& plan, const std::vector<event>& events, const trace_summary& s) {
    const expected_counts want = count_steps(events);
    FUZZ_CHECK(plan.threads.size() == s.threads && plan.waits.size() == s.threads);
    FUZZ_CHECK(plan.allocs == want.allocs && plan.frees == want.frees && plan.reallocs == want.reallocs);
    FUZZ_CHECK(plan.steps == plan.allocs + plan.frees + plan.reallocs);
    FUZZ_CHECK(plan.peak_live_bytes == s.peak_live_bytes);
    FUZZ_CHECK(plan.leaks.size() == plan.allocs - plan.frees);  // a realloc ends one object and starts one
    FUZZ_CHECK(plan.max_id <= plan.allocs + plan.reallocs);  // one pointer table entry per object at most
    FUZZ_CHECK(plan.largest_request <= max_size);
    std::uint64_t calls = 0, slots = 0, deps = 0;
    for (std::size_t t = 0; t < plan.threads.size(); ++t) {
        const std::vector<replay_step>& steps = plan.threads[t];
        slots += steps.size();
        std::size_t wait = 0;
        for (std::size_t i = 0; i < steps.size(); ++i, ++calls) {
            const replay_step& st = steps[i];
            FUZZ_CHECK(st.id <= plan.max_id && st.old_id <= plan.max_id);
            FUZZ_CHECK(st.align() >= 16 && st.size() <= max_size);
            FUZZ_CHECK(st.waits() <= 2 && wait + st.waits() <= plan.waits[t].size());
            for (unsigned k = 0; k < st.waits(); ++k) {
                const replay_dependency& d = plan.waits[t][wait + k];
                ++deps;
                FUZZ_CHECK(d.thread < plan.threads.size() && d.thread != t);
                FUZZ_CHECK(d.step < plan.threads[d.thread].size());
                FUZZ_CHECK(plan.threads[d.thread][d.step].publish());
                FUZZ_CHECK(plan.threads[d.thread][d.step].kind() != step_kind::free ||
                           d.step == 0 || plan.threads[d.thread][d.step - 1].kind() != step_kind::realloc);
            }
            if (st.waits() == 2) FUZZ_CHECK(plan.waits[t][wait].thread != plan.waits[t][wait + 1].thread);
            wait += st.waits();
            if (st.kind() == step_kind::realloc) {  // then the old object's free slot, without waits
                FUZZ_CHECK(i + 1 < steps.size() && steps[i + 1].kind() == step_kind::free);
                FUZZ_CHECK(steps[i + 1].id == st.old_id && steps[i + 1].waits() == 0 && !steps[i + 1].publish());
                ++i;
            }
        }
        FUZZ_CHECK(wait == plan.waits[t].size());
    }
    FUZZ_CHECK(calls == plan.steps && slots == plan.steps + plan.reallocs);
    FUZZ_CHECK(deps == plan.dependencies);
    for (const replay_leak& l : plan.leaks) FUZZ_CHECK(l.id != 0 && l.id <= plan.max_id);
}

// Runs the plan on a model pointer table, one schedule: each thread as far as its waits
// allow, threads taken in `forward` or reverse order, until all finish. Every allocation must
// find its slot empty, every free a live object of the recorded size and alignment, and what
// is left must be exactly the plan's leaks. A stuck schedule is a deadlock.
void simulate(const replay_plan& plan, bool forward) {
    struct object {
        bool live = false;
        std::uint64_t size = 0;
        std::size_t align = 0;
    };
    std::vector<object> table(plan.max_id + 1);
    const std::size_t n = plan.threads.size();
    std::vector<std::uint64_t> done(n, 0), wait(n, 0);
    const auto ready = [&](std::size_t t, const replay_step& st) {
        for (unsigned k = 0; k < st.waits(); ++k) {
            const replay_dependency& d = plan.waits[t][wait[t] + k];
            if (done[d.thread] <= d.step) return false;
        }
        return true;
    };
    std::uint64_t finished = 0;
    for (bool progress = true; progress;) {
        progress = false;
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t t = forward ? k : n - 1 - k;
            const std::vector<replay_step>& steps = plan.threads[t];
            while (done[t] < steps.size() && ready(t, steps[done[t]])) {
                const replay_step& st = steps[done[t]];
                wait[t] += st.waits();
                switch (st.kind()) {
                    case step_kind::alloc:
                        FUZZ_CHECK(st.id != 0 && !table[st.id].live);
                        table[st.id] = {true, st.size(), st.align()};
                        done[t] += 1;
                        break;
                    case step_kind::free:
                        FUZZ_CHECK(st.id != 0 && table[st.id].live);
                        FUZZ_CHECK(table[st.id].size == st.size() && table[st.id].align == st.align());
                        table[st.id].live = false;
                        done[t] += 1;
                        break;
                    case step_kind::realloc: {
                        const replay_step& old = steps[done[t] + 1];
                        FUZZ_CHECK(old.id != 0 && table[old.id].live);
                        FUZZ_CHECK(table[old.id].size == old.size() && table[old.id].align == old.align());
                        table[old.id].live = false;
                        FUZZ_CHECK(st.id != 0 && !table[st.id].live);
                        table[st.id] = {true, st.size(), st.align()};
                        done[t] += 2;
                        break;
                    }
                }
                ++finished;
                progress = true;
            }
        }
    }
    FUZZ_CHECK(finished == plan.steps);  // otherwise the waits form a cycle
    std::uint64_t live = 0;
    for (const object& o : table) live += o.live;
    FUZZ_CHECK(live == plan.leaks.size());
    for (const replay_leak& l : plan.leaks)
        FUZZ_CHECK(table[l.id].live && table[l.id].size == l.size && table[l.id].align == effective_align(l.align));
}

// The streamed tools agree with the whole-trace ones: ordered_events hands out load_sorted()'s
// events in its order, and replay_plan::load (validated and planned as the trace streams) makes
// the plan that build() makes from them.
void check_streamed(const std::string& path, const std::vector<event>& events, const replay_plan& plan) {
    ordered_events source(path);
    std::size_t i = 0;
    for (event e; source.next(e); ++i) FUZZ_CHECK(i < events.size() && e == events[i]);
    FUZZ_CHECK(i == events.size());
    const replay_plan streamed = replay_plan::load(path);
    FUZZ_CHECK(streamed.threads.size() == plan.threads.size());
    for (std::size_t t = 0; t < plan.threads.size(); ++t) {
        FUZZ_CHECK(streamed.threads[t].size() == plan.threads[t].size());
        FUZZ_CHECK(plan.threads[t].empty() || std::memcmp(streamed.threads[t].data(), plan.threads[t].data(),
                                                          plan.threads[t].size() * sizeof(replay_step)) == 0);
        FUZZ_CHECK(streamed.waits[t] == plan.waits[t]);
    }
    FUZZ_CHECK(streamed.leaks.size() == plan.leaks.size());
    FUZZ_CHECK(streamed.checksum == plan.checksum && streamed.max_id == plan.max_id &&
               streamed.dependencies == plan.dependencies && streamed.peak_live_bytes == plan.peak_live_bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static memfd_file file;
    static ZSTD_CCtx* const cctx = ZSTD_createCCtx();
    static std::vector<std::uint8_t> bytes;
    FUZZ_CHECK(cctx != nullptr);
    FUZZ_CHECK(fuzz::input_to_file(std::span<const std::uint8_t>(data, size), cctx, bytes));
    file.write(bytes);

    trace_summary summary;
    try {
        summary = validate(file.path());
    } catch (const trace_error&) {
        return 0;  // bad input, refused as it should be; any other exception escapes as a finding
    }

    // Accepted: reading it again must succeed and agree.
    std::vector<event> events;
    trace_header header;
    try {
        events = load_sorted(file.path(), &header);
    } catch (const trace_error& e) {
        std::fprintf(stderr, "trace_reader_fuzz: validate() accepted, load_sorted() refused: %s\n", e.what());
        __builtin_trap();
    }
    check_events(events, summary, header);
    const replay_plan plan = replay_plan::build(events, summary.threads, summary.max_id);
    check_plan_shape(plan, events, summary);
    check_streamed(file.path(), events, plan);
    simulate(plan, true);
    simulate(plan, false);
    return 0;
}
