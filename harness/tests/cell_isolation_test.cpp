// Process isolation: a crashing allocator library, a library that is no allocator, and a
// cell past its deadline each end as one failed/timeout cell while the rest completes.
#include <gtest/gtest.h>

#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

namespace {

const nlohmann::json& cell_of(const nlohmann::json& doc, const std::string& allocator) {
    for (const auto& c : doc["cells"])
        if (c["allocator"] == allocator) return c;
    static const nlohmann::json none;
    ADD_FAILURE() << "no cell for " << allocator;
    return none;
}

}  // namespace

// A .so whose malloc raises SIGSEGV mid-run gives a failed cell naming the signal; the
// system cells before and after it are ok.
TEST(CellIsolation, CrashingLibraryFailsItsCellOnly) {
    const auto out = fresh_dir("crash");
    const auto r = run_allocmeter("run --allocator crasher=" CRASHING_MALLOC_SO
                              " --allocators system,crasher,bump --workloads frame --threads 1 --reps 1 --scale quick --out " +
                              out.string());
    ASSERT_EQ(r.exit_code, 3) << r.output;  // finished, with a failed cell
    const auto doc = latest_results(out);
    ASSERT_EQ(doc["cells"].size(), 4u);  // and the harness row's
    const auto& crashed = cell_of(doc, "crasher");
    EXPECT_EQ(crashed["status"], "failed");
    EXPECT_NE(crashed["reason"].get<std::string>().find("SIGSEGV"), std::string::npos) << crashed.dump();
    EXPECT_TRUE(crashed["metrics"].is_null());
    EXPECT_EQ(cell_of(doc, "system")["status"], "ok");
    EXPECT_EQ(cell_of(doc, "bump")["status"], "ok");
    EXPECT_EQ(cell_of(doc, "harness")["status"], "ok");
    EXPECT_NE(r.output.find("1 failed"), std::string::npos) << r.output;
}

// A library that defines no malloc, or is no shared library at all, is refused before any
// cell runs (it was loaded in a child to find out): exit 2, naming the library and why.
TEST(CellIsolation, LibraryThatIsNoAllocatorIsAnError) {
    const auto out = fresh_dir("nomalloc");
    const auto r = run_allocmeter("run --allocator fake=" NO_MALLOC_SO
                                  " --allocators fake --workloads frame --threads 1 --reps 1 --scale quick --out " + out.string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("no_malloc.so: defines no malloc of its own"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out / "latest")) << "a run was started";
    const auto text = fresh_dir("notalib") / "text.so";
    std::ofstream(text) << "not a library";
    const auto r2 = run_allocmeter("run --allocator fake=" + text.string() + " --allocators fake --out " + out.string());
    EXPECT_EQ(r2.exit_code, 2) << r2.output;
    EXPECT_NE(r2.output.find("does not load as a shared library"), std::string::npos) << r2.output;
}

// An allocator that returns NULL fails its cell with a reason that says so and gives the
// size: whether NULL came to the workload or, from the first call, to the harness's own
// operator new (which had no memory left to throw std::bad_alloc with).
TEST(CellIsolation, AllocatorReturningNullIsNamed) {
    for (const char* after : {"0", "20000"}) {
        const auto out = fresh_dir("null");
        const auto r = run_shell(std::string("NULL_MALLOC_AFTER=") + after + " " ALLOCMETER_BIN " run --allocator nul=" NULL_MALLOC_SO
                                 " --allocators nul --workloads churn --threads 1 --reps 1 --scale quick --out " + out.string());
        ASSERT_EQ(r.exit_code, 3) << r.output;
        const std::string reason = cell_of(latest_results(out), "nul")["reason"];
        EXPECT_NE(reason.find("the allocator returned NULL for a request of "), std::string::npos) << after << ": " << reason;
        EXPECT_EQ(reason.find("terminate called"), std::string::npos) << reason;
    }
}

// A cell that outlives --timeout is killed and recorded as a timeout.
TEST(CellIsolation, TimeoutIsRecorded) {
    const auto out = fresh_dir("timeout");
    const auto r = run_allocmeter("run --allocators system --workloads churn --threads 1 --reps 1 --scale full --timeout 0.3 --out " +
                              out.string());
    ASSERT_EQ(r.exit_code, 3) << r.output;
    // system's cell, and the harness row's too where it does not finish in time either.
    EXPECT_NE(r.output.find(" failed or timed out"), std::string::npos) << r.output;
    const auto doc = latest_results(out);
    const auto& cell = cell_of(doc, "system");
    EXPECT_EQ(cell["status"], "timeout");
    EXPECT_NE(cell["reason"].get<std::string>().find("--timeout"), std::string::npos);
    EXPECT_LT(cell["cell_wall_s"].get<double>(), 5.0);
}
