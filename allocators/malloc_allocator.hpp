// The adapter for whatever malloc serves this process: glibc's, or a library preloaded in
// its place (jemalloc, tcmalloc, mimalloc, tbbmalloc, a user's .so). The sized free that the
// serving library exports is found with dlsym, so one binary serves every preload.
#pragma once

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "allocators/adapter.hpp"

namespace allocmeter {

class malloc_allocator {
public:
    static constexpr capabilities caps{
        .individual_free = true, .reset = false, .thread_safe = true, .max_align = std::size_t{1} << 16};

    /// How deallocate() returns a block of natural alignment.
    enum class free_kind { plain, free_sized, sdallocx, tc_free_sized, mi_free_size };

    /// malloc for natural alignment, aligned_alloc beyond it.
    void* allocate(std::size_t size, std::size_t align) noexcept {
        if (align <= alignof(std::max_align_t)) return std::malloc(size);
        return std::aligned_alloc(align, align_up(size, align));
    }

    /// realloc() for natural alignment; an over-aligned block moves (allocate, copy, free), as
    /// C has no aligned realloc. So does a shrink where the sized free is gperftools': its
    /// realloc keeps a block shrunk by up to half where it is, in its old size class, but
    /// tc_free_sized takes the size for the class, so the later free of the smaller size would
    /// put the block on another class's list (it crashed realloc-growth).
    void* reallocate(void* p, std::size_t old_size, std::size_t new_size, std::size_t align) noexcept {
        const bool moves = align > alignof(std::max_align_t) || (kind_ == free_kind::tc_free_sized && new_size < old_size);
        if (!moves) return std::realloc(p, new_size);
        void* q = allocate(new_size, align);
        if (q == nullptr) return nullptr;
        std::memcpy(q, p, std::min(old_size, new_size));
        deallocate(p, old_size, align);
        return q;
    }

    /// The serving library's sized free where bound and the block has natural alignment
    /// (sized frees of over-aligned blocks differ per library), else free().
    void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
        if (align <= alignof(std::max_align_t)) {
            switch (kind_) {
                case free_kind::plain: break;
                case free_kind::free_sized: return reinterpret_cast<void (*)(void*, std::size_t)>(fn_)(p, size);
                case free_kind::sdallocx: return reinterpret_cast<void (*)(void*, std::size_t, int)>(fn_)(p, size, 0);
                case free_kind::tc_free_sized:
                case free_kind::mi_free_size: return reinterpret_cast<void (*)(void*, std::size_t)>(fn_)(p, size);
            }
        }
        std::free(p);
    }

    /// Binds the sized free that the library serving malloc exports (C23 free_sized first),
    /// checking with dladdr that it lives in that same library. Returns what was bound.
    static free_kind bind_sized_free() noexcept {
        struct candidate {
            const char* symbol;
            free_kind kind;
        };
        static constexpr candidate candidates[] = {{"free_sized", free_kind::free_sized},
                                                   {"sdallocx", free_kind::sdallocx},
                                                   {"tc_free_sized", free_kind::tc_free_sized},
                                                   {"mi_free_size", free_kind::mi_free_size}};
        Dl_info malloc_info{};
        void* malloc_sym = ::dlsym(RTLD_DEFAULT, "malloc");
        if (malloc_sym == nullptr || ::dladdr(malloc_sym, &malloc_info) == 0) return kind_ = free_kind::plain;
        for (const candidate& c : candidates) {
            void* sym = ::dlsym(RTLD_DEFAULT, c.symbol);
            Dl_info info{};
            if (sym != nullptr && ::dladdr(sym, &info) != 0 && info.dli_fbase == malloc_info.dli_fbase) {
                fn_ = sym;
                return kind_ = c.kind;
            }
        }
        return kind_ = free_kind::plain;
    }

    /// Goes back to plain free().
    static void unbind_sized_free() noexcept { kind_ = free_kind::plain; }

    /// The name of a free_kind, as results record it.
    static std::string_view name(free_kind k) noexcept {
        switch (k) {
            case free_kind::plain: return "free";
            case free_kind::free_sized: return "free_sized";
            case free_kind::sdallocx: return "sdallocx";
            case free_kind::tc_free_sized: return "tc_free_sized";
            case free_kind::mi_free_size: return "mi_free_size";
        }
        return "?";
    }

private:
    inline static free_kind kind_ = free_kind::plain;
    inline static void* fn_ = nullptr;
};

static_assert(capabilities_consistent<malloc_allocator>());

}  // namespace allocmeter
