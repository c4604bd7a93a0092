// A tiny real matrix, its results.json checked cell by cell: one cell per allocator x
// workload x threads x rep, interleaved repetitions, statuses and reasons, every metric of
// every ok cell, the serving library's version, identical operation streams, and the CSV.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

namespace {

// The run's --allocators, then the harness row that every run --measure time adds last.
const std::vector<std::string> allocators{"system", "jemalloc", "bump", "pool", "harness"};
const std::vector<std::string> workloads{"frame", "churn"};
const std::vector<unsigned> threads{1, 2};
constexpr unsigned reps = 2;

#ifndef E2E_MATRIX_DIR
#error "E2E_MATRIX_DIR must name the folder the matrix_end_to_end_run fixture writes"
#endif

// The matrix ran once for all the tests (ctest's fixture matrix_end_to_end_run wrote its output,
// exit code and results to E2E_MATRIX_DIR), or, where that folder holds no run (the binary run
// directly), runs here.
struct matrix_fixture : ::testing::Test {
    static void SetUpTestSuite() {
        const std::filesystem::path dir = E2E_MATRIX_DIR;
        std::ifstream code_file(dir / "exit_code");
        if (int code; code_file >> code) {
            std::ifstream log(dir / "run.log");
            run = new command_result{code, std::string(std::istreambuf_iterator<char>(log), std::istreambuf_iterator<char>())};
            out = new std::filesystem::path(dir / "out");
        } else {
            out = new std::filesystem::path(fresh_dir("e2e"));
            run = new command_result(run_allocmeter(std::string(E2E_MATRIX_ARGS) + " --out " + out->string()));
        }
        jemalloc_listed = run_allocmeter("list").output.find("libjemalloc.so.2") != std::string::npos;
        doc = new nlohmann::json(latest_results(*out));
    }
    static void TearDownTestSuite() {
        delete out;
        delete run;
        delete doc;
    }
    static inline std::filesystem::path* out = nullptr;
    static inline command_result* run = nullptr;
    static inline bool jemalloc_listed = false;
    static inline nlohmann::json* doc = nullptr;  ///< results.json of the run
};

}  // namespace

// The run exits 0, prints the summary, and latest points at its folder.
TEST_F(matrix_fixture, RunsAndLinksLatest) {
    ASSERT_EQ(run->exit_code, 0) << run->output;
    EXPECT_NE(run->output.find("vs system"), std::string::npos);
    EXPECT_TRUE(std::filesystem::is_symlink(*out / "latest"));
    EXPECT_EQ((*doc)["schema"], "allocmeter-results/1");
    const auto& env = (*doc)["env"];
    EXPECT_EQ(env["seed"], 11);
    EXPECT_EQ(env["scale"], "quick");
    EXPECT_FALSE(env["cpu_model"].get<std::string>().empty());
    EXPECT_NE(env["command_line"].get<std::string>().find("--seed 11"), std::string::npos);
}

// The table has the CI and CV columns and flags 2 repetitions as few; --report leaves the
// run's report.html and its charts in the run folder and says where.
TEST_F(matrix_fixture, SummaryChecksAndReport) {
    for (const char* expected : {"  allocator          ns/op (med)  CI                    CV", "few reps",
                                 "its coverage is 50.0% at 2 reps", "check: "})
        EXPECT_NE(run->output.find(expected), std::string::npos) << expected << "\n" << run->output;
    const auto dir = std::filesystem::canonical(*out / "latest");
    EXPECT_NE(run->output.find("report: " + (dir / "report.html").string()), std::string::npos) << run->output;
    EXPECT_GT(std::filesystem::file_size(dir / "report.html"), 100'000u);
    for (const char* chart : {"heatmap-time", "heatmap-rss", "time-frame", "time-churn", "scaling", "latency-churn",
                              "rss-frame"})
        EXPECT_GT(std::filesystem::file_size(dir / "charts" / (std::string(chart) + ".png")), 10'000u) << chart;
}

// One cell per combination, with repetitions outermost so allocators interleave.
TEST_F(matrix_fixture, OneCellPerCombinationInterleaved) {
    const auto& cells = (*doc)["cells"];
    ASSERT_EQ(cells.size(), allocators.size() * workloads.size() * threads.size() * reps);
    std::set<std::tuple<std::string, std::string, unsigned, unsigned>> seen;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        const auto& c = cells[i];
        seen.insert({c["allocator"].get<std::string>(), c["workload"].get<std::string>(), c["threads"].get<unsigned>(),
                     c["rep"].get<unsigned>()});
        EXPECT_EQ(c["rep"], i < cells.size() / 2 ? 1u : 2u) << "cell " << i;
        EXPECT_EQ(c["allocator"], allocators[i % allocators.size()]) << "cell " << i;
    }
    EXPECT_EQ(seen.size(), cells.size());
}

// Each cell's status is what its allocator and workload call for, with a reason when not ok.
TEST_F(matrix_fixture, StatusesAndReasons) {
    for (const auto& c : (*doc)["cells"]) {
        const std::string a = c["allocator"], w = c["workload"];
        const std::string where = a + "/" + w + "/t" + std::to_string(c["threads"].get<unsigned>());
        if (a == "bump" && w == "churn") {
            EXPECT_EQ(c["status"], "skipped") << where;
            EXPECT_NE(c["reason"].get<std::string>().find("no individual free"), std::string::npos) << where;
        } else if (a == "pool" && w == "churn") {
            EXPECT_EQ(c["status"], "skipped") << where;
            EXPECT_FALSE(c["reason"].get<std::string>().empty()) << where;
        } else if (a == "jemalloc" && !jemalloc_listed) {
            EXPECT_EQ(c["status"], "skipped") << where;
            EXPECT_NE(c["reason"].get<std::string>().find("apt-get install libjemalloc2"), std::string::npos);
        } else {
            EXPECT_EQ(c["status"], "ok") << where << ": " << c["reason"];
            EXPECT_TRUE(c["reason"].is_null()) << where;
        }
    }
}

// Every ok cell has every metric, positive where it must be, and consistent.
TEST_F(matrix_fixture, OkCellsHaveEveryMetric) {
    int ok = 0;
    for (const auto& c : (*doc)["cells"]) {
        if (c["status"] != "ok") continue;
        ++ok;
        const auto& m = c["metrics"];
        for (const char* key : {"wall_s", "user_s", "sys_s", "ops", "ns_per_op", "peak_rss_bytes", "minor_faults",
                                "major_faults", "peak_live_bytes"})
            ASSERT_TRUE(m.contains(key) && m[key].is_number()) << key << " in " << c.dump();
        EXPECT_GT(m["wall_s"].get<double>(), 0);
        EXPECT_GT(m["ops"].get<std::uint64_t>(), 0u);
        EXPECT_NEAR(m["ns_per_op"].get<double>(), m["wall_s"].get<double>() * 1e9 / m["ops"].get<double>(), 1e-6);
        // The harness row's blocks overlap, so what is live can exceed what is resident.
        if (c["allocator"] != "harness") {
            EXPECT_GT(m["peak_rss_bytes"].get<std::uint64_t>(), m["peak_live_bytes"].get<std::uint64_t>());
        }
        EXPECT_GT(m["peak_live_bytes"].get<std::uint64_t>(), 0u);
        EXPECT_GE(m["user_s"].get<double>() + m["sys_s"].get<double>(), 0);
        EXPECT_EQ(c["op_checksum"].get<std::string>().size(), 16u);
    }
    EXPECT_GE(ok, 20);
}

// Every ok cell has its perf counters: the software ones count (page faults, task clock, from
// perf_event_open over every worker thread); each hardware one has a value or, on a host that
// cannot give it (these VMs), null with the reason, never a bare zero.
TEST_F(matrix_fixture, OkCellsHavePerfCounters) {
    if (!std::filesystem::exists("/proc/sys/kernel/perf_event_paranoid")) GTEST_SKIP() << "no perf events here";
    for (const auto& c : (*doc)["cells"]) {
        if (c["status"] != "ok") continue;
        const auto& pmu = c["metrics"]["pmu"];
        ASSERT_TRUE(pmu.is_object()) << c.dump();
        ASSERT_TRUE(pmu["minor_faults"]["value"].is_number()) << pmu.dump();
        EXPECT_GT(pmu["minor_faults"]["value"].get<double>(), 0);
        EXPECT_GT(pmu["task_clock_ns"]["value"].get<double>(), 0);
        EXPECT_GT(pmu["task_clock_ns"]["per_op"].get<double>(), 0);
        for (const char* hw : {"cycles", "instructions", "l1d_misses", "llc_misses", "dtlb_load_misses", "branch_misses"}) {
            const auto& e = pmu[hw];
            ASSERT_TRUE(e.is_object()) << hw;
            if (e["value"].is_null()) {
                EXPECT_FALSE(e["reason"].get<std::string>().empty()) << hw;
            } else {
                EXPECT_GT(e["value"].get<double>(), 0) << hw;
            }
        }
    }
    // A host that cannot give a counter is told once, on the terminal.
    bool any_null = false;
    for (const auto& c : (*doc)["cells"])
        if (c["status"] == "ok") any_null = any_null || c["metrics"]["pmu"]["cycles"]["value"].is_null();
    const auto notes = [&] {
        std::size_t n = 0;
        for (std::size_t at = 0; (at = run->output.find("null in these results", at)) != std::string::npos; ++at) ++n;
        return n;
    }();
    EXPECT_EQ(notes, any_null ? 1u : 0u) << run->output;
    // env lists the counters that opened: the software ones at least.
    const auto& opened = (*doc)["env"]["pmu_opened"];
    ASSERT_TRUE(opened.is_array()) << (*doc)["env"].dump();
    EXPECT_NE(std::find(opened.begin(), opened.end(), "task_clock_ns"), opened.end()) << opened.dump();
    EXPECT_EQ(std::find(opened.begin(), opened.end(), "cycles") != opened.end(), !any_null);
}

// External cells name the library that served them and its version; reference cells name none.
TEST_F(matrix_fixture, ExternalCellsReportTheirLibrary) {
    for (const auto& c : (*doc)["cells"]) {
        if (c["status"] != "ok") continue;
        if (c["allocator"] == "system") {
            EXPECT_NE(c["library"]["version"].get<std::string>().find("glibc"), std::string::npos);
            EXPECT_NE(c["library"]["path"].get<std::string>().find("libc.so"), std::string::npos);
        } else if (c["allocator"] == "jemalloc") {
            EXPECT_NE(c["library"]["path"].get<std::string>().find("libjemalloc"), std::string::npos);
            EXPECT_FALSE(c["library"]["version"].get<std::string>().empty());
            EXPECT_EQ(c["library"]["free_function"], "sdallocx");
        } else {
            EXPECT_TRUE(c["library"].is_null()) << c.dump();
        }
    }
}

// Every allocator ran the same operations: one checksum and op count per (workload, threads).
TEST_F(matrix_fixture, SameOperationsOnEveryAllocator) {
    std::map<std::pair<std::string, unsigned>, std::set<std::string>> checksums;
    for (const auto& c : (*doc)["cells"])
        if (c["status"] == "ok")
            checksums[{c["workload"].get<std::string>(), c["threads"].get<unsigned>()}].insert(c["op_checksum"].get<std::string>());
    EXPECT_EQ(checksums.size(), workloads.size() * threads.size());
    for (const auto& [key, sums] : checksums) EXPECT_EQ(sums.size(), 1u) << key.first << " t" << key.second;
}

// The harness row: each group's last row, ok, recorded as kind harness, never tested against
// system nor picked at a glance; every other ok row has its net ns/op (its median less the
// harness row's) and net ratio (net over system's net), in summary.json, on the terminal and in
// the report.
TEST_F(matrix_fixture, HarnessRowGivesNetFigures) {
    EXPECT_EQ((*doc)["env"]["allocator_kinds"]["harness"], "harness");
    std::ifstream summary_file(*out / "latest" / "summary.json");
    const auto summary = nlohmann::json::parse(summary_file);
    EXPECT_EQ(summary["baseline"], "system");
    ASSERT_EQ(summary["groups"].size(), workloads.size() * threads.size());
    for (const auto& g : summary["groups"]) {
        const std::string group = g["workload"].get<std::string>() + " t" + std::to_string(g["threads"].get<unsigned>());
        const auto& rows = g["rows"];
        ASSERT_FALSE(rows.empty()) << group;
        const auto& harness = rows.back();
        ASSERT_EQ(harness["allocator"], "harness") << group;
        ASSERT_EQ(harness["status"], "ok") << group << ": " << harness.dump();
        EXPECT_TRUE(harness["harness_row"].get<bool>()) << group;
        EXPECT_TRUE(harness["time"]["ratio"].is_null()) << group;
        EXPECT_TRUE(harness["time"]["p_value"].is_null()) << group;
        EXPECT_TRUE(harness["time"]["paired"].is_null()) << group;
        EXPECT_TRUE(harness["net_ns_per_op"].is_null()) << group;
        const double harness_median = harness["time"]["median"];
        EXPECT_GT(harness_median, 0) << group;
        double system_net = 0;
        for (const auto& r : rows) {
            if (r["status"] != "ok" || r["harness_row"].get<bool>()) continue;
            const std::string who = group + " " + r["allocator"].get<std::string>();
            EXPECT_FALSE(r["harness_row"].get<bool>()) << who;
            ASSERT_TRUE(r["net_ns_per_op"].is_number()) << who << ": " << r.dump();
            EXPECT_NEAR(r["net_ns_per_op"].get<double>(), r["time"]["median"].get<double>() - harness_median, 1e-9) << who;
            if (r["allocator"] == "system") system_net = r["net_ns_per_op"];
        }
        ASSERT_GT(system_net, 0) << group << ": glibc's malloc costs more than doing nothing";
        for (const auto& r : rows) {
            if (r["status"] != "ok" || r["harness_row"].get<bool>()) continue;
            const double net = r["net_ns_per_op"];
            if (net > 0) {
                EXPECT_NEAR(r["net_ratio"].get<double>(), net / system_net, 1e-9) << group << " " << r["allocator"];
                EXPECT_EQ(r["net_note"], "");
            } else {
                EXPECT_TRUE(r["net_ratio"].is_null()) << r.dump();
                EXPECT_NE(r["net_note"].get<std::string>().find("not positive"), std::string::npos) << r.dump();
            }
        }
    }
    // The terminal table: the net columns, and the harness row marked as the harness's own cost.
    for (const char* expected : {"net ns/op net vs system", "do-nothing allocator: the harness's own cost",
                                 "net ns/op: the row's median ns/op minus the harness row's"})
        EXPECT_NE(run->output.find(expected), std::string::npos) << expected << "\n" << run->output;
    // The report: the net columns, and no glance row naming the harness as fastest or least memory.
    std::ifstream html_file(*out / "latest" / "report.html");
    const std::string html((std::istreambuf_iterator<char>(html_file)), std::istreambuf_iterator<char>());
    EXPECT_NE(html.find("<th>net ns/op</th><th>net vs base</th>"), std::string::npos);
    const auto glance = html.substr(html.find("id=\"glance\""), html.find("id=\"tables\"") - html.find("id=\"glance\""));
    EXPECT_EQ(glance.find(">harness<"), std::string::npos) << glance;
}

// results.csv has a header and one row per cell, in the same order.
TEST_F(matrix_fixture, CsvHasARowPerCell) {
    std::ifstream csv(*out / "latest" / "results.csv");
    std::vector<std::string> lines;
    for (std::string line; std::getline(csv, line);) lines.push_back(line);
    ASSERT_EQ(lines.size(), (*doc)["cells"].size() + 1);
    EXPECT_EQ(lines[0].rfind("allocator,workload,threads,rep,status,reason,wall_s", 0), 0u);
    EXPECT_EQ(lines[1].rfind("system,frame,1,1,ok,", 0), 0u) << lines[1];
}

// Every ok cell has an RSS series over its timed region (at least a first and a last sample,
// the three arrays alike, time increasing, resident bytes above zero) and its smaps_rollup.
TEST_F(matrix_fixture, OkCellsHaveAnRssSeries) {
    for (const auto& c : (*doc)["cells"]) {
        if (c["status"] != "ok") continue;
        const auto& s = c["metrics"]["rss_series"];
        ASSERT_TRUE(s.is_object()) << c.dump();
        const auto& t = s["t_ms"];
        ASSERT_GE(t.size(), 2u) << s.dump();
        EXPECT_EQ(s["rss_bytes"].size(), t.size());
        EXPECT_EQ(s["live_bytes"].size(), t.size());
        // Up to 128 samples come out as taken; more are thinned to at most 128 points (a cell
        // the host slowed down can take that many even at quick scale).
        const std::size_t taken = s["samples"].get<std::size_t>();
        if (taken <= 128) {
            EXPECT_EQ(taken, t.size());
        } else {
            EXPECT_LE(t.size(), 128u);
            EXPECT_GE(t.size(), 64u);
        }
        for (std::size_t i = 1; i < t.size(); ++i) EXPECT_GE(t[i].get<double>(), t[i - 1].get<double>());
        for (const auto& r : s["rss_bytes"]) EXPECT_GT(r.get<std::uint64_t>(), 0u);
        EXPECT_GT(c["metrics"]["smaps_rollup"]["anonymous_bytes"].get<std::int64_t>(), 0);
    }
}

// Every ok cell has sampled latency percentiles, in order from p50 to max, for its allocations
// (and its frees, where it frees one by one).
TEST_F(matrix_fixture, OkCellsHaveLatencyPercentiles) {
    for (const auto& c : (*doc)["cells"]) {
        if (c["status"] != "ok") continue;
        const auto& l = c["metrics"]["latency_ns"];
        ASSERT_TRUE(l.is_object()) << c.dump();
        EXPECT_EQ(l["every"], 64);
        EXPECT_GT(l["ticks_per_ns"].get<double>(), 0);
        ASSERT_TRUE(l["alloc"].is_object()) << l.dump();
        for (const char* kind : {"alloc", "free"}) {
            const auto& k = l[kind];
            if (k.is_null()) continue;  // a reset frees nothing one by one
            EXPECT_GT(k["samples"].get<std::uint64_t>(), 0u);
            double last = 0;
            for (const char* q : {"p50", "p90", "p99", "p999", "max"}) {
                EXPECT_GE(k[q].get<double>(), last) << kind << " " << q << ": " << k.dump();
                last = k[q].get<double>();
            }
            EXPECT_GT(last, 0) << kind;
        }
    }
}

// --latency off leaves latency_ns null; anything but a power of two is refused.
TEST(Latency, OffAndBadValues) {
    const auto out = fresh_dir("latency-off");
    const auto r = run_allocmeter("run --latency off --workloads frame --allocators system --threads 1 --reps 1 "
                                  "--scale quick --out " + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto doc = latest_results(out);
    EXPECT_TRUE(doc["cells"][0]["metrics"]["latency_ns"].is_null());
    EXPECT_EQ(doc["env"]["latency_every"], 0);
    for (const char* bad : {"--latency 0", "--latency 48", "--latency often"}) {
        const auto b = run_allocmeter(std::string("run ") + bad + " --out " + out.string());
        EXPECT_EQ(b.exit_code, 2) << bad << "\n" << b.output;
        EXPECT_NE(b.output.find("power of two"), std::string::npos) << b.output;
    }
}

// --pmu-events puts the named events in place of the default hardware counters: a software
// one counts, a hardware one has a value or null with the reason; the run records the list.
TEST(PmuEvents, NamedEventsAreCountedInEveryCell) {
    if (!std::filesystem::exists("/proc/sys/kernel/perf_event_paranoid")) GTEST_SKIP() << "no perf events here";
    const auto out = fresh_dir("pmu-events");
    const auto r = run_allocmeter("run --pmu-events PERF_COUNT_SW_PAGE_FAULTS_MIN,instructions --workloads frame "
                                  "--allocators system,segregated --threads 1,2 --reps 1 --scale quick --out " + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto doc = latest_results(out);
    EXPECT_EQ(doc["env"]["pmu_events"], (nlohmann::json{"PERF_COUNT_SW_PAGE_FAULTS_MIN", "instructions"}));
    ASSERT_EQ(doc["cells"].size(), 6u);  // and the harness row's, at each thread count
    for (const auto& c : doc["cells"]) {
        ASSERT_EQ(c["status"], "ok") << c.dump();
        const auto& pmu = c["metrics"]["pmu"];
        EXPECT_GT(pmu["PERF_COUNT_SW_PAGE_FAULTS_MIN"]["value"].get<double>(), 0);
        EXPECT_FALSE(pmu.contains("cycles"));  // the default hardware group was replaced
        EXPECT_TRUE(pmu["instructions"]["value"].is_number() || !pmu["instructions"]["reason"].get<std::string>().empty());
        EXPECT_GT(pmu["task_clock_ns"]["value"].get<double>(), 0);
    }
}

// Each external allocator's own statistics are read through its own call, found in the library
// that serves malloc; each is asked to purge, and RSS after the purge is recorded, with the
// fragmentation figures; a reference allocator reports its own counters.
TEST(AllocatorStats, EachLibraryReportsThroughItsOwnCall) {
    const auto out = fresh_dir("stats");
    const auto r = run_allocmeter("run --workloads request --allocators system,jemalloc,tcmalloc,mimalloc,tbbmalloc,segregated "
                                  "--threads 1 --reps 1 --scale quick --out " + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::map<std::string, std::pair<std::string, std::string>> expect{
        {"system", {"mallinfo2()", "in_use_bytes"}},
        {"jemalloc", {"mallctl(\"stats.*\") after an epoch refresh", "allocated_bytes"}},
        {"tcmalloc", {"MallocExtension_GetNumericProperty()", "generic.heap_size"}},
        {"mimalloc", {"mi_process_info()", "current_commit_bytes"}},
    };
    const std::map<std::string, std::string> purge{
        {"system", "malloc_trim(0)"},
        {"jemalloc", "mallctl(\"arena.<all>.purge\")"},
        {"tcmalloc", "MallocExtension_ReleaseFreeMemory()"},
        {"mimalloc", "mi_collect(true)"},
        {"tbbmalloc", "scalable_allocation_command(TBBMALLOC_CLEAN_ALL_BUFFERS)"},
        {"segregated", "the instance was destroyed"},
    };
    const auto doc = latest_results(out);  // held: a loop over a temporary's member would dangle
    for (const auto& c : doc["cells"]) {
        const std::string a = c["allocator"];
        if (c["status"] == "skipped") continue;  // a library this host lacks
        ASSERT_EQ(c["status"], "ok") << c.dump();
        const auto& s = c["allocator_stats"];
        if (a == "harness") {  // the do-nothing allocator keeps no counters
            EXPECT_TRUE(s.is_null()) << s.dump();
            continue;
        }
        if (const auto it = expect.find(a); it != expect.end()) {
            EXPECT_EQ(s["source"], it->second.first) << a;
            EXPECT_GT(s[it->second.second].get<std::uint64_t>(), 0u) << a << ": " << s.dump();
        } else if (a == "tbbmalloc") {
            EXPECT_TRUE(s["source"].is_null());
            EXPECT_FALSE(s["reason"].get<std::string>().empty());
        } else {
            EXPECT_GT(s["bytes_reserved"].get<std::uint64_t>(), 0u) << a;
        }
        const auto& m = c["metrics"];
        EXPECT_EQ(m["purge"], purge.at(a)) << a;
        EXPECT_GT(m["post_purge_rss_bytes"].get<std::uint64_t>(), 0u) << a;
        EXPECT_GT(m["fragmentation"]["peak"].get<double>(), 0) << a;
        EXPECT_TRUE(m["fragmentation"]["post_purge"].is_number()) << a;
    }
}
