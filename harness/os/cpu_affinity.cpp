// CPU lists and masks over sched_getaffinity / sched_setaffinity.
#include "harness/os/cpu_affinity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <stdexcept>

namespace allocmeter {

namespace {

/// One CPU number of a list item; throws naming the item.
unsigned cpu_number(std::string_view word, std::string_view item) {
    unsigned n = 0;
    const char* const end = word.data() + word.size();
    const auto [stop, error] = std::from_chars(word.data(), end, n);
    if (word.empty() || error != std::errc{} || stop != end)
        throw std::invalid_argument(fmt::format("'{}' is not a CPU number or a range of them (such as 0-3)", item));
    if (n >= CPU_SETSIZE)
        throw std::invalid_argument(fmt::format("CPU {} is past the highest this build can pin ({})", n, CPU_SETSIZE - 1));
    return n;
}

}  // namespace

std::vector<unsigned> parse_cpu_list(std::string_view text) {
    std::vector<unsigned> cpus;
    if (text.empty()) throw std::invalid_argument("the list is empty");
    std::size_t from = 0;
    while (from <= text.size()) {
        const std::size_t comma = std::min(text.find(',', from), text.size());
        const std::string_view item = text.substr(from, comma - from);
        const std::size_t dash = item.find('-');
        const unsigned first = cpu_number(item.substr(0, dash), item);
        const unsigned last = dash == std::string_view::npos ? first : cpu_number(item.substr(dash + 1), item);
        if (last < first) throw std::invalid_argument(fmt::format("the range {} runs backwards; write {}-{}", item, last, first));
        for (unsigned c = first; c <= last; ++c) cpus.push_back(c);
        from = comma + 1;
    }
    std::sort(cpus.begin(), cpus.end());
    if (const auto twice = std::adjacent_find(cpus.begin(), cpus.end()); twice != cpus.end())
        throw std::invalid_argument(fmt::format("CPU {} is named twice; name each once", *twice));
    return cpus;
}

std::string cpu_list_text(const std::vector<unsigned>& cpus) {
    std::string text;
    for (std::size_t i = 0; i < cpus.size();) {
        std::size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
        if (!text.empty()) text += ',';
        text += j == i ? fmt::to_string(cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]);
        i = j + 1;
    }
    return text;
}

std::vector<unsigned> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<unsigned> cpus;
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (unsigned c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

cpu_mask::cpu_mask(const std::vector<unsigned>& cpus) noexcept {
    CPU_ZERO(&set_);
    for (const unsigned c : cpus)
        if (c < CPU_SETSIZE) CPU_SET(c, &set_);
}

int cpu_mask::apply() const noexcept { return ::sched_setaffinity(0, sizeof set_, &set_) == 0 ? 0 : errno; }

}  // namespace allocmeter
