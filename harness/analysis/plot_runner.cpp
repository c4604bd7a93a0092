// The Python side of the charts stays in plots/; this file only finds an interpreter that has
// matplotlib, runs the script like any other child process, and reads its charts.json.
#include "harness/analysis/plot_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "harness/results/results_writer.hpp"
#include "harness/run/child_process.hpp"

namespace allocmeter {

namespace {

constexpr double probe_timeout_s = 60;   // importing matplotlib the first time builds its font cache
constexpr double script_timeout_s = 600;  // a full default run's charts take well under a minute

bool imports_matplotlib(const std::string& python) {
    const child_outcome r = run_child({python, {"-c", "import matplotlib"}, {}, {}, probe_timeout_s});
    return r.how == child_outcome::ending::exited && r.code == 0;
}

/// Each python3 on PATH, then /usr/bin/python3, without repeats.
std::vector<std::string> python_candidates() {
    std::vector<std::string> found = on_path("python3");
    found.push_back("/usr/bin/python3");
    std::vector<std::string> unique;
    for (const std::string& p : found)
        if (std::find(unique.begin(), unique.end(), p) == unique.end() && ::access(p.c_str(), X_OK) == 0) unique.push_back(p);
    return unique;
}

}  // namespace

std::string find_plot_python() {
    const std::string install = "install Debian's python3-matplotlib (sudo apt-get install python3-matplotlib, or 'make deps')";
    if (const char* chosen = std::getenv("ALLOCMETER_PYTHON"); chosen != nullptr && *chosen != '\0') {
        std::string python = chosen;
        if (python.find('/') == std::string::npos) {
            const std::vector<std::string> found = on_path(python);
            if (!found.empty()) python = found.front();
        }
        if (python.front() == '/' && imports_matplotlib(python)) return python;
        throw plot_error(std::string("ALLOCMETER_PYTHON=") + chosen + " cannot import matplotlib; " + install +
                         ", or point ALLOCMETER_PYTHON at a python3 that has it");
    }
    std::string tried;
    for (const std::string& p : python_candidates()) {
        if (imports_matplotlib(p)) return p;
        tried += (tried.empty() ? "" : ", ") + p;
    }
    throw plot_error("no Python 3 with matplotlib found (tried " + (tried.empty() ? std::string("none on PATH") : tried) +
                     "); " + install + ", or set ALLOCMETER_PYTHON to a python3 that has it");
}

std::vector<std::filesystem::path> plot_script_candidates() {
    if (const char* s = std::getenv("ALLOCMETER_PLOTS_SCRIPT"); s != nullptr && *s != '\0') return {s};
    const std::filesystem::path bin = std::filesystem::path(self_exe()).parent_path();
    return {(bin / ALLOCMETER_DATA_FROM_BIN / "allocmeter_plots.py").lexically_normal(),
            std::filesystem::path(ALLOCMETER_SOURCE_DIR) / "plots" / "allocmeter_plots.py"};
}

std::filesystem::path plot_script() {
    const std::vector<std::filesystem::path> candidates = plot_script_candidates();
    std::string tried;
    for (const std::filesystem::path& p : candidates) {
        std::error_code ec;
        if (std::filesystem::is_regular_file(p, ec)) return p;
        tried += (tried.empty() ? "" : ", ") + p.string();
    }
    throw plot_error("the chart script is missing (looked for " + tried + "); reinstall allocmeter (make install), "
                     "or set ALLOCMETER_PLOTS_SCRIPT to a copy of plots/allocmeter_plots.py");
}

std::vector<chart> make_charts(const run_summary& summary, const std::filesystem::path& results_json,
                               const std::filesystem::path& out_dir) {
    const std::filesystem::path dir = std::filesystem::absolute(out_dir);
    const std::filesystem::path script = plot_script();
    const std::string python = find_plot_python();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw plot_error(dir.string() + ": cannot create the chart folder (" + ec.message() + "); give a writable one");
    const std::filesystem::path summary_json = dir / "summary.json";
    try {
        write_file_atomically(summary_json, summary_json_text(summary, std::filesystem::absolute(results_json).string()) + "\n");
    } catch (const std::runtime_error& e) {
        throw plot_error(e.what());
    }
    const child_outcome r = run_child({python, {script.string(), summary_json.string(), "-o", dir.string()}, {}, {},
                                       script_timeout_s});
    if (r.how != child_outcome::ending::exited || r.code != 0) {
        std::string why = r.how == child_outcome::ending::timed_out ? "timed out"
                          : r.how == child_outcome::ending::signaled ? "killed by " + describe_signal(r.code)
                          : r.how == child_outcome::ending::spawn_failed ? r.spawn_error
                                                                          : "exit " + std::to_string(r.code);
        std::string said = r.stderr_tail;
        while (!said.empty() && said.back() == '\n') said.pop_back();
        throw plot_error(script.string() + " (" + python + ") failed, " + why + (said.empty() ? "" : ":\n" + said));
    }
    const std::filesystem::path manifest = dir / "charts.json";
    std::ifstream in(manifest);
    const nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
    if (!in || doc.is_discarded() || doc.value("schema", "") != "allocmeter-charts/1" || !doc["charts"].is_array())
        throw plot_error(manifest.string() + ": the chart script left no valid chart list (schema allocmeter-charts/1)");
    std::vector<chart> charts;
    for (const auto& c : doc["charts"]) {
        chart ch{c.value("name", ""), c.value("kind", ""), c.value("title", ""), c.value("caption", ""), {}};
        for (const auto& [format, file] : c["files"].items()) ch.files[format] = dir / file.get<std::string>();
        charts.push_back(std::move(ch));
    }
    return charts;
}

}  // namespace allocmeter
