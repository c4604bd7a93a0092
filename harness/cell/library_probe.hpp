// Finds out, from inside a process, which shared library serves its malloc and which
// version that library says it is (jemalloc's "version" mallctl, tc_version, mi_version,
// gnu_get_libc_version), so a cell can prove it measured what it was asked to.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace allocmeter {

struct library_identity {
    std::string path;            ///< the object that defines the malloc this process calls
    std::string version;         ///< as the library reports it; empty if it has no way to
    std::string version_source;  ///< the function it came from
    bool is_libc = false;        ///< the serving object is glibc's libc
};

/// Identifies the library serving malloc in this process.
library_identity identify_malloc();

/// What the library serving malloc says about its heap: named byte counts and the call they
/// came from, or no fields and the reason (a library with no such call, e.g. tbbmalloc).
struct malloc_report {
    std::string source;                                           ///< e.g. "mallctl(\"stats.*\")"
    std::vector<std::pair<std::string, std::uint64_t>> fields;    ///< name, bytes
    std::string reason;                                           ///< why there are no fields
};

/// Reads the serving library's own statistics (jemalloc after an "epoch" refresh, gperftools'
/// numeric properties, mi_process_info, glibc's mallinfo2), each found with dlsym in the
/// object that serves malloc, so one binary serves every preload.
malloc_report read_malloc_stats();

/// Asks the serving library to return its free memory to the OS (jemalloc's arena purge,
/// ReleaseFreeMemory, mi_collect(true), malloc_trim(0), tbbmalloc's clean-all-buffers);
/// returns the call made, or empty when the library has none.
std::string purge_malloc();

/// Canonical form of a path (symlinks resolved); the input itself when that fails.
std::string canonical_path(const std::string& path);

/// Parses tbbmalloc's TBB_VERSION banner ("TBBmalloc: VERSION 2021.8") out of stderr text.
std::string tbbmalloc_banner_version(const std::string& stderr_text);

}  // namespace allocmeter
