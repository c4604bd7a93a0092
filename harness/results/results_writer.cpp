// The results files and the environment they record.
#include "harness/results/results_writer.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace allocmeter {

namespace fs = std::filesystem;

namespace {

std::string read_first_line(const char* path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return {};
}

/// The bracketed choice in a sysfs mode file: "always [madvise] never" -> "madvise".
std::string bracketed(const std::string& modes) {
    const auto open = modes.find('['), close = modes.find(']');
    return open == std::string::npos || close == std::string::npos ? modes : modes.substr(open + 1, close - open - 1);
}

std::string run_id_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    return buf;
}

std::string iso_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string csv_field(const nlohmann::json& v) {
    if (v.is_null()) return "";
    std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

/// The value of a column for a cell: top-level fields, metrics, or the library.
nlohmann::json column_value(const nlohmann::json& cell, const std::string& col) {
    if (cell.contains(col)) return cell[col];
    if (cell["metrics"].is_object() && cell["metrics"].contains(col)) return cell["metrics"][col];
    if (col == "library_version" && cell["library"].is_object()) return cell["library"]["version"];
    return nullptr;
}

}  // namespace

loaded_results read_results(const std::string& given) {
    std::filesystem::path p = given;
    if (std::filesystem::is_directory(p)) p /= "results.json";
    std::ifstream in(p);
    if (!in) throw std::invalid_argument(p.string() + ": cannot open; give a results.json or a run folder such as results/latest");
    nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("cells") || !doc["cells"].is_array())
        throw std::invalid_argument(p.string() + ": not an allocmeter results file (no \"cells\" array)");
    // What every reader of the cells relies on, checked once so a damaged file is named, not crashed on.
    for (std::size_t i = 0; i < doc["cells"].size(); ++i) {
        const auto& c = doc["cells"][i];
        std::string missing;
        if (!c.is_object()) missing = "is not an object";
        else if (!c.contains("allocator") || !c["allocator"].is_string()) missing = "has no allocator name";
        else if (!c.contains("workload") || !c["workload"].is_string()) missing = "has no workload name";
        else if (!c.contains("threads") || !c["threads"].is_number_unsigned()) missing = "has no thread count";
        else if (!c.contains("status") || !c["status"].is_string()) missing = "has no status";
        else if (c["status"] == "ok" && (!c.contains("metrics") || !c["metrics"].is_object() ||
                                         !c["metrics"].contains("ns_per_op") || !c["metrics"]["ns_per_op"].is_number()))
            missing = "is ok but has no metrics.ns_per_op";
        if (!missing.empty())
            throw std::invalid_argument(p.string() + ": cell " + std::to_string(i) + " " + missing +
                                        "; the file is damaged: rerun 'allocmeter run', or restore the file");
    }
    return {p, std::move(doc)};
}

const std::vector<std::string>& csv_columns() {
    static const std::vector<std::string> columns{
        "allocator", "workload", "threads", "rep", "status", "reason", "wall_s", "user_s", "sys_s", "ops",
        "ns_per_op", "peak_rss_bytes", "minor_faults", "major_faults", "peak_live_bytes", "op_checksum",
        "library_version"};
    return columns;
}

nlohmann::json collect_host_env() {
    utsname u{};
    ::uname(&u);
    std::string thp = bracketed(read_first_line("/sys/kernel/mm/transparent_hugepage/enabled"));
    // Often absent in a VM: null then, not a guess.
    const std::string governor = read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
    std::string paranoid = read_first_line("/proc/sys/kernel/perf_event_paranoid");
    if (paranoid.find_first_not_of("-0123456789") != std::string::npos) paranoid.clear();
    return {
        {"host", u.nodename},
        {"kernel", std::string(u.sysname) + " " + u.release},
        {"machine", u.machine},
        {"cpu_model", cpu_model()},
        {"cpus", std::thread::hardware_concurrency()},
        {"thp", thp.empty() ? nlohmann::json(nullptr) : nlohmann::json(thp)},
        {"page_size", ::sysconf(_SC_PAGESIZE)},
        {"cpu_governor", governor.empty() ? nlohmann::json(nullptr) : nlohmann::json(governor)},
        {"perf_event_paranoid", paranoid.empty() ? nlohmann::json(nullptr) : nlohmann::json(std::stoi(paranoid))},
        {"compiler", std::string("g++ ") + __VERSION__},
        {"compiler_flags", ALLOCMETER_CXX_FLAGS},
        {"build_type", ALLOCMETER_BUILD_TYPE},
        {"allocmeter_version", ALLOCMETER_VERSION},
        {"started_at", iso_now()},
    };
}

results_writer::results_writer(const fs::path& out_dir, nlohmann::json env) : out_dir_(out_dir) {
    std::error_code ec;
    fs::create_directories(out_dir_, ec);
    if (ec) throw std::runtime_error("cannot create " + out_dir_.string() + ": " + ec.message());
    const std::string base = run_id_now();
    std::string id = base;
    for (int n = 2; !fs::create_directory(out_dir_ / id, ec); ++n) {
        if (ec) throw std::runtime_error("cannot create " + (out_dir_ / id).string() + ": " + ec.message());
        id = base + "-" + std::to_string(n);
    }
    dir_ = out_dir_ / id;
    doc_ = {{"schema", results_schema}, {"run_id", id}, {"env", std::move(env)}, {"cells", nlohmann::json::array()}};
    write_json();
    std::ofstream csv(dir_ / "results.csv");
    for (std::size_t i = 0; i < csv_columns().size(); ++i) csv << (i ? "," : "") << csv_columns()[i];
    csv << "\n";
}

void results_writer::add(const nlohmann::json& cell) {
    doc_["cells"].push_back(cell);
    if (cell["library"].is_object()) {
        auto& libs = doc_["env"]["allocators"];
        const std::string name = cell["allocator"];
        if (!libs.contains(name)) libs[name] = cell["library"];
    }
    write_json();
    append_csv(cell);
}

void results_writer::write_json() const {
    const fs::path tmp = dir_ / "results.json.tmp";
    {
        std::ofstream out(tmp);
        out << doc_.dump(2) << "\n";
        if (!out) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::rename(tmp, dir_ / "results.json");
}

void results_writer::append_csv(const nlohmann::json& cell) const {
    std::ofstream csv(dir_ / "results.csv", std::ios::app);
    for (std::size_t i = 0; i < csv_columns().size(); ++i)
        csv << (i ? "," : "") << csv_field(column_value(cell, csv_columns()[i]));
    csv << "\n";
}

void results_writer::link_latest() {
    const fs::path link = out_dir_ / "latest";
    const fs::path tmp = out_dir_ / ".latest.tmp";
    std::error_code ec;
    fs::remove(tmp, ec);
    fs::create_directory_symlink(dir_.filename(), tmp, ec);
    if (!ec) fs::rename(tmp, link, ec);
}

}  // namespace allocmeter
