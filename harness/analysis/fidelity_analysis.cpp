// Spearman's rho on average ranks (from statistics), the agreement of two calls, and the verdict
// with its rule for rho: judged only over the allocators the program itself tells apart from the
// baseline.
#include "harness/analysis/fidelity_analysis.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace allocmeter {

std::optional<double> spearman_rho(const std::vector<double>& x, const std::vector<double>& y) {
    if (x.size() != y.size() || x.size() < 2) return std::nullopt;
    const std::vector<double> rx = average_ranks(x), ry = average_ranks(y);
    const double n = static_cast<double>(x.size());
    const double mean = (n + 1) / 2;  // the mean of ranks 1..n, with or without ties
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < rx.size(); ++i) {
        sxy += (rx[i] - mean) * (ry[i] - mean);
        sxx += (rx[i] - mean) * (rx[i] - mean);
        syy += (ry[i] - mean) * (ry[i] - mean);
    }
    if (sxx == 0 || syy == 0) return std::nullopt;
    return sxy / std::sqrt(sxx * syy);
}

std::string_view to_string(side_call c) {
    switch (c) {
        case side_call::better: return "better";
        case side_call::worse: return "worse";
        case side_call::not_significant: return "no significant difference";
    }
    return "?";
}

side_call call_of(const mann_whitney& test, double alpha, double baseline_cost, double cost) {
    const std::string_view v = verdict(test, alpha, baseline_cost, cost);
    return v == "faster" ? side_call::better : v == "slower" ? side_call::worse : side_call::not_significant;
}

std::optional<double> side_summary::cost(bool higher_is_better) const {
    if (!ok()) return std::nullopt;
    return higher_is_better ? -stats.median : stats.median;
}

side_summary summarize_side(const std::vector<double>& values, const std::vector<double>* baseline, bool is_baseline,
                            bool higher_is_better, double alpha) {
    side_summary s;
    s.values = values;
    s.stats = summarize(values);
    if (values.empty() || baseline == nullptr || baseline->empty()) return s;
    const double base_median = summarize(*baseline).median;
    if (base_median != 0) s.ratio = s.stats.median / base_median;
    if (is_baseline) {
        s.call = side_call::not_significant;
        return s;
    }
    s.test = mann_whitney_u(values, *baseline);
    const double sign = higher_is_better ? -1 : 1;
    s.call = call_of(*s.test, alpha, sign * base_median, sign * s.stats.median);
    return s;
}

std::string_view to_string(agreement a) {
    switch (a) {
        case agreement::same_direction: return "same direction";
        case agreement::both_not_significant: return "both not significant";
        case agreement::direct_only: return "significant only directly";
        case agreement::replay_only: return "significant only in the replay";
        case agreement::reversed: return "reversed";
        case agreement::not_compared: return "not compared";
    }
    return "?";
}

agreement agreement_of(std::optional<side_call> direct, std::optional<side_call> replay) {
    if (!direct || !replay) return agreement::not_compared;
    const bool d = *direct != side_call::not_significant, r = *replay != side_call::not_significant;
    if (d && r) return *direct == *replay ? agreement::same_direction : agreement::reversed;
    if (d) return agreement::direct_only;
    if (r) return agreement::replay_only;
    return agreement::both_not_significant;
}

std::string_view to_string(verdict_kind k) {
    switch (k) {
        case verdict_kind::agrees: return "agrees";
        case verdict_kind::agrees_except: return "agrees_except";
        case verdict_kind::do_not_trust: return "do_not_trust";
    }
    return "?";
}

namespace {

/// rho over the rows `pick` accepts that have both costs; their names go to `names`.
template <typename Pick>
std::optional<double> rho_over(const std::vector<allocator_sides>& rows, Pick pick, std::vector<std::string>* names = nullptr) {
    std::vector<double> x, y;
    for (const allocator_sides& r : rows)
        if (r.direct_cost && r.replay_cost && pick(r)) {
            x.push_back(*r.direct_cost);
            y.push_back(*r.replay_cost);
            if (names != nullptr) names->push_back(r.allocator);
        }
    return spearman_rho(x, y);
}

/// "X, Y" of the rows whose agreement is `a`.
std::vector<std::string> named(const std::vector<allocator_sides>& rows, const std::vector<agreement>& agreements, agreement a) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < rows.size(); ++i)
        if (agreements[i] == a) out.push_back(rows[i].allocator);
    return out;
}

}  // namespace

fidelity_judgement judge_fidelity(const std::vector<allocator_sides>& rows, const std::string& baseline) {
    fidelity_judgement j;
    for (const allocator_sides& r : rows) j.agreements.push_back(agreement_of(r.direct, r.replay));
    j.rho = rho_over(rows, [](const allocator_sides&) { return true; });

    // The rule for rho: the program's own ranking means something only between allocators it
    // tells apart, so rho is judged over the baseline and the allocators whose direct
    // difference from it is significant, and only when there are enough of them.
    const auto told_apart = [&](const allocator_sides& r) {
        return r.allocator == baseline || (r.direct && *r.direct != side_call::not_significant);
    };
    std::vector<std::string> judged;
    const std::optional<double> judged_rho = rho_over(rows, told_apart, &judged);
    if (judged.size() < 2)
        j.rho_note = fmt::format("not judged: no allocator differs significantly from {} when the program runs directly, "
                                 "so its ranking is noise", baseline);
    else if (judged.size() < min_judged_allocators)
        j.rho_note = fmt::format("not judged: only {} ({}) are told apart directly; rho needs {} (the agreement column "
                                 "says the rest)", judged.size(), fmt::join(judged, ", "), min_judged_allocators);
    else if (!judged_rho)
        j.rho_note = "not judged: the replay gives these allocators one and the same cost";
    else {
        j.judged = judged;
        j.judged_rho = judged_rho;
    }

    const std::vector<std::string> reversed = named(rows, j.agreements, agreement::reversed);
    std::vector<std::string> exceptions;
    for (const auto& [a, why] : {std::pair{agreement::direct_only, "significant only directly"},
                                 std::pair{agreement::replay_only, "significant only in the replay"},
                                 std::pair{agreement::not_compared, "not compared"}})
        for (const std::string& name : named(rows, j.agreements, a)) exceptions.push_back(fmt::format("{} ({})", name, why));
    const bool any_significant = std::any_of(j.agreements.begin(), j.agreements.end(), [](agreement a) {
        return a != agreement::both_not_significant && a != agreement::not_compared;
    });

    if (!reversed.empty()) {
        j.kind = verdict_kind::do_not_trust;
        j.verdict = fmt::format("do not trust: reversed on {}", fmt::join(reversed, ", "));
    } else if (j.judged_rho && *j.judged_rho < min_trusted_rho) {
        j.kind = verdict_kind::do_not_trust;
        j.verdict = fmt::format("do not trust: the replay orders {} otherwise (rho {:.2f} over the allocators the program tells "
                                "apart; {:g} needed)", fmt::join(j.judged, ", "), *j.judged_rho, min_trusted_rho);
    } else if (!exceptions.empty()) {
        j.kind = verdict_kind::agrees_except;
        j.verdict = fmt::format("replay ranks allocators as the program does, except {}", fmt::join(exceptions, ", "));
    } else {
        j.kind = verdict_kind::agrees;
        j.verdict = "replay ranks allocators as the program does";
        if (!any_significant) j.verdict += fmt::format(" (no allocator differs significantly from {}, either way)", baseline);
    }
    return j;
}

}  // namespace allocmeter
