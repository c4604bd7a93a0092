// mapping_cache: large-mapping classes, reuse of the newest exact fit, and the bounds.
#include "allocators/mapping_cache.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace allocmeter;

namespace {

struct unmapped_log {
    std::vector<std::pair<void*, std::size_t>> calls;
    auto fn() {
        return [this](void* p, std::size_t bytes) {
            calls.emplace_back(p, bytes);
            os::unmap_pages(p, bytes);
        };
    }
};

}  // namespace

// Lengths round to whole pages, then to a quarter power of two: at most 25% more.
TEST(MappingCache, ClassesWasteAtMostAQuarter) {
    const std::size_t page = os::page_size();
    EXPECT_EQ(large_mapping_bytes(1), page);
    EXPECT_EQ(large_mapping_bytes(3 * page + 1), 4 * page);
    for (std::size_t bytes = page; bytes < (std::size_t{8} << 20); bytes += 4093) {
        const std::size_t m = large_mapping_bytes(bytes);
        ASSERT_GE(m, bytes);
        ASSERT_EQ(m % page, 0u);
        ASSERT_LE(m, os::round_to_pages(bytes) + os::round_to_pages(bytes) / 4);
        ASSERT_EQ(large_mapping_bytes(m), m) << "a class length is its own class";
    }
}

// take() returns only an exact length, the most recently kept first.
TEST(MappingCache, TakesNewestExactFit) {
    mapping_cache c;
    unmapped_log log;
    const std::size_t len = 16 * os::page_size();
    void* a = os::map_pages(len);
    void* b = os::map_pages(len);
    c.put(a, len, log.fn());
    c.put(b, len, log.fn());
    EXPECT_EQ(c.take(2 * len), nullptr);
    EXPECT_EQ(c.take(len), b);
    EXPECT_EQ(c.take(len), a);
    EXPECT_EQ(c.take(len), nullptr);
    EXPECT_TRUE(log.calls.empty());
    os::unmap_pages(a, len);
    os::unmap_pages(b, len);
}

// Beyond max_entries or max_bytes the oldest mappings are handed to unmap; one larger than
// max_bytes is never kept; clear() hands over the rest.
TEST(MappingCache, BoundsEvictOldest) {
    const std::size_t len = os::page_size();
    mapping_cache c(4 * len);
    unmapped_log log;
    std::vector<void*> maps;
    for (int i = 0; i < 6; ++i) {
        maps.push_back(os::map_pages(len));
        c.put(maps.back(), len, log.fn());
    }
    ASSERT_EQ(log.calls.size(), 2u);
    EXPECT_EQ(log.calls[0].first, maps[0]);
    EXPECT_EQ(log.calls[1].first, maps[1]);
    EXPECT_EQ(c.count(), 4u);
    EXPECT_EQ(c.bytes(), 4 * len);
    void* big = os::map_pages(8 * len);
    c.put(big, 8 * len, log.fn());
    EXPECT_EQ(log.calls.back().first, big);
    c.clear(log.fn());
    EXPECT_EQ(log.calls.size(), 7u);
    EXPECT_EQ(c.count(), 0u);
    EXPECT_EQ(c.bytes(), 0u);
}
