// `allocmeter list`: the allocator catalog (reference, external and user libraries, each with
// why it cannot run here when it cannot) and the workloads with their parameters at a scale.
#include "harness/cli/list_command.hpp"

#include <cstdio>

#include "harness/cell/registry.hpp"
#include "harness/cli/command_line.hpp"
#include "harness/cli/run_command.hpp"
#include "harness/run/allocator_catalog.hpp"
#include "workloads/scale.hpp"

namespace allocmeter {

namespace {

const char* const about = "allocmeter list: show allocators and workloads\n\nusage: allocmeter list [options]\n";

const char* const examples = R"(
examples:
  allocmeter list
  allocmeter list --scale quick --allocator mine=./libmine.so
  allocmeter list --scale=full
)";

/// What the command line asked for.
struct list_arguments {
    std::vector<std::string> custom;  ///< --allocator NAME=/path/lib.so
    std::string scale = "default";
};

/// Declares list's options and parses `args`; false when --help was shown.
bool parse_list(const std::vector<std::string>& args, list_arguments& a) {
    command_grammar g("list", about, examples);
    g.options.add_options()("allocator", po::value(&a.custom)->composing()->value_name("NAME=PATH"),
                            "also list a user library (repeatable)")(
        "scale", po::value(&a.scale)->value_name("SCALE"), "show workload parameters at quick | default | full (default: default)");
    return parse_arguments(g, args);
}

std::string caps_text(const capabilities& c) {
    std::string s;
    const auto add = [&](const std::string& t) { s += (s.empty() ? "" : ", ") + t; };
    add(c.individual_free ? "free" : "no free");
    if (c.reset) add("reset");
    if (c.lifo_free_only) add("LIFO free only");
    add(c.thread_safe ? "thread-safe" : "single-thread");
    if (c.fixed_size != 0) add("fixed " + std::to_string(c.fixed_size) + " B");
    else if (c.max_size < (std::size_t{1} << 32)) add("max " + std::to_string(c.max_size) + " B");
    return s;
}

void print_allocators(const allocator_catalog& catalog) {
    std::printf("allocators:\n");
    for (const auto& e : catalog.entries()) {
        const char* origin = e.from == allocator_entry::origin::reference ? "reference"
                             : e.from == allocator_entry::origin::custom  ? "user library"
                             : e.from == allocator_entry::origin::harness ? "measurement"
                                                                          : "external";
        std::printf("  %-18s %-12s %s\n", e.name.c_str(), origin, e.summary.c_str());
        std::printf("  %-18s %-12s %s\n", "", "", e.available() ? ("available; " + caps_text(e.caps)).c_str()
                                                               : ("unavailable: " + e.unavailable).c_str());
        if (!e.library.empty()) std::printf("  %-18s %-12s library %s\n", "", "", e.library.c_str());
    }
}

void print_workloads(scale size, const std::string& scale_name) {
    std::printf("\nworkloads (parameters per thread at scale %s):\n", scale_name.c_str());
    std::string_view group;
    for (const auto& w : workloads()) {
        if (w.group != group) {
            group = w.group;
            std::printf(group == seed_workload_group ? "seed (run's default; --workloads seed):\n"
                                                     : "classic allocator benchmarks (--workloads classic; all: both groups):\n");
        }
        std::printf("  %-14s %s\n", std::string(w.name).c_str(), std::string(w.summary).c_str());
        for (const auto& p : w.describe(size))
            std::printf("  %-14s   %-22s %10llu  %s\n", "", std::string(p.name).c_str(),
                        static_cast<unsigned long long>(p.value), std::string(p.meaning).c_str());
    }
    std::printf("  %-14s %s\n", "trace:FILE", "replays a trace recorded with 'allocmeter record' (see 'allocmeter run --help')");
    std::printf("  %-14s %s\n", "spec:FILE", "a workload described as data, replayed as the trace it generates (docs/workload-spec.md)");
}

}  // namespace

int list_command(const std::vector<std::string>& args) {
    list_arguments a;
    if (!parse_list(args, a)) return 0;
    const auto size = parse_scale(a.scale);
    if (!size) usage_fail("list", "--scale " + a.scale + ": expected quick, default or full");
    print_allocators(catalog_with_user_libraries(a.custom, "list"));
    print_workloads(*size, a.scale);
    return 0;
}

}  // namespace allocmeter
