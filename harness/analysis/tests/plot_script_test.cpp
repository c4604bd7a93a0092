// Which chart script plot_script() picks: $ALLOCMETER_PLOTS_SCRIPT alone when set; else the
// installed copy relative to the running binary, then the source tree's. The installed case
// itself is Install.Prefix's (cmake/tests): a test binary in the build folder has none.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "harness/analysis/plot_runner.hpp"
#include "harness/run/child_process.hpp"

using namespace allocmeter;

namespace {

const std::filesystem::path source_script = std::filesystem::path(ALLOCMETER_SOURCE_DIR) / "plots" / "allocmeter_plots.py";

}  // namespace

// Unset: the installed path beside bin/ comes first, the source tree second, and in the build
// folder (nothing installed) the source tree's script is the one chosen.
TEST(PlotScript, InstalledFirstThenSourceTree) {
    ::unsetenv("ALLOCMETER_PLOTS_SCRIPT");
    const std::filesystem::path bin = std::filesystem::path(self_exe()).parent_path();
    const std::vector<std::filesystem::path> c = plot_script_candidates();
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0], (bin / ".." / "share" / "allocmeter" / "allocmeter_plots.py").lexically_normal());
    EXPECT_EQ(c[1], source_script);
    EXPECT_EQ(plot_script(), source_script);
}

// Set: that file and only it, even when the others exist.
TEST(PlotScript, EnvironmentOverrides) {
    const std::filesystem::path own = 
        std::filesystem::temp_directory_path() / ("plot_script_test_" + std::to_string(::getpid()) + ".py");
    std::ofstream(own) << "# a stand-in\n";
    ::setenv("ALLOCMETER_PLOTS_SCRIPT", own.c_str(), 1);
    EXPECT_EQ(plot_script_candidates(), std::vector<std::filesystem::path>{own});
    EXPECT_EQ(plot_script(), own);
    std::filesystem::remove(own);
}

// Set to a missing file: an error naming it, not a silent fall back to another script.
TEST(PlotScript, MissingOverrideIsNamed) {
    ::setenv("ALLOCMETER_PLOTS_SCRIPT", "/nonexistent/allocmeter_plots.py", 1);
    try {
        plot_script();
        FAIL() << "no error for a missing ALLOCMETER_PLOTS_SCRIPT";
    } catch (const plot_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/allocmeter_plots.py"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("ALLOCMETER_PLOTS_SCRIPT"), std::string::npos) << e.what();
    }
}
