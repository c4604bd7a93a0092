// Parsing and checking a spec file, and writing it back (what `trace profile` emits). Errors name
// the file, the JSON path of the value ("phases[1].sizes.alpha") and what to give instead.
#include "workloads/spec/workload_spec.hpp"

#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

namespace allocmeter::spec {

namespace {

using nlohmann::json;

/// Where a value sits in the file, for messages.
class json_path {
public:
    json_path(const std::string& file, std::string path) : file_(&file), path_(std::move(path)) {}
    json_path operator/(const std::string& key) const { return {*file_, path_.empty() ? key : path_ + "." + key}; }
    json_path operator[](std::size_t i) const { return {*file_, path_ + "[" + std::to_string(i) + "]"}; }

    [[noreturn]] void fail(const std::string& problem) const {
        throw spec_error(*file_ + ": " + (path_.empty() ? "" : path_ + ": ") + problem);
    }

private:
    const std::string* file_;
    std::string path_;
};

/// The keys an object may have: anything else is a typo, named with the valid ones.
void only_keys(const json& j, const json_path& at, std::initializer_list<const char*> keys) {
    for (const auto& [key, value] : j.items()) {
        bool known = false;
        for (const char* k : keys) known = known || key == k;
        if (known) continue;
        std::string valid;
        for (const char* k : keys) valid += (valid.empty() ? "" : ", ") + std::string(k);
        at.fail("unknown key '" + key + "'; valid here: " + valid);
    }
}

const json& object_at(const json& j, const json_path& at, const char* what) {
    if (!j.is_object()) at.fail(std::string("expected an object: ") + what);
    return j;
}

double number(const json& j, const json_path& at, double lo, double hi, const char* what) {
    if (!j.is_number()) at.fail(std::string("expected a number: ") + what);
    const double v = j.get<double>();
    if (!(v >= lo && v <= hi)) at.fail("is " + j.dump() + "; give " + what);
    return v;
}

std::uint64_t whole(const json& j, const json_path& at, std::uint64_t lo, std::uint64_t hi, const char* what) {
    if (!j.is_number_integer() || (j.is_number_integer() && !j.is_number_unsigned() && j.get<std::int64_t>() < 0))
        at.fail((j.is_number() ? "is " + j.dump() + "; expected a whole number: " : std::string("expected a whole number: ")) + what);
    const std::uint64_t v = j.get<std::uint64_t>();
    if (v < lo || v > hi) at.fail("is " + j.dump() + "; give " + what);
    return v;
}

double share(const json& j, const char* key, const json_path& at) {
    if (!j.contains(key)) return 0;
    return number(j.at(key), at / key, 0, 1, "a share from 0 to 1");
}

/// [[upper, weight], ...], uppers strictly increasing and at least `lowest`, weights not all 0.
std::vector<bin> bins_of(const json& j, const json_path& at, std::uint64_t lowest, std::uint64_t highest, const char* unit) {
    if (!j.is_array() || j.empty()) at.fail(std::string("expected a non-empty list of [upper ") + unit + ", weight] pairs, e.g. [[64, 3], [1024, 1]]");
    std::vector<bin> bins;
    double total = 0;
    for (std::size_t i = 0; i < j.size(); ++i) {
        const json& pair = j[i];
        if (!pair.is_array() || pair.size() != 2)
            at[i].fail(std::string("expected a pair [upper ") + unit + ", weight], e.g. [64, 3]");
        const std::string range = "an upper bound from " + std::to_string(lowest) + " to " + std::to_string(highest) + " " + unit;
        bin b{whole(pair[0], at[i][0], lowest, highest, range.c_str()), number(pair[1], at[i][1], 0, 1e300, "a weight of 0 or more")};
        if (!bins.empty() && b.upper <= bins.back().upper)
            at[i][0].fail("is " + std::to_string(b.upper) + ", not above the previous bin's " + std::to_string(bins.back().upper) +
                          "; list the bins by increasing upper bound");
        total += b.weight;
        bins.push_back(b);
    }
    if (!(total > 0)) at.fail("every weight is 0; give at least one bin a positive weight");
    return bins;
}

constexpr const char* dist_names = "uniform, log-uniform, pareto or inverse-square";

/// {"dist": ..., "min", "max", "alpha"} or {"histogram": [...]}; `extra`: a key the caller reads.
distribution distribution_of(const json& j, const json_path& at, std::uint64_t highest, const char* unit, const char* extra) {
    object_at(j, at, "{\"dist\": ..., \"min\": ..., \"max\": ...} or {\"histogram\": [[upper, weight], ...]}");
    distribution d;
    if (j.contains("histogram")) {
        if (extra != nullptr) only_keys(j, at, {"histogram", extra});
        else only_keys(j, at, {"histogram"});
        d.shape = distribution::kind::histogram;
        d.bins = bins_of(j.at("histogram"), at / "histogram", 1, highest, unit);
        d.min = 1;
        d.max = d.bins.back().upper;
        return d;
    }
    if (extra != nullptr) only_keys(j, at, {"dist", "min", "max", "alpha", extra});
    else only_keys(j, at, {"dist", "min", "max", "alpha"});
    if (!j.contains("dist")) at.fail(std::string("give \"dist\" (") + dist_names + ") or \"histogram\"");
    const json& name = j.at("dist");
    const std::string n = name.is_string() ? name.get<std::string>() : name.dump();
    if (n == "uniform") d.shape = distribution::kind::uniform;
    else if (n == "log-uniform") d.shape = distribution::kind::log_uniform;
    else if (n == "pareto") d.shape = distribution::kind::pareto;
    else if (n == "inverse-square") d.shape = distribution::kind::inverse_square;
    else (at / "dist").fail("unknown distribution '" + n + "'; give " + dist_names + ", or a \"histogram\" instead of \"dist\"");
    const std::string range = std::string("from 1 to ") + std::to_string(highest) + " " + unit;
    for (const char* key : {"min", "max"})
        if (!j.contains(key)) (at / key).fail(std::string("missing; give the range's ") + key + ", " + range);
    d.min = whole(j.at("min"), at / "min", 1, highest, range.c_str());
    d.max = whole(j.at("max"), at / "max", 1, highest, range.c_str());
    if (d.max < d.min) (at / "max").fail("is " + std::to_string(d.max) + ", below min " + std::to_string(d.min) + "; give max >= min");
    if (d.shape == distribution::kind::pareto) {
        if (!j.contains("alpha")) (at / "alpha").fail("missing; pareto needs its tail index, e.g. \"alpha\": 1.5 (0.1 to 10)");
        d.alpha = number(j.at("alpha"), at / "alpha", 0.1, 10, "a tail index from 0.1 to 10, e.g. 1.5");
    } else if (j.contains("alpha")) {
        (at / "alpha").fail("only pareto takes alpha (inverse-square is pareto with alpha 1); drop it");
    }
    return d;
}

lifetime lifetime_of(const json& j, const json_path& at) {
    lifetime l;
    if (j.is_string()) {
        if (j.get<std::string>() != "phase-end")
            at.fail("is " + j.dump() + "; give \"phase-end\", a distribution in operations or a histogram");
        l.phase_end_share = 1;
        return l;
    }
    l.ops = distribution_of(j, at, max_operations, "operations", "phase_end_share");
    l.phase_end_share = share(j, "phase_end_share", at);
    return l;
}

phase phase_of(const json& j, const json_path& at) {
    object_at(j, at, "a phase, {\"operations\": ..., \"sizes\": ..., \"lifetime\": ...}");
    only_keys(j, at, {"operations", "sizes", "lifetime", "remote_free_share", "realloc_share", "alignments", "at_end"});
    for (const char* key : {"operations", "sizes", "lifetime"})
        if (!j.contains(key)) (at / key).fail("missing; every phase gives operations, sizes and lifetime");
    phase p;
    p.operations = whole(j.at("operations"), at / "operations", 1, max_operations, "a count of operations from 1 to 2^36");
    p.sizes = distribution_of(j.at("sizes"), at / "sizes", max_size, "bytes", nullptr);
    p.life = lifetime_of(j.at("lifetime"), at / "lifetime");
    p.remote_free_share = share(j, "remote_free_share", at);
    p.realloc_share = share(j, "realloc_share", at);
    if (p.realloc_share >= 1) (at / "realloc_share").fail("is 1: nothing would ever be allocated to resize; give less than 1");
    if (j.contains("alignments")) {
        p.alignments = bins_of(j.at("alignments"), at / "alignments", 1, max_alignment, "bytes");
        for (std::size_t i = 0; i < p.alignments.size(); ++i)
            if ((p.alignments[i].upper & (p.alignments[i].upper - 1)) != 0)
                (at / "alignments")[i][0].fail("is " + std::to_string(p.alignments[i].upper) + "; an alignment is a power of two");
    }
    if (j.contains("at_end")) {
        const json& e = j.at("at_end");
        if (e == "free") p.at_end = phase_end::free;
        else if (e == "keep") p.at_end = phase_end::keep;
        else (at / "at_end").fail("is " + e.dump() + "; give \"free\" (free what is live when the phase ends) or \"keep\"");
    }
    return p;
}

// Written with the keys in the order the documentation lists them.
using ordered = nlohmann::ordered_json;

ordered bins_json(const std::vector<bin>& bins) {
    ordered a = ordered::array();
    for (const bin& b : bins) {
        // Counts (a profile's weights) as whole numbers: 107, not 107.0.
        if (b.weight == std::floor(b.weight) && b.weight < 0x1p53) a.push_back({b.upper, static_cast<std::uint64_t>(b.weight)});
        else a.push_back({b.upper, b.weight});
    }
    return a;
}

/// nlohmann's indented dump with each [upper, weight] pair on one line, so that a histogram
/// reads as a table.
std::string with_pairs_inline(const std::string& text) {
    static const std::regex pair(R"(\[\n\s*([-0-9.eE+]+),\n\s*([-0-9.eE+]+)\n\s*\])");
    return std::regex_replace(text, pair, "[$1, $2]");
}

ordered distribution_json(const distribution& d) {
    if (d.shape == distribution::kind::histogram) return {{"histogram", bins_json(d.bins)}};
    static constexpr const char* names[] = {"uniform", "log-uniform", "pareto", "inverse-square"};
    ordered j = {{"dist", names[static_cast<int>(d.shape)]}, {"min", d.min}, {"max", d.max}};
    if (d.shape == distribution::kind::pareto) j["alpha"] = d.alpha;
    return j;
}

}  // namespace

workload_spec parse_spec_text(const std::string& text, const std::string& file) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error& e) {
        throw spec_error(file + ": not valid JSON: " + e.what());
    }
    const json_path root(file, "");
    object_at(j, root, "a spec file is one JSON object (docs/workload-spec.md)");
    only_keys(j, root, {"allocmeter_spec", "name", "threads", "touch", "phases"});
    if (!j.contains("allocmeter_spec"))
        root.fail("no \"allocmeter_spec\": 1 (the format version); is this a spec file? (docs/workload-spec.md)");
    whole(j.at("allocmeter_spec"), root / "allocmeter_spec", format_version, format_version,
          "1, the version this build reads");
    workload_spec s;
    if (j.contains("name")) {
        if (!j.at("name").is_string()) (root / "name").fail("expected a string");
        s.name = j.at("name").get<std::string>();
    }
    if (j.contains("threads"))
        s.threads = static_cast<unsigned>(whole(j.at("threads"), root / "threads", 1, max_threads, "a thread count from 1 to 1024"));
    if (j.contains("touch")) {
        const json& t = j.at("touch");
        const std::string v = t.is_string() ? t.get<std::string>() : "";
        const bool part = v.rfind("part:", 0) == 0;
        double f = -1;
        if (part) {
            std::istringstream in(v.substr(5));
            in >> f;
            if (!in || !in.eof()) f = -1;
        }
        if (!(v == "none" || v == "page" || v == "full" || (part && f >= 0 && f <= 1)))
            (root / "touch").fail("is " + t.dump() + "; give none, page, full or part:F (F from 0 to 1), or leave it out for run's --touch");
        s.touch = v;
    }
    if (!j.contains("phases")) (root / "phases").fail("missing; give a list of at least one phase");
    const json& phases = j.at("phases");
    if (!phases.is_array() || phases.empty()) (root / "phases").fail("expected a list of at least one phase");
    for (std::size_t i = 0; i < phases.size(); ++i) s.phases.push_back(phase_of(phases[i], (root / "phases")[i]));
    if (s.threads == 1)
        for (std::size_t i = 0; i < s.phases.size(); ++i)
            if (s.phases[i].remote_free_share > 0)
                ((root / "phases")[i] / "remote_free_share").fail("is above 0 with one thread: there is no other thread to free; "
                                                                  "give \"threads\" 2 or more, or 0 here");
    return s;
}

workload_spec parse_spec(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw spec_error(path + ": cannot open; give a spec file (docs/workload-spec.md, examples/specs/)");
    std::ostringstream text;
    text << in.rdbuf();
    workload_spec s = parse_spec_text(text.str(), path);
    if (s.name.empty()) {
        const std::string base = path.substr(path.find_last_of('/') + 1);
        s.name = base.substr(0, base.find('.'));
    }
    return s;
}

std::string to_json_text(const workload_spec& s) {
    ordered phases = ordered::array();
    for (const phase& p : s.phases) {
        ordered life = distribution_json(p.life.ops);
        if (p.life.phase_end_share >= 1) life = "phase-end";
        else if (p.life.phase_end_share > 0) life["phase_end_share"] = p.life.phase_end_share;
        phases.push_back({{"operations", p.operations},
                          {"sizes", distribution_json(p.sizes)},
                          {"lifetime", life},
                          {"remote_free_share", p.remote_free_share},
                          {"realloc_share", p.realloc_share},
                          {"alignments", bins_json(p.alignments)},
                          {"at_end", p.at_end == phase_end::free ? "free" : "keep"}});
    }
    ordered j = {{"allocmeter_spec", format_version}, {"name", s.name}, {"threads", s.threads}};
    if (s.touch) j["touch"] = *s.touch;
    j["phases"] = phases;
    return with_pairs_inline(j.dump(2)) + "\n";
}

double scale_factor(std::string_view scale_name) {
    if (scale_name == "quick") return 0.1;
    if (scale_name == "full") return 10;
    return 1;
}

}  // namespace allocmeter::spec
