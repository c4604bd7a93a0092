// Finds out, from inside a process, which shared library serves its malloc and which
// version that library says it is (jemalloc's "version" mallctl, tc_version, mi_version,
// gnu_get_libc_version), so a cell can prove it measured what it was asked to.
#pragma once

#include <string>

namespace allocmeter {

struct library_identity {
    std::string path;            ///< the object that defines the malloc this process calls
    std::string version;         ///< as the library reports it; empty if it has no way to
    std::string version_source;  ///< the function it came from
    bool is_libc = false;        ///< the serving object is glibc's libc
};

/// Identifies the library serving malloc in this process.
library_identity identify_malloc();

/// Canonical form of a path (symlinks resolved); the input itself when that fails.
std::string canonical_path(const std::string& path);

/// Parses tbbmalloc's TBB_VERSION banner ("TBBmalloc: VERSION 2021.8") out of stderr text.
std::string tbbmalloc_banner_version(const std::string& stderr_text);

}  // namespace allocmeter
