// Small checks shared by the allocator tests: alignment, a block's fill, and stats equality.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "allocators/adapter.hpp"

namespace allocmeter::test_helpers {

/// The largest size_t, for oversize and wrap-around cases.
inline constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

/// True when p is a multiple of align.
inline bool is_aligned(const void* p, std::size_t align) {
    return reinterpret_cast<std::uintptr_t>(p) % align == 0;
}

/// True when all n bytes at p equal tag.
inline bool holds(const void* p, std::size_t n, unsigned char tag) {
    const auto* b = static_cast<const unsigned char*>(p);
    return n == 0 || (b[0] == tag && std::memcmp(b, b + 1, n - 1) == 0);
}

/// Expects every counter of got to equal want's.
inline void expect_same(const allocator_stats& got, const allocator_stats& want) {
    EXPECT_EQ(got.bytes_requested, want.bytes_requested);
    EXPECT_EQ(got.bytes_reserved, want.bytes_reserved);
    EXPECT_EQ(got.chunks, want.chunks);
    EXPECT_EQ(got.blocks, want.blocks);
}

}  // namespace allocmeter::test_helpers
