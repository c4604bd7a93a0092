// The hidden `__cell` command: its arguments are the cell protocol's, parsed there; this file
// only turns a malformed request into the usage failure every command gives. And the hidden
// `__check-library` command, which loads a user's library where it cannot harm the run.
#include "harness/cli/cell_command.hpp"

#include <cstdio>
#include <stdexcept>

#include "harness/cell/library_probe.hpp"
#include "harness/cell/run_cell.hpp"
#include "harness/cli/command_line.hpp"
#include "harness/run/child_process.hpp"
#include "harness/run/cell_protocol.hpp"

namespace allocmeter {

int cell_command_main(const std::vector<std::string>& args) {
    end_group_on_sigterm();  // the parent died: take down anything the allocator's library started
    cell_request request;
    try {
        request = cell_request::from_args(args);
    } catch (const std::invalid_argument& e) {
        usage_fail(cell_command, e.what());
    }
    return run_cell(request);
}

int check_library_main(const std::vector<std::string>& args) {
    if (args.size() != 1) usage_fail(check_library_command, "give one library path");
    end_group_on_sigterm();
    const std::string problem = malloc_library_problem(args[0]);
    if (problem.empty()) return 0;
    std::fprintf(stderr, "%s\n", problem.c_str());
    return 1;
}

}  // namespace allocmeter
