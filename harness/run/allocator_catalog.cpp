// The table of known allocators and the search for their libraries.
#include "harness/run/allocator_catalog.hpp"

#include <unistd.h>

#include <cctype>
#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "allocators/malloc_allocator.hpp"
#include "harness/cell/registry.hpp"
#include "harness/run/external_allocators.hpp"

#ifndef ALLOCMETER_LIBDIRS
#define ALLOCMETER_LIBDIRS "/usr/lib/x86_64-linux-gnu:/usr/lib:/usr/local/lib"
#endif

namespace allocmeter {

namespace {

/// The first of ALLOCMETER_LIBDIRS (colon-separated) that holds `soname`, or "".
std::string find_library(std::string_view soname) {
    const std::string_view dirs = ALLOCMETER_LIBDIRS;
    for (std::size_t from = 0; from <= dirs.size();) {
        const std::size_t colon = std::min(dirs.find(':', from), dirs.size());
        std::string candidate = std::string(dirs.substr(from, colon - from)) + "/" + std::string(soname);
        if (colon > from && ::access(candidate.c_str(), R_OK) == 0) return candidate;
        from = colon + 1;
    }
    return {};
}

bool valid_name(std::string_view name) {
    if (name.empty()) return false;
    for (const char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    return true;
}

}  // namespace

std::string_view allocator_entry::runner() const {
    return in_process() ? std::string_view(name) : malloc_runner_name;
}

std::string_view allocator_entry::kind() const {
    switch (from) {
        case origin::reference: return "reference";
        case origin::custom: return "user";
        case origin::harness: return "harness";
        case origin::external: break;
    }
    return "external";
}

allocator_catalog allocator_catalog::standard() {
    allocator_catalog c;
    for (const external_allocator& k : external_allocators()) {
        allocator_entry e{std::string(k.name), allocator_entry::origin::external, std::string(k.summary),
                          malloc_allocator::caps, k.soname.empty() ? "" : find_library(k.soname), "", {}};
        if (!k.soname.empty() && e.library.empty())
            e.unavailable = std::string(k.soname) + " not found in " + ALLOCMETER_LIBDIRS +
                            "; install it with: apt-get install " + std::string(k.package);
        if (!k.env.first.empty()) e.env.emplace_back(k.env.first, k.env.second);
        c.entries_.push_back(std::move(e));
    }
    for (const reference_info& r : reference_allocators())
        c.entries_.push_back({std::string(r.name), allocator_entry::origin::reference, std::string(r.summary), r.caps, "", "", {}});
    const reference_info h = harness_allocator();
    c.entries_.push_back({std::string(h.name), allocator_entry::origin::harness, std::string(h.summary), h.caps, "", "", {}});
    return c;
}

void allocator_catalog::add_custom(std::string_view spec) {
    const auto eq = spec.find('=');
    if (eq == std::string_view::npos)
        throw std::invalid_argument("--allocator " + std::string(spec) + ": expected NAME=/path/to/lib.so");
    const std::string name(spec.substr(0, eq));
    const std::string path(spec.substr(eq + 1));
    if (!valid_name(name))
        throw std::invalid_argument("--allocator " + std::string(spec) + ": the name may use letters, digits, '_', '-' and '.'");
    if (const allocator_entry* existing = find(name); existing != nullptr)
        throw std::invalid_argument("--allocator " + std::string(spec) + ": '" + name +
                          "' is already an allocator; choose another name");
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(path, ec);
    if (path.empty() || !std::filesystem::is_regular_file(abs, ec))
        throw std::invalid_argument("--allocator " + std::string(spec) + ": " + (path.empty() ? "no path given" : path + " is not a file") +
                          "; give the path to a shared library that defines malloc and free");
    entries_.push_back({name, allocator_entry::origin::custom, "user library " + abs.string(), malloc_allocator::caps,
                        abs.string(), "", {}});
}

const allocator_entry* allocator_catalog::find(std::string_view name) const {
    for (const allocator_entry& e : entries_)
        if (e.name == name) return &e;
    return nullptr;
}

std::string allocator_catalog::names() const {
    std::string out;
    for (const allocator_entry& e : entries_) out += (out.empty() ? "" : ", ") + e.name;
    return out;
}

}  // namespace allocmeter
