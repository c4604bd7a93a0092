// The grammar every command shares: Boost.Program_options parses (`--opt value` and
// `--opt=value`, positional words declared as such), one usage failure (exit 2, "allocmeter
// CMD: message") and one reader for numbers with ranges; plus splitting comma-separated lists.
#pragma once

#include <boost/program_options.hpp>
#include <charconv>
#include <fmt/format.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace allocmeter {

namespace po = boost::program_options;

/// The exit code of a mistake on the command line (or in an input file).
inline constexpr int exit_usage = 2;
/// The exit code of a run that finished, results and report written, with a cell that failed or timed out.
inline constexpr int exit_cells_failed = 3;

/// A mistake on the command line; main prints "allocmeter COMMAND: MESSAGE" and exits with
/// exit_usage. An exception rather than exit(), so that what a command made (a temporary
/// folder for trace plans) is cleaned up on the way out.
class usage_error : public std::runtime_error {
public:
    usage_error(std::string_view command, const std::string& message);
    /// The command as the user typed it: "run", "trace import".
    const std::string& command() const { return command_; }

private:
    std::string command_;
};

/// Throws usage_error: the one way a command refuses its arguments.
[[noreturn]] void usage_fail(std::string_view command, const std::string& message);

/// The width of --help's option list: that of the prose around it.
inline constexpr unsigned help_width = 100;

/// One command's grammar: what --help shows around the options, the options themselves (-h and
/// --help come with it), and the hidden options that positional words fill, in order.
struct command_grammar {
    command_grammar(std::string name, std::string about, std::string examples);

    std::string name;      ///< "run", "trace import": for messages and the --help pointer
    std::string about;     ///< --help text before the options: what it does, the usage lines
    std::string examples;  ///< --help text after the options; every command has examples
    po::options_description options{"options", help_width};  ///< shown by --help
    po::options_description positionals;                     ///< filled by positional words, not shown
    po::positional_options_description order;                ///< which positional word fills which of them
};

/// Parses `args` by `grammar` into the variables its options are bound to. A mistake (an
/// unknown option, a missing value, a word too many) throws usage_error naming the word and
/// pointing at 'allocmeter NAME --help'. Returns false when -h/--help was given: the help is
/// printed on stdout and the command ends with 0. `given`, when not null, receives the names
/// of the options that `args` set (not those left at their defaults).
[[nodiscard]] bool parse_arguments(const command_grammar& grammar, const std::vector<std::string>& args,
                                   std::vector<std::string>* given = nullptr);

/// The items of a comma-separated list `option` (e.g. "--allocators") given as `text`. An empty
/// list, or an item named twice (which would run twice and pool as extra repetitions), is a
/// usage error of `command` naming the option; `example` ends the message (", e.g. ...").
std::vector<std::string> list_option(std::string_view command, std::string_view option, std::string_view text,
                                     std::string_view example);

/// What plot and report read: one results file or run folder, and where the output goes.
struct results_arguments {
    std::string results;  ///< a results.json or a run folder
    std::string out;      ///< empty: beside results.json
};

/// Declares RESULTS and -o/--out `out_name` (described by `out_help`) for `command`, and parses
/// `args`; false when --help was shown. A missing RESULTS is a usage error.
[[nodiscard]] bool parse_results_arguments(const std::string& command, const std::string& about, const std::string& examples,
                                           const char* out_name, const char* out_help, const std::vector<std::string>& args,
                                           results_arguments& a);

namespace detail {
/// Throws the usage_error of a number out of its range, or of a word that is no number.
[[noreturn]] void number_fail(std::string_view command, std::string_view option, std::string_view text, bool whole,
                              const std::string& min, const std::string& max, std::string_view hint);
}  // namespace detail

/// The value `text` of the numeric `option` as a T from `min` to `max` inclusive: a whole
/// number for an integer T (a sign refused, not wrapped, for an unsigned T), any decimal for a
/// floating T. Else throws usage_error for `command`, e.g. "--reps -1: give a whole number
/// from 1 to 1000000" followed by `hint` (", e.g. --reps 5").
template <typename T>
T parse_number(std::string_view command, std::string_view option, std::string_view text, T min, T max,
               std::string_view hint = {}) {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, "parse_number reads numbers");
    T value{};
    const char* const end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    // !(in range) rather than (value < min || value > max): a NaN fails every comparison, so
    // only this form refuses it.
    if (error != std::errc{} || stop != end || !(value >= min && value <= max))
        detail::number_fail(command, option, text, std::is_integral_v<T>, fmt::to_string(min), fmt::to_string(max), hint);
    return value;
}

/// `args` with "--" put before the program when the user did not: the first word that is
/// neither an option of `options` nor the value of the option before it. For commands that end
/// with a program to run (record, fidelity): Program Options then passes the program's own
/// options through as positional words instead of reading them as the command's.
std::vector<std::string> with_terminator(const std::vector<std::string>& args, const po::options_description& options);

/// Splits "a,b,c" at `sep` (spaces ignored, empty items dropped).
std::vector<std::string> split_list(std::string_view text, char sep = ',');

}  // namespace allocmeter
