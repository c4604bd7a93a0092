// The summary table of a run --measure callgrind: per workload x threads, a row per allocator
// with instructions per operation (all, inside the allocator, in the harness), their ratios to
// the baseline's, and simulated data-cache misses. Every figure comes from analysis/summary.
#include <fmt/format.h>

#include <algorithm>

#include "harness/analysis/summary.hpp"
#include "harness/analysis/summary_table.hpp"

namespace allocmeter {

void print_callgrind_summary(const run_summary& run, std::FILE* out) {
    const std::string vs = "vs " + run.baseline;
    bool any_serialised = false;
    for (const summary_group& g : run.groups) {
        std::size_t library_width = 7;
        for (const summary_row& r : g.rows) library_width = std::max(library_width, label_of(run, r.allocator).version.size());
        fmt::print(out, "\n{}, {} thread{}\n", g.workload, g.threads, g.threads == 1 ? "" : "s");
        fmt::print(out, "  {:<18} {:>9} {:>10} {:>8} {:>10} {:>10} {:>14} {:>14}  {:<{}}  {}\n", "allocator", "instr/op",
                   "in alloc", "harness", vs, "alloc vs", "L1d miss/op", "LL miss/op", "library", library_width, "note");
        for (const summary_row& r : g.rows) {
            if (!r.ok() || !r.callgrind) {
                const std::string why = r.not_ok.empty() ? "no callgrind figures" : r.not_ok;
                fmt::print(out, "  {:<18} {}\n", r.allocator, why.size() > 100 ? why.substr(0, 97) + "..." : why);
                continue;
            }
            const callgrind_row& c = *r.callgrind;
            any_serialised = any_serialised || c.threads_serialised;
            const auto f = [&c](const char* name, const char* format = "{:.1f}") { return per_op_text(c, name, format); };
            const std::string line = fmt::format(
                "  {:<18} {:>9} {:>10} {:>8} {:>10} {:>10} {:>14} {:>14}  {:<{}}  {}", r.allocator, f("instructions_per_op"),
                f("allocator_instructions_per_op"), f("harness_instructions_per_op"), ratio_text(c.ratio), ratio_text(c.allocator_ratio),
                f("l1d_misses_per_op", "{:.2f}") + " (" + f("allocator_l1d_misses_per_op", "{:.2f}") + ")",
                f("ll_misses_per_op", "{:.3f}") + " (" + f("allocator_ll_misses_per_op", "{:.3f}") + ")",
                label_of(run, r.allocator).version, library_width, c.threads_serialised ? "threads serialised" : "");
            fmt::print(out, "{}\n", line.substr(0, line.find_last_not_of(' ') + 1));
        }
    }
    fmt::print(out,
               "\nMeasured with callgrind (Valgrind): counts, not times, the same on every run; medians over {} rep{}.\n"
               "instr/op: instructions per operation in the timed region; in alloc: those inside the allocator's calls\n"
               "(allocate, free, reset, and everything they call); harness: the rest (the workload's own work). {}: instr/op\n"
               "over {}'s, then the allocator's instructions over {}'s. L1d and LL miss/op: simulated data-cache misses\n"
               "(reads and writes) per operation, those inside the allocator in parentheses; the caches are in the results'\n"
               "env (callgrind.caches), the same on every host.\n",
               run.reps, run.reps == 1 ? "" : "s", vs, run.baseline, run.baseline);
    if (any_serialised)
        fmt::print(out,
                   "threads serialised: valgrind runs one thread at a time, so contention (locks, shared cache lines) is\n"
                   "not represented: read a multithreaded row as the instructions the threads executed, not their time.\n");
}

}  // namespace allocmeter
