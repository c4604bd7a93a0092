// The catalog and the table of external allocators: what a run can name, in what order, how
// each is run, and the errors for a malformed user library.
#include <gtest/gtest.h>

#include <fstream>

#include "harness/cell/registry.hpp"
#include "harness/run/allocator_catalog.hpp"
#include "harness/run/external_allocators.hpp"

using namespace allocmeter;

namespace {

std::string error_of(allocator_catalog& c, const std::string& spec) {
    try {
        c.add_custom(spec);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// system first, then every external library of the table, then every reference allocator,
// and last the harness row's do-nothing allocator, run in process under its own kind.
TEST(AllocatorCatalog, StandardOrderAndKinds) {
    const allocator_catalog c = allocator_catalog::standard();
    const auto& e = c.entries();
    ASSERT_EQ(e.size(), external_allocators().size() + reference_allocators().size() + 1);
    for (std::size_t i = 0; i < external_allocators().size(); ++i) {
        EXPECT_EQ(e[i].name, external_allocators()[i].name);
        EXPECT_EQ(e[i].kind(), "external");
        EXPECT_EQ(e[i].runner(), malloc_runner_name);
        EXPECT_FALSE(e[i].in_process());
    }
    EXPECT_EQ(e[0].name, "system");
    EXPECT_TRUE(e[0].available());
    EXPECT_TRUE(e[0].library.empty());  // glibc: no preload
    for (std::size_t i = 0; i < reference_allocators().size(); ++i) {
        const allocator_entry& r = e[external_allocators().size() + i];
        EXPECT_EQ(r.name, reference_allocators()[i].name);
        EXPECT_EQ(r.kind(), "reference");
        EXPECT_EQ(r.runner(), r.name);
        EXPECT_TRUE(r.in_process());
    }
    const allocator_entry& harness = e.back();
    EXPECT_EQ(harness.name, "harness");
    EXPECT_EQ(harness.kind(), "harness");
    EXPECT_EQ(harness.runner(), "harness");
    EXPECT_TRUE(harness.in_process());
    EXPECT_TRUE(harness.available());
    EXPECT_EQ(c.find("nosuch"), nullptr);
    EXPECT_NE(c.names().find("system, jemalloc"), std::string::npos);
}

// An external library is either found (an absolute path to preload) or unavailable with the
// package that ships it.
TEST(AllocatorCatalog, ExternalFoundOrNamesItsPackage) {
    const allocator_catalog c = allocator_catalog::standard();
    for (const external_allocator& k : external_allocators()) {
        if (k.soname.empty()) continue;
        const allocator_entry* e = c.find(k.name);
        ASSERT_NE(e, nullptr);
        if (e->available())
            EXPECT_EQ(e->library.front(), '/') << k.name;
        else
            EXPECT_NE(e->unavailable.find("apt-get install " + std::string(k.package)), std::string::npos) << e->unavailable;
    }
    const allocator_entry* tbb = c.find("tbbmalloc");
    ASSERT_NE(tbb, nullptr);
    ASSERT_EQ(tbb->env.size(), 1u);
    EXPECT_EQ(tbb->env[0].first, "TBB_VERSION");
    EXPECT_EQ(external_environment_names(), std::vector<std::string>{"TBB_VERSION"});
}

// A user library: the spec's mistakes are named; a good one is a "user" entry run through malloc.
TEST(AllocatorCatalog, CustomLibraries) {
    allocator_catalog c = allocator_catalog::standard();
    EXPECT_NE(error_of(c, "mine").find("expected NAME=/path/to/lib.so"), std::string::npos);
    EXPECT_NE(error_of(c, "my lib=/x.so").find("the name may use letters"), std::string::npos);
    EXPECT_NE(error_of(c, "system=/x.so").find("'system' is already an allocator"), std::string::npos);
    EXPECT_NE(error_of(c, "mine=/nonexistent/lib.so").find("is not a file"), std::string::npos);
    EXPECT_NE(error_of(c, "mine=").find("no path given"), std::string::npos);
    const std::string lib = ::testing::TempDir() + "/allocmeter-catalog-test.so";
    std::ofstream(lib) << "not really a library";
    EXPECT_EQ(error_of(c, "mine=" + lib), "");
    const allocator_entry* mine = c.find("mine");
    ASSERT_NE(mine, nullptr);
    EXPECT_EQ(mine->kind(), "user");
    EXPECT_EQ(mine->runner(), malloc_runner_name);
    EXPECT_EQ(mine->library.front(), '/');
    EXPECT_NE(error_of(c, "mine=" + lib).find("already an allocator"), std::string::npos);
}

// tbbmalloc's version comes from its banner on stderr, read by the parent.
TEST(ExternalAllocators, TbbBannerVersion) {
    const external_allocator* tbb = find_external("tbbmalloc");
    ASSERT_NE(tbb, nullptr);
    ASSERT_NE(tbb->version_from_stderr, nullptr);
    EXPECT_EQ(tbb->version_from_stderr("noise\nTBBmalloc: VERSION\t\t2021.8\nmore"), "oneTBB tbbmalloc 2021.8");
    EXPECT_EQ(tbb->version_from_stderr("nothing here"), "");
    EXPECT_TRUE(is_library_banner("TBBmalloc: VERSION\t\t2021.8"));
    EXPECT_FALSE(is_library_banner("Segmentation fault"));
    EXPECT_EQ(find_external("jemalloc")->version_from_stderr, nullptr);
    EXPECT_EQ(find_external("bump"), nullptr);
}
