// Version probes, each accepted only when the symbol lives in the object serving malloc.
#include "harness/library_probe.hpp"

#include <dlfcn.h>
#include <gnu/libc-version.h>

#include <climits>
#include <cstdlib>
#include <regex>

namespace allocmeter {

namespace {

const void* object_base(const void* sym) {
    Dl_info info{};
    return sym != nullptr && ::dladdr(sym, &info) != 0 ? info.dli_fbase : nullptr;
}

/// The symbol, if the object at `base` defines it.
void* symbol_in(const void* base, const char* name) {
    void* sym = ::dlsym(RTLD_DEFAULT, name);
    return sym != nullptr && object_base(sym) == base ? sym : nullptr;
}

}  // namespace

std::string canonical_path(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

library_identity identify_malloc() {
    library_identity id;
    void* malloc_sym = ::dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info{};
    if (malloc_sym == nullptr || ::dladdr(malloc_sym, &info) == 0 || info.dli_fname == nullptr) return id;
    const void* base = info.dli_fbase;
    id.path = canonical_path(info.dli_fname);
    id.is_libc = object_base(reinterpret_cast<void*>(&gnu_get_libc_version)) == base;

    if (void* f = symbol_in(base, "mallctl")) {
        using mallctl_fn = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
        const char* v = nullptr;
        std::size_t len = sizeof v;
        if (reinterpret_cast<mallctl_fn>(f)("version", &v, &len, nullptr, 0) == 0 && v != nullptr) {
            id.version = v;
            id.version_source = "mallctl(\"version\")";
        }
    } else if (void* f = symbol_in(base, "tc_version")) {
        int major = 0, minor = 0;
        const char* patch = nullptr;
        const char* v = reinterpret_cast<const char* (*)(int*, int*, const char**)>(f)(&major, &minor, &patch);
        id.version = v != nullptr ? v : std::to_string(major) + "." + std::to_string(minor);
        id.version_source = "tc_version()";
    } else if (void* f = symbol_in(base, "mi_version")) {
        const int v = reinterpret_cast<int (*)()>(f)();
        id.version = std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." + std::to_string(v % 10);
        id.version_source = "mi_version()";
    } else if (id.is_libc) {
        id.version = std::string("glibc ") + gnu_get_libc_version();
        id.version_source = "gnu_get_libc_version()";
    }
    return id;
}

std::string tbbmalloc_banner_version(const std::string& stderr_text) {
    static const std::regex banner(R"(TBBmalloc: VERSION\s+(\S+))");
    std::smatch m;
    return std::regex_search(stderr_text, m, banner) ? "oneTBB tbbmalloc " + m[1].str() : std::string();
}

}  // namespace allocmeter
