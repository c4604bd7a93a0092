// run --measure callgrind: how a cell is started under Valgrind's callgrind, and what its
// profile says. The cell turns callgrind's instrumentation on over its timed region only
// (run_cell.cpp), so the profile's totals are the region's; the allocator's share is the
// inclusive cost of the calls into its out-of-line boundary (harness/cell/callgrind_boundary.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace allocmeter {

/// The simulated caches, the same on every host so that miss counts compare across machines
/// (callgrind's own choice follows the host's cpuid, which on a VM can be anything).
struct simulated_caches {
    std::string i1 = "32768,8,64", d1 = "32768,8,64", ll = "8388608,16,64";  ///< size,associativity,line (bytes)
};

/// "32768,8,64" as "32768 B, 8-way, 64 B lines".
std::string describe_cache(const std::string& spec);

/// What run --measure callgrind asks of Valgrind.
struct callgrind_settings {
    std::string valgrind;       ///< the valgrind executable, absolute
    std::string virtual_clock;  ///< liballocmeter_virtual_clock.so, preloaded into each cell (virtual_clock.hpp)
    bool branch_sim = false;  ///< --branch-sim=yes: conditional and indirect branches and their mispredictions
    simulated_caches caches;
};

/// valgrind's arguments up to the program: callgrind with the cache simulator, instrumentation
/// off until the cell turns it on, the profile written to `profile`.
std::vector<std::string> callgrind_arguments(const callgrind_settings& s, const std::filesystem::path& profile);

/// The valgrind executable on PATH, or none.
std::optional<std::string> find_valgrind();

/// Event counts from a callgrind profile: the whole profile's, and those of the calls into
/// the boundary functions (inclusive: everything they ran, callees included). Counts are in
/// the order of `events` (callgrind's names: Ir, Dr, Dw, I1mr, D1mr, D1mw, ILmr, DLmr, DLmw,
/// with --branch-sim Bc, Bcm, Bi, Bim).
struct callgrind_profile {
    std::vector<std::string> events;
    std::vector<std::uint64_t> total, inside;
    std::uint64_t boundary_calls = 0;           ///< calls into the boundary
    std::map<std::string, std::string> caches;  ///< "I1", "D1", "LL" -> "32768 B, 64 B, 8-way associative"

    /// The count of event `name` in `counts` (total or inside); none when the profile lacks it.
    std::optional<std::uint64_t> count(const std::vector<std::uint64_t>& counts, std::string_view name) const;
};

/// Reads a profile in callgrind's format (with or without name and position compression).
/// Functions whose (demangled) name starts with `boundary_prefix` are the boundary. Throws
/// std::runtime_error naming `source` and the line when the text is not such a profile.
callgrind_profile read_callgrind_profile(std::istream& in, std::string_view boundary_prefix, const std::string& source);
callgrind_profile read_callgrind_profile(const std::filesystem::path& file, std::string_view boundary_prefix);

}  // namespace allocmeter
