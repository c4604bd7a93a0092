// The child's side of a cell: check who serves malloc, run the workload (or replay the trace)
// once between two usage snapshots, and fill the typed measurement the protocol sends back.
#include "harness/cell/run_cell.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <fmt/format.h>

#include "allocators/malloc_allocator.hpp"
#include "harness/cell/callgrind_boundary.hpp"
#include "harness/cell/virtual_clock.hpp"
#include "harness/run/child_process.hpp"
#include "harness/cell/library_probe.hpp"
#include "harness/os/perf_counters.hpp"
#include "harness/os/rss_sampler.hpp"
#include "harness/cell/registry.hpp"
#include "harness/os/self_stats.hpp"
#include "workloads/trace/replay/replay_plan_file.hpp"

#if ALLOCMETER_HAVE_CALLGRIND_H
#include <valgrind/callgrind.h>
#endif

namespace allocmeter {

namespace {

/// What every cell measures, whatever its workload.
struct measured {
    double wall_s = 0;
    std::uint64_t ops = 0;
    std::uint64_t checksum = 0;
    std::int64_t peak_live_bytes = 0;
    std::optional<allocator_stats> stats;
    latency_histogram alloc_ticks, free_ticks;
};

/// True when this process runs under valgrind, which run --measure callgrind's cells must.
bool under_valgrind() {
#if ALLOCMETER_HAVE_CALLGRIND_H
    return RUNNING_ON_VALGRIND != 0;
#else
    return false;
#endif
}

/// Turns callgrind's instrumentation on or off for every thread. The cell runs under
/// `valgrind --tool=callgrind --instr-atstart=no` (harness/run/callgrind_profile.hpp), so its
/// profile holds the timed region and nothing else.
void callgrind_instrumentation(bool on) {
#if ALLOCMETER_HAVE_CALLGRIND_H
    if (on)
        CALLGRIND_START_INSTRUMENTATION;
    else
        CALLGRIND_STOP_INSTRUMENTATION;
#else
    (void)on;
#endif
}

/// Takes rusage, and runs the perf counters and the RSS sampler, at the edges of the timed
/// region; under callgrind, its instrumentation too, innermost.
class usage_region final : public timed_region {
public:
    usage_region(perf_counters& counters, rss_sampler& sampler, bool external, bool callgrind)
        : counters_(counters), sampler_(sampler), external_(external), callgrind_(callgrind) {}
    void begin(const live_board& live) override {
        sampler_.start(&live.live);
        before = read_usage();
        counters_.start();
        ticks0_ = read_ticks();
        clock0_ = std::chrono::steady_clock::now();
        if (callgrind_) callgrind_instrumentation(true);
    }
    void end() override {
        if (callgrind_) callgrind_instrumentation(false);
        const std::uint64_t ticks = read_ticks();
        const auto clock = std::chrono::steady_clock::now();
        const double ns = std::chrono::duration<double, std::nano>(clock - clock0_).count();
        ticks_per_ns = ns > 0 ? static_cast<double>(ticks - ticks0_) / ns : 0;
        counters_.stop();
        after = read_usage();
        sampler_.stop();
        if (external_) malloc_stats = read_malloc_stats();  // at the end of the timed work, as reference stats are
    }
    bool threads_serialised() const noexcept override { return callgrind_; }
    usage_snapshot before, after;
    malloc_report malloc_stats;
    double ticks_per_ns = 0;  ///< the time-stamp counter's rate over the region

private:
    std::uint64_t ticks0_ = 0;
    std::chrono::steady_clock::time_point clock0_;
    perf_counters& counters_;
    rss_sampler& sampler_;
    bool external_;
    bool callgrind_;
};

/// Sampled latency percentiles in ns, for allocations and frees; none when sampling was off.
std::optional<latency_metrics> latency_of(const measured& m, std::uint64_t every, double ticks_per_ns) {
    if (every == 0 || ticks_per_ns <= 0) return std::nullopt;
    const auto one = [&](const latency_histogram& h) -> std::optional<latency_percentiles> {
        if (h.count() == 0) return std::nullopt;
        const auto ns = [&](double ticks) { return ticks / ticks_per_ns; };
        return latency_percentiles{h.count(),           ns(h.quantile(0.5)),   ns(h.quantile(0.9)),
                                   ns(h.quantile(0.99)), ns(h.quantile(0.999)), ns(static_cast<double>(h.max()))};
    };
    return latency_metrics{every, ticks_per_ns, one(m.alloc_ticks), one(m.free_ticks)};
}

allocator_report library_report(const malloc_report& r) {
    allocator_report out{true, r.source.empty() ? std::nullopt : std::optional(r.source), r.fields, std::nullopt};
    if (r.fields.empty()) out.reason = r.reason;
    return out;
}

std::optional<allocator_report> reference_report(const std::optional<allocator_stats>& s) {
    if (!s) return std::nullopt;
    return allocator_report{false,
                            std::nullopt,
                            {{"bytes_requested", s->bytes_requested},
                             {"bytes_reserved", s->bytes_reserved},
                             {"chunks", s->chunks},
                             {"blocks", s->blocks}},
                            std::nullopt};
}

/// Peak RSS growth over peak live bytes; its time-weighted mean over the series (while live
/// bytes are above zero); and RSS after the purge over the same peak. A figure that needs an
/// unknown byte count is none.
fragmentation_metrics fragmentation_of(std::optional<std::uint64_t> baseline, std::optional<std::uint64_t> peak_rss,
                                       std::int64_t peak_live, const std::optional<std::vector<rss_sample>>& samples,
                                       std::optional<std::uint64_t> purged_rss) {
    const auto ratio = [&](std::optional<std::uint64_t> rss) -> std::optional<double> {
        if (!baseline || !rss || peak_live <= 0) return std::nullopt;
        return (static_cast<double>(*rss) - static_cast<double>(*baseline)) / static_cast<double>(peak_live);
    };
    std::optional<double> mean;
    if (baseline && samples) {
        const std::vector<rss_sample>& s = *samples;
        const double base = static_cast<double>(*baseline);
        double weighted = 0, span = 0;
        for (std::size_t i = 1; i < s.size(); ++i) {
            if (s[i - 1].live_bytes <= 0) continue;
            const double dt = static_cast<double>(s[i].t_ns - s[i - 1].t_ns);
            weighted += dt * (static_cast<double>(s[i - 1].rss_bytes) - base) / static_cast<double>(s[i - 1].live_bytes);
            span += dt;
        }
        if (span > 0) mean = weighted / span;
    }
    return {ratio(peak_rss), mean, ratio(purged_rss)};
}

/// The RSS series: at most max_points samples (evenly thinned, the last one kept).
std::optional<rss_series> series_of(const std::optional<std::vector<rss_sample>>& samples, std::chrono::microseconds interval,
                                    std::size_t max_points = 128) {
    if (!samples) return std::nullopt;
    const std::vector<rss_sample>& all = *samples;
    const std::size_t step = all.size() <= max_points ? 1 : (all.size() + max_points - 1) / max_points;
    rss_series out{static_cast<double>(interval.count()) / 1000.0, all.size(), {}, {}, {}};
    for (std::size_t i = 0; i < all.size(); i += step) {
        const rss_sample& x = (i + step >= all.size()) ? all.back() : all[i];
        out.t_ms.push_back(static_cast<double>(x.t_ns) * 1e-6);
        out.rss_bytes.push_back(static_cast<std::int64_t>(x.rss_bytes));
        out.live_bytes.push_back(x.live_bytes);
    }
    return out;
}

/// What the cell's own RSS figures leave out: the resident pages of what the harness maps for
/// the cell, a trace's plan (16 bytes a call, mapped whole before the region). The plan is the
/// harness's memory, not the allocator's, and would otherwise swamp a replay's peak.
class harness_pages {
public:
    /// Measures the plan's mapping now; none for a synthetic workload.
    explicit harness_pages(const std::optional<trace::mapped_plan>& plan) {
        if (!plan) return;
        const std::int64_t rss = read_mapping_rss(plan->mapping());
        bytes_ = rss >= 0 ? std::optional(static_cast<std::uint64_t>(rss)) : std::nullopt;
    }
    /// The plan's resident bytes, 0 without one; none when smaps could not say.
    std::optional<std::uint64_t> bytes() const noexcept { return bytes_; }
    /// `rss` less those pages; none when either is unknown, or when rss is below them (plan
    /// pages reclaimed under memory pressure), rather than a figure that is not the allocator's.
    std::optional<std::uint64_t> own(std::optional<std::uint64_t> rss) const noexcept {
        if (!rss || !bytes_ || *rss < *bytes_) return std::nullopt;
        return *rss - *bytes_;
    }
    /// The sampler's series, each sample less those pages; none when sampling was off, or
    /// when a sample is below them (as for own() above).
    std::optional<std::vector<rss_sample>> own(const rss_sampler& sampler) const {
        if (!sampler.available() || !bytes_) return std::nullopt;
        std::vector<rss_sample> s = sampler.samples();
        for (rss_sample& x : s) {
            if (x.rss_bytes < *bytes_) return std::nullopt;
            x.rss_bytes -= *bytes_;
        }
        return s;
    }

private:
    std::optional<std::uint64_t> bytes_ = 0;
};

/// The smaps_rollup breakdown, its RSS less the harness's pages (the plan is file-backed, so
/// the anonymous figures never hold it).
smaps_metrics smaps_of(const smaps_rollup& r, const harness_pages& harness) {
    const auto v = [](std::int64_t x) { return x < 0 ? std::nullopt : std::optional(x); };
    const auto rss = harness.own(r.rss < 0 ? std::nullopt : std::optional(static_cast<std::uint64_t>(r.rss)));
    return {rss ? std::optional(static_cast<std::int64_t>(*rss)) : std::nullopt, v(r.anonymous), v(r.lazy_free),
            v(r.anon_huge_pages)};
}

/// The `pmu` metrics: each counter's value, per operation, the share of the region it was
/// counting, or none with the reason; and instructions per cycle where both counted.
pmu_metrics pmu_of(const std::vector<counter_reading>& readings, std::uint64_t ops) {
    pmu_metrics out;
    std::optional<double> cycles, instructions;
    for (const counter_reading& r : readings) {
        if (r.value)
            out.counters.push_back({r.name, r.value, ops > 0 ? std::optional(*r.value / static_cast<double>(ops)) : std::nullopt,
                                    r.running, std::nullopt});
        else
            out.counters.push_back({r.name, std::nullopt, std::nullopt, std::nullopt, r.reason});
        if (r.name == "cycles") cycles = r.value;
        if (r.name == "instructions") instructions = r.value;
    }
    if (cycles && instructions && *cycles > 0) out.ipc = *instructions / *cycles;
    return out;
}

/// The runner's instantiation the request asks for.
runner_kind kind_of(const cell_request& request) {
    if (request.callgrind) return runner_kind::boundary;
    return request.verify ? runner_kind::verified : runner_kind::plain;
}

/// Runs a registered synthetic workload.
std::optional<measured> run_synthetic(const cell_request& request, timed_region* region) {
    const cell_runner run = find_runner(request.runner, request.workload, kind_of(request));
    if (run == nullptr) {
        fmt::print(stderr, "no runner for allocator type '{}' and workload '{}'\n", request.runner, request.workload);
        return std::nullopt;
    }
    const workload_result r = run(request.config, region);
    return measured{r.wall_s, r.ops, r.checksum, r.peak_live_bytes, r.stats, r.alloc_ticks, r.free_ticks};
}

/// Replays request.trace with its mapped plan; fills `about`.
std::optional<measured> run_trace(const cell_request& request, const trace::replay_view& plan, timed_region* region,
                                  trace_cell& about) {
    const trace_runner run = find_trace_runner(request.runner, kind_of(request));
    if (run == nullptr) {
        fmt::print(stderr, "allocator type '{}' cannot replay traces (it has no individual free)\n", request.runner);
        return std::nullopt;
    }
    const trace_run r = run(plan, request.trace.touch, region, request.config.latency_every);
    about.leaked_objects = r.replay.leaked_objects;
    about.complete = r.replay.complete;
    if (r.replay.timed) about.timed = trace_cell::time_split{r.replay.timed->thread_s, r.replay.timed->gap_s, r.replay.timed->wait_s};
    if (!r.replay.complete) {
        fmt::print(stderr, "the replay of {} did not complete: a step did not run or an object was not freed\n",
                   request.trace.path);
        return std::nullopt;
    }
    return measured{r.replay.wall_s, r.replay.ops,         r.replay.checksum,   r.replay.peak_live_bytes,
                    r.stats,         r.replay.alloc_ticks, r.replay.free_ticks};
}

}  // namespace

int run_cell(const cell_request& request) {
    if (request.callgrind && !under_valgrind()) {
        fmt::print(stderr, "this cell measures with callgrind but does not run under valgrind (run --measure callgrind starts it so)\n");
        return 2;
    }
    if (request.callgrind) {
        virtual_clock_ticks = static_cast<std::atomic<std::uint64_t>*>(::dlsym(RTLD_DEFAULT, virtual_clock_ticks_symbol));
        if (virtual_clock_ticks == nullptr) {
            fmt::print(stderr, "this cell measures with callgrind but {} is not preloaded (run --measure callgrind "
                               "preloads it)\n", virtual_clock_library);
            return 2;
        }
    }
    const bool external = request.runner == malloc_runner_name;  // malloc, from a preload or glibc
    cell_measurement out;
    if (external) {
        const library_identity id = identify_malloc();
        const bool expected = request.expect_library == "libc"
                                  ? id.is_libc
                                  : id.path == canonical_path(request.expect_library);
        if (!expected) {
            fmt::print(stderr, "malloc is served by {}, not by {} as asked (was LD_PRELOAD ignored?)\n",
                       id.path.empty() ? "an unknown object" : id.path,
                       request.expect_library == "libc" ? "glibc" : request.expect_library);
            return 2;
        }
        const auto freed_by = malloc_allocator::bind_sized_free();
        out.library = library_info{id.path, id.version.empty() ? std::nullopt : std::optional(id.version), id.version_source,
                                   std::string(malloc_allocator::name(freed_by))};
    }

    // A trace's plan was built by the parent; it is mapped here (never allocated from the
    // allocator under test) before the baseline and the peak reset.
    const bool is_trace = request.workload == trace_workload_name;
    std::optional<trace::mapped_plan> plan;
    if (is_trace) {
        try {
            plan.emplace(request.trace.plan_path);
        } catch (const trace::trace_error& e) {
            fmt::print(stderr, "{}\n", e.what());
            return 2;
        }
        out.trace = trace_cell{request.trace.path,
                               std::string(trace::to_string(request.trace.order)),
                               std::string(trace::to_string(request.trace.touch)),
                               plan->view().threads.size(),
                               plan->steps(),
                               plan->dependencies(),
                               plan->peak_live_bytes()};
        if (plan->recorded_peak_rss_bytes() != 0) out.trace->recorded_peak_rss_bytes = plan->recorded_peak_rss_bytes();
    }

    // Opened before the workload starts its threads, so every worker inherits them.
    // Under callgrind the hardware counters would count valgrind's work: none are opened.
    std::vector<counter_spec> specs;
    try {
        if (!request.callgrind) specs = cell_counters(request.pmu_events);
    } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "--pmu-events: {}\n", e.what());
        return 2;
    }
    // The sampler's thread starts before the counters open, so they do not count it.
    rss_sampler sampler(request.sample_interval);
    perf_counters counters(specs);
    const harness_pages harness(plan);
    if (out.trace) out.trace->plan_resident_bytes = harness.bytes();
    const bool peak_reset = reset_peak_rss();
    const auto baseline = read_rss();
    usage_region usage(counters, sampler, external, request.callgrind);
    const std::optional<measured> r =
        is_trace ? run_trace(request, plan->view(), &usage, *out.trace) : run_synthetic(request, &usage);
    if (!r) return 2;
    const auto end = read_rss();
    const smaps_rollup rollup = read_smaps_rollup();
    // The workload has freed everything it held; a library may still hold it as free memory.
    const std::string purged_by = external ? purge_malloc() : "the instance was destroyed";
    const auto purged = read_rss();
    // Every RSS figure from here on is the process's less the harness's plan pages.
    const auto peak_rss = harness.own(end ? std::optional(end->hwm_bytes) : std::nullopt);
    const auto base_rss = harness.own(baseline ? std::optional(baseline->rss_bytes) : std::nullopt);
    const auto purged_rss = harness.own(purged ? std::optional(purged->rss_bytes) : std::nullopt);
    const auto samples = harness.own(sampler);

    const auto& u0 = usage.before;
    const auto& u1 = usage.after;
    cell_metrics& m = out.metrics;
    m.wall_s = r->wall_s;
    m.user_s = u1.user_s - u0.user_s;
    m.sys_s = u1.sys_s - u0.sys_s;
    m.ops = r->ops;
    // No operations, no time per operation: the parent fails such a cell rather than show a zero.
    if (r->ops > 0) m.ns_per_op = r->wall_s * 1e9 / static_cast<double>(r->ops);
    m.peak_rss_bytes = peak_rss;
    m.minor_faults = u1.minor_faults - u0.minor_faults;
    m.major_faults = u1.major_faults - u0.major_faults;
    m.switches = {u1.voluntary_switches - u0.voluntary_switches, u1.involuntary_switches - u0.involuntary_switches};
    m.peak_live_bytes = r->peak_live_bytes;
    m.pmu = pmu_of(counters.read(), r->ops);
    m.latency = latency_of(*r, request.config.latency_every, usage.ticks_per_ns);
    m.series = series_of(samples, sampler.interval());
    m.smaps = smaps_of(rollup, harness);
    m.post_purge_rss_bytes = purged_rss;
    if (!purged_by.empty()) m.purge = purged_by;
    m.fragmentation = fragmentation_of(base_rss, peak_rss, r->peak_live_bytes, samples, purged_rss);
    out.op_checksum = fmt::format("{:016x}", r->checksum);
    out.baseline_rss_bytes = base_rss;
    out.peak_rss_from = peak_reset ? "workload start" : "process start";
    out.allocator_stats = external ? std::optional(library_report(usage.malloc_stats)) : reference_report(r->stats);
    if (!send_result(out)) {
        std::perror("writing the cell result");
        return 2;
    }
    return 0;
}

}  // namespace allocmeter
