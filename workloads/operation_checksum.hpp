// The operation checksum: each operation's kind, size and alignment (never its address) folded
// into one word, so a run gives the same checksum on every allocator for the same seed. Workload
// meters and trace replay plans keep one each.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace allocmeter {

/// The start value of an operation checksum.
inline constexpr std::uint64_t operation_hash_seed = 0x6a09e667f3bcc909ULL;

/// Folds one operation (kind, size, alignment; never an address) into a checksum.
constexpr std::uint64_t mix_operation(std::uint64_t hash, std::uint64_t kind, std::size_t size, std::size_t align) noexcept {
    const std::uint64_t v = kind | (static_cast<std::uint64_t>(size) << 8) |
                            (static_cast<std::uint64_t>(std::countr_zero(align)) << 56);
    return std::rotl(hash ^ v, 23) * 0x9e3779b97f4a7c15ULL;
}

}  // namespace allocmeter
