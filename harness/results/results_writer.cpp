// The results files of a run; the JSON comes from the record, the CSV from results_csv.
#include "harness/results/results_writer.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "harness/os/host_info.hpp"
#include "harness/results/results_csv.hpp"

namespace allocmeter {

namespace fs = std::filesystem;

void write_file_atomically(const fs::path& path, const std::string& text) {
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary);
        out << text;
        if (!out.flush()) {
            const int error = errno;
            std::error_code ec;
            fs::remove(tmp, ec);
            throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(error));
        }
    }
    fs::rename(tmp, path);
}

results_writer::results_writer(const fs::path& out_dir, run_env env, std::optional<std::uint64_t> cells_planned) : out_dir_(out_dir) {
    std::error_code ec;
    fs::create_directories(out_dir_, ec);
    if (ec) throw std::runtime_error("cannot create " + out_dir_.string() + ": " + ec.message());
    const std::string base = now_text("%Y%m%d-%H%M%S", false);  // the run id: local time, sortable
    std::string id = base;
    for (int n = 2; !fs::create_directory(out_dir_ / id, ec); ++n) {
        if (ec) throw std::runtime_error("cannot create " + (out_dir_ / id).string() + ": " + ec.message());
        id = base + "-" + std::to_string(n);
    }
    dir_ = out_dir_ / id;
    doc_.run_id = id;
    doc_.env = std::move(env);
    doc_.cells_planned = cells_planned;
    write_json();
    std::ofstream(dir_ / "results.csv") << csv_header_line();
}

results_writer results_writer::resume(const fs::path& run_dir, results_document doc) {
    results_writer w;
    w.dir_ = run_dir;
    w.out_dir_ = run_dir.parent_path();
    w.doc_ = std::move(doc);
    w.doc_.complete = false;
    std::string csv = csv_header_line();
    for (const cell_record& c : w.doc_.cells) csv += csv_line(c);
    write_file_atomically(run_dir / "results.csv", csv);
    std::error_code ec;
    fs::remove(run_dir / "results.json.tmp", ec);  // what a kill during a write left
    w.write_json();
    return w;
}

void results_writer::finish() {
    doc_.complete = true;
    if (!doc_.cells_planned) doc_.cells_planned = doc_.cells.size();
    write_json();
}

void results_writer::add(const cell_record& cell) {
    doc_.cells.push_back(cell);
    if (cell.measured && cell.measured->library) doc_.env.allocators.try_emplace(cell.allocator, *cell.measured->library);
    write_json();
    std::ofstream(dir_ / "results.csv", std::ios::app) << csv_line(cell);
}

void results_writer::write_summary(const run_summary& summary) const {
    write_file_atomically(dir_ / "summary.json", summary_json_text(summary, (dir_ / "results.json").string()) + "\n");
}

void results_writer::write_json() const { write_file_atomically(dir_ / "results.json", to_json_text(doc_) + "\n"); }

std::string results_writer::link_latest() {
    const fs::path link = out_dir_ / "latest";
    const fs::path tmp = out_dir_ / ".latest.tmp";
    std::error_code ec;
    fs::remove(tmp, ec);
    if (fs::exists(fs::symlink_status(link, ec)) && !fs::is_symlink(fs::symlink_status(link, ec)))
        return link.string() + " is not the link allocmeter keeps (a folder or file of that name): not updated; "
                               "rename it to have it point at the newest run";
    fs::create_directory_symlink(dir_.filename(), tmp, ec);
    if (!ec) fs::rename(tmp, link, ec);
    if (ec) {
        const std::string problem = "cannot point " + link.string() + " at this run: " + ec.message();
        fs::remove(tmp, ec);
        return problem;
    }
    return {};
}

}  // namespace allocmeter
