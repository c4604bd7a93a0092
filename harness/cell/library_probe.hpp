// Finds out, from inside a process, which shared library serves its malloc, which external
// allocator of the table that is, and what it says: its version and statistics, and a purge.
// A cell uses it to prove it measured what it was asked to.
#pragma once

#include <string>

#include "harness/run/external_allocators.hpp"

namespace allocmeter {

struct library_identity {
    std::string path;            ///< the object that defines the malloc this process calls
    std::string version;         ///< as the library reports it; empty if it has no way to
    std::string version_source;  ///< the function it came from
    bool is_libc = false;        ///< the serving object is glibc's libc
};

/// Identifies the library serving malloc in this process.
library_identity identify_malloc();

/// The serving library's own statistics, or the reason there are none.
malloc_report read_malloc_stats();

/// Asks the serving library to return its free memory to the OS; the call made, or empty.
std::string purge_malloc();

/// Why the shared library at `path` cannot serve as a malloc replacement: it does not load
/// (dlopen's message), or it defines no malloc of its own. Empty when it can. Loads the
/// library into this process, running its constructors: call it in a child process.
std::string malloc_library_problem(const std::string& path);

/// Canonical form of a path (symlinks resolved); the input itself when that fails.
std::string canonical_path(const std::string& path);

}  // namespace allocmeter
