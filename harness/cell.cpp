// The child's side of a cell: check who serves malloc, run the workload (or replay the trace)
// once between two usage snapshots, and report metrics as JSON on the result fd.
#include "harness/cell.hpp"

#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <nlohmann/json.hpp>

#include "allocators/malloc_allocator.hpp"
#include "harness/child_process.hpp"
#include "harness/library_probe.hpp"
#include "harness/perf_counters.hpp"
#include "harness/rss_sampler.hpp"
#include "harness/registry.hpp"
#include "harness/self_stats.hpp"
#include "workloads/live_meter.hpp"
#include "workloads/timed_region.hpp"
#include "workloads/trace/replay/replay_plan_file.hpp"

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

/// Takes rusage, and runs the perf counters and the RSS sampler, at the edges of the timed region.
class usage_region final : public timed_region {
public:
    usage_region(perf_counters& counters, rss_sampler& sampler, bool external)
        : counters_(counters), sampler_(sampler), external_(external) {}
    void begin(const live_board& live) override {
        sampler_.start(&live.live);
        before = read_usage();
        counters_.start();
        ticks0_ = read_ticks();
        clock0_ = std::chrono::steady_clock::now();
    }
    void end() override {
        const std::uint64_t ticks = read_ticks();
        const auto clock = std::chrono::steady_clock::now();
        const double ns = std::chrono::duration<double, std::nano>(clock - clock0_).count();
        ticks_per_ns = ns > 0 ? static_cast<double>(ticks - ticks0_) / ns : 0;
        counters_.stop();
        after = read_usage();
        sampler_.stop();
        if (external_) malloc_stats = read_malloc_stats();  // at the end of the timed work, as reference stats are
    }
    usage_snapshot before, after;
    malloc_report malloc_stats;
    double ticks_per_ns = 0;  ///< the time-stamp counter's rate over the region

private:
    std::uint64_t ticks0_ = 0;
    std::chrono::steady_clock::time_point clock0_;
    perf_counters& counters_;
    rss_sampler& sampler_;
    bool external_;
};

/// Sampled latency percentiles in ns, for allocations and frees; null when sampling was off.
nlohmann::json latency_json(const measured& m, std::uint64_t every, double ticks_per_ns) {
    if (every == 0 || ticks_per_ns <= 0) return nullptr;
    const auto one = [&](const latency_histogram& h) -> nlohmann::json {
        if (h.count() == 0) return nullptr;
        const auto ns = [&](double ticks) { return ticks / ticks_per_ns; };
        return {{"samples", h.count()},          {"p50", ns(h.quantile(0.5))},   {"p90", ns(h.quantile(0.9))},
                {"p99", ns(h.quantile(0.99))},   {"p999", ns(h.quantile(0.999))}, {"max", ns(static_cast<double>(h.max()))}};
    };
    return {{"every", every}, {"ticks_per_ns", ticks_per_ns}, {"alloc", one(m.alloc_ticks)}, {"free", one(m.free_ticks)}};
}

nlohmann::json malloc_stats_json(const malloc_report& r) {
    nlohmann::json out = {{"source", r.source.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.source)}};
    for (const auto& [name, bytes] : r.fields) out[name] = bytes;
    if (r.fields.empty()) out["reason"] = r.reason;
    return out;
}

/// Peak RSS growth over peak live bytes; its time-weighted mean over the series (while live
/// bytes are above zero); and RSS after the purge over the same peak. Byte counts below zero
/// are unknown; a figure that needs one is null.
nlohmann::json fragmentation_json(double baseline, double peak_rss, std::int64_t peak_live, const rss_sampler& sampler,
                                  double purged_rss) {
    const auto ratio = [&](double rss) -> nlohmann::json {
        if (baseline < 0 || rss < 0 || peak_live <= 0) return nullptr;
        return (rss - baseline) / static_cast<double>(peak_live);
    };
    nlohmann::json mean = nullptr;
    if (baseline >= 0 && sampler.available()) {
        const std::vector<rss_sample> s = sampler.samples();
        double weighted = 0, span = 0;
        for (std::size_t i = 1; i < s.size(); ++i) {
            if (s[i - 1].live_bytes <= 0) continue;
            const double dt = static_cast<double>(s[i].t_ns - s[i - 1].t_ns);
            weighted += dt * (static_cast<double>(s[i - 1].rss_bytes) - baseline) / static_cast<double>(s[i - 1].live_bytes);
            span += dt;
        }
        if (span > 0) mean = weighted / span;
    }
    return {{"peak", ratio(peak_rss)}, {"time_weighted_mean", mean}, {"post_purge", ratio(purged_rss)}};
}

/// The RSS series: at most max_points samples (evenly thinned, the last one kept).
nlohmann::json series_json(const rss_sampler& sampler, std::size_t max_points = 128) {
    if (!sampler.available()) return nullptr;
    const std::vector<rss_sample> all = sampler.samples();
    const std::size_t step = all.size() <= max_points ? 1 : (all.size() + max_points - 1) / max_points;
    nlohmann::json t = nlohmann::json::array(), rss = nlohmann::json::array(), live = nlohmann::json::array();
    for (std::size_t i = 0; i < all.size(); i += step) {
        const rss_sample& x = (i + step >= all.size()) ? all.back() : all[i];
        t.push_back(static_cast<double>(x.t_ns) * 1e-6);
        rss.push_back(x.rss_bytes);
        live.push_back(x.live_bytes);
    }
    return {{"interval_ms", static_cast<double>(sampler.interval().count()) / 1000.0},
            {"samples", all.size()},
            {"t_ms", t},
            {"rss_bytes", rss},
            {"live_bytes", live}};
}

nlohmann::json smaps_json(const smaps_rollup& r) {
    const auto v = [](std::int64_t x) { return x < 0 ? nlohmann::json(nullptr) : nlohmann::json(x); };
    return {{"rss_bytes", v(r.rss)},
            {"anonymous_bytes", v(r.anonymous)},
            {"lazy_free_bytes", v(r.lazy_free)},
            {"anon_huge_pages_bytes", v(r.anon_huge_pages)}};
}

/// The `pmu` metrics: each counter's value, per operation, the share of the region it was
/// counting, or null with the reason; and instructions per cycle where both counted.
nlohmann::json pmu_json(const std::vector<counter_reading>& readings, std::uint64_t ops) {
    nlohmann::json out = nlohmann::json::object();
    std::optional<double> cycles, instructions;
    for (const counter_reading& r : readings) {
        if (r.value) {
            out[r.name] = {{"value", *r.value},
                           {"per_op", ops > 0 ? nlohmann::json(*r.value / static_cast<double>(ops)) : nlohmann::json(nullptr)},
                           {"running", r.running},
                           {"reason", nullptr}};
        } else {
            out[r.name] = {{"value", nullptr}, {"per_op", nullptr}, {"running", nullptr}, {"reason", r.reason}};
        }
        if (r.name == "cycles") cycles = r.value;
        if (r.name == "instructions") instructions = r.value;
    }
    out["ipc"] = cycles && instructions && *cycles > 0 ? nlohmann::json(*instructions / *cycles) : nlohmann::json(nullptr);
    return out;
}

nlohmann::json stats_json(const std::optional<allocator_stats>& s) {
    if (!s) return nullptr;
    return {{"bytes_requested", s->bytes_requested},
            {"bytes_reserved", s->bytes_reserved},
            {"chunks", s->chunks},
            {"blocks", s->blocks}};
}


/// Runs a registered synthetic workload.
std::optional<measured> run_synthetic(const cell_request& request, timed_region* region) {
    const cell_runner run = find_runner(request.runner, request.workload);
    if (run == nullptr) {
        std::fprintf(stderr, "no runner for allocator type '%s' and workload '%s'\n", request.runner.c_str(),
                     request.workload.c_str());
        return std::nullopt;
    }
    const workload_result r = run(request.config, region);
    return measured{r.wall_s, r.ops, r.checksum, r.peak_live_bytes, r.stats, r.alloc_ticks, r.free_ticks};
}

/// Replays request.trace with its mapped plan; fills `about`.
std::optional<measured> run_trace(const cell_request& request, const trace::replay_view& plan, timed_region* region,
                                  nlohmann::json& about) {
    const trace_runner run = find_trace_runner(request.runner);
    if (run == nullptr) {
        std::fprintf(stderr, "allocator type '%s' cannot replay traces (it has no individual free)\n",
                     request.runner.c_str());
        return std::nullopt;
    }
    const trace_run r = run(plan, request.trace.touch, region, request.config.latency_every);
    about["leaked_objects"] = r.replay.leaked_objects;
    about["complete"] = r.replay.complete;
    if (!r.replay.complete) {
        std::fprintf(stderr, "the replay of %s did not complete: a step did not run or an object was not freed\n",
                     request.trace.path.c_str());
        return std::nullopt;
    }
    return measured{r.replay.wall_s, r.replay.ops,         r.replay.checksum,   r.replay.peak_live_bytes,
                    r.stats,         r.replay.alloc_ticks, r.replay.free_ticks};
}

bool write_all(int fd, const std::string& text) {
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::vector<std::string> cell_request::to_args() const {
    std::vector<std::string> args{"--allocator", allocator,       "--runner", runner,
                                  "--workload",  workload,        "--expect-library", expect_library,
                                  "--threads",   std::to_string(config.threads),
                                  "--scale",     std::string(to_string(config.size)),
                                  "--seed",      std::to_string(config.seed),
                                  "--latency-every", std::to_string(config.latency_every)};
    args.insert(args.end(), {"--sample-us", std::to_string(sample_interval.count())});
    if (!pmu_events.empty()) {
        std::string list;
        for (const std::string& e : pmu_events) list += (list.empty() ? "" : ",") + e;
        args.insert(args.end(), {"--pmu-events", list});
    }
    if (workload == trace_workload_name)
        args.insert(args.end(), {"--trace", trace.path, "--plan", trace.plan_path,
                                 "--touch", std::string(trace::to_string(trace.touch)),
                                 "--replay", std::string(trace::to_string(trace.order))});
    return args;
}

int run_cell(const cell_request& request) {
    const bool external = request.runner == malloc_runner_name;  // malloc, from a preload or glibc
    nlohmann::json library = nullptr;
    if (external) {
        const library_identity id = identify_malloc();
        const bool expected = request.expect_library == "libc"
                                  ? id.is_libc
                                  : id.path == canonical_path(request.expect_library);
        if (!expected) {
            std::fprintf(stderr, "malloc is served by %s, not by %s as asked (was LD_PRELOAD ignored?)\n",
                         id.path.empty() ? "an unknown object" : id.path.c_str(),
                         request.expect_library == "libc" ? "glibc" : request.expect_library.c_str());
            return 2;
        }
        const auto freed_by = malloc_allocator::bind_sized_free();
        library = {{"path", id.path},
                   {"version", id.version.empty() ? nlohmann::json(nullptr) : nlohmann::json(id.version)},
                   {"version_source", id.version_source},
                   {"free_function", malloc_allocator::name(freed_by)}};
    }

    // A trace's plan was built by the parent; it is mapped here (never allocated from the
    // allocator under test) before the baseline and the peak reset.
    const bool is_trace = request.workload == trace_workload_name;
    std::optional<trace::mapped_plan> plan;
    nlohmann::json about_trace = nullptr;
    if (is_trace) {
        try {
            plan.emplace(request.trace.plan_path);
        } catch (const trace::trace_error& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 2;
        }
        about_trace = {{"path", request.trace.path},
                       {"replay", trace::to_string(request.trace.order)},
                       {"touch", trace::to_string(request.trace.touch)},
                       {"replay_threads", plan->view().threads.size()},
                       {"steps", plan->steps()},
                       {"dependencies", plan->dependencies()},
                       {"recorded_peak_live_bytes", plan->peak_live_bytes()}};
    }

    // Opened before the workload starts its threads, so every worker inherits them.
    std::vector<counter_spec> specs;
    try {
        specs = cell_counters(request.pmu_events);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "--pmu-events: %s\n", e.what());
        return 2;
    }
    // The sampler's thread starts before the counters open, so they do not count it.
    rss_sampler sampler(request.sample_interval);
    perf_counters counters(specs);
    const bool peak_reset = reset_peak_rss();
    const auto baseline = read_rss();
    usage_region usage(counters, sampler, external);
    const std::optional<measured> r =
        is_trace ? run_trace(request, plan->view(), &usage, about_trace) : run_synthetic(request, &usage);
    if (!r) return 2;
    const auto end = read_rss();
    const smaps_rollup rollup = read_smaps_rollup();
    // The workload has freed everything it held; a library may still hold it as free memory.
    const std::string purged_by = external ? purge_malloc() : "the instance was destroyed";
    const auto purged = read_rss();
    const double peak_rss = end ? static_cast<double>(end->hwm_bytes) : -1;
    const double base_rss = baseline ? static_cast<double>(baseline->rss_bytes) : -1;
    const double purged_rss = purged ? static_cast<double>(purged->rss_bytes) : -1;

    const auto& u0 = usage.before;
    const auto& u1 = usage.after;
    nlohmann::json metrics = {
        {"wall_s", r->wall_s},
        {"user_s", u1.user_s - u0.user_s},
        {"sys_s", u1.sys_s - u0.sys_s},
        {"ops", r->ops},
        {"ns_per_op", r->ops > 0 ? r->wall_s * 1e9 / static_cast<double>(r->ops) : 0.0},
        {"peak_rss_bytes", end ? nlohmann::json(end->hwm_bytes) : nlohmann::json(nullptr)},
        {"minor_faults", u1.minor_faults - u0.minor_faults},
        {"major_faults", u1.major_faults - u0.major_faults},
        {"context_switches",
         {{"voluntary", u1.voluntary_switches - u0.voluntary_switches},
          {"involuntary", u1.involuntary_switches - u0.involuntary_switches}}},
        {"peak_live_bytes", r->peak_live_bytes},
        {"pmu", pmu_json(counters.read(), r->ops)},
        {"latency_ns", latency_json(*r, request.config.latency_every, usage.ticks_per_ns)},
        {"rss_series", series_json(sampler)},
        {"smaps_rollup", smaps_json(rollup)},
        {"post_purge_rss_bytes", purged ? nlohmann::json(purged->rss_bytes) : nlohmann::json(nullptr)},
        {"purge", purged_by.empty() ? nlohmann::json(nullptr) : nlohmann::json(purged_by)},
        {"fragmentation", fragmentation_json(base_rss, peak_rss, r->peak_live_bytes, sampler, purged_rss)},
    };
    char checksum[19];
    std::snprintf(checksum, sizeof checksum, "%016llx", static_cast<unsigned long long>(r->checksum));
    nlohmann::json result = {
        {"metrics", metrics},
        {"op_checksum", checksum},
        {"baseline_rss_bytes", baseline ? nlohmann::json(baseline->rss_bytes) : nlohmann::json(nullptr)},
        {"peak_rss_from", peak_reset ? "workload start" : "process start"},
        {"allocator_stats", external ? malloc_stats_json(usage.malloc_stats) : stats_json(r->stats)},
        {"library", library},
    };
    if (is_trace) result["trace"] = about_trace;
    if (!write_all(result_fd, result.dump())) {
        std::perror("writing the cell result");
        return 2;
    }
    return 0;
}

}  // namespace allocmeter
