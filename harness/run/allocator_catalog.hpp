// Every allocator a run can name: the reference allocators (in process), the external
// ones we know (each found as a shared library to preload), and user libraries given as
// --allocator NAME=/path/lib.so. Says which are available and, when not, why. Last, the
// harness row's do-nothing allocator, which run adds by itself.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "allocators/adapter.hpp"

namespace allocmeter {

struct allocator_entry {
    /// harness: the do-nothing allocator of the harness row, run in process as a reference one.
    enum class origin { reference, external, custom, harness };

    std::string name;
    origin from = origin::external;
    std::string summary;
    capabilities caps;
    std::string library;             ///< absolute path to preload ("" for system and reference)
    std::string unavailable;         ///< why it cannot run here; empty when it can
    std::vector<std::pair<std::string, std::string>> env;  ///< extra child environment

    bool available() const { return unavailable.empty(); }
    bool in_process() const { return from == origin::reference || from == origin::harness; }
    /// The registry type that runs it: its own name, or the malloc adapter.
    std::string_view runner() const;
    /// "reference", "external", "user" or "harness", as results record it.
    std::string_view kind() const;
};

class allocator_catalog {
public:
    /// The built-in allocators, with external libraries looked up on this host.
    static allocator_catalog standard();

    /// Adds a user library from "NAME=/path/lib.so"; throws std::invalid_argument, naming the
    /// input and what to give, when malformed.
    void add_custom(std::string_view spec);

    /// The entry called `name`, or nullptr.
    const allocator_entry* find(std::string_view name) const;

    const std::vector<allocator_entry>& entries() const { return entries_; }

    /// "a, b, c": every name, for error messages.
    std::string names() const;

private:
    std::vector<allocator_entry> entries_;
};

}  // namespace allocmeter
