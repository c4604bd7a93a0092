// overlapping_allocator: a deliberately broken allocator for the verify tests. It is malloc,
// except that one allocation in `Every` (from the `First`th on) is served from inside the newest
// live block, `offset` bytes in, when it fits there: two live blocks overlap. Freeing such a
// block does nothing, and a block with such blocks inside goes back to malloc only when the last
// of them is freed, so a run on it writes only into memory malloc gave out and completes: only
// the block tags notice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
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
            if (host_of_.emplace(p, newest_).second) {  // one overlapping block at a time per place
                ++inside_[newest_];
                return p;
            }
        }
        newest_ = static_cast<unsigned char*>(std::aligned_alloc(align, align_up(size == 0 ? 1 : size, align)));
        newest_size_ = size;
        return newest_;
    }
    void deallocate(void* p, std::size_t, std::size_t) noexcept {
        std::lock_guard lock(m_);
        if (p == newest_) newest_ = nullptr;
        if (const auto fake = host_of_.find(p); fake != host_of_.end()) {  // a block inside another
            void* host = fake->second;
            host_of_.erase(fake);
            if (--inside_[host] == 0) {
                inside_.erase(host);
                if (freed_hosts_.erase(host) != 0) std::free(host);
            }
            return;
        }
        if (inside_.count(p) != 0) {  // still holds overlapping blocks: freed with the last of them
            freed_hosts_.insert(p);
            return;
        }
        std::free(p);
    }

private:
    std::mutex m_;
    std::uint64_t calls_ = 0;
    unsigned char* newest_ = nullptr;
    std::size_t newest_size_ = 0;
    std::map<void*, void*> host_of_;       ///< live overlapping block -> the block it lies in
    std::map<void*, unsigned> inside_;     ///< block -> overlapping blocks live inside it
    std::set<void*> freed_hosts_;          ///< freed by the caller, kept for what lies inside
};

}  // namespace allocmeter::test_helpers
