// Spec workloads end to end: `run --workloads spec:FILE` on the committed example, a bad spec
// refused with exit 2 before anything runs (naming the file and the JSON path), and `trace
// profile` writing a spec that `run` takes.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

namespace {

const std::string example = ALLOCMETER_SOURCE_DIR "/examples/specs/server.json";

}  // namespace

// The example spec runs on the system allocator; its cells are named spec:FILE.
TEST(SpecCli, RunsASpecFile) {
    const auto dir = fresh_dir("spec-run");
    const auto r = run_allocmeter("run --workloads spec:" + example + " --allocators system --scale quick --reps 1 --threads 1 --out " +
                                  (dir / "out").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto doc = latest_results(dir / "out");
    nlohmann::json cell;
    for (const auto& c : doc["cells"])
        if (c["allocator"] == "system") cell = c;
    ASSERT_TRUE(cell.is_object()) << doc.dump(2);
    EXPECT_EQ(cell["workload"], "spec:" + example);
    EXPECT_EQ(cell["status"], "ok") << cell.dump(2);
    EXPECT_EQ(cell["threads"], 4) << cell.dump(2);
}

// A spec with a mistake is a usage error naming the file and where in it.
TEST(SpecCli, BadSpecExits2) {
    const auto dir = fresh_dir("spec-bad");
    const std::string bad = (dir / "bad.json").string();
    std::ofstream(bad) << R"({"allocmeter_spec": 1, "phases": [{"operations": 10, "sizes": {"dist": "zipf", "min": 1, "max": 2},
                                "lifetime": "phase-end"}]})";
    const auto r = run_allocmeter("run --workloads spec:" + bad + " --allocators system --scale quick --reps 1 --out " + (dir / "out").string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("bad.json: phases[0].sizes.dist: unknown distribution 'zipf'"), std::string::npos) << r.output;
    const auto missing = run_allocmeter("run --workloads spec:" + (dir / "none.json").string() + " --allocators system --out " +
                                        (dir / "out").string());
    EXPECT_EQ(missing.exit_code, 2) << missing.output;
    EXPECT_NE(missing.output.find("none.json: cannot open"), std::string::npos) << missing.output;
}

// trace profile writes FILE.spec.json by default; run takes it beside the trace.
TEST(SpecCli, ProfileOfASampleTraceRuns) {
    const auto dir = fresh_dir("spec-profile");
    const std::string trace = (dir / "cc1.trace").string();
    std::filesystem::copy_file(ALLOCMETER_SOURCE_DIR "/workloads/traces/cc1-compile.trace", trace);
    const auto p = run_allocmeter("trace profile " + trace);
    ASSERT_EQ(p.exit_code, 0) << p.output;
    const std::string spec = (dir / "cc1.spec.json").string();
    EXPECT_NE(p.output.find(spec + ": the profile of " + trace), std::string::npos) << p.output;
    ASSERT_TRUE(std::filesystem::exists(spec));
    const auto r = run_allocmeter("run --workloads trace:" + trace + ",spec:" + spec + " --allocators system --scale quick --reps 1 --out " +
                                  (dir / "out").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::set<std::string> workloads;
    const auto doc = latest_results(dir / "out");
    for (const auto& c : doc["cells"]) workloads.insert(c["workload"].get<std::string>());
    EXPECT_EQ(workloads, (std::set<std::string>{"trace:" + trace, "spec:" + spec}));
    EXPECT_EQ(run_allocmeter("trace profile").exit_code, 2);
    const auto not_trace = run_allocmeter("trace profile " + spec);
    EXPECT_EQ(not_trace.exit_code, 1) << not_trace.output;
    EXPECT_NE(not_trace.output.find("cc1.spec.json"), std::string::npos) << not_trace.output;
}
