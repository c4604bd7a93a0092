// Every external allocator allocmeter knows, in one table: its name, the library to preload,
// the Debian package that ships it, extra environment, and how a cell recognises it in its
// own process and reads its version and statistics and purges it. Adding an allocator is
// adding one entry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace allocmeter {

/// What the library serving malloc says about its heap: named byte counts and the call they
/// came from, or no fields and the reason.
struct malloc_report {
    std::string source;                                         ///< e.g. "mallctl(\"stats.*\")"
    std::vector<std::pair<std::string, std::uint64_t>> fields;  ///< name, bytes
    std::string reason;                                         ///< why there are no fields
};

/// The probes a cell runs on the object that serves its malloc. Each takes that object's
/// base address and finds its own symbols in it with dlsym (symbol_in below).
struct allocator_probes {
    /// True when the object at `base` is this allocator.
    bool (*recognise)(const void* base);
    /// Its version as it reports it, and the call it came from; empty when it has no way.
    std::pair<std::string, std::string> (*version)(const void* base);
    /// Its own statistics.
    malloc_report (*stats)(const void* base);
    /// Returns its free memory to the OS; the call made, or empty when it has none.
    std::string (*purge)(const void* base);
};

struct external_allocator {
    std::string_view name;
    std::string_view soname;   ///< the runtime library preloaded; empty for glibc (no preload)
    std::string_view package;  ///< the Debian package that ships it
    std::string_view summary;
    std::pair<std::string_view, std::string_view> env;  ///< extra child environment, if any
    allocator_probes probes;
    /// A version the parent reads from the cell's stderr when the library reports it only
    /// there (tbbmalloc's TBB_VERSION banner); null when not needed.
    std::string (*version_from_stderr)(const std::string& stderr_text) = nullptr;
    std::string_view stderr_version_source = {};
    /// How the lines of that banner start: not a cell's failure message.
    std::string_view banner_prefix = {};
};

/// The table, in the order runs list them: system (glibc) first.
const std::vector<external_allocator>& external_allocators();

/// The entry called `name`, or nullptr.
const external_allocator* find_external(std::string_view name);

/// True when `line` is a library's own banner (tbbmalloc's version line), not a message of the cell's.
bool is_library_banner(std::string_view line);

/// The environment variables any entry sets: dropped from every cell that is not that entry's.
std::vector<std::string> external_environment_names();

/// The symbol `name`, if the object at `base` defines it.
void* symbol_in(const void* base, const char* name);

}  // namespace allocmeter
