// The size of a run: the scale a user picks (quick, default, full), its spelling on the
// command line, and pick(), through which each workload turns it into operation counts.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace allocmeter {

/// How big a run is: `quick` for smoke tests, `standard` (spelled "default"), `full`.
enum class scale { quick, standard, full };

inline std::string_view to_string(scale s) {
    switch (s) {
        case scale::quick: return "quick";
        case scale::standard: return "default";
        case scale::full: return "full";
    }
    return "?";
}

inline std::optional<scale> parse_scale(std::string_view s) {
    if (s == "quick") return scale::quick;
    if (s == "default") return scale::standard;
    if (s == "full") return scale::full;
    return std::nullopt;
}

/// Picks the value for a scale: pick(s, quick, default, full).
constexpr std::uint64_t pick(scale s, std::uint64_t quick, std::uint64_t standard, std::uint64_t full) {
    return s == scale::quick ? quick : s == scale::standard ? standard : full;
}

}  // namespace allocmeter
