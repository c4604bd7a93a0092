// live_table: what is live now, keyed by a non-zero 64-bit key: the spool converter's live
// addresses (-> ids) and validation's live object ids (-> bytes + 1). A flat array with linear
// probing and backward-shift deletion (no tombstones): one lookup per event, memory for the
// most keys live at once, never for all the keys a trace used. id_table puts dense ids in an array.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace allocmeter::trace {

/// live_table's default slot for a key: a multiplicative hash, which spreads any keys evenly.
struct spread_keys {
    static std::size_t home(std::uint64_t key, int bits) {
        return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - bits));
    }
};

/// The slot for an address: the multiplicative hash of its 1 KiB block, and within the block's run
/// of 64 slots, its 16-byte granule. Objects that a program allocates together share the table's
/// cache lines; a spread hash gives each lookup a cache miss once the table outgrows the cache
/// (half the converter's time on a Python recording with 115 k objects live; runs of 256 slots, a
/// page's, clustered and were slower).
struct page_local_keys {
    static std::size_t home(std::uint64_t key, int bits) {
        const std::size_t granule = static_cast<std::size_t>(key >> 4) & 0x3f;
        return spread_keys::home(key >> 10, bits) ^ (bits >= 6 ? granule : granule >> (6 - bits));
    }
};

/// Non-zero keys to non-zero values. Key 0 marks an empty slot, value 0 means "absent". `Keys`
/// places a key (spread_keys, page_local_keys).
template <class Keys = spread_keys>
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

    /// Removes every key below `bound`, handing each key and value to `f`.
    template <class F>
    void take_below(std::uint64_t bound, F&& f) {
        std::vector<slot> below;
        for (const slot& e : slots_)
            if (e.key != 0 && e.key < bound) below.push_back(e);
        for (const slot& e : below) f(e.key, take(e.key));
    }

private:
    struct slot {
        std::uint64_t key = 0, value = 0;
    };

    std::size_t mask() const { return slots_.size() - 1; }
    std::size_t home(std::uint64_t k) const { return Keys::home(k, std::countr_zero(slots_.size())); }

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

/// Object ids to non-zero values, for ids as writers give them: dense (the recorder's conversion
/// gives each object the smallest id not live). Ids below a bound are an index into an array, one
/// load with no hashing; the bound follows the most objects live at once (about 4x), so the
/// array's memory does too, and a trace with sparse ids keeps those above it in a live_table.
class id_table {
public:
    /// The value at id (non-zero), or 0.
    std::uint64_t find(std::uint64_t id) const { return id < direct_.size() ? direct_[id] : sparse_.find(id); }

    /// Sets id's value (non-zero); returns the value it replaces, or 0.
    std::uint64_t put(std::uint64_t id, std::uint64_t value) {
        if (id >= direct_.size() && id < bound()) widen(id);
        std::uint64_t old;
        if (id < direct_.size()) {
            old = direct_[id];
            direct_[id] = value;
        } else {
            old = sparse_.put(id, value);
        }
        count_ += old == 0;
        return old;
    }

    /// Removes id; returns its value, or 0 when it was not there.
    std::uint64_t take(std::uint64_t id) {
        std::uint64_t value;
        if (id < direct_.size()) {
            value = direct_[id];
            direct_[id] = 0;
        } else {
            value = sparse_.take(id);
        }
        count_ -= value != 0;
        return value;
    }

    /// Ids present.
    std::size_t size() const noexcept { return count_; }

private:
    // Ids below this may go to the array: 4 slots per live object, and 64 Ki to start with.
    std::uint64_t bound() const noexcept { return 4 * (std::uint64_t{count_} + 1) + (std::uint64_t{1} << 16); }

    // Grows the array past `id` (at least doubling), and moves the ids now below its end out of
    // the live_table.
    void widen(std::uint64_t id) {
        const std::size_t size = std::max<std::size_t>(static_cast<std::size_t>(id) + 1, 2 * direct_.size());
        direct_.resize(size);
        sparse_.take_below(size, [&](std::uint64_t k, std::uint64_t v) { direct_[k] = v; });
    }

    std::vector<std::uint64_t> direct_;
    live_table<> sparse_;
    std::size_t count_ = 0;
};

}  // namespace allocmeter::trace
