// The --reps auto rule over summarize()'s intervals, the schedule of rounds, and its report.
#include "harness/run/auto_reps.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

#include "harness/analysis/statistics.hpp"

namespace allocmeter {

std::string_view to_string(group_end e) {
    switch (e) {
        case group_end::running: return "running";
        case group_end::target: return "target";
        case group_end::max_reps: return "max-reps";
        case group_end::budget: return "budget";
        case group_end::no_ok_row: return "no-ok-row";
    }
    return "?";
}

std::string_view end_phrase(group_end e) {
    switch (e) {
        case group_end::running: return "still running";
        case group_end::target: return "reached the target";
        case group_end::max_reps: return "stopped at --max-reps";
        case group_end::budget: return "stopped by --budget";
        case group_end::no_ok_row: return "stopped with no ok allocator";
    }
    return "?";
}

double relative_ci_width(const row_values& values) {
    const sample_summary s = summarize(values);
    return s.median > 0 ? (s.ci_high - s.ci_low) / s.median : std::numeric_limits<double>::infinity();
}

group_end after_round(const auto_reps_settings& s, unsigned rounds, const std::vector<row_values>& rows) {
    const std::size_t needed = reps_for_ci_target();
    bool any_ok = false, all_narrow = true;
    for (const row_values& row : rows) {
        if (row.empty()) continue;  // skipped or failed in every round so far: nothing to narrow
        any_ok = true;
        all_narrow = all_narrow && row.size() >= needed && relative_ci_width(row) < s.target_ci;
    }
    if (any_ok && all_narrow) return group_end::target;
    if (rounds >= s.max_reps) return group_end::max_reps;
    if (!any_ok && rounds >= needed) return group_end::no_ok_row;
    return group_end::running;
}

bool round_fits_budget(const auto_reps_settings& s, double spent_s, double last_round_s) {
    return !s.budget_s || (spent_s < *s.budget_s && spent_s + last_round_s <= *s.budget_s);
}

auto_schedule::auto_schedule(auto_reps_settings s, std::vector<auto_group> groups, std::vector<std::string> allocators)
    : settings_(s), groups_(std::move(groups)), allocators_(std::move(allocators)) {}

void auto_schedule::read_standing(const std::vector<cell_record>& cells) {
    std::map<std::pair<std::string, unsigned>, std::size_t> index;
    for (std::size_t g = 0; g < groups_.size(); ++g) index.emplace(std::pair(groups_[g].workload, groups_[g].threads), g);
    // Per group and allocator, its cells by round.
    std::vector<std::vector<std::map<unsigned, const cell_record*>>> by_round(
        groups_.size(), std::vector<std::map<unsigned, const cell_record*>>(allocators_.size()));
    for (const cell_record& c : cells) {
        const auto g = index.find(std::pair(c.workload, c.threads));
        const auto a = std::find(allocators_.begin(), allocators_.end(), c.allocator);
        if (g != index.end() && a != allocators_.end())
            by_round[g->second][static_cast<std::size_t>(a - allocators_.begin())].emplace(c.rep, &c);
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) {
        auto_group& group = groups_[g];
        group.rounds = 0;
        group.end = group_end::running;
        group.rows.assign(allocators_.size(), {});
        const auto& rounds_of = by_round[g];
        // Round by round, as the run decided: a round counts once every allocator finished it.
        for (unsigned k = 1; group.end == group_end::running; ++k) {
            if (!std::all_of(rounds_of.begin(), rounds_of.end(), [k](const auto& r) { return r.contains(k); })) break;
            for (std::size_t a = 0; a < allocators_.size(); ++a)
                if (const cell_record* c = rounds_of[a].at(k); c->ok()) group.rows[a].push_back(*c->measured->metrics.ns_per_op);
            group.rounds = k;
            group.end = after_round(settings_, k, group.rows);
        }
    }
}

std::optional<unsigned> auto_schedule::next_round(const std::vector<cell_record>& cells, double spent_s, double last_round_s) {
    if (budget_ended_) return std::nullopt;
    read_standing(cells);
    if (running() == 0) return std::nullopt;
    if (!round_fits_budget(settings_, spent_s, last_round_s)) {
        for (auto_group& g : groups_)
            if (g.end == group_end::running) g.end = group_end::budget;
        budget_ended_ = true;
        return std::nullopt;
    }
    round_ = std::numeric_limits<unsigned>::max();
    for (const auto_group& g : groups_)
        if (g.end == group_end::running) round_ = std::min(round_, g.rounds + 1);
    return round_;
}

bool auto_schedule::in_round(const std::string& workload, unsigned threads) const {
    return std::any_of(groups_.begin(), groups_.end(), [&](const auto_group& g) {
        return g.workload == workload && g.threads == threads && g.end == group_end::running && g.rounds + 1 == round_;
    });
}

std::size_t auto_schedule::running() const {
    return static_cast<std::size_t>(
        std::count_if(groups_.begin(), groups_.end(), [](const auto_group& g) { return g.end == group_end::running; }));
}

std::vector<auto_reps_env::group> recorded_groups(const auto_schedule& schedule) {
    std::vector<auto_reps_env::group> out;
    for (const auto_group& g : schedule.groups()) out.push_back({g.workload, g.threads, g.rounds, std::string(to_string(g.end))});
    return out;
}

namespace {

/// The group's widest interval over its median, and whose: "4.1% (jemalloc)"; "-" without an ok row.
std::string widest_interval(const auto_group& g, const std::vector<std::string>& allocators) {
    double widest = -1;
    std::size_t who = 0;
    for (std::size_t a = 0; a < g.rows.size(); ++a)
        if (!g.rows[a].empty())
            if (const double w = relative_ci_width(g.rows[a]); w > widest) widest = w, who = a;
    return widest < 0 ? "-" : fmt::format("{:.1f}% ({})", 100 * widest, allocators[who]);
}

}  // namespace

void print_auto_rounds(const auto_schedule& schedule, std::FILE* out) {
    const auto_reps_settings& s = schedule.settings();
    fmt::print(out, "\n--reps auto: rounds until each ok allocator's interval (CI) is narrower than {:g}% of its median ns/op, "
                    "from {} rounds (95% coverage) to at most {}{}\n",
               100 * s.target_ci, reps_for_ci_target(), s.max_reps, s.budget_s ? fmt::format(", within {:g} s", *s.budget_s) : "");
    std::size_t width = 8;
    for (const auto_group& g : schedule.groups()) width = std::max(width, g.workload.size());
    fmt::print(out, "  {:<{}} {:>7} {:>6}  {:<9}  {}\n", "workload", width, "threads", "rounds", "stopped", "widest CI / median");
    std::map<group_end, std::size_t> ends;
    for (const auto_group& g : schedule.groups()) {
        ++ends[g.end];
        fmt::print(out, "  {:<{}} {:>7} {:>6}  {:<9}  {}\n", g.workload, width, g.threads, g.rounds, to_string(g.end),
                   widest_interval(g, schedule.allocators()));
    }
    std::string tally;
    for (const auto& [end, count] : ends) tally += fmt::format("{}{} {}", tally.empty() ? "" : ", ", count, end_phrase(end));
    fmt::print(out, "{} group{}: {}\n", schedule.groups().size(), schedule.groups().size() == 1 ? "" : "s", tally);
}

}  // namespace allocmeter
