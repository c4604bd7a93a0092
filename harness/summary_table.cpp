// Groups cells by (workload, threads, allocator) in the order they first appear.
#include "harness/summary_table.hpp"

#include <algorithm>
#include <map>
#include <string>

#include "harness/statistics.hpp"

namespace allocmeter {

namespace {

struct group {
    std::string allocator;
    std::vector<double> ns_per_op;
    std::vector<double> rss;
    std::string status;  // of a non-ok cell, shown when no cell is ok
    std::string version;
};

double median(const std::vector<double>& v) { return summarize(v).median; }

std::string mib(double bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
    return buf;
}

}  // namespace

void print_summary(const nlohmann::json& doc, std::FILE* out) {
    std::vector<std::pair<std::string, unsigned>> tables;
    std::map<std::pair<std::string, unsigned>, std::vector<group>> rows;
    for (const auto& cell : doc["cells"]) {
        const std::pair<std::string, unsigned> key{cell["workload"], cell["threads"]};
        if (!rows.contains(key)) tables.push_back(key);
        auto& groups = rows[key];
        const std::string name = cell["allocator"];
        auto it = std::find_if(groups.begin(), groups.end(), [&](const group& g) { return g.allocator == name; });
        if (it == groups.end()) it = groups.insert(groups.end(), group{name, {}, {}, {}, {}});
        if (cell["status"] == "ok") {
            it->ns_per_op.push_back(cell["metrics"]["ns_per_op"]);
            if (cell["metrics"]["peak_rss_bytes"].is_number()) it->rss.push_back(cell["metrics"]["peak_rss_bytes"]);
            if (cell["library"].is_object() && cell["library"]["version"].is_string())
                it->version = cell["library"]["version"];
        } else if (it->status.empty()) {
            it->status = cell["status"].get<std::string>() + ": " + cell.value("reason", std::string());
        }
    }
    for (const auto& key : tables) {
        const auto& groups = rows[key];
        double system_ns = 0;
        for (const group& g : groups)
            if (g.allocator == "system" && !g.ns_per_op.empty()) system_ns = median(g.ns_per_op);
        std::fprintf(out, "\n%s, %u thread%s\n", key.first.c_str(), key.second, key.second == 1 ? "" : "s");
        std::fprintf(out, "  %-18s %12s %8s %12s %10s  %s\n", "allocator", "ns/op (med)", "spread", "peak RSS",
                     "vs system", "library");
        for (const group& g : groups) {
            if (g.ns_per_op.empty()) {
                std::string why = g.status.size() > 100 ? g.status.substr(0, 97) + "..." : g.status;
                std::fprintf(out, "  %-18s %s\n", g.allocator.c_str(), why.c_str());
                continue;
            }
            const double med = median(g.ns_per_op);
            const auto [lo, hi] = std::minmax_element(g.ns_per_op.begin(), g.ns_per_op.end());
            const double spread = med > 0 ? 50.0 * (*hi - *lo) / med : 0;
            char ratio[16] = "-";
            if (system_ns > 0) std::snprintf(ratio, sizeof ratio, "%.2fx", med / system_ns);
            std::fprintf(out, "  %-18s %12.2f %7.1f%% %12s %10s  %s\n", g.allocator.c_str(), med, spread,
                         g.rss.empty() ? "-" : mib(median(g.rss)).c_str(), ratio,
                         g.version.empty() ? "" : g.version.c_str());
        }
    }
    std::fprintf(out, "\nspread: half the min-max range over repetitions, as %% of the median; "
                      "vs system: median ns/op over system's.\n");
}

}  // namespace allocmeter
