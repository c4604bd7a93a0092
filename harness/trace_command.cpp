// The `trace` command: a summary of a trace file (events per kind, threads, duration, peak
// live bytes and objects, a size histogram) and a validity check, both on the trace library.
#include "harness/trace_command.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <map>

#include "workloads/trace/trace_format.hpp"

namespace allocmeter {

namespace {

using namespace allocmeter::trace;

const char* const usage = R"(allocmeter trace: inspect a recorded allocation trace

usage: allocmeter trace info FILE       events per kind, threads, duration, peak live, size histogram
       allocmeter trace validate FILE   check the whole file; exit 0 when valid, 1 when not

examples:
  allocmeter trace info app.trace
  allocmeter trace validate app.trace && echo ok
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
    char buf[32];
    if (b >= (1u << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1 << 20));
    else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
    else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
    return buf;
}

int info(const std::string& path) {
    const trace_summary summary = validate(path);
    trace_reader reader(path);
    const trace_header& h = reader.header();
    std::map<op, std::uint64_t> per_kind;
    std::array<std::uint64_t, 50> histogram{};  // bucket b: sizes in (2^(b-1), 2^b]
    std::uint64_t allocations = 0, allocated = 0, first_ns = UINT64_MAX, last_ns = 0;
    for (event e; reader.next(e);) {
        ++per_kind[e.kind];
        if (h.timestamps) first_ns = std::min(first_ns, e.time_ns), last_ns = std::max(last_ns, e.time_ns);
        if (!allocates(e)) continue;
        ++allocations;
        const std::uint64_t bytes = requested_bytes(e);
        allocated += bytes;
        ++histogram[std::min<std::size_t>(bytes <= 1 ? 0 : std::bit_width(bytes - 1), histogram.size() - 1)];
    }
    std::printf("trace:        %s (format version %u)\n", path.c_str(), h.version);
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
    std::printf("\nevents per kind:\n");
    for (const auto& [kind, n] : per_kind)
        std::printf("  %-13s %12llu\n", op_name(kind), static_cast<unsigned long long>(n));
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

}  // namespace

int trace_command(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "-h" || args[0] == "--help") {
        std::fputs(usage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::string& sub = args[0];
    if (sub != "info" && sub != "validate") {
        std::fprintf(stderr, "allocmeter trace: unknown subcommand '%s'; use info or validate (see 'allocmeter trace --help')\n",
                     sub.c_str());
        return 2;
    }
    if (args.size() != 2) {
        std::fprintf(stderr, "allocmeter trace %s: give exactly one trace file, e.g. 'allocmeter trace %s app.trace'\n",
                     sub.c_str(), sub.c_str());
        return 2;
    }
    try {
        if (sub == "info") return info(args[1]);
        const trace_summary s = validate(args[1]);
        std::printf("%s: valid: %llu events, %u thread%s, peak %llu live objects\n", args[1].c_str(),
                    static_cast<unsigned long long>(s.events), s.threads, s.threads == 1 ? "" : "s",
                    static_cast<unsigned long long>(s.peak_live_objects));
        return 0;
    } catch (const trace_error& e) {
        std::fprintf(stderr, "allocmeter trace %s: %s\n", sub.c_str(), e.what());
        return 1;
    }
}

}  // namespace allocmeter
