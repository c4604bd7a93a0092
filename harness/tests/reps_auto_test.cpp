// run --reps auto end to end on fast cells: the rounds the run records (in env and as cells)
// agree, every round holds every allocator once, the end says how each group stopped; a run
// cut mid-round and resumed finishes that round first and keeps what it had. And --pin-cpus
// recorded in env.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "harness/os/cpu_affinity.hpp"
#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;
using nlohmann::json;

namespace {

const std::string auto_run = "run --scale quick --allocators system,bump --workloads frame --threads 1 --reps auto --max-reps 8 "
                             "--sample-ms 0 --latency off";
constexpr unsigned max_reps = 8, fewest = 6;  // fewest: the rounds a 95% interval needs

/// Checks that `doc`'s one group (frame, 1 thread) has rounds 1..R of both allocators and of the
/// harness row, R being the rounds env records, from 6 to 8, ended as the rule says; returns R.
unsigned check_rounds(const json& doc) {
    EXPECT_EQ(doc["env"]["reps"], 0);
    const json& groups = doc["env"]["reps_auto"]["groups"];
    EXPECT_EQ(groups.size(), 1u);
    EXPECT_EQ(groups[0]["workload"], "frame");
    EXPECT_EQ(groups[0]["threads"], 1);
    const unsigned rounds = groups[0]["rounds"];
    EXPECT_GE(rounds, fewest);
    EXPECT_LE(rounds, max_reps);
    EXPECT_EQ(groups[0]["end"], rounds < max_reps ? "target" : groups[0]["end"]) << "only the target ends a group early";
    EXPECT_TRUE(groups[0]["end"] == "target" || groups[0]["end"] == "max-reps") << groups[0]["end"];
    std::map<std::string, std::set<unsigned>> reps;
    for (const json& c : doc["cells"]) {
        EXPECT_EQ(c["status"], "ok");
        EXPECT_TRUE(reps[c["allocator"]].insert(c["rep"].get<unsigned>()).second) << "a rep twice: " << c;
    }
    std::set<unsigned> all;
    for (unsigned r = 1; r <= rounds; ++r) all.insert(r);
    EXPECT_EQ(reps["system"], all);
    EXPECT_EQ(reps["bump"], all);
    EXPECT_EQ(reps["harness"], all);
    EXPECT_EQ(doc["complete"], true);
    EXPECT_EQ(doc["cells_planned"], 3 * rounds);
    return rounds;
}

}  // namespace

// The recorded rounds agree with the cells; the output says how the group stopped.
TEST(RepsAuto, RecordsEachGroupsRounds) {
    const auto out = fresh_dir("reps-auto");
    const command_result r = run_allocmeter(auto_run + " --out " + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const json doc = latest_results(out);
    const unsigned rounds = check_rounds(doc);
    EXPECT_NE(r.output.find("round 1 done; 1 group goes on"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(fmt::format("round {} done", rounds + 1)), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--reps auto: rounds until each ok allocator's interval (CI) is narrower than 3% of its median ns/op, "
                            "from 6 rounds (95% coverage) to at most 8"),
              std::string::npos)
        << r.output;
    const std::string end = doc["env"]["reps_auto"]["groups"][0]["end"];
    const std::string row = fmt::format("  frame          1 {:>6}  {:<9}  ", rounds, end);
    EXPECT_NE(r.output.find(row), std::string::npos) << row << "\n" << r.output;
    EXPECT_TRUE(std::filesystem::exists(out / "latest" / "summary.json"));
}

// A run cut in round 3 (system's cell done, bump's and the harness row's not; as a kill leaves
// it) and resumed: the cells it had are kept, bump's round 3 runs first, and the run ends as an uninterrupted one
// would, its rounds recorded. A resume that names another --reps is refused.
TEST(RepsAuto, ResumeFinishesTheCutRound) {
    const auto out = fresh_dir("reps-auto-resume");
    ASSERT_EQ(run_allocmeter(auto_run + " --out " + out.string()).exit_code, 0);
    const std::filesystem::path results = std::filesystem::canonical(out / "latest") / "results.json";
    json doc = latest_results(out);
    doc["cells"].erase(doc["cells"].begin() + 7, doc["cells"].end());  // rounds 1 and 2, and system's round 3
    ASSERT_EQ(doc["cells"][6]["allocator"], "system");
    ASSERT_EQ(doc["cells"][6]["rep"], 3);
    doc["complete"] = false;
    doc.erase("cells_planned");
    doc["env"]["reps_auto"]["groups"][0]["rounds"] = 2;
    doc["env"]["reps_auto"]["groups"][0]["end"] = "running";
    const json kept = doc["cells"];
    std::ofstream(results) << doc.dump(1);

    const command_result refused = run_allocmeter("run --resume " + results.parent_path().string() + " --reps 5");
    EXPECT_EQ(refused.exit_code, 2) << refused.output;
    EXPECT_NE(refused.output.find("--reps 5 is not what the run was started with (--reps auto)"), std::string::npos) << refused.output;

    const command_result r = run_allocmeter("run --resume " + results.parent_path().string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("(--reps auto): 7 cells done, 1 of 1 groups still running, from round 3"), std::string::npos) << r.output;
    const json resumed = latest_results(out);
    check_rounds(resumed);
    for (std::size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(resumed["cells"][i], kept[i]) << "cell " << i << " changed";
    EXPECT_EQ(resumed["cells"][7]["allocator"], "bump");
    EXPECT_EQ(resumed["cells"][7]["rep"], 3);
    EXPECT_EQ(resumed["cells"][8]["allocator"], "harness");
    EXPECT_EQ(resumed["cells"][8]["rep"], 3);
}

// --pin-cpus: the run goes through with its cells pinned, and env records the CPUs.
TEST(RepsAuto, PinnedCpusAreRecorded) {
    const unsigned cpu = allocmeter::allowed_cpus().back();
    const auto out = fresh_dir("pin-cpus");
    const command_result r = run_allocmeter(fmt::format("run --scale quick --allocators system --workloads frame --threads 1,2 --reps 1 "
                                                        "--pin-cpus {} --out {}", cpu, out.string()));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(fmt::format("note: cells of up to 2 threads on 1 pinned CPU (--pin-cpus {}): their threads share them", cpu)),
              std::string::npos)
        << r.output;
    const json doc = latest_results(out);
    EXPECT_EQ(doc["env"]["pin_cpus"], json::array({cpu}));
    EXPECT_FALSE(doc["env"].contains("reps_auto"));
    EXPECT_EQ(doc["env"]["reps"], 1);
}
