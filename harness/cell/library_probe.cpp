// The serving object is found once per call with dladdr on malloc; what to ask it comes from
// the entry of external_allocators() that recognises it.
#include "harness/cell/library_probe.hpp"

#include <dlfcn.h>

#include <climits>
#include <cstdlib>
#include <tuple>

namespace allocmeter {

namespace {

/// The base address of the object that defines the malloc this process calls, or nullptr.
const void* serving_base() {
    Dl_info info{};
    void* sym = ::dlsym(RTLD_DEFAULT, "malloc");
    return sym != nullptr && ::dladdr(sym, &info) != 0 ? info.dli_fbase : nullptr;
}

/// The table's entry for the object at `base`, or nullptr for a library it does not know.
const external_allocator* recognised(const void* base) {
    if (base == nullptr) return nullptr;
    for (const external_allocator& e : external_allocators())
        if (e.probes.recognise(base)) return &e;
    return nullptr;
}

}  // namespace

malloc_report read_malloc_stats() {
    const void* base = serving_base();
    if (const external_allocator* e = recognised(base)) return e->probes.stats(base);
    return {{}, {}, "the library serving malloc has no statistics call allocmeter knows"};
}

std::string purge_malloc() {
    const void* base = serving_base();
    const external_allocator* e = recognised(base);
    return e != nullptr ? e->probes.purge(base) : std::string();
}

std::string malloc_library_problem(const std::string& path) {
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        return std::string("does not load as a shared library: ") + (why != nullptr ? why : "dlopen failed");
    }
    // dlsym on a handle also searches the library's dependencies (libc among them), so the
    // symbol found must be the library's own.
    void* sym = ::dlsym(handle, "malloc");
    Dl_info info{};
    if (sym == nullptr || ::dladdr(sym, &info) == 0 || info.dli_fname == nullptr ||
        canonical_path(info.dli_fname) != canonical_path(path))
        return "defines no malloc of its own" +
               (sym != nullptr && info.dli_fname != nullptr ? " (malloc there comes from " + canonical_path(info.dli_fname) + ")"
                                                           : std::string());
    return {};
}

std::string canonical_path(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

library_identity identify_malloc() {
    library_identity id;
    void* malloc_sym = ::dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info{};
    if (malloc_sym == nullptr || ::dladdr(malloc_sym, &info) == 0 || info.dli_fname == nullptr) return id;
    id.path = canonical_path(info.dli_fname);
    const external_allocator* e = recognised(info.dli_fbase);
    if (e == nullptr) return id;
    id.is_libc = e->name == "system";
    std::tie(id.version, id.version_source) = e->probes.version(info.dli_fbase);
    return id;
}

}  // namespace allocmeter
