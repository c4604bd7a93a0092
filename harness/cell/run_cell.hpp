// The child's side of a cell: check who serves malloc, run the workload (or replay the trace)
// once between two usage snapshots, and send the measurement back to the parent.
#pragma once

#include "harness/run/cell_protocol.hpp"

namespace allocmeter {

/// Runs the cell in this process and sends its result on result_fd. Returns the exit code:
/// 0, or 2 with a message on stderr when the cell cannot run as asked.
int run_cell(const cell_request& request);

}  // namespace allocmeter
