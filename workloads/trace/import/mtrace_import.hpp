// mtrace_import: turns a glibc mtrace() log into an allocmeter trace (docs/trace-format.md,
// "Importing glibc mtrace logs"). One thread, addresses become dense object ids, and a bad
// line is an error that names the log and the line.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "workloads/trace/format/trace_format.hpp"

namespace allocmeter::trace {

/// How import_mtrace treats a log that is inconsistent.
struct mtrace_options {
    /// An allocation at an address that is still live first frees the old object (and is
    /// counted) instead of failing: a missing free, or a multithreaded log out of order.
    bool lenient = false;
};

/// What import_mtrace did.
struct import_summary {
    std::uint64_t lines = 0;               ///< lines read from the log
    std::uint64_t events = 0;              ///< events written to the trace
    std::uint64_t skipped_frees = 0;       ///< '- ADDR' of an address not live (allocated before mtrace())
    std::uint64_t untracked_reallocs = 0;  ///< reallocs of such an address: '< >' became a malloc, '!' was skipped
    std::uint64_t lenient_fixes = 0;       ///< allocations at a live address freed first (lenient only)
    trace_summary trace;                   ///< validate() of the written trace
};

/// A bad mtrace log: "<file>: line <N>: <problem>", without the line part when none applies.
struct mtrace_error : std::runtime_error {
    mtrace_error(const std::string& file, std::uint64_t line, const std::string& problem);

    std::string file;     ///< the log's path
    std::uint64_t line;   ///< 1-based; 0 when no line applies (the file cannot be opened)
    std::string problem;  ///< the message without file and line
};

/// Reads the mtrace log `log_path` and writes the trace `trace_path` (through
/// `trace_path`.tmp, renamed once the trace validates, so a failure leaves no output).
/// Throws mtrace_error for a bad log, trace_error when the trace cannot be written.
import_summary import_mtrace(const std::string& log_path, const std::string& trace_path,
                             const mtrace_options& options = {});

}  // namespace allocmeter::trace
