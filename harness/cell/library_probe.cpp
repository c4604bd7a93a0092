// Version probes, each accepted only when the symbol lives in the object serving malloc.
#include "harness/cell/library_probe.hpp"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <malloc.h>

#include <climits>
#include <cstring>
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

/// The base address of the object that defines the malloc this process calls, or nullptr.
const void* serving_base() { return object_base(::dlsym(RTLD_DEFAULT, "malloc")); }

using mallctl_fn = int (*)(const char*, void*, std::size_t*, void*, std::size_t);

}  // namespace

malloc_report read_malloc_stats() {
    malloc_report r;
    const void* base = serving_base();
    if (void* f = symbol_in(base, "mallctl")) {
        const auto ctl = reinterpret_cast<mallctl_fn>(f);
        std::uint64_t epoch = 1;
        std::size_t len = sizeof epoch;
        ctl("epoch", &epoch, &len, &epoch, len);  // jemalloc caches its stats until the epoch moves
        r.source = "mallctl(\"stats.*\") after an epoch refresh";
        for (const char* name : {"allocated", "active", "metadata", "resident", "mapped", "retained"}) {
            std::size_t v = 0;
            len = sizeof v;
            if (ctl((std::string("stats.") + name).c_str(), &v, &len, nullptr, 0) == 0)
                r.fields.emplace_back(std::string(name) + "_bytes", v);
        }
        if (r.fields.empty()) r.reason = "this jemalloc was built without statistics (--disable-stats)";
    } else if (void* f = symbol_in(base, "MallocExtension_GetNumericProperty")) {
        const auto get = reinterpret_cast<int (*)(const char*, std::size_t*)>(f);
        r.source = "MallocExtension_GetNumericProperty()";
        for (const char* name : {"generic.current_allocated_bytes", "generic.heap_size", "tcmalloc.pageheap_free_bytes",
                                 "tcmalloc.pageheap_unmapped_bytes", "tcmalloc.central_cache_free_bytes",
                                 "tcmalloc.transfer_cache_free_bytes", "tcmalloc.thread_cache_free_bytes"}) {
            std::size_t v = 0;
            if (get(name, &v) != 0) r.fields.emplace_back(name, v);
        }
    } else if (void* f = symbol_in(base, "mi_process_info")) {
        using info_fn = void (*)(std::size_t*, std::size_t*, std::size_t*, std::size_t*, std::size_t*, std::size_t*,
                                 std::size_t*, std::size_t*);
        std::size_t elapsed = 0, user = 0, sys = 0, rss = 0, peak_rss = 0, commit = 0, peak_commit = 0, faults = 0;
        reinterpret_cast<info_fn>(f)(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
        r.source = "mi_process_info()";
        r.fields = {{"current_commit_bytes", commit}, {"peak_commit_bytes", peak_commit}};
    } else if (object_base(reinterpret_cast<void*>(&gnu_get_libc_version)) == base) {
        const struct mallinfo2 m = ::mallinfo2();
        r.source = "mallinfo2()";
        r.fields = {{"in_use_bytes", m.uordblks + m.hblkhd},  // small blocks in use + mmap'd blocks
                    {"free_bytes", m.fordblks},
                    {"arena_bytes", m.arena},
                    {"mmapped_bytes", m.hblkhd},
                    {"top_releasable_bytes", m.keepcost}};
    } else {
        r.reason = "the library serving malloc has no statistics call allocmeter knows";
    }
    return r;
}

std::string purge_malloc() {
    const void* base = serving_base();
    if (void* f = symbol_in(base, "mallctl")) {
        // MALLCTL_ARENAS_ALL is 4096 in jemalloc 5.
        if (reinterpret_cast<mallctl_fn>(f)("arena.4096.purge", nullptr, nullptr, nullptr, 0) == 0)
            return "mallctl(\"arena.<all>.purge\")";
        return {};
    }
    if (void* f = symbol_in(base, "MallocExtension_ReleaseFreeMemory")) {
        reinterpret_cast<void (*)()>(f)();
        return "MallocExtension_ReleaseFreeMemory()";
    }
    if (void* f = symbol_in(base, "mi_collect")) {
        reinterpret_cast<void (*)(bool)>(f)(true);
        return "mi_collect(true)";
    }
    // tbbmalloc's proxy serves malloc; the command lives in libtbbmalloc, which it loads.
    void* tbb = ::dlsym(RTLD_DEFAULT, "scalable_allocation_command");
    if (Dl_info info{}; tbb != nullptr && ::dladdr(base, &info) != 0 && info.dli_fname != nullptr &&
                        std::strstr(info.dli_fname, "tbbmalloc") != nullptr) {
        void* f = tbb;
        constexpr int clean_all_buffers = 1;  // TBBMALLOC_CLEAN_ALL_BUFFERS
        if (reinterpret_cast<int (*)(int, void*)>(f)(clean_all_buffers, nullptr) == 0)
            return "scalable_allocation_command(TBBMALLOC_CLEAN_ALL_BUFFERS)";
        return {};
    }
    if (object_base(reinterpret_cast<void*>(&gnu_get_libc_version)) == base) {
        ::malloc_trim(0);
        return "malloc_trim(0)";
    }
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
