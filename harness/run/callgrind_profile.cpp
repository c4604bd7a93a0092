// Starting a cell under callgrind, and reading the profile it leaves (the format is Valgrind's
// "Callgrind Format Specification": header lines, then per function its self cost lines and,
// after each `calls=` line, one line with the inclusive cost of those calls).
#include "harness/run/callgrind_profile.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

#include "harness/run/child_process.hpp"

namespace allocmeter {

std::vector<std::string> callgrind_arguments(const callgrind_settings& s, const std::filesystem::path& profile) {
    return {"--tool=callgrind",
            "--quiet",
            "--instr-atstart=no",  // the cell starts it at its timed region
            // Threads take the CPU in turn, first come first served, not by the kernel's choice
            // of who wakes first; with the cell's workers released in a fixed order (start_gate),
            // a multithreaded cell then interleaves the same way on every run.
            "--fair-sched=yes",
            "--cache-sim=yes",
            std::string("--branch-sim=") + (s.branch_sim ? "yes" : "no"),
            "--I1=" + s.caches.i1,
            "--D1=" + s.caches.d1,
            "--LL=" + s.caches.ll,
            "--callgrind-out-file=" + profile.string()};
}

std::string describe_cache(const std::string& spec) {
    const std::size_t a = spec.find(','), b = spec.rfind(',');
    if (a == std::string::npos || a == b) return spec;
    return fmt::format("{} B, {}-way, {} B lines", spec.substr(0, a), spec.substr(a + 1, b - a - 1), spec.substr(b + 1));
}

std::optional<std::string> find_valgrind() {
    const std::vector<std::string> found = on_path("valgrind");
    if (found.empty()) return std::nullopt;
    return found.front();
}

std::optional<std::uint64_t> callgrind_profile::count(const std::vector<std::uint64_t>& counts, std::string_view name) const {
    const auto it = std::find(events.begin(), events.end(), name);
    if (it == events.end()) return std::nullopt;
    const auto i = static_cast<std::size_t>(it - events.begin());
    return i < counts.size() ? counts[i] : 0;
}

namespace {

class profile_reader {
public:
    profile_reader(std::string_view boundary_prefix, const std::string& source) : prefix_(boundary_prefix), source_(source) {}

    void line(std::string_view text) {
        ++line_;
        if (text.empty() || text.front() == '#') return;
        const char c = text.front();
        if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '*') return cost_line(text);
        const std::size_t eq = text.find('=');
        const std::size_t colon = text.find(':');
        if (eq != std::string_view::npos && (colon == std::string_view::npos || eq < colon))
            return spec_line(text.substr(0, eq), text.substr(eq + 1));
        if (colon != std::string_view::npos) return header_line(text.substr(0, colon), trim(text.substr(colon + 1)));
        fail("neither a header, a name nor a cost line");
    }

    callgrind_profile finish() {
        if (p_.events.empty()) fail("no 'events:' line: not a callgrind profile");
        if (totals_) {
            // The profile's own totals must be the sum of its self costs.
            if (*totals_ != p_.total) fail("its totals differ from the sum of its cost lines");
        }
        return std::move(p_);
    }

private:
    static std::string_view trim(std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
        return s;
    }

    [[noreturn]] void fail(const std::string& problem) const {
        throw std::runtime_error(source_ + ": line " + std::to_string(line_) + ": " + problem);
    }

    std::vector<std::string_view> words(std::string_view s) const {
        std::vector<std::string_view> out;
        for (std::size_t i = 0; i < s.size();) {
            while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
            const std::size_t from = i;
            while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\r') ++i;
            if (i > from) out.push_back(s.substr(from, i - from));
        }
        return out;
    }

    std::uint64_t number(std::string_view w) const {
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
        if (ec != std::errc() || end != w.data() + w.size()) fail(fmt::format("'{}' is not a count", w));
        return v;
    }

    void header_line(std::string_view key, std::string_view value) {
        if (key == "events") {
            p_.events.clear();
            for (std::string_view w : words(value)) p_.events.emplace_back(w);
            p_.total.assign(p_.events.size(), 0);
            p_.inside.assign(p_.events.size(), 0);
        } else if (key == "positions") {
            positions_ = words(value).size();
            if (positions_ == 0) fail("'positions:' names no position");
        } else if (key == "totals") {
            totals_ = costs(words(value), 0);
        } else if (key == "desc") {
            // "desc: I1 cache: 32768 B, 64 B, 8-way associative"
            const std::size_t colon = value.find(':');
            if (colon != std::string_view::npos && value.substr(0, colon).ends_with(" cache"))
                p_.caches[std::string(value.substr(0, colon - 6))] = std::string(trim(value.substr(colon + 1)));
        }
        // version, creator, pid, cmd, part, thread, summary: nothing to take
    }

    // A name, possibly compressed: "(7) name" defines id 7, "(7)" refers to it.
    std::string name(std::string_view value) {
        value = trim(value);
        if (value.empty() || value.front() != '(') return std::string(value);
        const std::size_t close = value.find(')');
        if (close == std::string_view::npos) fail("a name's id has no ')'");
        const std::uint64_t id = number(value.substr(1, close - 1));
        const std::string_view rest = trim(value.substr(close + 1));
        if (!rest.empty()) return names_[id] = std::string(rest);
        const auto it = names_.find(id);
        if (it == names_.end()) fail("name id " + std::to_string(id) + " is used before it is defined");
        return it->second;
    }

    void spec_line(std::string_view key, std::string_view value) {
        if (key == "fn") {
            in_boundary_ = name(value).starts_with(prefix_);
            callee_boundary_ = false;
        } else if (key == "cfn") {
            callee_boundary_ = name(value).starts_with(prefix_);
        } else if (key == "calls") {
            const auto w = words(value);
            if (w.empty()) fail("'calls=' without a count");
            call_count_ = number(w.front());
            expect_ = next_cost::call;
        } else if (key == "jump" || key == "jcnd") {
            expect_ = next_cost::jump;
        }
        // ob, fl, fi, fe, cob, cfi, cfl: file and object names, which the counts do not need
    }

    std::vector<std::uint64_t> costs(const std::vector<std::string_view>& w, std::size_t skip) const {
        if (w.size() < skip) fail("a cost line without its position");
        if (w.size() - skip > p_.events.size()) fail("a cost line with more counts than events");
        std::vector<std::uint64_t> out(p_.events.size(), 0);
        for (std::size_t i = skip; i < w.size(); ++i) out[i - skip] = number(w[i]);
        return out;
    }

    void cost_line(std::string_view text) {
        if (p_.events.empty()) fail("a cost line before the 'events:' line");
        const std::vector<std::uint64_t> v = costs(words(text), positions_);
        const next_cost was = expect_;
        expect_ = next_cost::self;
        if (was == next_cost::jump) return;  // a jump's source position: no cost of its own
        if (was == next_cost::call) {
            // A call's inclusive cost: already in its callee's self costs. Counted inside when
            // it enters the boundary from outside (a boundary that called another would count twice).
            if (callee_boundary_ && !in_boundary_) {
                for (std::size_t i = 0; i < v.size(); ++i) p_.inside[i] += v[i];
                p_.boundary_calls += call_count_;
            }
            return;
        }
        for (std::size_t i = 0; i < v.size(); ++i) p_.total[i] += v[i];
    }

    enum class next_cost { self, call, jump };

    std::string_view prefix_;
    const std::string& source_;
    std::size_t line_ = 0;
    std::size_t positions_ = 1;  // "positions: line" is the default
    std::unordered_map<std::uint64_t, std::string> names_;
    bool in_boundary_ = false, callee_boundary_ = false;
    std::uint64_t call_count_ = 0;
    next_cost expect_ = next_cost::self;
    std::optional<std::vector<std::uint64_t>> totals_;
    callgrind_profile p_;
};

}  // namespace

callgrind_profile read_callgrind_profile(std::istream& in, std::string_view boundary_prefix, const std::string& source) {
    profile_reader r(boundary_prefix, source);
    for (std::string text; std::getline(in, text);) r.line(text);
    if (in.bad()) throw std::runtime_error(source + ": cannot be read");
    return r.finish();
}

callgrind_profile read_callgrind_profile(const std::filesystem::path& file, std::string_view boundary_prefix) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error(file.string() + ": cannot be opened (callgrind wrote no profile)");
    return read_callgrind_profile(in, boundary_prefix, file.string());
}

}  // namespace allocmeter
