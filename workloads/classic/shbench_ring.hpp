// shbench_ring: the buffer of blocks at the heart of MicroQuill's SmartHeap benchmarks
// (sh6bench, sh8bench). Blocks fill it slot by slot; each time it is full, a fifth of it (the
// kept window, a fifth further on each cycle) survives one more cycle, the blocks below the
// window are freed in slot order (oldest first) and those above it newest first.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>

#include "allocators/adapter.hpp"
#include "workloads/tracked_heap.hpp"

namespace allocmeter {

/// The shbench buffer over a tracked_heap: add() places a new block, and frees the buffer's
/// dead part whenever it fills; release() frees every block still live.
template <allocator A>
class shbench_ring {
public:
    using block_type = block_of<A>;

    /// Sized before the timed region; a buffer of fewer than five slots keeps no window.
    shbench_ring(tracked_heap<A>& heap, std::size_t slots)
        : heap_(heap), slots_(new block_type[slots]), size_(slots), keep_(slots / 5),
          keep_begin_(slots), keep_end_(slots) {}

    /// Places b in the next free slot, skipping the kept window; a full buffer first frees
    /// its dead part. The original's window can land on slot 0 and be written over (a leak
    /// its later variants fix); here the filling starts after it.
    void add(const block_type& b) noexcept {
        if (next_ == keep_begin_) next_ = keep_end_;
        if (next_ == size_) cycle();
        slots_[next_++] = b;
    }

    /// Frees every live block: those placed this cycle, then the kept window.
    void release() noexcept {
        for (std::size_t i = 0; i < next_; ++i)
            if (i < keep_begin_ || i >= keep_end_) heap_.free(slots_[i]);
        for (std::size_t i = keep_begin_; i < keep_end_; ++i) heap_.free(slots_[i]);
        next_ = 0;
        keep_begin_ = keep_end_ = size_;
    }

private:
    // The window moves on by a fifth (back to slot 0 past the end); below it, freed in slot
    // order, lie this cycle's blocks and the last window's; above it, freed newest first,
    // only this cycle's.
    void cycle() noexcept {
        keep_begin_ = keep_end_ >= size_ ? 0 : keep_end_;
        keep_end_ = std::min(keep_begin_ + keep_, size_);
        for (std::size_t i = 0; i < keep_begin_; ++i) heap_.free(slots_[i]);
        for (std::size_t i = size_; i-- > keep_end_;) heap_.free(slots_[i]);
        next_ = keep_begin_ == 0 ? keep_end_ : 0;
    }

    tracked_heap<A>& heap_;
    std::unique_ptr<block_type[]> slots_;
    std::size_t size_;
    std::size_t keep_;        ///< slots in the window
    std::size_t keep_begin_;  ///< the window, [keep_begin_, keep_end_); both size_ before the first cycle
    std::size_t keep_end_;
    std::size_t next_ = 0;    ///< the slot the next block goes to
};

}  // namespace allocmeter
