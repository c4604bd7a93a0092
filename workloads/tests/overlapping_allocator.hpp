// overlapping_allocator: a deliberately broken allocator for the verify tests. It is malloc,
// except that one allocation in `Every` (from the `First`th on) is served from inside the newest
// live block, `offset` bytes in, when it fits there: two live blocks overlap. Freeing such a
// block does nothing, so a run on it completes, and only the block tags notice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <set>

#include "allocators/adapter.hpp"

namespace allocmeter::test_helpers {

template <std::uint64_t First, std::uint64_t Every>
class overlapping_allocator {
public:
    static constexpr capabilities caps{.individual_free = true, .thread_safe = true, .max_align = 4096};
    static constexpr std::size_t offset = 16;

    void* allocate(std::size_t size, std::size_t align) noexcept {
        std::lock_guard lock(m_);
        ++calls_;
        if (calls_ >= First && calls_ % Every == 0 && newest_ != nullptr && size + offset <= newest_size_) {
            void* p = newest_ + offset;
            fakes_.insert(p);
            return p;
        }
        newest_ = static_cast<unsigned char*>(std::aligned_alloc(align, align_up(size == 0 ? 1 : size, align)));
        newest_size_ = size;
        return newest_;
    }
    void deallocate(void* p, std::size_t, std::size_t) noexcept {
        std::lock_guard lock(m_);
        if (fakes_.erase(p) != 0) return;
        if (p == newest_) newest_ = nullptr;
        std::free(p);
    }
private:
    std::mutex m_;
    std::uint64_t calls_ = 0;
    unsigned char* newest_ = nullptr;
    std::size_t newest_size_ = 0;
    std::set<void*> fakes_;
};

}  // namespace allocmeter::test_helpers
