// The child's side of a cell: check who serves malloc, run the workload once between two
// usage snapshots, and report metrics as JSON on the result fd.
#include "harness/cell.hpp"

#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "allocators/malloc_allocator.hpp"
#include "harness/child_process.hpp"
#include "harness/library_probe.hpp"
#include "harness/registry.hpp"
#include "harness/self_stats.hpp"

namespace allocmeter {

namespace {

/// Takes rusage at the edges of the timed region.
class usage_region final : public timed_region {
public:
    void begin() override { before = read_usage(); }
    void end() override { after = read_usage(); }
    usage_snapshot before, after;
};

nlohmann::json stats_json(const std::optional<allocator_stats>& s) {
    if (!s) return nullptr;
    return {{"bytes_requested", s->bytes_requested},
            {"bytes_reserved", s->bytes_reserved},
            {"chunks", s->chunks},
            {"blocks", s->blocks}};
}

bool write_all(int fd, const std::string& text) {
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::vector<std::string> cell_request::to_args() const {
    return {"--allocator", allocator,       "--runner", runner,
            "--workload",  workload,        "--expect-library", expect_library,
            "--threads",   std::to_string(config.threads),
            "--scale",     std::string(to_string(config.size)),
            "--seed",      std::to_string(config.seed)};
}

int run_cell(const cell_request& request) {
    const cell_runner run = find_runner(request.runner, request.workload);
    if (run == nullptr) {
        std::fprintf(stderr, "no runner for allocator type '%s' and workload '%s'\n", request.runner.c_str(),
                     request.workload.c_str());
        return 2;
    }

    nlohmann::json library = nullptr;
    if (request.runner == malloc_runner_name) {
        const library_identity id = identify_malloc();
        const bool expected = request.expect_library == "libc"
                                  ? id.is_libc
                                  : id.path == canonical_path(request.expect_library);
        if (!expected) {
            std::fprintf(stderr, "malloc is served by %s, not by %s as asked (was LD_PRELOAD ignored?)\n",
                         id.path.empty() ? "an unknown object" : id.path.c_str(),
                         request.expect_library == "libc" ? "glibc" : request.expect_library.c_str());
            return 2;
        }
        const auto freed_by = malloc_allocator::bind_sized_free();
        library = {{"path", id.path},
                   {"version", id.version.empty() ? nlohmann::json(nullptr) : nlohmann::json(id.version)},
                   {"version_source", id.version_source},
                   {"free_function", malloc_allocator::name(freed_by)}};
    }

    const auto baseline = read_rss();
    usage_region usage;
    const workload_result r = run(request.config, &usage);
    const auto end = read_rss();

    const auto& u0 = usage.before;
    const auto& u1 = usage.after;
    nlohmann::json metrics = {
        {"wall_s", r.wall_s},
        {"user_s", u1.user_s - u0.user_s},
        {"sys_s", u1.sys_s - u0.sys_s},
        {"ops", r.ops},
        {"ns_per_op", r.ops > 0 ? r.wall_s * 1e9 / static_cast<double>(r.ops) : 0.0},
        {"peak_rss_bytes", end ? nlohmann::json(end->hwm_bytes) : nlohmann::json(nullptr)},
        {"minor_faults", u1.minor_faults - u0.minor_faults},
        {"major_faults", u1.major_faults - u0.major_faults},
        {"peak_live_bytes", r.peak_live_bytes},
    };
    char checksum[19];
    std::snprintf(checksum, sizeof checksum, "%016llx", static_cast<unsigned long long>(r.checksum));
    const nlohmann::json result = {
        {"metrics", metrics},
        {"op_checksum", checksum},
        {"baseline_rss_bytes", baseline ? nlohmann::json(baseline->rss_bytes) : nlohmann::json(nullptr)},
        {"allocator_stats", stats_json(r.stats)},
        {"library", library},
    };
    if (!write_all(result_fd, result.dump())) {
        std::perror("writing the cell result");
        return 2;
    }
    return 0;
}

}  // namespace allocmeter
