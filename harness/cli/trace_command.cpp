// The `trace` command: a summary of a trace file (events per kind, threads, duration, peak
// live bytes and objects, a size histogram), a validity check, the import of a glibc mtrace()
// log, and a trace's profile as a spec file (workloads/spec), all on the trace library.
#include "harness/cli/trace_command.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <fmt/format.h>
#include <filesystem>
#include <fstream>

#include "harness/cli/command_line.hpp"
#include "workloads/spec/trace_profile.hpp"
#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/format/trace_validation.hpp"
#include "workloads/trace/import/mtrace_import.hpp"

namespace allocmeter {

namespace {

using namespace allocmeter::trace;

const char* const overview = R"(allocmeter trace: inspect a recorded allocation trace, or import one

usage: allocmeter trace info FILE       events per kind, threads, duration, peak live, size histogram
       allocmeter trace validate FILE   check the whole file; exit 0 when valid, 1 when not
       allocmeter trace import --format mtrace [-o OUT] [--lenient] LOG
                                        turn a glibc mtrace() log into a trace; exit 1 on a bad log
       allocmeter trace profile [-o OUT] FILE
                                        write the spec (spec:OUT) whose workload behaves like the trace

'allocmeter trace SUBCOMMAND --help' shows a subcommand's options.

examples:
  allocmeter trace info app.trace
  allocmeter trace validate app.trace && echo ok
  allocmeter trace import --format mtrace app.mtrace                # writes app.trace
  allocmeter trace profile app.trace                                # writes app.spec.json
)";

const char* const info_about = R"(allocmeter trace info: what a trace holds

usage: allocmeter trace info FILE

Events per kind, threads, duration (when recorded with --timestamps), allocations and bytes
requested, peak live bytes and objects, the program's peak RSS and its samples (recorded by
'allocmeter record' every 5 ms), and a histogram of allocation sizes. The whole file is
validated as it is read (with the checksums of format version 2); exit 1 when it is not
valid. Memory follows the threads and the live objects, not the events (docs/trace-format.md,
"Memory").
)";

const char* const info_examples = R"(
examples:
  allocmeter trace info app.trace
  allocmeter trace info -- -odd-name.trace
)";

const char* const validate_about = R"(allocmeter trace validate: check a whole trace

usage: allocmeter trace validate FILE

Reads every event, with the checksums of format version 2 (damage is refused, never read as
other events), and checks what 'run' relies on to replay it: each thread's events in order,
starting and ending the thread, and every object released exactly once after its allocation.
Exit 0 when valid; 1 when not, naming the byte and the problem.
)";

const char* const validate_examples = R"(
examples:
  allocmeter trace validate app.trace && echo ok
)";

const char* const import_about = R"(allocmeter trace import: turn an allocation log into a trace

usage: allocmeter trace import --format mtrace [-o OUT] [--lenient] LOG

The import is one thread with no timestamps; calloc and the aligned calls become mallocs
(mtrace prints them alike). Frees of blocks allocated before mtrace() are skipped and counted.
See docs/trace-format.md, "Importing glibc mtrace logs". Exit 1 on a bad log, naming its line.
)";

const char* const import_examples = R"(
examples:
  LD_PRELOAD=libc_malloc_debug.so.0 MALLOC_TRACE=app.mtrace ./app   # an app that calls mtrace()
  allocmeter trace import --format mtrace app.mtrace                # writes app.trace
  allocmeter trace import --format=mtrace -o run1.trace --lenient threaded.mtrace
)";

const char* const profile_about = R"(allocmeter trace profile: a trace's allocation pattern as a spec file

usage: allocmeter trace profile [-o OUT] FILE

Measures the trace in global order and writes a one-phase spec (docs/workload-spec.md) with
its size histogram (power-of-two bands in quarters), its lifetime histogram in operations (an
object's free's place in the trace minus its allocation's, through reallocs; objects never
freed become the phase-end share, kept live at the end), the share of frees by another thread
than the allocating one, the realloc share, the alignment mix, the threads and the operations.
'allocmeter run --workloads spec:OUT' then runs a workload that behaves like the program, at
any --scale, and the spec can be shared where the trace cannot (it holds no addresses, no
order of calls, no command line). What it leaves out: the order of the calls beyond those
distributions, phases within the program, and the time between calls. Exit 1 when the trace
is not valid.
)";

const char* const profile_examples = R"(
examples:
  allocmeter trace profile app.trace                       # writes app.spec.json
  allocmeter trace profile -o server.json app.trace
  allocmeter run --workloads trace:app.trace,spec:app.spec.json --allocators system,jemalloc
)";

/// True for an event that creates an object (a realloc counts when it returns one).
bool allocates(const event& e) {
    switch (e.kind) {
        case op::malloc:
        case op::calloc:
        case op::aligned:
        case op::new_:
        case op::realloc: return e.id != 0;
        default: return false;
    }
}

std::string bytes_text(std::uint64_t b) {
    if (b >= (1u << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1 << 20));
    if (b >= 1024) return fmt::format("{:.1f} KiB", static_cast<double>(b) / 1024);
    return fmt::format("{} B", b);
}

/// The recorded program's RSS, as its samples say.
void say_rss(const rss_summary& rss) {
    if (rss.samples == 0) {
        std::printf("peak RSS:     not recorded (no RSS samples: a trace from an older allocmeter, or imported)\n");
        return;
    }
    std::printf("peak RSS:     %s (%llu bytes) at %.3f s; %s at the first sample\n", bytes_text(rss.peak_bytes).c_str(),
                static_cast<unsigned long long>(rss.peak_bytes), static_cast<double>(rss.peak_at_us) * 1e-6,
                bytes_text(rss.first_bytes).c_str());
    std::printf("RSS samples:  %llu over %.3f s, every %g ms at the end\n", static_cast<unsigned long long>(rss.samples),
                static_cast<double>(rss.span_us) * 1e-6, static_cast<double>(rss.period_us) / 1000);
}

int info(const std::string& path) {
    const trace_header h = trace_reader(path).header();
    std::array<std::uint64_t, 11> per_opcode{};  // by opcode byte
    std::array<std::uint64_t, 50> histogram{};  // bucket b: sizes in (2^(b-1), 2^b]
    std::uint64_t allocations = 0, allocated = 0, first_ns = UINT64_MAX, last_ns = 0;
    // Counted as validation reads the file: one pass over the events, none kept.
    const trace_summary summary = validate(path, [&](const event& e) {
        ++per_opcode[static_cast<std::size_t>(e.kind)];
        if (h.timestamps) first_ns = std::min(first_ns, e.time_ns), last_ns = std::max(last_ns, e.time_ns);
        if (!allocates(e)) return;
        ++allocations;
        const std::uint64_t bytes = requested_bytes(e);
        allocated += bytes;
        ++histogram[std::min<std::size_t>(bytes <= 1 ? 0 : std::bit_width(bytes - 1), histogram.size() - 1)];
    });
    std::printf("trace:        %s (format version %u, %s)\n", path.c_str(), h.version,
                has_checks(h.version) ? "checksummed" : "no checksums");
    std::printf("recorded:     %s\n", h.command_line.empty() ? "(no command line)" : h.command_line.c_str());
    std::printf("host:         %s, page size %u, %u-bit pointers\n", h.host.c_str(), h.page_size, h.pointer_size * 8u);
    std::printf("events:       %llu in %u thread%s\n", static_cast<unsigned long long>(summary.events), summary.threads,
                summary.threads == 1 ? "" : "s");
    if (h.timestamps && last_ns >= first_ns)
        std::printf("duration:     %.3f s\n", static_cast<double>(last_ns - first_ns) * 1e-9);
    else
        std::printf("duration:     not recorded (no timestamps)\n");
    std::printf("allocations:  %llu, %s requested in all\n", static_cast<unsigned long long>(allocations),
                bytes_text(allocated).c_str());
    std::printf("peak live:    %s (%llu bytes) in %llu objects\n", bytes_text(summary.peak_live_bytes).c_str(),
                static_cast<unsigned long long>(summary.peak_live_bytes),
                static_cast<unsigned long long>(summary.peak_live_objects));
    say_rss(summary.rss);
    std::printf("\nevents per kind:\n");
    for (std::size_t k = 0; k < per_opcode.size(); ++k)
        if (per_opcode[k] != 0)
            std::printf("  %-13s %12llu\n", op_name(static_cast<op>(k)), static_cast<unsigned long long>(per_opcode[k]));
    std::printf("\nallocation sizes:\n");
    const std::uint64_t most = *std::max_element(histogram.begin(), histogram.end());
    for (std::size_t b = 0; b < histogram.size(); ++b) {
        if (histogram[b] == 0) continue;
        const std::string upto = "<= " + bytes_text(std::uint64_t{1} << b);
        const int bar = most == 0 ? 0 : static_cast<int>(40 * histogram[b] / most);
        std::printf("  %-12s %12llu  %s\n", upto.c_str(), static_cast<unsigned long long>(histogram[b]),
                    std::string(static_cast<std::size_t>(std::max(bar, 1)), '#').c_str());
    }
    return 0;
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

struct import_arguments {
    std::string format, out, log;
    mtrace_options options;
};

/// Declares import's options and parses `args`; false when --help was shown.
bool parse_import(const std::vector<std::string>& args, import_arguments& a) {
    command_grammar g("trace import", import_about, import_examples);
    g.options.add_options()("format", po::value(&a.format)->value_name("FORMAT"),
                            "the log's format: mtrace, glibc's mtrace() (MALLOC_TRACE); the only one supported")(
        "out,o", po::value(&a.out)->value_name("OUT"), "the trace to write (default: LOG with its extension replaced by .trace)")(
        "lenient", po::bool_switch(&a.options.lenient),
        "an address allocated again while still live frees the old block first, instead of failing "
        "(a multithreaded program's log can be out of order)");
    g.positionals.add_options()("log", po::value(&a.log));
    g.order.add("log", 1);
    if (!parse_arguments(g, args)) return false;
    if (a.format.empty())
        usage_fail(g.name, "give the log's format, e.g. 'allocmeter trace import --format mtrace app.mtrace' (only mtrace is supported)");
    if (a.format != "mtrace") usage_fail(g.name, "unknown format '" + a.format + "': only mtrace is supported");
    if (a.log.empty()) usage_fail(g.name, "give the log to import, e.g. 'allocmeter trace import --format mtrace app.mtrace'");
    if (a.out.empty()) a.out = std::filesystem::path(a.log).replace_extension(".trace").string();
    return true;
}

/// `trace import`: imports, then prints a summary line and any notes.
int import(const std::vector<std::string>& args) {
    import_arguments a;
    if (!parse_import(args, a)) return 0;
    try {
        const import_summary s = import_mtrace(a.log, a.out, a.options);
        const auto bytes = std::filesystem::file_size(a.out);
        std::printf("%s: %s from %s, %llu bytes (%.2f bytes/event), peak %llu live objects; %s skipped\n", a.out.c_str(),
                    plural(s.events, "event", "events").c_str(), a.log.c_str(), static_cast<unsigned long long>(bytes),
                    s.events ? static_cast<double>(bytes) / static_cast<double>(s.events) : 0.0,
                    static_cast<unsigned long long>(s.trace.peak_live_objects),
                    plural(s.skipped_frees, "free", "frees").c_str());
        // Notes, not errors: these are what an mtrace log of a real program normally holds.
        const auto note = [](const char* what, std::uint64_t n) {
            if (n != 0) std::fprintf(stderr, "allocmeter trace import: note: %s: %llu\n", what, static_cast<unsigned long long>(n));
        };
        note("frees skipped, their address not live (allocated before mtrace() was called)", s.skipped_frees);
        note("reallocs of blocks allocated before mtrace() (a new block became a malloc; a failure was skipped)",
             s.untracked_reallocs);
        note("--lenient: addresses allocated again while live, the old block freed first", s.lenient_fixes);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "allocmeter trace import: %s\n", e.what());
        return 1;
    }
}

struct profile_arguments {
    std::string out, trace;
};

bool parse_profile(const std::vector<std::string>& args, profile_arguments& a) {
    command_grammar g("trace profile", profile_about, profile_examples);
    g.options.add_options()("out,o", po::value(&a.out)->value_name("OUT"),
                            "the spec to write (default: FILE with its extension replaced by .spec.json)");
    g.positionals.add_options()("trace", po::value(&a.trace));
    g.order.add("trace", 1);
    if (!parse_arguments(g, args)) return false;
    if (a.trace.empty()) usage_fail(g.name, "give one trace file, e.g. 'allocmeter trace profile app.trace'");
    if (a.out.empty()) a.out = std::filesystem::path(a.trace).replace_extension(".spec.json").string();
    return true;
}

/// `trace profile`: measures the trace, writes its spec and says what it holds.
int profile(const std::vector<std::string>& args) {
    profile_arguments a;
    if (!parse_profile(args, a)) return 0;
    spec::trace_shape shape;
    try {
        shape = spec::measure_trace(a.trace);
    } catch (const trace_error& e) {
        std::fprintf(stderr, "allocmeter trace profile: %s\n", e.what());
        return 1;
    }
    if (shape.operations == 0) {
        std::fprintf(stderr, "allocmeter trace profile: %s holds no allocation calls: there is nothing to profile\n", a.trace.c_str());
        return 1;
    }
    const std::string name = std::filesystem::path(a.trace).stem().string();
    const spec::workload_spec s = spec::profile_of(shape, name);
    std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
    out << spec::to_json_text(s);
    out.close();
    if (!out) {
        std::fprintf(stderr, "allocmeter trace profile: cannot write %s; give a writable path with -o\n", a.out.c_str());
        return 1;
    }
    const spec::phase& p = s.phases[0];
    std::printf("%s: the profile of %s: %s on %s; lifetimes p50 %llu, p90 %llu operations, %.1f%% never freed; "
                "%.1f%% of frees by another thread, %.1f%% of allocations reallocs\n",
                a.out.c_str(), a.trace.c_str(), plural(p.operations, "operation", "operations").c_str(),
                plural(s.threads, "thread", "threads").c_str(), static_cast<unsigned long long>(shape.lifetime_quantile(0.5)),
                static_cast<unsigned long long>(shape.lifetime_quantile(0.9)), 100 * p.life.phase_end_share,
                100 * p.remote_free_share, 100 * p.realloc_share);
    std::printf("run it: allocmeter run --workloads spec:%s\n", a.out.c_str());
    return 0;
}

/// The one trace file `trace info` and `trace validate` take; empty when --help was shown.
std::string parse_trace_file(const std::string& sub, const char* about, const char* examples, const std::vector<std::string>& args) {
    command_grammar g("trace " + sub, about, examples);
    std::string file;
    g.positionals.add_options()("trace", po::value(&file));
    g.order.add("trace", 1);
    if (!parse_arguments(g, args)) return {};
    if (file.empty()) usage_fail(g.name, "give one trace file, e.g. 'allocmeter trace " + sub + " app.trace'");
    return file;
}

int validate_and_say(const std::string& path) {
    const trace_summary s = validate(path);
    std::printf("%s: valid: %llu events, %u thread%s, peak %llu live objects\n", path.c_str(),
                static_cast<unsigned long long>(s.events), s.threads, s.threads == 1 ? "" : "s",
                static_cast<unsigned long long>(s.peak_live_objects));
    return 0;
}

}  // namespace

int trace_command(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "-h" || args[0] == "--help") {
        std::fputs(overview, args.empty() ? stderr : stdout);
        return args.empty() ? exit_usage : 0;
    }
    const std::string& sub = args[0];
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (sub == "import") return import(rest);
    if (sub == "profile") return profile(rest);
    if (sub != "info" && sub != "validate")
        usage_fail("trace", "unknown subcommand '" + sub + "'; use info, validate, import or profile (see 'allocmeter trace --help')");
    const bool is_info = sub == "info";
    const std::string file = parse_trace_file(sub, is_info ? info_about : validate_about, is_info ? info_examples : validate_examples, rest);
    if (file.empty()) return 0;
    try {
        return is_info ? info(file) : validate_and_say(file);
    } catch (const trace_error& e) {
        std::fprintf(stderr, "allocmeter trace %s: %s\n", sub.c_str(), e.what());
        return 1;
    }
}

}  // namespace allocmeter
