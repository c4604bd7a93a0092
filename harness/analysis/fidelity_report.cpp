// fidelity.json, the terminal table and fidelity.html from one fidelity_document. The table's
// cells are formatted once (table_rows) and read by both the terminal and the page; the page's
// markup is all in fidelity_page.mustache.
#include "harness/analysis/fidelity_report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "harness/analysis/summary_table.hpp"
#include "harness/results/results_writer.hpp"

namespace allocmeter {

/// The page's template, embedded at build time from fidelity_page.mustache (CMake).
extern const char* const fidelity_page_template;

namespace {

using json = nlohmann::ordered_json;

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json side_json(const std::string& allocator, const side_summary& s) {
    json j{{"allocator", allocator}, {"values", s.values}};
    j["median"] = s.ok() ? json(s.stats.median) : json(nullptr);
    j["ci_low"] = s.ok() ? json(s.stats.ci_low) : json(nullptr);
    j["ci_high"] = s.ok() ? json(s.stats.ci_high) : json(nullptr);
    j["cv"] = s.ok() ? json(s.stats.cv) : json(nullptr);
    j["ratio"] = optional_number(s.ratio);
    j["u"] = s.test ? json(s.test->u) : json(nullptr);
    j["p_value"] = s.test ? json(s.test->p_value) : json(nullptr);
    j["exact"] = s.test ? json(s.test->exact) : json(nullptr);
    j["call"] = s.call ? json(std::string(to_string(*s.call))) : json(nullptr);
    j["not_ok"] = s.not_ok.empty() ? json(nullptr) : json(s.not_ok);
    return j;
}

json replay_json(const fidelity_replay& r) {
    json j{{"mode", r.mode}, {"status", r.ok ? "ok" : "failed"}};
    j["reason"] = r.reason.empty() ? json(nullptr) : json(r.reason);
    j["results"] = r.results.empty() ? json(nullptr) : json(r.results);
    json rows = json::array();
    for (const fidelity_row& row : r.rows) {
        json side = side_json(row.allocator, row.replay);
        side["agreement"] = std::string(to_string(row.agrees));
        rows.push_back(side);
    }
    j["allocators"] = rows;
    const fidelity_judgement& v = r.judgement;
    j["rho"] = optional_number(v.rho);
    j["judged_allocators"] = v.judged;
    j["judged_rho"] = optional_number(v.judged_rho);
    j["rho_note"] = v.rho_note.empty() ? json(nullptr) : json(v.rho_note);
    j["verdict_kind"] = r.ok ? json(std::string(to_string(v.kind))) : json(nullptr);
    j["verdict"] = r.ok ? json(v.verdict) : json("no verdict: " + r.reason);
    return j;
}

std::string figure_text(const fidelity_document& doc, double v) {
    return doc.higher_is_better() ? fmt::format("{:.4g}", v) : fmt::format("{:.3f} s", v);
}

/// "better, p 0.00058", "n.s., p 0.38", "baseline", or why there is no result.
std::string test_text(const side_summary& s, bool is_baseline) {
    if (!s.ok()) return s.not_ok.empty() ? "no result" : s.not_ok;
    if (is_baseline) return "baseline";
    if (!s.test || !s.call) return "-";
    const char* word = *s.call == side_call::better ? "better" : *s.call == side_call::worse ? "worse" : "n.s.";
    return fmt::format("{}, p {:.2g}", word, s.test->p_value);
}

/// One table row's cells, formatted once for the terminal and the page.
struct table_row {
    std::string allocator, direct, direct_ratio, direct_test, replay, replay_ratio, replay_test, agreement;
    std::string css;  ///< the agreement's class on the page
};

std::vector<table_row> table_rows(const fidelity_document& doc, const fidelity_replay& r) {
    std::vector<table_row> rows;
    for (std::size_t i = 0; i < r.rows.size() && i < doc.direct.size(); ++i) {
        const side_summary& d = doc.direct[i];
        const fidelity_row& row = r.rows[i];
        const bool base = row.allocator == doc.baseline;
        const agreement a = row.agrees;
        rows.push_back({row.allocator, d.ok() ? figure_text(doc, d.stats.median) : "-", ratio_text(d.ratio), test_text(d, base),
                        row.replay.ok() ? fmt::format("{:.1f}", row.replay.stats.median) : "-", ratio_text(row.replay.ratio),
                        test_text(row.replay, base), base && a == agreement::both_not_significant ? "-" : std::string(to_string(a)),
                        a == agreement::reversed || a == agreement::not_compared ? "slower"
                        : a == agreement::same_direction                          ? "faster"
                        : a == agreement::both_not_significant                    ? "same"
                                                                                  : "warn"});
    }
    return rows;
}

std::string rho_text(const fidelity_judgement& v) {
    std::string s = v.rho ? fmt::format("{:.2f} over every allocator", *v.rho) : "none (too few allocators, or all tied)";
    if (v.judged_rho)
        s += fmt::format("; judged over {} (told apart directly): {:.2f}", fmt::join(v.judged, ", "), *v.judged_rho);
    else
        s += "; " + v.rho_note;
    return s;
}

std::string direct_heading(const fidelity_document& doc) {
    return doc.higher_is_better() ? "direct (figure)" : "direct (wall)";
}

}  // namespace

std::string fidelity_json_text(const fidelity_document& doc) {
    json j{{"schema", std::string(fidelity_schema)}, {"command", doc.command}, {"metric", doc.metric},
           {"better", doc.higher_is_better() ? "higher" : "lower"}};
    j["throughput_regex"] = doc.throughput_regex.empty() ? json(nullptr) : json(doc.throughput_regex);
    j["reps"] = doc.reps;
    j["alpha"] = doc.alpha;
    j["baseline"] = doc.baseline;
    j["allocators"] = doc.allocators;
    j["trace"] = doc.trace;
    j["host"] = {{"host", doc.host}, {"cpu_model", doc.cpu_model}, {"cpus", doc.cpus}, {"started_at", doc.started_at}};
    j["rho_rule"] = {{"min_judged_allocators", min_judged_allocators}, {"min_trusted_rho", min_trusted_rho}};
    json direct = json::array();
    for (std::size_t i = 0; i < doc.direct.size() && i < doc.allocators.size(); ++i)
        direct.push_back(side_json(doc.allocators[i], doc.direct[i]));
    j["direct"] = direct;
    json replays = json::array();
    for (const fidelity_replay& r : doc.replays) replays.push_back(replay_json(r));
    j["replays"] = replays;
    return j.dump(2) + "\n";
}

std::string fidelity_table_text(const fidelity_document& doc, const fidelity_replay& r) {
    if (!r.ok) return fmt::format("replay {}: no results: {}\n", r.mode, r.reason);
    const std::vector<table_row> rows = table_rows(doc, r);
    const std::string base = "vs " + doc.baseline;
    std::string out = fmt::format("replay {}:\n{:<11} {:>14} {:>10}  {:<20} {:>13} {:>10}  {:<20} {}\n", r.mode, "allocator",
                                  direct_heading(doc), base, "direct test", "replay ns/op", base, "replay test", "agreement");
    for (const table_row& t : rows)
        out += fmt::format("{:<11} {:>14} {:>10}  {:<20} {:>13} {:>10}  {:<20} {}\n", t.allocator, t.direct, t.direct_ratio,
                           t.direct_test, t.replay, t.replay_ratio, t.replay_test, t.agreement);
    out += fmt::format("Spearman's rho (direct vs {} replay): {}\n", r.mode, rho_text(r.judgement));
    out += fmt::format("verdict ({}): {}\n", r.mode, r.judgement.verdict);
    return out;
}

void write_fidelity_page(const fidelity_document& doc, const std::filesystem::path& html) {
    using kainjow::mustache::data;
    using kainjow::mustache::object;
    data replays{data::type::list};
    for (const fidelity_replay& r : doc.replays) {
        data rows{data::type::list};
        if (r.ok)
            for (const table_row& t : table_rows(doc, r))
                rows << object{{"allocator", t.allocator}, {"direct", t.direct}, {"direct_ratio", t.direct_ratio},
                               {"direct_test", t.direct_test}, {"replay", t.replay}, {"replay_ratio", t.replay_ratio},
                               {"replay_test", t.replay_test}, {"agreement", t.agreement}, {"class", t.css}};
        const char* css = !r.ok || r.judgement.kind == verdict_kind::do_not_trust ? "error"
                          : r.judgement.kind == verdict_kind::agrees_except   ? "note"
                                                                               : "good";
        replays << object{{"mode", r.mode},
                          {"ok", data(r.ok)},
                          {"reason", r.reason},
                          {"results", r.results},
                          {"rows", rows},
                          {"rho", rho_text(r.judgement)},
                          {"verdict", r.ok ? r.judgement.verdict : "no verdict: " + r.reason},
                          {"verdict_class", css}};
    }
    object page{{"command", fmt::format("{}", fmt::join(doc.command, " "))},
                {"metric", doc.higher_is_better() ? "the figure the program prints (--throughput " + doc.throughput_regex +
                                                        "), higher is better"
                                                  : "wall time of the whole program, lower is better"},
                {"direct_heading", direct_heading(doc)},
                {"reps", std::to_string(doc.reps)},
                {"alpha", fmt::format("{:g}", doc.alpha)},
                {"baseline", doc.baseline},
                {"trace", doc.trace},
                {"host", doc.host},
                {"cpu_model", doc.cpu_model},
                {"cpus", std::to_string(doc.cpus)},
                {"started_at", doc.started_at},
                {"min_judged", std::to_string(min_judged_allocators)},
                {"min_rho", fmt::format("{:g}", min_trusted_rho)},
                {"replays", replays}};
    kainjow::mustache::mustache page_template{fidelity_page_template};
    if (!page_template.is_valid()) throw std::logic_error("fidelity_page.mustache: " + page_template.error_message());
    if (!html.parent_path().empty()) std::filesystem::create_directories(html.parent_path());
    write_file_atomically(html, page_template.render(page));
}

}  // namespace allocmeter
