// The library probe in a test process, where glibc serves malloc: it is recognised as the
// table's system entry, its version, statistics and purge come from glibc's own calls.
#include <gtest/gtest.h>

#include <cstdlib>

#include "harness/cell/library_probe.hpp"

using namespace allocmeter;

TEST(LibraryProbe, GlibcServesThisProcess) {
    const library_identity id = identify_malloc();
    EXPECT_TRUE(id.is_libc);
    EXPECT_NE(id.path.find("libc.so"), std::string::npos) << id.path;
    EXPECT_EQ(id.version.rfind("glibc 2.", 0), 0u) << id.version;
    EXPECT_EQ(id.version_source, "gnu_get_libc_version()");
}

TEST(LibraryProbe, GlibcStatisticsAndPurge) {
    void* held = std::malloc(1 << 16);
    const malloc_report r = read_malloc_stats();
    EXPECT_EQ(r.source, "mallinfo2()");
    ASSERT_FALSE(r.fields.empty());
    EXPECT_EQ(r.fields[0].first, "in_use_bytes");
    EXPECT_GE(r.fields[0].second, 1u << 16);
    std::free(held);
    EXPECT_EQ(purge_malloc(), "malloc_trim(0)");
}

TEST(LibraryProbe, CanonicalPath) {
    EXPECT_EQ(canonical_path("/tmp/../tmp"), "/tmp");
    EXPECT_EQ(canonical_path("/nonexistent/x"), "/nonexistent/x");
}
