// Helpers for tests that drive the allocmeter binary: run a command line, capture its
// output and exit code, and make a fresh folder for results.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace allocmeter::testing {

struct command_result {
    int exit_code = -1;
    std::string output;  ///< stdout and stderr together
};

/// Runs a shell command line; its stdout and stderr together, and its exit code.
inline command_result run_shell(const std::string& cmd) {
    command_result r;
    FILE* pipe = ::popen((cmd + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return r;
    std::array<char, 4096> buf;
    for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0;) r.output.append(buf.data(), n);
    const int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

/// Runs `args` (already shell-quoted where needed) after the allocmeter binary.
inline command_result run_allocmeter(const std::string& args) { return run_shell(std::string(ALLOCMETER_BIN) + " " + args); }

/// A new, empty folder under the system temp folder, removed with everything in it when the
/// test process exits.
inline std::filesystem::path fresh_dir(const std::string& tag) {
    struct removed_at_exit {
        std::vector<std::filesystem::path> dirs;
        ~removed_at_exit() {
            for (const auto& d : dirs) {
                std::error_code ec;
                std::filesystem::remove_all(d, ec);
            }
        }
    };
    static removed_at_exit made;
    std::string tmpl = (std::filesystem::temp_directory_path() / ("allocmeter-" + tag + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) return {};
    made.dirs.emplace_back(tmpl);
    return tmpl;
}

/// The kernel's transparent huge page mode ("always", "madvise" or "never"), "" if unknown. With
/// "always", one byte written in a large anonymous mapping may fault in 2 MiB.
inline std::string thp_mode() {
    std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string line;
    std::getline(in, line);
    const auto open = line.find('['), close = line.find(']');
    return open == std::string::npos || close == std::string::npos ? "" : line.substr(open + 1, close - open - 1);
}

/// The results document of the newest run under `out`.
inline nlohmann::json latest_results(const std::filesystem::path& out) {
    std::ifstream in(out / "latest" / "results.json");
    return nlohmann::json::parse(in);
}

}  // namespace allocmeter::testing
