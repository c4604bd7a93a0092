// The JSON form of the results record: the only file that spells the results' keys. Writing
// is plain; reading is strict: a field that is missing or of the wrong type is a results_error
// naming the file, the cell and the field, so no reader downstream meets a damaged value.
#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <nlohmann/json.hpp>

#include "harness/results/record.hpp"

namespace allocmeter {

using json = nlohmann::json;

namespace {

// ----- reading, strictly

/// Where a value sits, for messages: the file, the cell and the field path.
struct place {
    const std::string& file;
    std::string cell;    ///< "cell 3 (system, frame, 1 thread, rep 2)", or "" outside the cells
    std::string prefix;  ///< "metrics." inside an object

    place in(std::string_view key) const { return {file, cell, prefix + std::string(key) + "."}; }

    [[noreturn]] void fail(std::string_view key, std::string_view what) const {
        throw results_error(fmt::format("{}: {}field '{}{}' {}; the file is damaged: rerun 'allocmeter run', or restore it",
                                        file, cell.empty() ? "" : cell + ": ", prefix, key, what));
    }
};

std::string_view type_name(const json& v) {
    if (v.is_null()) return "null";
    if (v.is_boolean()) return "a boolean";
    if (v.is_number()) return "a number";
    if (v.is_string()) return "a string";
    if (v.is_array()) return "an array";
    return "an object";
}

template <typename T>
bool holds(const json& v) {
    if constexpr (std::is_same_v<T, std::string>) return v.is_string();
    else if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
    else if constexpr (std::is_same_v<T, double>) return v.is_number();
    else if constexpr (std::is_same_v<T, unsigned>) return v.is_number_unsigned() && v.get<std::uint64_t>() <= UINT_MAX;
    else if constexpr (std::is_unsigned_v<T>) return v.is_number_unsigned();
    else if constexpr (std::is_integral_v<T>) return v.is_number_integer();
    else return false;
}

template <typename T>
std::string_view wanted() {
    if constexpr (std::is_same_v<T, std::string>) return "a string";
    else if constexpr (std::is_same_v<T, bool>) return "a boolean";
    else if constexpr (std::is_same_v<T, double>) return "a number";
    else if constexpr (std::is_unsigned_v<T>) return "a whole number of 0 or more";
    else return "a whole number";
}

/// The object at `key` (which must be one).
const json& object_at(const json& o, std::string_view key, const place& at) {
    const auto it = o.find(key);
    if (it == o.end()) at.fail(key, "is missing");
    if (!it->is_object()) at.fail(key, fmt::format("is {}, not an object", type_name(*it)));
    return *it;
}

/// A value that must be present and not null.
template <typename T>
T required(const json& o, std::string_view key, const place& at) {
    const auto it = o.find(key);
    if (it == o.end()) at.fail(key, "is missing");
    if (!holds<T>(*it)) at.fail(key, fmt::format("is {}, not {}", type_name(*it), wanted<T>()));
    return it->get<T>();
}

/// A value that must be present and may be null.
template <typename T>
std::optional<T> nullable(const json& o, std::string_view key, const place& at) {
    const auto it = o.find(key);
    if (it == o.end()) at.fail(key, "is missing");
    if (it->is_null()) return std::nullopt;
    if (!holds<T>(*it)) at.fail(key, fmt::format("is {}, not {} or null", type_name(*it), wanted<T>()));
    return it->get<T>();
}

/// A value that may be absent or null.
template <typename T>
std::optional<T> optional_value(const json& o, std::string_view key, const place& at) {
    return o.contains(key) ? nullable<T>(o, key, at) : std::nullopt;
}

/// An array of T at `key`.
template <typename T>
std::vector<T> array_of(const json& o, std::string_view key, const place& at) {
    const auto it = o.find(key);
    if (it == o.end()) at.fail(key, "is missing");
    if (!it->is_array()) at.fail(key, fmt::format("is {}, not an array", type_name(*it)));
    std::vector<T> out;
    for (std::size_t i = 0; i < it->size(); ++i) {
        const json& v = (*it)[i];
        if (!holds<T>(v)) at.fail(fmt::format("{}[{}]", key, i), fmt::format("is {}, not {}", type_name(v), wanted<T>()));
        out.push_back(v.get<T>());
    }
    return out;
}

// ----- writing

template <typename T>
json or_null(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

// ----- the parts, both ways

constexpr std::pair<cell_status, std::string_view> status_names[] = {
    {cell_status::ok, "ok"}, {cell_status::failed, "failed"}, {cell_status::timeout, "timeout"}, {cell_status::skipped, "skipped"}};

cell_status status_from(const json& o, std::string_view key, const place& at) {
    const std::string s = required<std::string>(o, key, at);
    for (const auto& [status, name] : status_names)
        if (name == s) return status;
    at.fail(key, fmt::format("is '{}', not ok, failed, timeout or skipped", s));
}

json library_json(const library_info& l) {
    return {{"path", l.path}, {"version", or_null(l.version)}, {"version_source", l.version_source},
            {"free_function", l.free_function}};
}

library_info library_from(const json& o, const place& at) {
    return {required<std::string>(o, "path", at), nullable<std::string>(o, "version", at),
            required<std::string>(o, "version_source", at), required<std::string>(o, "free_function", at)};
}

std::optional<library_info> nullable_library(const json& o, std::string_view key, const place& at) {
    if (!o.contains(key)) at.fail(key, "is missing");
    if (o[key].is_null()) return std::nullopt;
    return library_from(object_at(o, key, at), at.in(key));
}

json pmu_json(const pmu_metrics& p) {
    json out = json::object();
    for (const counter_value& c : p.counters)
        out[c.name] = {{"value", or_null(c.value)}, {"per_op", or_null(c.per_op)}, {"running", or_null(c.running)},
                       {"reason", or_null(c.reason)}};
    out["ipc"] = or_null(p.ipc);
    return out;
}

pmu_metrics pmu_from(const json& o, const place& at) {
    pmu_metrics p;
    for (const auto& [name, v] : o.items()) {
        if (name == "ipc") continue;
        const place here = at.in(name);
        if (!v.is_object()) at.fail(name, fmt::format("is {}, not an object", type_name(v)));
        p.counters.push_back({name, nullable<double>(v, "value", here), nullable<double>(v, "per_op", here),
                              nullable<double>(v, "running", here), nullable<std::string>(v, "reason", here)});
    }
    p.ipc = nullable<double>(o, "ipc", at);
    return p;
}

json percentiles_json(const latency_percentiles& p) {
    return {{"samples", p.samples}, {"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"p999", p.p999}, {"max", p.max}};
}

latency_percentiles percentiles_from(const json& o, const place& at) {
    return {required<std::uint64_t>(o, "samples", at), required<double>(o, "p50", at), required<double>(o, "p90", at),
            required<double>(o, "p99", at),             required<double>(o, "p999", at), required<double>(o, "max", at)};
}

std::optional<latency_percentiles> nullable_percentiles(const json& o, std::string_view key, const place& at) {
    if (!o.contains(key)) at.fail(key, "is missing");
    if (o[key].is_null()) return std::nullopt;
    return percentiles_from(object_at(o, key, at), at.in(key));
}

json optional_percentiles_json(const std::optional<latency_percentiles>& p) { return p ? percentiles_json(*p) : json(nullptr); }

json series_json(const rss_series& s) {
    return {{"interval_ms", s.interval_ms}, {"samples", s.samples}, {"t_ms", s.t_ms}, {"rss_bytes", s.rss_bytes},
            {"live_bytes", s.live_bytes}};
}

rss_series series_from(const json& o, const place& at) {
    rss_series s{required<double>(o, "interval_ms", at), required<std::uint64_t>(o, "samples", at),
                 array_of<double>(o, "t_ms", at), array_of<std::int64_t>(o, "rss_bytes", at),
                 array_of<std::int64_t>(o, "live_bytes", at)};
    if (s.rss_bytes.size() != s.t_ms.size() || s.live_bytes.size() != s.t_ms.size())
        at.fail("t_ms", "has a different length from rss_bytes or live_bytes");
    return s;
}

json counts_json(const callgrind_counts& c) {
    json out = {{"instructions", c.instructions},       {"l1d_read_misses", c.l1d_read_misses},
                {"l1d_write_misses", c.l1d_write_misses}, {"ll_read_misses", c.ll_read_misses},
                {"ll_write_misses", c.ll_write_misses}};
    if (c.branches) out["branches"] = *c.branches;
    if (c.branch_mispredicts) out["branch_mispredicts"] = *c.branch_mispredicts;
    return out;
}

callgrind_counts counts_from(const json& o, const place& at) {
    return {required<std::uint64_t>(o, "instructions", at),    required<std::uint64_t>(o, "l1d_read_misses", at),
            required<std::uint64_t>(o, "l1d_write_misses", at), required<std::uint64_t>(o, "ll_read_misses", at),
            required<std::uint64_t>(o, "ll_write_misses", at),  optional_value<std::uint64_t>(o, "branches", at),
            optional_value<std::uint64_t>(o, "branch_mispredicts", at)};
}

/// The counts, and for a reader the figures per operation derived from them (not read back:
/// they follow from the counts).
json callgrind_json(const cell_metrics& m) {
    const callgrind_metrics& c = *m.callgrind;
    json out = {{"region", counts_json(c.region)},
                {"allocator", counts_json(c.allocator)},
                {"allocator_calls", c.allocator_calls},
                {"threads_serialised", c.threads_serialised},
                {"profile", c.profile}};
    for (const std::string& name : callgrind_metric_names()) out[name] = or_null(metric_by_name(m, name));
    return out;
}

callgrind_metrics callgrind_from(const json& o, const place& at) {
    callgrind_metrics c;
    c.region = counts_from(object_at(o, "region", at), at.in("region"));
    c.allocator = counts_from(object_at(o, "allocator", at), at.in("allocator"));
    c.allocator_calls = required<std::uint64_t>(o, "allocator_calls", at);
    c.threads_serialised = required<bool>(o, "threads_serialised", at);
    c.profile = required<std::string>(o, "profile", at);
    if (c.allocator.instructions > c.region.instructions)
        at.fail("allocator", "counts more instructions than the whole region");
    return c;
}

json metrics_json(const cell_metrics& m) {
    const smaps_metrics& r = m.smaps;
    const fragmentation_metrics& f = m.fragmentation;
    json latency = nullptr;
    if (m.latency)
        latency = {{"every", m.latency->every}, {"ticks_per_ns", m.latency->ticks_per_ns},
                   {"alloc", optional_percentiles_json(m.latency->alloc)}, {"free", optional_percentiles_json(m.latency->free)}};
    json out = {
        {"wall_s", m.wall_s},
        {"user_s", m.user_s},
        {"sys_s", m.sys_s},
        {"ops", m.ops},
        {"ns_per_op", or_null(m.ns_per_op)},
        {"peak_rss_bytes", or_null(m.peak_rss_bytes)},
        {"minor_faults", m.minor_faults},
        {"major_faults", m.major_faults},
        {"context_switches", {{"voluntary", m.switches.voluntary}, {"involuntary", m.switches.involuntary}}},
        {"peak_live_bytes", m.peak_live_bytes},
        {"pmu", pmu_json(m.pmu)},
        {"latency_ns", latency},
        {"rss_series", m.series ? series_json(*m.series) : json(nullptr)},
        {"smaps_rollup",
         {{"rss_bytes", or_null(r.rss_bytes)},
          {"anonymous_bytes", or_null(r.anonymous_bytes)},
          {"lazy_free_bytes", or_null(r.lazy_free_bytes)},
          {"anon_huge_pages_bytes", or_null(r.anon_huge_pages_bytes)}}},
        {"post_purge_rss_bytes", or_null(m.post_purge_rss_bytes)},
        {"purge", or_null(m.purge)},
        {"fragmentation",
         {{"peak", or_null(f.peak)}, {"time_weighted_mean", or_null(f.time_weighted_mean)}, {"post_purge", or_null(f.post_purge)}}},
    };
    if (m.callgrind) out["callgrind"] = callgrind_json(m);  // run --measure callgrind only
    return out;
}

cell_metrics metrics_from(const json& o, const place& at) {
    cell_metrics m;
    m.wall_s = required<double>(o, "wall_s", at);
    m.user_s = required<double>(o, "user_s", at);
    m.sys_s = required<double>(o, "sys_s", at);
    m.ops = required<std::uint64_t>(o, "ops", at);
    m.ns_per_op = nullable<double>(o, "ns_per_op", at);
    m.peak_rss_bytes = nullable<std::uint64_t>(o, "peak_rss_bytes", at);
    m.minor_faults = required<std::uint64_t>(o, "minor_faults", at);
    m.major_faults = required<std::uint64_t>(o, "major_faults", at);
    const json& cs = object_at(o, "context_switches", at);
    m.switches = {required<std::uint64_t>(cs, "voluntary", at.in("context_switches")),
                  required<std::uint64_t>(cs, "involuntary", at.in("context_switches"))};
    m.peak_live_bytes = required<std::int64_t>(o, "peak_live_bytes", at);
    m.pmu = pmu_from(object_at(o, "pmu", at), at.in("pmu"));
    if (!o.contains("latency_ns")) at.fail("latency_ns", "is missing");
    if (!o["latency_ns"].is_null()) {
        const json& l = object_at(o, "latency_ns", at);
        const place in = at.in("latency_ns");
        m.latency = latency_metrics{required<std::uint64_t>(l, "every", in), required<double>(l, "ticks_per_ns", in),
                                    nullable_percentiles(l, "alloc", in), nullable_percentiles(l, "free", in)};
    }
    if (!o.contains("rss_series")) at.fail("rss_series", "is missing");
    if (!o["rss_series"].is_null()) m.series = series_from(object_at(o, "rss_series", at), at.in("rss_series"));
    const json& r = object_at(o, "smaps_rollup", at);
    const place in_r = at.in("smaps_rollup");
    m.smaps = {nullable<std::int64_t>(r, "rss_bytes", in_r), nullable<std::int64_t>(r, "anonymous_bytes", in_r),
               nullable<std::int64_t>(r, "lazy_free_bytes", in_r), nullable<std::int64_t>(r, "anon_huge_pages_bytes", in_r)};
    m.post_purge_rss_bytes = nullable<std::uint64_t>(o, "post_purge_rss_bytes", at);
    m.purge = nullable<std::string>(o, "purge", at);
    const json& f = object_at(o, "fragmentation", at);
    const place in_f = at.in("fragmentation");
    m.fragmentation = {nullable<double>(f, "peak", in_f), nullable<double>(f, "time_weighted_mean", in_f),
                       nullable<double>(f, "post_purge", in_f)};
    if (o.contains("callgrind") && !o["callgrind"].is_null())  // absent in older files
        m.callgrind = callgrind_from(object_at(o, "callgrind", at), at.in("callgrind"));
    return m;
}

json report_json(const allocator_report& r) {
    json out = json::object();
    if (r.from_library) out["source"] = or_null(r.source);
    for (const auto& [name, bytes] : r.fields) out[name] = bytes;
    if (r.reason) out["reason"] = *r.reason;
    return out;
}

allocator_report report_from(const json& o, const place& at) {
    allocator_report r;
    r.from_library = o.contains("source");
    if (r.from_library) r.source = nullable<std::string>(o, "source", at);
    r.reason = optional_value<std::string>(o, "reason", at);
    for (const auto& [name, v] : o.items())
        if (name != "source" && name != "reason") r.fields.emplace_back(name, required<std::uint64_t>(o, name, at));
    return r;
}

json trace_json(const trace_cell& t) {
    json out = {{"path", t.path}, {"replay", t.replay}, {"touch", t.touch}, {"replay_threads", t.replay_threads},
                {"steps", t.steps}, {"dependencies", t.dependencies}, {"recorded_peak_live_bytes", t.recorded_peak_live_bytes},
                {"leaked_objects", t.leaked_objects}, {"complete", t.complete}};
    if (t.plan_resident_bytes) out["plan_resident_bytes"] = *t.plan_resident_bytes;
    if (t.recorded_peak_rss_bytes) out["recorded_peak_rss_bytes"] = *t.recorded_peak_rss_bytes;
    if (t.timed) out["timed"] = {{"thread_s", t.timed->thread_s}, {"gap_s", t.timed->gap_s}, {"wait_s", t.timed->wait_s}};
    return out;
}

/// A timed replay's time split: absent for the other orders and in results written before it.
std::optional<trace_cell::time_split> time_split_from(const json& o, const place& at) {
    if (!o.contains("timed")) return std::nullopt;
    const json& t = object_at(o, "timed", at);
    const place in = at.in("timed");
    return trace_cell::time_split{required<double>(t, "thread_s", in), required<double>(t, "gap_s", in),
                                  required<double>(t, "wait_s", in)};
}

trace_cell trace_from(const json& o, const place& at) {
    return {required<std::string>(o, "path", at),
            required<std::string>(o, "replay", at),
            required<std::string>(o, "touch", at),
            required<std::uint64_t>(o, "replay_threads", at),
            required<std::uint64_t>(o, "steps", at),
            required<std::uint64_t>(o, "dependencies", at),
            required<std::uint64_t>(o, "recorded_peak_live_bytes", at),
            required<std::uint64_t>(o, "leaked_objects", at),
            required<bool>(o, "complete", at),
            // Absent when smaps could not say, and in older results (whose RSS figures include the plan).
            optional_value<std::uint64_t>(o, "plan_resident_bytes", at),
            // Absent for a trace without RSS samples, and in older results.
            optional_value<std::uint64_t>(o, "recorded_peak_rss_bytes", at), time_split_from(o, at)};
}

/// The measurement's fields, merged into `out` (a cell object, or the child's own object).
void put_measurement(json& out, const cell_measurement& m) {
    out["metrics"] = metrics_json(m.metrics);
    out["op_checksum"] = m.op_checksum;
    out["baseline_rss_bytes"] = or_null(m.baseline_rss_bytes);
    out["peak_rss_from"] = m.peak_rss_from;
    out["allocator_stats"] = m.allocator_stats ? report_json(*m.allocator_stats) : json(nullptr);
    out["library"] = m.library ? library_json(*m.library) : json(nullptr);
    if (m.trace) out["trace"] = trace_json(*m.trace);
}

cell_measurement measurement_from(const json& o, const place& at) {
    cell_measurement m;
    m.metrics = metrics_from(object_at(o, "metrics", at), at.in("metrics"));
    m.op_checksum = required<std::string>(o, "op_checksum", at);
    m.baseline_rss_bytes = nullable<std::uint64_t>(o, "baseline_rss_bytes", at);
    m.peak_rss_from = required<std::string>(o, "peak_rss_from", at);
    if (!o.contains("allocator_stats")) at.fail("allocator_stats", "is missing");
    if (!o["allocator_stats"].is_null())
        m.allocator_stats = report_from(object_at(o, "allocator_stats", at), at.in("allocator_stats"));
    m.library = nullable_library(o, "library", at);
    if (o.contains("trace")) m.trace = trace_from(object_at(o, "trace", at), at.in("trace"));
    return m;
}

json cell_json(const cell_record& c) {
    json out = {{"allocator", c.allocator}, {"workload", c.workload}, {"threads", c.threads}, {"rep", c.rep},
                {"seed", c.seed},           {"scale", c.scale},       {"status", to_string(c.status)},
                {"reason", or_null(c.reason)}, {"metrics", nullptr},  {"library", nullptr}};
    if (c.measured) put_measurement(out, *c.measured);
    if (c.cell_wall_s) out["cell_wall_s"] = *c.cell_wall_s;
    if (c.replay) out["replay"] = *c.replay;
    return out;
}

cell_record cell_from(const json& o, const std::string& file, std::size_t index) {
    place at{file, fmt::format("cell {}", index), ""};
    if (!o.is_object()) throw results_error(fmt::format("{}: cell {} is {}, not an object; the file is damaged", file, index, type_name(o)));
    cell_record c;
    c.allocator = required<std::string>(o, "allocator", at);
    c.workload = required<std::string>(o, "workload", at);
    c.threads = required<unsigned>(o, "threads", at);
    c.rep = required<unsigned>(o, "rep", at);
    at.cell = fmt::format("cell {} ({}, {}, {} thread{}, rep {})", index, c.allocator, c.workload, c.threads,
                          c.threads == 1 ? "" : "s", c.rep);
    c.seed = required<std::uint64_t>(o, "seed", at);
    c.scale = required<std::string>(o, "scale", at);
    c.status = status_from(o, "status", at);
    c.reason = nullable<std::string>(o, "reason", at);
    c.cell_wall_s = optional_value<double>(o, "cell_wall_s", at);
    if (!o.contains("metrics")) at.fail("metrics", "is missing");
    if (c.status == cell_status::ok) {
        c.measured = measurement_from(o, at);
        if (!c.measured->metrics.ns_per_op) at.fail("metrics.ns_per_op", "is null in an ok cell");
    } else if (!o["metrics"].is_null()) {
        at.fail("metrics", fmt::format("is set in a cell whose status is {}", to_string(c.status)));
    }
    c.replay = optional_value<std::string>(o, "replay", at);  // absent in older files: see results_from_json_text
    return c;
}

json host_json(const host_env& h) {
    return {{"host", h.host},
            {"kernel", h.kernel},
            {"machine", h.machine},
            {"cpu_model", h.cpu_model},
            {"cpus", h.cpus},
            {"thp", or_null(h.thp)},
            {"page_size", h.page_size},
            {"cpu_governor", or_null(h.cpu_governor)},
            {"perf_event_paranoid", or_null(h.perf_event_paranoid)},
            {"compiler", h.compiler},
            {"compiler_flags", h.compiler_flags},
            {"build_type", h.build_type},
            {"allocmeter_version", h.allocmeter_version},
            {"build_id", h.build_id},
            {"started_at", h.started_at}};
}

host_env host_from(const json& o, const place& at) {
    host_env h;
    h.host = required<std::string>(o, "host", at);
    h.kernel = required<std::string>(o, "kernel", at);
    h.machine = required<std::string>(o, "machine", at);
    h.cpu_model = required<std::string>(o, "cpu_model", at);
    h.cpus = required<unsigned>(o, "cpus", at);
    h.thp = nullable<std::string>(o, "thp", at);
    h.page_size = required<long>(o, "page_size", at);
    h.cpu_governor = nullable<std::string>(o, "cpu_governor", at);
    h.perf_event_paranoid = nullable<int>(o, "perf_event_paranoid", at);
    h.compiler = required<std::string>(o, "compiler", at);
    h.compiler_flags = required<std::string>(o, "compiler_flags", at);
    h.build_type = required<std::string>(o, "build_type", at);
    h.allocmeter_version = required<std::string>(o, "allocmeter_version", at);
    h.started_at = required<std::string>(o, "started_at", at);
    h.build_id = optional_value<std::string>(o, "build_id", at).value_or("");  // absent in older files
    return h;
}

json auto_reps_json(const auto_reps_env& r) {
    json groups = json::array();
    for (const auto_reps_env::group& g : r.groups)
        groups.push_back({{"workload", g.workload}, {"threads", g.threads}, {"rounds", g.rounds}, {"end", g.end}});
    return {{"target_ci", r.target_ci}, {"max_reps", r.max_reps}, {"budget_s", or_null(r.budget_s)}, {"spent_s", r.spent_s},
            {"groups", groups}};
}

auto_reps_env auto_reps_from(const json& o, const place& at) {
    auto_reps_env r;
    r.target_ci = required<double>(o, "target_ci", at);
    r.max_reps = required<unsigned>(o, "max_reps", at);
    r.budget_s = nullable<double>(o, "budget_s", at);
    r.spent_s = required<double>(o, "spent_s", at);
    const auto groups = o.find("groups");
    if (groups == o.end()) at.fail("groups", "is missing");
    if (!groups->is_array()) at.fail("groups", fmt::format("is {}, not an array", type_name(*groups)));
    for (std::size_t i = 0; i < groups->size(); ++i) {
        const place in = at.in(fmt::format("groups[{}]", i));
        const json& g = (*groups)[i];
        r.groups.push_back({required<std::string>(g, "workload", in), required<unsigned>(g, "threads", in),
                            required<unsigned>(g, "rounds", in), required<std::string>(g, "end", in)});
    }
    return r;
}

json env_json(const run_env& e) {
    json out = host_json(e.host);
    out["command_line"] = e.command_line;
    if (e.arguments) out["arguments"] = *e.arguments;
    out["seed"] = e.seed;
    out["scale"] = e.scale;
    out["reps"] = e.reps;
    if (e.reps_auto) out["reps_auto"] = auto_reps_json(*e.reps_auto);
    if (e.pin_cpus) out["pin_cpus"] = *e.pin_cpus;
    out["threads"] = e.threads;
    out["pmu_events"] = e.pmu_events;
    out["sample_ms"] = e.sample_ms;
    out["latency_every"] = e.latency_every;
    out["verify"] = e.verify;
    out["measure"] = e.measure;
    if (e.callgrind)
        out["callgrind"] = {{"valgrind", e.callgrind->valgrind},     {"version", e.callgrind->version},
                            {"caches", e.callgrind->caches},         {"branch_sim", e.callgrind->branch_sim},
                            {"boundary", e.callgrind->boundary},     {"clock", e.callgrind->clock}};
    if (!e.traces.empty()) {
        out["touch"] = or_null(e.touch);
        out["replay"] = or_null(e.replay);
        out["traces"] = json::array();
        for (const trace_env& t : e.traces) {
            json one = {{"workload", t.workload}, {"path", t.path}, {"threads", t.threads}, {"steps", t.steps},
                        {"recorded_peak_live_bytes", t.recorded_peak_live_bytes}, {"replay", t.replay}};
            if (t.recorded_peak_rss_bytes) one["recorded_peak_rss_bytes"] = *t.recorded_peak_rss_bytes;
            if (t.recorded_start_rss_bytes) one["recorded_start_rss_bytes"] = *t.recorded_start_rss_bytes;
            if (t.touch) one["touch"] = *t.touch;
            out["traces"].push_back(std::move(one));
        }
    }
    out["allocators"] = json::object();
    for (const auto& [name, lib] : e.allocators) out["allocators"][name] = library_json(lib);
    out["allocator_kinds"] = e.allocator_kinds;
    if (e.pmu_opened) out["pmu_opened"] = *e.pmu_opened;
    return out;
}

run_env env_from(const json& o, const place& at) {
    run_env e;
    e.host = host_from(o, at);
    e.command_line = required<std::string>(o, "command_line", at);
    if (o.contains("arguments")) e.arguments = array_of<std::string>(o, "arguments", at);  // absent in older files
    e.seed = required<std::uint64_t>(o, "seed", at);
    e.scale = required<std::string>(o, "scale", at);
    e.reps = required<unsigned>(o, "reps", at);
    // Added later, each only where the run used it: absent in older files.
    if (o.contains("reps_auto")) e.reps_auto = auto_reps_from(object_at(o, "reps_auto", at), at.in("reps_auto"));
    if (o.contains("pin_cpus")) e.pin_cpus = array_of<unsigned>(o, "pin_cpus", at);
    e.threads = array_of<unsigned>(o, "threads", at);
    e.pmu_events = array_of<std::string>(o, "pmu_events", at);
    e.sample_ms = required<double>(o, "sample_ms", at);
    e.latency_every = required<std::uint64_t>(o, "latency_every", at);
    e.verify = optional_value<bool>(o, "verify", at).value_or(false);  // added later: absent in older files
    e.measure = optional_value<std::string>(o, "measure", at).value_or("time");  // the same
    if (e.measure != "time" && e.measure != "callgrind") at.fail("measure", "is '" + e.measure + "', not time or callgrind");
    if (o.contains("callgrind") && !o["callgrind"].is_null()) {
        const json& c = object_at(o, "callgrind", at);
        const place in = at.in("callgrind");
        callgrind_env ce{required<std::string>(c, "valgrind", in), required<std::string>(c, "version", in), {},
                         required<bool>(c, "branch_sim", in), required<std::string>(c, "boundary", in),
                         optional_value<std::string>(c, "clock", in).value_or("")};  // added later
        const json& caches = object_at(c, "caches", in);
        for (const auto& [name, text] : caches.items()) ce.caches[name] = required<std::string>(caches, name, in.in("caches"));
        e.callgrind = std::move(ce);
    }
    if (o.contains("traces")) {
        e.touch = nullable<std::string>(o, "touch", at);
        e.replay = nullable<std::string>(o, "replay", at);
        const json& traces = o["traces"];
        if (!traces.is_array()) at.fail("traces", "is not an array");
        for (std::size_t i = 0; i < traces.size(); ++i) {
            const place in = at.in(fmt::format("traces[{}]", i));
            // A trace's own order is absent in results of a run that had one order for every trace.
            e.traces.push_back({required<std::string>(traces[i], "workload", in), required<std::string>(traces[i], "path", in),
                                required<unsigned>(traces[i], "threads", in), required<std::uint64_t>(traces[i], "steps", in),
                                required<std::uint64_t>(traces[i], "recorded_peak_live_bytes", in),
                                // Absent in older results; the RSS figures also for a trace without RSS samples.
                                optional_value<std::string>(traces[i], "replay", in).value_or(e.replay.value_or("threads")),
                                optional_value<std::uint64_t>(traces[i], "recorded_peak_rss_bytes", in),
                                optional_value<std::uint64_t>(traces[i], "recorded_start_rss_bytes", in),
                                optional_value<std::string>(traces[i], "touch", in)});
        }
    }
    for (const auto& [name, lib] : object_at(o, "allocators", at).items())
        e.allocators[name] = library_from(lib, at.in("allocators").in(name));
    // Added after the first results files: absent in older ones, where readers infer the kind.
    if (o.contains("allocator_kinds"))
        for (const auto& [name, kind] : object_at(o, "allocator_kinds", at).items())
            e.allocator_kinds[name] = required<std::string>(o["allocator_kinds"], name, at.in("allocator_kinds"));
    if (o.contains("pmu_opened")) e.pmu_opened = array_of<std::string>(o, "pmu_opened", at);
    return e;
}

json stats_json(const sample_summary& s) {
    if (s.n == 0) return nullptr;
    return {{"n", s.n}, {"median", s.median}, {"ci_low", s.ci_low}, {"ci_high", s.ci_high}, {"ci_level", s.ci_level}, {"cv", s.cv}};
}

/// The ratios paired by round, with the signed-rank test of their logs; null without a round in common.
json paired_json(const metric_summary& m) {
    if (!m.paired) return nullptr;
    const sample_summary& p = *m.paired;
    return {{"rounds", p.n}, {"ratio", p.median}, {"ratio_ci_low", p.ci_low}, {"ratio_ci_high", p.ci_high},
            {"ci_level", p.ci_level}, {"cv", p.cv}, {"p_value", m.paired_test ? json(m.paired_test->p_value) : json(nullptr)}};
}

json metric_summary_json(const metric_summary& m) {
    json out = stats_json(m.stats);
    if (out.is_null()) return out;
    out["ratio"] = or_null(m.ratio);
    out["ratio_ci_low"] = or_null(m.ratio_low);
    out["ratio_ci_high"] = or_null(m.ratio_high);
    out["p_value"] = m.test ? json(m.test->p_value) : json(nullptr);
    out["paired"] = paired_json(m);
    out["verdict_test"] = !m.test ? json(nullptr) : json(m.verdict_paired ? "signed-rank" : "mann-whitney");
    return out;
}

json callgrind_row_json(const callgrind_row& r) {
    return {{"per_op", r.per_op}, {"ratio", or_null(r.ratio)}, {"allocator_ratio", or_null(r.allocator_ratio)},
            {"threads_serialised", r.threads_serialised}};
}

json summary_json(const run_summary& s) {
    json allocators = json::array();
    for (const allocator_label& a : s.allocators)
        allocators.push_back({{"name", a.name}, {"kind", a.kind}, {"version", a.version}, {"label", a.label}});
    json groups = json::array();
    for (const summary_group& g : s.groups) {
        json rows = json::array();
        for (const summary_row& r : g.rows)
            rows.push_back({{"allocator", r.allocator},
                            {"status", to_string(r.status)},
                            {"not_ok", r.not_ok},
                            {"time", metric_summary_json(r.time)},
                            {"rss", metric_summary_json(r.rss)},
                            {"throughput", stats_json(r.throughput)},
                            {"latency_alloc", optional_percentiles_json(r.latency_alloc)},
                            {"latency_free", optional_percentiles_json(r.latency_free)},
                            {"median_rep_series", r.median_rep_series ? series_json(*r.median_rep_series) : json(nullptr)},
                            {"few_reps", r.few_reps},
                            {"noisy", r.noisy},
                            {"callgrind", r.callgrind ? callgrind_row_json(*r.callgrind) : json(nullptr)},
                            {"harness_row", r.is_harness()},
                            {"net_ns_per_op", or_null(r.net_ns_per_op)},
                            {"net_ratio", or_null(r.net_ratio)},
                            {"net_note", r.net_note}});
        groups.push_back({{"workload", g.workload}, {"threads", g.threads}, {"rounds", g.rounds}, {"rows", rows}});
    }
    json replays = json::array();
    for (const side_by_side& p : s.replays) {
        json rows = json::array();
        for (const side_by_side_row& r : p.rows)
            rows.push_back({{"allocator", r.allocator},
                            {"own_ns_per_op", or_null(r.own_ns_per_op)},
                            {"own_ratio", or_null(r.own_ratio)},
                            {"timed_wall_s", or_null(r.timed_wall_s)},
                            {"timed_ratio", or_null(r.timed_ratio)},
                            {"allocator_share", or_null(r.allocator_share)},
                            {"wait_share", or_null(r.wait_share)},
                            {"not_ok", r.not_ok}});
        replays.push_back({{"path", p.path}, {"threads_workload", p.threads_workload}, {"timed_workload", p.timed_workload},
                           {"threads", p.threads}, {"rows", rows}});
    }
    return {{"measure", s.measure}, {"baseline", s.baseline}, {"alpha", s.alpha}, {"few_repetitions", s.few_repetitions}, {"high_cv", s.high_cv},
            {"reps", s.reps}, {"latency_every", s.latency_every}, {"allocators", allocators}, {"workloads", s.workloads},
            {"groups", groups}, {"side_by_side", replays}};
}

}  // namespace

std::string_view to_string(cell_status s) {
    for (const auto& [status, name] : status_names)
        if (status == s) return name;
    return "?";
}

std::string to_json_text(const results_document& doc) {
    json cells = json::array();
    for (const cell_record& c : doc.cells) cells.push_back(cell_json(c));
    json out{{"schema", doc.schema}, {"run_id", doc.run_id}, {"complete", doc.complete}};
    if (doc.cells_planned) out["cells_planned"] = *doc.cells_planned;
    out["env"] = env_json(doc.env);
    out["cells"] = std::move(cells);
    return out.dump(2);
}

results_document results_from_json_text(const std::string& text, const std::string& file) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded())
        throw results_error(file + ": not JSON (cut off or damaged); give the results.json that 'allocmeter run' wrote");
    if (!j.is_object() || !j.contains("cells") || !j["cells"].is_array())
        throw results_error(file + ": not an allocmeter results file (no \"cells\" array)");
    const place at{file, "", ""};
    results_document doc;
    doc.schema = required<std::string>(j, "schema", at);
    if (doc.schema != results_schema)
        throw results_error(fmt::format("{}: schema '{}' is not one this allocmeter reads ({})", file, doc.schema, results_schema));
    doc.run_id = required<std::string>(j, "run_id", at);
    // Both added with --resume: a file without them comes from a run that always finished.
    doc.complete = optional_value<bool>(j, "complete", at).value_or(true);
    doc.cells_planned = optional_value<std::uint64_t>(j, "cells_planned", at);
    doc.env = env_from(object_at(j, "env", at), at.in("env"));
    const json& cells = j["cells"];
    for (std::size_t i = 0; i < cells.size(); ++i) doc.cells.push_back(cell_from(cells[i], file, i));
    // Results written before a run could replay a trace in several orders have no order in a
    // cell: a trace cell's is its trace's, as the env says.
    for (cell_record& c : doc.cells)
        for (const trace_env& t : doc.env.traces)
            if (!c.replay && c.workload == t.workload) c.replay = t.replay;
    return doc;
}

std::string to_json_text(const cell_measurement& m) {
    json out = json::object();
    put_measurement(out, m);
    return out.dump();
}

cell_measurement measurement_from_json_text(const std::string& text) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw results_error("the cell's result is not a JSON object");
    static const std::string channel = "the cell's result";
    return measurement_from(j, place{channel, "", ""});
}

std::string summary_json_text(const run_summary& s, const std::string& results_path) {
    json out = summary_json(s);
    out["schema"] = "allocmeter-summary/1";
    out["results"] = results_path;
    return out.dump(1);
}

const std::vector<std::string>& csv_columns() {
    static const std::vector<std::string> columns{
        "allocator", "workload", "threads", "rep", "status", "reason", "wall_s", "user_s", "sys_s", "ops",
        "ns_per_op", "peak_rss_bytes", "minor_faults", "major_faults", "peak_live_bytes", "op_checksum",
        "library_version", "replay"};
    return columns;
}

std::vector<std::string> csv_row(const cell_record& c) {
    const auto number = [](const auto& v) { return fmt::format("{}", v); };
    const auto maybe = [&](const auto& v) { return v ? number(*v) : std::string(); };
    std::vector<std::string> row{c.allocator, c.workload, number(c.threads), number(c.rep), std::string(to_string(c.status)),
                                 c.reason.value_or("")};
    if (!c.measured) {
        row.resize(csv_columns().size() - 1);
        row.push_back(c.replay.value_or(""));
        return row;
    }
    const cell_metrics& m = c.measured->metrics;
    const json as_json{m.wall_s, m.user_s, m.sys_s, m.ns_per_op ? json(*m.ns_per_op) : json(nullptr)};  // JSON's number text
    row.insert(row.end(), {as_json[0].dump(), as_json[1].dump(), as_json[2].dump(), number(m.ops),
                           m.ns_per_op ? as_json[3].dump() : "", maybe(m.peak_rss_bytes), number(m.minor_faults),
                           number(m.major_faults), number(m.peak_live_bytes), c.measured->op_checksum,
                           c.measured->library ? c.measured->library->version.value_or("") : "", c.replay.value_or("")});
    return row;
}

std::optional<double> metric_by_name(const cell_metrics& m, std::string_view name) {
    const auto num = [](auto v) { return std::optional<double>(static_cast<double>(v)); };
    if (name == "wall_s") return m.wall_s;
    if (name == "user_s") return m.user_s;
    if (name == "sys_s") return m.sys_s;
    if (name == "ops") return num(m.ops);
    if (name == "ns_per_op") return m.ns_per_op;
    if (name == "peak_rss_bytes") return m.peak_rss_bytes ? num(*m.peak_rss_bytes) : std::nullopt;
    if (name == "minor_faults") return num(m.minor_faults);
    if (name == "major_faults") return num(m.major_faults);
    if (name == "peak_live_bytes") return num(m.peak_live_bytes);
    if (name == "post_purge_rss_bytes") return m.post_purge_rss_bytes ? num(*m.post_purge_rss_bytes) : std::nullopt;
    if (!m.callgrind || m.ops == 0) return std::nullopt;
    const callgrind_counts& all = m.callgrind->region;
    const callgrind_counts& in = m.callgrind->allocator;
    const auto per_op = [&](std::uint64_t count) { return std::optional(static_cast<double>(count) / static_cast<double>(m.ops)); };
    if (name == "instructions_per_op") return per_op(all.instructions);
    if (name == "allocator_instructions_per_op") return per_op(in.instructions);
    if (name == "harness_instructions_per_op") return per_op(all.instructions - in.instructions);
    if (name == "l1d_misses_per_op") return per_op(all.l1d_read_misses + all.l1d_write_misses);
    if (name == "allocator_l1d_misses_per_op") return per_op(in.l1d_read_misses + in.l1d_write_misses);
    if (name == "ll_misses_per_op") return per_op(all.ll_read_misses + all.ll_write_misses);
    if (name == "allocator_ll_misses_per_op") return per_op(in.ll_read_misses + in.ll_write_misses);
    if (name == "branch_mispredicts_per_op" && all.branch_mispredicts) return per_op(*all.branch_mispredicts);
    return std::nullopt;
}

// The first is compare's default: time per operation.
std::vector<std::string> metric_names() {
    std::vector<std::string> names{"ns_per_op", "peak_rss_bytes", "wall_s", "user_s", "sys_s", "ops", "minor_faults",
                                   "major_faults", "peak_live_bytes", "post_purge_rss_bytes"};
    for (std::string& n : callgrind_metric_names()) names.push_back(std::move(n));
    return names;
}

std::vector<std::string> callgrind_metric_names() {
    return {"instructions_per_op", "allocator_instructions_per_op", "harness_instructions_per_op", "l1d_misses_per_op",
            "allocator_l1d_misses_per_op", "ll_misses_per_op", "allocator_ll_misses_per_op", "branch_mispredicts_per_op"};
}

namespace {

/// An env value as text: strings as they are, arrays joined, null as "n/a".
std::string text_of(const json& v) {
    if (v.is_null()) return "n/a";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string s;
        for (const auto& e : v) s += (s.empty() ? "" : ", ") + text_of(e);
        return s.empty() ? "none" : s;
    }
    return v.dump();
}

/// The fields `keys` of `o` that it has, with their meanings.
std::vector<env_setting> settings_of(const json& o, std::initializer_list<std::pair<const char*, const char*>> keys) {
    std::vector<env_setting> out;
    for (const auto& [key, meaning] : keys)
        if (o.contains(key)) out.push_back({key, text_of(o[key]), meaning});
    return out;
}

}  // namespace

std::string repetitions_text(const run_env& env) {
    if (!env.reps_auto) return std::to_string(env.reps);
    unsigned least = env.reps_auto->max_reps, most = 0;
    for (const auto_reps_env::group& g : env.reps_auto->groups) least = std::min(least, g.rounds), most = std::max(most, g.rounds);
    if (env.reps_auto->groups.empty()) least = most = 0;
    return least == most ? std::to_string(most) : fmt::format("{} to {}", least, most);
}

std::vector<env_setting> env_settings(const run_env& env) {
    json fields = env_json(env);
    fields["reps"] = repetitions_text(env);
    if (env.reps_auto) {
        const auto_reps_env& r = *env.reps_auto;
        fields["reps_auto"] =
            fmt::format("until every ok allocator's interval is narrower than {:g}% of its median; at most {} rounds{}", 100 * r.target_ci,
                        r.max_reps, r.budget_s ? fmt::format(", within {:g} s (spent {:.0f} s)", *r.budget_s, r.spent_s) : "");
    }
    return settings_of(fields, {{"reps", "repetitions of each cell, interleaved across allocators"},
                                {"reps_auto", "rounds per workload and thread count, each group its own (run --reps auto)"},
                                {"scale", "operations per cell"},
                                {"seed", "the same seed gives the same operations on every allocator"},
                                {"threads", "thread counts"},
                                {"pin_cpus", "the CPUs each cell's process ran on (run --pin-cpus)"},
                                {"sample_ms", "RSS sampling interval (ms)"},
                                {"latency_every", "one allocation and one free in this many timed"},
                                {"verify", "every block tagged, each tag checked when it dies (run --verify)"},
                                {"measure", "time: wall clock; callgrind: instructions and simulated cache misses"},
                                {"touch", "what a trace replay writes into each new block"},
                                {"replay", "trace replay order"},
                                {"pmu_events", "counters asked for (empty: the default set)"},
                                {"pmu_opened", "counters that gave a value"}});
}

std::vector<env_setting> host_facts(const host_env& host) {
    return settings_of(host_json(host), {{"host", ""}, {"cpu_model", ""}, {"cpus", ""}, {"machine", ""}, {"kernel", ""},
                                         {"thp", ""}, {"page_size", ""}, {"cpu_governor", ""},
                                         {"perf_event_paranoid", ""}, {"compiler", ""}, {"compiler_flags", ""},
                                         {"build_type", ""}, {"allocmeter_version", ""}, {"started_at", ""}});
}

}  // namespace allocmeter
