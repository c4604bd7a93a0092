// Does a replay rank allocators as the program does? Per allocator, what the program run
// directly and the replay each say against the baseline (better, worse, no significant
// difference) and whether the two agree; Spearman's rho between the two rankings; and the
// verdict. Pure functions over medians and tests: `allocmeter fidelity` feeds them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/analysis/statistics.hpp"

namespace allocmeter {

/// Spearman's rho of the pairs (x[i], y[i]): Pearson's correlation of their average ranks.
/// None when there are fewer than 2 pairs or one side's values are all equal (no ranking).
std::optional<double> spearman_rho(const std::vector<double>& x, const std::vector<double>& y);

/// What one side (direct or replay) says of an allocator against the baseline.
enum class side_call { better, worse, not_significant };

std::string_view to_string(side_call c);

/// The call from a test and two costs (lower is better): the statistics' verdict at `alpha`.
side_call call_of(const mann_whitney& test, double alpha, double baseline_cost, double cost);

/// One allocator's repetitions on one side (direct or replay), against the baseline's.
struct side_summary {
    std::vector<double> values;        ///< the repetitions, in run order; empty when it has no result
    sample_summary stats;
    std::optional<double> ratio;       ///< its median over the baseline's
    std::optional<mann_whitney> test;  ///< against the baseline; none on the baseline's own row
    std::optional<side_call> call;     ///< none when there is no result (or no baseline to test against)
    std::string not_ok;                ///< why there is no result

    bool ok() const { return !values.empty(); }
    /// The median as a cost (lower is better) for the ranking; none without a result.
    std::optional<double> cost(bool higher_is_better) const;
};

/// `values` against `baseline` (the baseline row passes itself; null when the baseline has no
/// result): summary, ratio, test and call, at `alpha`. `higher_is_better` for a throughput.
side_summary summarize_side(const std::vector<double>& values, const std::vector<double>* baseline, bool is_baseline,
                            bool higher_is_better, double alpha);

/// How the two calls of one allocator relate.
enum class agreement {
    same_direction,        ///< both significant, the same way
    both_not_significant,  ///< neither side tells it from the baseline
    direct_only,           ///< significant when run directly, not in the replay
    replay_only,           ///< significant in the replay, not when run directly
    reversed,              ///< both significant, opposite ways
    not_compared,          ///< a side has no result (the allocator failed there)
};

std::string_view to_string(agreement a);

agreement agreement_of(std::optional<side_call> direct, std::optional<side_call> replay);

/// One allocator's two sides, for the judgement. Costs are medians where lower is better (for
/// a throughput, its negation); a call is none on the side where the allocator has no result.
struct allocator_sides {
    std::string allocator;
    std::optional<double> direct_cost, replay_cost;
    std::optional<side_call> direct, replay;  ///< against the baseline; the baseline's own: not_significant
};

/// rho is judged only when at least this many allocators (the baseline with those whose direct
/// difference from it is significant) are in the ranking: with two, it is the one pair's
/// direction, which the agreement column already says.
inline constexpr std::size_t min_judged_allocators = 3;
/// The least judged rho that trusts the replay: among 4 or more allocators one neighbouring
/// pair may swap (rho 0.8 for 4, 0.9 for 5), among 3 no pair may (one swap gives 0.5).
inline constexpr double min_trusted_rho = 0.8;

/// The verdict's kind: the replay can be trusted, trusted but for some allocators, or not.
enum class verdict_kind { agrees, agrees_except, do_not_trust };

std::string_view to_string(verdict_kind k);

/// What the two rankings say together.
struct fidelity_judgement {
    std::vector<agreement> agreements;     ///< one per allocator, in the order given
    std::optional<double> rho;             ///< over every allocator with both sides (information only)
    std::vector<std::string> judged;       ///< the allocators the judged rho is over
    std::optional<double> judged_rho;      ///< over `judged`; none when not judged
    std::string rho_note;                  ///< why rho was not judged ("" when it was)
    verdict_kind kind = verdict_kind::agrees;
    std::string verdict;                   ///< the one line a user reads
};

/// Judges the rows; `baseline` names the row the calls are against.
fidelity_judgement judge_fidelity(const std::vector<allocator_sides>& rows, const std::string& baseline);

}  // namespace allocmeter
