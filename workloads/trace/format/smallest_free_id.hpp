// smallest_free_id: the ids a trace writer hands out (docs/trace-format.md, "Objects"): each new
// object gets the smallest id that is not live, 1, 2, ... A bit per id that was used and is free
// now, under a summary bit per 64-bit word, and so on up to one word: the smallest free id is a
// count-trailing-zeros per level (three levels below 2^18 ids, four below 2^24), and a release
// sets a bit (and its summary bits when its word was empty). A heap of free ids costs a cache
// miss per level of the heap instead, about 20 levels for a million live objects.
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace allocmeter::trace {

class smallest_free_id {
public:
    /// The smallest id not live (the first id is 1); it is live from now on.
    std::uint64_t take() {
        if (free_ == 0) return next_++;
        std::uint64_t i = 0;  // index of the word, at the level below, that has a free id
        for (std::size_t level = levels_.size(); level-- > 0;)
            i = i * 64 + static_cast<std::uint64_t>(std::countr_zero(levels_[level][i]));
        --free_;
        clear(i);
        return i;
    }

    /// Makes `id` (one take() returned, live until now) free for a later take().
    void release(std::uint64_t id) {
        assert(id != 0 && id < next_);
        cover(id);
        ++free_;
        for (std::size_t level = 0; level < levels_.size(); ++level, id /= 64) {
            std::uint64_t& word = levels_[level][id / 64];
            const bool was_empty = word == 0;
            word |= std::uint64_t{1} << (id % 64);
            if (!was_empty) return;
        }
    }

    /// Ids live: taken and not released.
    std::uint64_t live() const noexcept { return next_ - 1 - free_; }

private:
    // Clears id's bit, and the summary bits of words it leaves empty.
    void clear(std::uint64_t id) {
        for (std::size_t level = 0; level < levels_.size(); ++level, id /= 64) {
            std::uint64_t& word = levels_[level][id / 64];
            word &= ~(std::uint64_t{1} << (id % 64));
            if (word != 0) return;
        }
    }

    void cover(std::uint64_t id) {
        if (levels_.empty() || id / 64 >= levels_[0].size()) [[unlikely]]
            grow(id);
    }

    // Grows the levels to hold id: more words (empty, so the summaries stay right), and a level
    // on top, summing up the one below, while the top one has more than one word.
    void grow(std::uint64_t id) {
        std::uint64_t words = id / 64 + 1;
        for (std::size_t level = 0;; ++level, words = (words + 63) / 64) {
            if (level == levels_.size()) {
                levels_.emplace_back(words, 0);
                if (level != 0)
                    for (std::size_t w = 0; w < levels_[level - 1].size(); ++w)
                        if (levels_[level - 1][w] != 0) levels_[level][w / 64] |= std::uint64_t{1} << (w % 64);
            } else if (levels_[level].size() < words) {
                levels_[level].resize(words, 0);
            }
            if (words == 1 && level + 1 == levels_.size()) return;
        }
    }

    std::vector<std::vector<std::uint64_t>> levels_;  // [0]: a bit per id; [k + 1]: a bit per word of [k]
    std::uint64_t next_ = 1;                           // the smallest id never taken
    std::uint64_t free_ = 0;                           // ids taken and released since
};

}  // namespace allocmeter::trace
