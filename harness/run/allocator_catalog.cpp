// The table of known allocators and the search for their libraries.
#include "harness/run/allocator_catalog.hpp"

#include <unistd.h>

#include <cctype>
#include <filesystem>

#include "allocators/malloc_allocator.hpp"
#include "harness/cell/registry.hpp"

#ifndef ALLOCMETER_LIBDIRS
#define ALLOCMETER_LIBDIRS "/usr/lib/x86_64-linux-gnu:/usr/lib:/usr/local/lib"
#endif

namespace allocmeter {

namespace {

/// An external allocator we know how to find.
struct known_library {
    std::string_view name;
    std::string_view soname;   ///< the runtime library preloaded
    std::string_view package;  ///< the Debian package that ships it
    std::string_view summary;
    std::pair<std::string_view, std::string_view> env{};  ///< extra environment, if any
};

constexpr known_library known_libraries[] = {
    {"jemalloc", "libjemalloc.so.2", "libjemalloc2", "jemalloc (size-class arenas, thread caches)"},
    {"tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4", "gperftools tcmalloc (thread caches, central free lists)"},
    {"mimalloc", "libmimalloc.so.2", "libmimalloc2.0", "mimalloc (free-list sharding per page)"},
    // TBB_VERSION=1 makes tbbmalloc print its version banner, which is how it reports it.
    {"tbbmalloc", "libtbbmalloc_proxy.so.2", "libtbbmalloc2", "oneTBB scalable allocator (malloc proxy)",
     {"TBB_VERSION", "1"}},
};

std::string find_library(std::string_view soname) {
    for (const std::string& dir : split_list(ALLOCMETER_LIBDIRS, ':')) {
        std::string candidate = dir + "/" + std::string(soname);
        if (::access(candidate.c_str(), R_OK) == 0) return candidate;
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
    return from == origin::reference ? std::string_view(name) : malloc_runner_name;
}

std::vector<std::string> split_list(std::string_view text, char sep) {
    std::vector<std::string> out;
    std::string item;
    for (const char c : std::string(text) + sep) {
        if (c == sep) {
            if (!item.empty()) out.push_back(item);
            item.clear();
        } else if (c != ' ') {
            item += c;
        }
    }
    return out;
}

allocator_catalog allocator_catalog::standard() {
    allocator_catalog c;
    c.entries_.push_back({"system", allocator_entry::origin::external, "glibc malloc (ptmalloc2), no preload",
                          malloc_allocator::caps, "", "", {}});
    for (const known_library& k : known_libraries) {
        allocator_entry e{std::string(k.name), allocator_entry::origin::external, std::string(k.summary),
                          malloc_allocator::caps, find_library(k.soname), "", {}};
        if (e.library.empty())
            e.unavailable = std::string(k.soname) + " not found in " + ALLOCMETER_LIBDIRS +
                            "; install it with: apt-get install " + std::string(k.package);
        if (!k.env.first.empty()) e.env.emplace_back(k.env.first, k.env.second);
        c.entries_.push_back(std::move(e));
    }
    for (const reference_info& r : reference_allocators())
        c.entries_.push_back({std::string(r.name), allocator_entry::origin::reference, std::string(r.summary), r.caps, "", "", {}});
    return c;
}

void allocator_catalog::add_custom(std::string_view spec) {
    const auto eq = spec.find('=');
    if (eq == std::string_view::npos)
        throw usage_error("--allocator " + std::string(spec) + ": expected NAME=/path/to/lib.so");
    const std::string name(spec.substr(0, eq));
    const std::string path(spec.substr(eq + 1));
    if (!valid_name(name))
        throw usage_error("--allocator " + std::string(spec) + ": the name may use letters, digits, '_', '-' and '.'");
    if (const allocator_entry* existing = find(name); existing != nullptr)
        throw usage_error("--allocator " + std::string(spec) + ": '" + name +
                          "' is already an allocator; choose another name");
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(path, ec);
    if (path.empty() || !std::filesystem::is_regular_file(abs, ec))
        throw usage_error("--allocator " + std::string(spec) + ": " + (path.empty() ? "no path given" : path + " is not a file") +
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
