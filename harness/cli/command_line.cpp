// The shared command-line layer: the one parse call with its uniform messages, the usage
// failure, the number reader's message, and list splitting.
#include "harness/cli/command_line.hpp"

#include <fmt/format.h>

#include <iostream>
#include <utility>

namespace allocmeter {

namespace {

std::string help_pointer(std::string_view command) { return fmt::format("see 'allocmeter {} --help'", command); }

/// The first positional word past what `order` holds: parsed again without positionals, every
/// positional word comes back unnamed, in order.
std::string word_too_many(const command_grammar& g, const po::options_description& all, const std::vector<std::string>& args) {
    const auto words = po::collect_unrecognized(po::command_line_parser(args).options(all).run().options, po::include_positional);
    const std::size_t limit = g.order.max_total_count();
    return limit < words.size() ? words[limit] : std::string();
}

}  // namespace

usage_error::usage_error(std::string_view command, const std::string& message)
    : std::runtime_error(message), command_(command) {}

void usage_fail(std::string_view command, const std::string& message) { throw usage_error(command, message); }

command_grammar::command_grammar(std::string name_, std::string about_, std::string examples_)
    : name(std::move(name_)), about(std::move(about_)), examples(std::move(examples_)) {
    options.add_options()("help,h", "show this help, with examples");
}

bool parse_arguments(const command_grammar& g, const std::vector<std::string>& args, std::vector<std::string>* given) {
    po::options_description all;
    all.add(g.options).add(g.positionals);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(all).positional(g.order).run(), vm);
        if (vm.count("help") != 0) {
            std::cout << g.about << '\n' << g.options << g.examples;
            return false;
        }
        po::notify(vm);
        if (given != nullptr)
            for (const auto& [name, value] : vm)
                if (!value.defaulted()) given->push_back(name);
    } catch (const po::unknown_option& e) {
        usage_fail(g.name, fmt::format("unknown option '{}'; {}", e.get_option_name(), help_pointer(g.name)));
    } catch (const po::too_many_positional_options_error&) {
        usage_fail(g.name, fmt::format("unexpected argument '{}'; {}", word_too_many(g, all, args), help_pointer(g.name)));
    } catch (const po::error& e) {  // a missing value, an option given twice, an ambiguous abbreviation
        usage_fail(g.name, fmt::format("{}; {}", e.what(), help_pointer(g.name)));
    }
    return true;
}

std::vector<std::string> list_option(std::string_view command, std::string_view option, std::string_view text,
                                     std::string_view example) {
    const std::vector<std::string> items = split_list(text);
    if (items.empty()) usage_fail(command, fmt::format("{} '{}': the list is empty; name at least one{}", option, text, example));
    for (std::size_t i = 0; i < items.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (items[i] == items[j])
                usage_fail(command, fmt::format("{} {}: '{}' is named twice; name each once{}", option, text, items[i], example));
    return items;
}

bool parse_results_arguments(const std::string& command, const std::string& about, const std::string& examples,
                             const char* out_name, const char* out_help, const std::vector<std::string>& args,
                             results_arguments& a) {
    command_grammar g(command, about, examples);
    g.options.add_options()("out,o", po::value(&a.out)->value_name(out_name), out_help);
    g.positionals.add_options()("results", po::value(&a.results));
    g.order.add("results", 1);
    if (!parse_arguments(g, args)) return false;
    if (a.results.empty())
        usage_fail(command, "give a results file or run folder, e.g. 'allocmeter " + command + " results/latest'");
    return true;
}

namespace detail {

void number_fail(std::string_view command, std::string_view option, std::string_view text, bool whole,
                 const std::string& min, const std::string& max, std::string_view hint) {
    usage_fail(command, fmt::format("{} {}: give {} from {} to {}{}", option, text, whole ? "a whole number" : "a number", min,
                                    max, hint));
}

}  // namespace detail

std::vector<std::string> with_terminator(const std::vector<std::string>& args, const po::options_description& options) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--" || a.size() < 2 || a[0] != '-') {
            if (a != "--") out.emplace_back("--");
            out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
            return out;
        }
        out.push_back(a);
        // "--out FILE" and "-o FILE" take the next word; "--out=FILE" and "-oFILE" do not.
        const bool is_long = a.rfind("--", 0) == 0;
        const bool value_attached = is_long ? a.find('=') != std::string::npos : a.size() > 2;
        const po::option_description* d = options.find_nothrow(is_long ? a.substr(2) : a, true);
        if (!value_attached && d != nullptr && d->semantic()->min_tokens() > 0 && i + 1 < args.size()) out.push_back(args[++i]);
    }
    return out;
}

std::vector<std::string> split_list(std::string_view text, char sep) {
    std::vector<std::string> out;
    std::string item;
    for (const char c : std::string(text) + sep) {
        if (c == sep) {
            if (!item.empty()) out.push_back(item);
            item.clear();
        } else if (c != ' ') {
            item += c;
        }
    }
    return out;
}

}  // namespace allocmeter
