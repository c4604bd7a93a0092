// live_table: what is live now, keyed by a non-zero 64-bit key: the spool converter's live
// addresses (-> ids) and validation's live object ids (-> bytes + 1). A flat array with linear
// probing and backward-shift deletion (no tombstones): one lookup per event, memory for the
// most keys live at once, never for all the keys a trace used.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace allocmeter::trace {

/// Non-zero keys to non-zero values. Key 0 marks an empty slot, value 0 means "absent".
class live_table {
public:
    live_table() : slots_(std::size_t{1} << 12) {}

    /// The value at key, or 0.
    std::uint64_t find(std::uint64_t key) const {
        for (std::size_t i = home(key);; i = (i + 1) & mask()) {
            if (slots_[i].key == key) return slots_[i].value;
            if (slots_[i].key == 0) return 0;
        }
    }

    /// Sets key's value; returns the value it replaces, or 0.
    std::uint64_t put(std::uint64_t key, std::uint64_t value) {
        if ((count_ + 1) * 2 > slots_.size()) grow();
        std::size_t i = home(key);
        while (slots_[i].key != 0 && slots_[i].key != key) i = (i + 1) & mask();
        const std::uint64_t old = slots_[i].key == key ? slots_[i].value : 0;
        if (old == 0) ++count_;
        slots_[i] = {key, value};
        return old;
    }

    /// Removes key; returns its value, or 0 when it was not there.
    std::uint64_t take(std::uint64_t key) {
        std::size_t i = home(key);
        while (slots_[i].key != key) {
            if (slots_[i].key == 0) return 0;
            i = (i + 1) & mask();
        }
        const std::uint64_t value = slots_[i].value;
        // Backward shift: move a later entry into the hole unless its home lies in (hole, entry].
        for (std::size_t j = (i + 1) & mask(); slots_[j].key != 0; j = (j + 1) & mask()) {
            const std::size_t h = home(slots_[j].key);
            const bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
            if (!stays) {
                slots_[i] = slots_[j];
                i = j;
            }
        }
        slots_[i] = {};
        --count_;
        return value;
    }

    /// Keys present.
    std::size_t size() const noexcept { return count_; }

private:
    struct slot {
        std::uint64_t key = 0, value = 0;
    };

    std::size_t mask() const { return slots_.size() - 1; }
    std::size_t home(std::uint64_t k) const {
        return static_cast<std::size_t>((k * 0x9E3779B97F4A7C15ull) >> (64 - std::countr_zero(slots_.size())));
    }

    void grow() {
        std::vector<slot> old(slots_.size() * 2);
        old.swap(slots_);
        count_ = 0;
        for (const slot& e : old)
            if (e.key != 0) put(e.key, e.value);
    }

    std::vector<slot> slots_;
    std::size_t count_ = 0;
};

}  // namespace allocmeter::trace
