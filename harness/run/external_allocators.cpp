// The table of external allocators and each one's probes. Every probe looks its symbols up
// with dlsym and accepts them only from the object that serves malloc, so one binary serves
// every preload and never calls into a library that is merely loaded.
#include "harness/run/external_allocators.hpp"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <malloc.h>

#include <cstring>
#include <regex>

namespace allocmeter {

namespace {

const void* object_base(const void* sym) {
    Dl_info info{};
    return sym != nullptr && ::dladdr(sym, &info) != 0 ? info.dli_fbase : nullptr;
}

std::pair<std::string, std::string> no_version(const void*) { return {}; }

// ----- jemalloc: mallctl

using mallctl_fn = int (*)(const char*, void*, std::size_t*, void*, std::size_t);

mallctl_fn mallctl_in(const void* base) { return reinterpret_cast<mallctl_fn>(symbol_in(base, "mallctl")); }

bool is_jemalloc(const void* base) { return mallctl_in(base) != nullptr; }

std::pair<std::string, std::string> jemalloc_version(const void* base) {
    const char* v = nullptr;
    std::size_t len = sizeof v;
    if (mallctl_in(base)("version", &v, &len, nullptr, 0) != 0 || v == nullptr) return {};
    return {v, "mallctl(\"version\")"};
}

malloc_report jemalloc_stats(const void* base) {
    const mallctl_fn ctl = mallctl_in(base);
    malloc_report r;
    std::uint64_t epoch = 1;
    std::size_t len = sizeof epoch;
    ctl("epoch", &epoch, &len, &epoch, len);  // jemalloc caches its stats until the epoch moves
    r.source = "mallctl(\"stats.*\") after an epoch refresh";
    for (const char* name : {"allocated", "active", "metadata", "resident", "mapped", "retained"}) {
        std::size_t v = 0;
        len = sizeof v;
        if (ctl((std::string("stats.") + name).c_str(), &v, &len, nullptr, 0) == 0) r.fields.emplace_back(std::string(name) + "_bytes", v);
    }
    if (r.fields.empty()) r.reason = "this jemalloc was built without statistics (--disable-stats)";
    return r;
}

std::string jemalloc_purge(const void* base) {
    // MALLCTL_ARENAS_ALL is 4096 in jemalloc 5.
    return mallctl_in(base)("arena.4096.purge", nullptr, nullptr, nullptr, 0) == 0 ? "mallctl(\"arena.<all>.purge\")" : "";
}

// ----- gperftools tcmalloc: MallocExtension's C API

bool is_tcmalloc(const void* base) { return symbol_in(base, "MallocExtension_GetNumericProperty") != nullptr; }

std::pair<std::string, std::string> tcmalloc_version(const void* base) {
    void* f = symbol_in(base, "tc_version");
    if (f == nullptr) return {};
    int major = 0, minor = 0;
    const char* patch = nullptr;
    const char* v = reinterpret_cast<const char* (*)(int*, int*, const char**)>(f)(&major, &minor, &patch);
    return {v != nullptr ? v : std::to_string(major) + "." + std::to_string(minor), "tc_version()"};
}

malloc_report tcmalloc_stats(const void* base) {
    const auto get = reinterpret_cast<int (*)(const char*, std::size_t*)>(symbol_in(base, "MallocExtension_GetNumericProperty"));
    malloc_report r;
    r.source = "MallocExtension_GetNumericProperty()";
    for (const char* name : {"generic.current_allocated_bytes", "generic.heap_size", "tcmalloc.pageheap_free_bytes",
                             "tcmalloc.pageheap_unmapped_bytes", "tcmalloc.central_cache_free_bytes",
                             "tcmalloc.transfer_cache_free_bytes", "tcmalloc.thread_cache_free_bytes"}) {
        std::size_t v = 0;
        if (get(name, &v) != 0) r.fields.emplace_back(name, v);
    }
    return r;
}

std::string tcmalloc_purge(const void* base) {
    void* f = symbol_in(base, "MallocExtension_ReleaseFreeMemory");
    if (f == nullptr) return {};
    reinterpret_cast<void (*)()>(f)();
    return "MallocExtension_ReleaseFreeMemory()";
}

// ----- mimalloc

bool is_mimalloc(const void* base) { return symbol_in(base, "mi_version") != nullptr; }

std::pair<std::string, std::string> mimalloc_version(const void* base) {
    const int v = reinterpret_cast<int (*)()>(symbol_in(base, "mi_version"))();
    return {std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." + std::to_string(v % 10), "mi_version()"};
}

malloc_report mimalloc_stats(const void* base) {
    malloc_report r;
    void* f = symbol_in(base, "mi_process_info");
    if (f == nullptr) {
        r.reason = "this mimalloc has no mi_process_info()";
        return r;
    }
    using info_fn = void (*)(std::size_t*, std::size_t*, std::size_t*, std::size_t*, std::size_t*, std::size_t*,
                             std::size_t*, std::size_t*);
    std::size_t elapsed = 0, user = 0, sys = 0, rss = 0, peak_rss = 0, commit = 0, peak_commit = 0, faults = 0;
    reinterpret_cast<info_fn>(f)(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
    r.source = "mi_process_info()";
    r.fields = {{"current_commit_bytes", commit}, {"peak_commit_bytes", peak_commit}};
    return r;
}

std::string mimalloc_purge(const void* base) {
    void* f = symbol_in(base, "mi_collect");
    if (f == nullptr) return {};
    reinterpret_cast<void (*)(bool)>(f)(true);
    return "mi_collect(true)";
}

// ----- oneTBB tbbmalloc: its proxy serves malloc; the commands live in libtbbmalloc, which it loads

bool is_tbbmalloc(const void* base) {
    Dl_info info{};
    return ::dladdr(base, &info) != 0 && info.dli_fname != nullptr && std::strstr(info.dli_fname, "tbbmalloc") != nullptr;
}

malloc_report tbbmalloc_stats(const void*) {
    return {{}, {}, "the library serving malloc has no statistics call allocmeter knows"};
}

std::string tbbmalloc_purge(const void*) {
    void* f = ::dlsym(RTLD_DEFAULT, "scalable_allocation_command");
    constexpr int clean_all_buffers = 1;  // TBBMALLOC_CLEAN_ALL_BUFFERS
    if (f == nullptr || reinterpret_cast<int (*)(int, void*)>(f)(clean_all_buffers, nullptr) != 0) return {};
    return "scalable_allocation_command(TBBMALLOC_CLEAN_ALL_BUFFERS)";
}

/// tbbmalloc says its version only in the banner TBB_VERSION=1 makes it print: "TBBmalloc: VERSION 2021.8".
std::string tbbmalloc_banner_version(const std::string& stderr_text) {
    static const std::regex banner(R"(TBBmalloc: VERSION\s+(\S+))");
    std::smatch m;
    return std::regex_search(stderr_text, m, banner) ? "oneTBB tbbmalloc " + m[1].str() : std::string();
}

// ----- glibc

bool is_glibc(const void* base) { return object_base(reinterpret_cast<void*>(&gnu_get_libc_version)) == base; }

std::pair<std::string, std::string> glibc_version(const void*) {
    return {std::string("glibc ") + gnu_get_libc_version(), "gnu_get_libc_version()"};
}

malloc_report glibc_stats(const void*) {
    const struct mallinfo2 m = ::mallinfo2();
    return {"mallinfo2()",
            {{"in_use_bytes", m.uordblks + m.hblkhd},  // small blocks in use + mmap'd blocks
             {"free_bytes", m.fordblks},
             {"arena_bytes", m.arena},
             {"mmapped_bytes", m.hblkhd},
             {"top_releasable_bytes", m.keepcost}},
            {}};
}

std::string glibc_purge(const void*) {
    ::malloc_trim(0);
    return "malloc_trim(0)";
}

}  // namespace

void* symbol_in(const void* base, const char* name) {
    void* sym = ::dlsym(RTLD_DEFAULT, name);
    return sym != nullptr && object_base(sym) == base ? sym : nullptr;
}

const std::vector<external_allocator>& external_allocators() {
    static const std::vector<external_allocator> table{
        {"system", "", "libc6", "glibc malloc (ptmalloc2), no preload", {},
         {is_glibc, glibc_version, glibc_stats, glibc_purge}},
        {"jemalloc", "libjemalloc.so.2", "libjemalloc2", "jemalloc (size-class arenas, thread caches)", {},
         {is_jemalloc, jemalloc_version, jemalloc_stats, jemalloc_purge}},
        {"tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4", "gperftools tcmalloc (thread caches, central free lists)", {},
         {is_tcmalloc, tcmalloc_version, tcmalloc_stats, tcmalloc_purge}},
        {"mimalloc", "libmimalloc.so.2", "libmimalloc2.0", "mimalloc (free-list sharding per page)", {},
         {is_mimalloc, mimalloc_version, mimalloc_stats, mimalloc_purge}},
        // TBB_VERSION=1 makes tbbmalloc print its version banner, which is how it reports it.
        {"tbbmalloc", "libtbbmalloc_proxy.so.2", "libtbbmalloc2", "oneTBB scalable allocator (malloc proxy)", {"TBB_VERSION", "1"},
         {is_tbbmalloc, no_version, tbbmalloc_stats, tbbmalloc_purge}, tbbmalloc_banner_version, "TBB_VERSION banner", "TBBmalloc:"},
    };
    return table;
}

const external_allocator* find_external(std::string_view name) {
    for (const external_allocator& e : external_allocators())
        if (e.name == name) return &e;
    return nullptr;
}

bool is_library_banner(std::string_view line) {
    for (const external_allocator& e : external_allocators())
        if (!e.banner_prefix.empty() && line.starts_with(e.banner_prefix)) return true;
    return false;
}

std::vector<std::string> external_environment_names() {
    std::vector<std::string> names;
    for (const external_allocator& e : external_allocators())
        if (!e.env.first.empty()) names.emplace_back(e.env.first);
    return names;
}

}  // namespace allocmeter
