// --reps auto: the rule that decides, after each round, which (workload, threads) groups get
// another one (their medians' intervals not yet narrow enough), and the schedule of rounds it
// drives. Pure: recorded cells in, decisions out. The schedule reads every decision again from
// the cells, so a resumed run takes the decisions the stopped one took.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/results/record.hpp"

namespace allocmeter {

/// --reps auto's settings.
struct auto_reps_settings {
    double target_ci = 0.03;         ///< --target-ci: an interval's width over its median to get below
    unsigned max_reps = 30;          ///< --max-reps: the most rounds a group gets
    std::optional<double> budget_s;  ///< --budget: no round starts that would end past this many seconds
};

/// Where a group stands after a round: it gets the next one, or why it gets no more.
enum class group_end {
    running,    ///< an interval is still too wide
    target,     ///< every ok allocator's interval is narrower than the target
    max_reps,   ///< it had --max-reps rounds
    budget,     ///< the next round would not have fitted in --budget
    no_ok_row,  ///< no allocator of it ran ok in reps_for_ci_target() rounds: no interval to narrow
};

/// "running", "target", "max-reps", "budget", "no-ok-row", as results.json records it.
std::string_view to_string(group_end e);

/// What ended a group, for a reader: "reached the target", "stopped at --max-reps", ...
std::string_view end_phrase(group_end e);

/// An allocator's ok ns/op values in a group, in run order; empty when none was ok.
using row_values = std::vector<double>;

/// (ci_high - ci_low) / median of the median's interval of `values` (summarize()); infinity
/// without a positive median.
double relative_ci_width(const row_values& values);

/// Where a group stands after `rounds` rounds that gave its allocators `rows`: target when
/// every row with a value has reps_for_ci_target() of them or more (an interval with 95%
/// coverage) and a relative_ci_width below the target; otherwise max_reps at s.max_reps
/// rounds, no_ok_row when no row has a value after reps_for_ci_target() rounds, else running.
group_end after_round(const auto_reps_settings& s, unsigned rounds, const std::vector<row_values>& rows);

/// Whether a round may start when the run has spent `spent_s` and its last round took
/// `last_round_s`, the next one's estimate (rounds only shrink as groups stop). With no
/// estimate (0: the run's, or a resumed run's, first round) it starts while time is left.
bool round_fits_budget(const auto_reps_settings& s, double spent_s, double last_round_s);

/// One (workload, threads) group of an auto run, and where it stands.
struct auto_group {
    std::string workload;
    unsigned threads = 1;
    unsigned rounds = 0;                 ///< rounds that every allocator of the run finished in it
    group_end end = group_end::running;
    std::vector<row_values> rows = {};   ///< per allocator of the run, its ok ns/op in those rounds
};

/// The rounds of an auto run. Each round runs every running group's allocators once (the
/// runner interleaves them as in a fixed run); after it, the rule decides each group's fate
/// from the cells. A group cut mid-round (a stopped run, resumed) gets that round's missing
/// cells first, while the others wait, so all stay in step.
class auto_schedule {
public:
    /// `groups` in run order; `allocators`: the run's, each with a record per round, ok or not.
    auto_schedule(auto_reps_settings s, std::vector<auto_group> groups, std::vector<std::string> allocators);

    /// The round to run next given the cells recorded so far (all of them, this session's and
    /// earlier ones'), the run's time spent and its last round's duration; nullopt when every
    /// group has ended: by the rule, or all at once by the budget.
    std::optional<unsigned> next_round(const std::vector<cell_record>& cells, double spent_s, double last_round_s);

    /// Whether the group of (`workload`, `threads`) runs in the round next_round() gave.
    bool in_round(const std::string& workload, unsigned threads) const;
    /// Groups not yet ended.
    std::size_t running() const;

    const auto_reps_settings& settings() const { return settings_; }
    const std::vector<auto_group>& groups() const { return groups_; }
    const std::vector<std::string>& allocators() const { return allocators_; }

private:
    void read_standing(const std::vector<cell_record>& cells);

    auto_reps_settings settings_;
    std::vector<auto_group> groups_;
    std::vector<std::string> allocators_;
    unsigned round_ = 0;        ///< the round next_round() gave last
    bool budget_ended_ = false;
};

/// The groups as results.json's env records them (auto_reps_env::groups).
std::vector<auto_reps_env::group> recorded_groups(const auto_schedule& schedule);

/// At the end of an auto run: per group, its rounds, why it stopped and its widest interval
/// (over the median: which allocator held it back); then how many groups ended which way.
void print_auto_rounds(const auto_schedule& schedule, std::FILE* out);

}  // namespace allocmeter
