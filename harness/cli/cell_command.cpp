// The hidden `__cell` command: its arguments are the cell protocol's, parsed there; this file
// only turns a malformed request into the usage failure every command gives.
#include "harness/cli/cell_command.hpp"

#include <stdexcept>

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

}  // namespace allocmeter
