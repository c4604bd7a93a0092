// The allocmeter executable: prints the top-level help and hands the arguments after the
// command's name to that command (one file each in harness/cli). A command refuses its
// arguments by throwing usage_error; it is printed here, once, and exits 2.
#include <cstdio>
#include <string>
#include <vector>

#include "harness/cli/cell_command.hpp"
#include "harness/cli/command_line.hpp"
#include "harness/cli/compare_command.hpp"
#include "harness/cli/fidelity_command.hpp"
#include "harness/cli/list_command.hpp"
#include "harness/cli/plot_command.hpp"
#include "harness/cli/record_command.hpp"
#include "harness/cli/report_command.hpp"
#include "harness/cli/run_command.hpp"
#include "harness/cli/trace_command.hpp"
#include "harness/run/cell_protocol.hpp"

using namespace allocmeter;

namespace {

const char* const top_usage = R"(allocmeter: run memory allocators side by side on the same workloads and measure them.

usage: allocmeter <command> [options]

commands:
  list    allocators (with availability and capabilities) and workloads (with parameters)
  run     run the benchmark matrix: allocators x workloads x threads x repetitions
  record  record a program's allocations into a trace (LD_PRELOAD)
  fidelity can I trust a replay of this program? its direct and replayed allocator rankings compared
  trace   inspect, import or profile an allocation trace: info, validate, import, profile (a spec file)
  compare is a difference real? two results files, or two allocators in one (paired by round)
  plot    charts of a results file (PNG and SVG): heat maps, relative time and RSS, scaling, latency
  report  one self-contained HTML page for a design review: tables, tests, charts, method

examples:
  allocmeter list
  allocmeter run --scale quick
  allocmeter run --allocators system,jemalloc,bump --workloads frame --threads 1 --reps 5
  allocmeter run --allocator mine=./libmymalloc.so --allocators system,mine
  allocmeter record -o app.trace -- ./app --its-args
  allocmeter trace info app.trace
  allocmeter fidelity -- ./app --its-args
  allocmeter compare results/latest --allocators system,jemalloc
  allocmeter report results/latest
  allocmeter trace import --format mtrace app.mtrace
  allocmeter trace profile app.trace && allocmeter run --workloads spec:app.spec.json

Every option takes its value as '--name value' or '--name=value'.
'allocmeter <command> --help' shows a command's options.
)";

/// The whole command line, as the results record it (argv[0] as typed).
std::string command_line(int argc, char** argv) {
    std::string s = argv[0];
    for (int i = 1; i < argc; ++i) s.append(" ").append(argv[i]);
    return s;
}

int dispatch(const std::string& command, const std::vector<std::string>& args, int argc, char** argv) {
    if (command == "list") return list_command(args);
    if (command == "run") return run_command(args, command_line(argc, argv));
    if (command == "record") return record_command(args);
    if (command == "trace") return trace_command(args);
    if (command == "fidelity") return fidelity_command(args);
    if (command == "compare") return compare_command(args);
    if (command == "plot") return plot_command(args);
    if (command == "report") return report_command(args);
    if (command == cell_command) return cell_command_main(args);
    if (command == check_library_command) return check_library_main(args);
    std::fprintf(stderr, "allocmeter: unknown command '%s'; commands: list, run, record, trace, compare, plot, report, fidelity (see 'allocmeter --help')\n",
                 command.c_str());
    return exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fputs(top_usage, stderr);
        return exit_usage;
    }
    const std::string command = argv[1];
    if (command == "-h" || command == "--help" || command == "help") {
        std::fputs(top_usage, stdout);
        return 0;
    }
    if (command == "--version") {
        std::printf("allocmeter %s\n", ALLOCMETER_VERSION);
        return 0;
    }
    try {
        return dispatch(command, std::vector<std::string>(argv + 2, argv + argc), argc, argv);
    } catch (const usage_error& e) {
        std::fprintf(stderr, "allocmeter %s: %s\n", e.command().c_str(), e.what());
        return exit_usage;
    }
}
