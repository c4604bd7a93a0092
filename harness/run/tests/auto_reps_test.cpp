// --reps auto's rule and schedule on a deterministic fixture: a quiet group stops at the
// fewest rounds that give a 95% interval, a noisy one runs to --max-reps, the budget ends
// every group at once, a row that failed a round holds its group back, and a run cut
// mid-round (then resumed from its cells) finishes that round first and keeps its decisions.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "harness/analysis/statistics.hpp"
#include "harness/results/tests/sample_results.hpp"
#include "harness/run/auto_reps.hpp"

using namespace allocmeter;
using allocmeter::testing::not_run_cell;
using allocmeter::testing::ok_cell;

namespace {

const std::vector<std::string> allocators{"system", "bump"};
const unsigned minimum = static_cast<unsigned>(reps_for_ci_target());

/// The fixture's ns/op: "quiet" within 0.2% of 100 in every round, "noisy" 100 +- 25%.
double value_of(const std::string& workload, std::size_t allocator, unsigned round) {
    const double base = 100 + 50 * static_cast<double>(allocator);
    if (workload == "quiet") return base * (1 + 0.001 * (round % 3));
    return base * (1 + 0.25 * std::sin(round * 2.0));
}

std::vector<auto_group> two_groups() { return {{"quiet", 1}, {"noisy", 1}}; }

/// Round `round` of every group the schedule runs in it, as the runner records it.
void run_round(const auto_schedule& schedule, unsigned round, std::vector<cell_record>& cells) {
    for (const auto_group& g : schedule.groups())
        if (schedule.in_round(g.workload, g.threads))
            for (std::size_t a = 0; a < allocators.size(); ++a)
                cells.push_back(ok_cell(allocators[a], g.workload, g.threads, round, value_of(g.workload, a, round)));
}

/// Runs the schedule to its end, each round taking `round_s`; the cells recorded.
std::vector<cell_record> run_to_end(auto_schedule& schedule, double round_s = 1) {
    std::vector<cell_record> cells;
    double spent = 0, last = 0;
    while (const auto round = schedule.next_round(cells, spent, last)) {
        run_round(schedule, *round, cells);
        spent += round_s;
        last = round_s;
    }
    return cells;
}

const auto_group& group(const auto_schedule& s, const std::string& workload) {
    for (const auto_group& g : s.groups())
        if (g.workload == workload) return g;
    throw std::logic_error("no group " + workload);
}

}  // namespace

// The interval's width over the median: 6 values from 100 to 105 give [100, 105] around 102.5.
TEST(AutoReps, RelativeWidthIsTheIntervalOverTheMedian) {
    EXPECT_DOUBLE_EQ(relative_ci_width({100, 101, 102, 103, 104, 105}), 5 / 102.5);
    EXPECT_TRUE(std::isinf(relative_ci_width({})));
}

// A quiet group stops at the fewest rounds with a 95% interval; a noisy one runs to --max-reps;
// neither gets a cell past its end.
TEST(AutoReps, QuietGroupStopsAtTheMinimumNoisyRunsToMaxReps) {
    auto_schedule schedule({0.03, 12, std::nullopt}, two_groups(), allocators);
    const std::vector<cell_record> cells = run_to_end(schedule);
    EXPECT_EQ(group(schedule, "quiet").end, group_end::target);
    EXPECT_EQ(group(schedule, "quiet").rounds, minimum);
    EXPECT_EQ(group(schedule, "noisy").end, group_end::max_reps);
    EXPECT_EQ(group(schedule, "noisy").rounds, 12u);
    std::map<std::string, unsigned> per_group;
    for (const cell_record& c : cells) ++per_group[c.workload];
    EXPECT_EQ(per_group["quiet"], minimum * allocators.size());
    EXPECT_EQ(per_group["noisy"], 12 * allocators.size());
    EXPECT_EQ(schedule.running(), 0u);
}

// Identical values (width 0) still wait for the rounds a 95% interval needs.
TEST(AutoReps, NoGroupStopsBeforeTheRoundsA95PercentIntervalNeeds) {
    const auto_reps_settings s{0.03, 30, std::nullopt};
    const row_values five(minimum - 1, 10.0), six(minimum, 10.0);
    EXPECT_EQ(after_round(s, minimum - 1, {five, five}), group_end::running);
    EXPECT_EQ(after_round(s, minimum, {six, six}), group_end::target);
}

// A row that failed a round has fewer values than rounds: it holds the group back until it has
// enough; a row with no ok value (skipped) does not.
TEST(AutoReps, FailedRoundHoldsTheGroupBackSkippedRowDoesNot) {
    const auto_reps_settings s{0.03, 30, std::nullopt};
    const row_values enough(minimum, 10.0), short_one(minimum - 1, 10.0);
    EXPECT_EQ(after_round(s, minimum, {enough, short_one}), group_end::running);
    EXPECT_EQ(after_round(s, minimum, {enough, {}}), group_end::target);
}

// A group where no allocator ran ok stops after the minimum rounds, saying so.
TEST(AutoReps, GroupWithNoOkRowStops) {
    const auto_reps_settings s{0.03, 30, std::nullopt};
    EXPECT_EQ(after_round(s, minimum - 1, {{}, {}}), group_end::running);
    EXPECT_EQ(after_round(s, minimum, {{}, {}}), group_end::no_ok_row);
}

// Reaching the target in the last allowed round counts as the target.
TEST(AutoReps, TargetInTheLastRoundIsTheTarget) {
    const auto_reps_settings s{0.03, minimum, std::nullopt};
    EXPECT_EQ(after_round(s, minimum, {row_values(minimum, 10.0)}), group_end::target);
    EXPECT_EQ(after_round(s, minimum, {{10, 20, 30, 40, 50, 60}}), group_end::max_reps);
}

// The budget ends every group still running at once, the quiet one before its minimum too,
// when the next round (estimated as long as the last) would end past it.
TEST(AutoReps, BudgetStopsEverything) {
    auto_schedule schedule({0.03, 30, 10.0}, two_groups(), allocators);
    run_to_end(schedule, 4);  // rounds end at 4 and 8 s; a third would end at 12 > 10
    EXPECT_EQ(group(schedule, "quiet").end, group_end::budget);
    EXPECT_EQ(group(schedule, "quiet").rounds, 2u);
    EXPECT_EQ(group(schedule, "noisy").end, group_end::budget);
    EXPECT_EQ(group(schedule, "noisy").rounds, 2u);
    EXPECT_FALSE(schedule.next_round({}, 0, 0)) << "the budget's end is final";
    EXPECT_TRUE(round_fits_budget({0.03, 30, std::nullopt}, 1e9, 1e9));
    EXPECT_TRUE(round_fits_budget({0.03, 30, 10.0}, 9, 0)) << "no estimate: a round starts while time is left";
    EXPECT_FALSE(round_fits_budget({0.03, 30, 10.0}, 10, 0));
}

// A run stopped mid-round, read again from its cells (a resume): the cut round is finished
// first, by the group it lacks, while the other waits; then both go on in step.
TEST(AutoReps, ResumedRunFinishesTheCutRoundFirst) {
    std::vector<cell_record> cells;
    for (unsigned round = 1; round <= 3; ++round)
        for (const char* w : {"quiet", "noisy"})
            for (std::size_t a = 0; a < allocators.size(); ++a)
                cells.push_back(ok_cell(allocators[a], w, 1, round, value_of(w, a, round)));
    cells.push_back(ok_cell("system", "quiet", 1, 4, value_of("quiet", 0, 4)));
    cells.push_back(ok_cell("bump", "quiet", 1, 4, value_of("quiet", 1, 4)));
    cells.push_back(ok_cell("system", "noisy", 1, 4, value_of("noisy", 0, 4)));  // bump's cell of round 4 was cut
    auto_schedule schedule({0.03, 12, std::nullopt}, two_groups(), allocators);
    EXPECT_EQ(schedule.next_round(cells, 0, 0), 4u);
    EXPECT_TRUE(schedule.in_round("noisy", 1));
    EXPECT_FALSE(schedule.in_round("quiet", 1));
    cells.push_back(ok_cell("bump", "noisy", 1, 4, value_of("noisy", 1, 4)));
    EXPECT_EQ(schedule.next_round(cells, 0, 0), 5u);
    EXPECT_TRUE(schedule.in_round("noisy", 1));
    EXPECT_TRUE(schedule.in_round("quiet", 1));
}

// Read again from the cells of a finished group, the decision is the same: a group that reached
// the target gets nothing more when the run is resumed; the other carries on where it was.
TEST(AutoReps, StoppedGroupStaysStoppedWhenReadAgain) {
    auto_schedule first({0.03, 12, std::nullopt}, two_groups(), allocators);
    std::vector<cell_record> cells = run_to_end(first);
    std::erase_if(cells, [](const cell_record& c) { return c.workload == "noisy" && c.rep > 9; });
    auto_schedule again({0.03, 12, std::nullopt}, two_groups(), allocators);
    EXPECT_EQ(again.next_round(cells, 0, 0), 10u);
    EXPECT_FALSE(again.in_round("quiet", 1));
    EXPECT_EQ(group(again, "quiet").end, group_end::target);
    EXPECT_EQ(group(again, "quiet").rounds, minimum);
}

// A skipped allocator's cells count as done rounds; its empty row holds nothing back.
TEST(AutoReps, SkippedAllocatorCompletesItsRounds) {
    auto_schedule schedule({0.03, 12, std::nullopt}, {{"quiet", 2}}, allocators);
    std::vector<cell_record> cells;
    double spent = 0;
    while (const auto round = schedule.next_round(cells, spent, 0)) {
        cells.push_back(ok_cell("system", "quiet", 2, *round, value_of("quiet", 0, *round)));
        cells.push_back(not_run_cell("bump", "quiet", 2, *round, cell_status::skipped, "not thread-safe"));
    }
    EXPECT_EQ(group(schedule, "quiet").end, group_end::target);
    EXPECT_EQ(group(schedule, "quiet").rounds, minimum);
    const std::vector<auto_reps_env::group> recorded = recorded_groups(schedule);
    ASSERT_EQ(recorded.size(), 1u);
    EXPECT_EQ(recorded[0].end, "target");
    EXPECT_EQ(recorded[0].rounds, minimum);
}
