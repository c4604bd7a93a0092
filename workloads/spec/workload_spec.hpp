// workload_spec: a workload described as data (docs/workload-spec.md): phases, each with a size
// and a lifetime distribution, a share of frees made by another thread, a realloc share and an
// alignment mix. A spec runs by becoming a trace (generate_trace), so every replay feature
// (threads, cross-thread frees, touch, verify, callgrind) serves it unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace allocmeter::spec {

/// The format version this build reads and writes ("allocmeter_spec": 1).
inline constexpr int format_version = 1;
/// Largest size a spec may ask for: 1 TiB, far past any real request, well inside a trace's 2^48.
inline constexpr std::uint64_t max_size = std::uint64_t{1} << 40;
/// Largest alignment: 1 MiB.
inline constexpr std::uint64_t max_alignment = std::uint64_t{1} << 20;
/// Alignment a plain malloc gives on x86-64 and AArch64: at or below it, an allocation is a malloc.
inline constexpr std::uint64_t malloc_alignment = 16;
/// Most threads a spec may run (the replay starts one thread per trace thread).
inline constexpr unsigned max_threads = 1024;
/// Most operations of one phase before scaling: 2^36, so that full scale (x10) still fits a trace.
inline constexpr std::uint64_t max_operations = std::uint64_t{1} << 36;

/// One bin of an explicit histogram: values in (the previous bin's upper, upper], drawn with
/// probability weight / (sum of weights), uniform within the bin.
struct bin {
    std::uint64_t upper = 0;
    double weight = 0;

    bool operator==(const bin&) const = default;
};

/// A distribution of positive integers (bytes, or operations).
struct distribution {
    enum class kind { uniform, log_uniform, pareto, inverse_square, histogram };
    kind shape = kind::log_uniform;
    std::uint64_t min = 1, max = 1;  ///< the named shapes' range, inclusive
    double alpha = 1;                ///< pareto's tail index
    std::vector<bin> bins;           ///< histogram: uppers strictly increasing, the first bin from 1

    bool operator==(const distribution&) const = default;
};

/// How long an object lives, in operations of the whole trace (all threads).
struct lifetime {
    distribution ops;              ///< drawn for the objects that do not live to the phase end
    double phase_end_share = 0;    ///< share of objects that live until the phase ends (1: all)

    bool operator==(const lifetime&) const = default;
};

/// What happens to the objects still live when a phase ends.
enum class phase_end { free, keep };

/// A stretch of the workload with one set of distributions.
struct phase {
    std::uint64_t operations = 0;        ///< allocations, frees and reallocs, at scale 1
    distribution sizes;
    lifetime life;
    double remote_free_share = 0;        ///< share of frees made by a thread other than the allocating one
    double realloc_share = 0;            ///< share of allocating operations that resize a live object
    std::vector<bin> alignments{{malloc_alignment, 1}};  ///< alignment (upper) and weight
    phase_end at_end = phase_end::free;

    bool operator==(const phase&) const = default;
};

/// A whole spec file.
struct workload_spec {
    std::string name;
    unsigned threads = 1;
    std::optional<std::string> touch;  ///< none | page | full | part:F, overriding run's --touch
    std::vector<phase> phases;

    bool operator==(const workload_spec&) const = default;
};

/// A spec that cannot be used: "<file>: <json path>: <problem and what to give>".
struct spec_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Parses and checks `text`, naming `file` in errors. Throws spec_error.
workload_spec parse_spec_text(const std::string& text, const std::string& file);
/// Reads and parses the file at `path`. Throws spec_error.
workload_spec parse_spec(const std::string& path);
/// The spec as the JSON text of the file format (what `trace profile` writes), indented.
std::string to_json_text(const workload_spec& s);

/// What generate_trace wrote.
struct generated_trace {
    std::uint64_t events = 0;      ///< in all, thread_start and thread_exit included
    std::uint64_t operations = 0;  ///< allocations, frees and reallocs
};

/// The factor that run's --scale applies to operation counts: quick 0.1, default 1, full 10.
double scale_factor(std::string_view scale_name);

/// Writes the trace that `s` describes to `path`, its operation counts multiplied by `scale`.
/// The same (spec, seed, scale) gives the same bytes. Throws trace::trace_error on I/O failure.
generated_trace generate_trace(const workload_spec& s, const std::string& path, std::uint64_t seed, double scale = 1);

}  // namespace allocmeter::spec
