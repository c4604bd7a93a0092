// Traces in the matrix: a recorded multithreaded program (with cross-thread frees) replayed
// as `run --workloads trace:FILE` on the external allocators and every reference allocator
// that can serve it, in both replay orders; the replayed peak live bytes against `trace
// info`'s; skips with reasons; a trace replayed in threads and timed order in one run, side by
// side; and a missing or corrupt trace, or one without timestamps for timed, refused before
// anything runs.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "harness/tests/test_support.hpp"

using namespace allocmeter::testing;

namespace {

// Every allocator the standard catalog has; the test asks for each by name.
const char* const all_allocators =
    "system,jemalloc,tcmalloc,mimalloc,tbbmalloc,bump,arena,pool,first_fit,best_fit,buddy,stack,segregated,slab,"
    "thread_cache,lockfree_pool,hybrid,locked_segregated,debug_segregated";

/// The exact peak live bytes that `trace info` prints: "peak live: ... (N bytes) in ...".
std::uint64_t info_peak_bytes(const std::string& info) {
    std::smatch m;
    const std::regex peak(R"(peak live: .*\((\d+) bytes\))");
    if (!std::regex_search(info, m, peak)) return 0;
    return std::stoull(m[1].str());
}

struct trace_matrix : ::testing::Test {
    static void SetUpTestSuite() {
        dir = new std::filesystem::path(fresh_dir("trace-matrix"));
        trace = new std::string((*dir / "target.trace").string());
        const auto rec = run_allocmeter("record -o " + *trace + " -- " RECORDER_TARGET);
        ASSERT_EQ(rec.exit_code, 0) << rec.output;
        const auto info = run_allocmeter("trace info " + *trace);
        ASSERT_EQ(info.exit_code, 0) << info.output;
        info_peak = info_peak_bytes(info.output);
        for (const char* order : {"threads", "serial"}) {
            const std::string out = (*dir / order).string();
            const auto r = run_allocmeter(std::string("run --workloads trace:") + *trace + " --allocators " +
                                          all_allocators + " --reps 1 --replay " + order + " --out " + out);
            ASSERT_EQ(r.exit_code, 0) << r.output;
            (*docs)[order] = latest_results(out);
        }
    }
    static void TearDownTestSuite() {
        std::filesystem::remove_all(*dir);
        delete dir;
        delete trace;
        delete docs;
    }
    static const nlohmann::json& cell(const std::string& order, const std::string& allocator) {
        for (const auto& c : (*docs)[order]["cells"])
            if (c["allocator"] == allocator) return c;
        static const nlohmann::json none;
        return none;
    }
    static inline std::filesystem::path* dir = nullptr;
    static inline std::string* trace = nullptr;
    static inline std::uint64_t info_peak = 0;
    static inline std::map<std::string, nlohmann::json>* docs = new std::map<std::string, nlohmann::json>;
};

}  // namespace

// trace info states an exact peak for the recorded program.
TEST_F(trace_matrix, InfoReportsThePeak) { EXPECT_GT(info_peak, 0u); }

// With one replay thread per recorded thread, every thread-safe allocator with individual
// free replays it to the end; the others are skipped with the reason.
TEST_F(trace_matrix, ThreadedReplayRunsOnEveryAllocatorThatCanServeIt) {
    // harness: the harness row's do-nothing allocator, whose blocks overlap, replays it to the end too.
    for (const char* a : {"system", "jemalloc", "tcmalloc", "mimalloc", "thread_cache", "locked_segregated", "harness"}) {
        const auto& c = cell("threads", a);
        ASSERT_EQ(c["status"], "ok") << a << ": " << c.dump();
        EXPECT_EQ(c["threads"], 4) << a;  // main and three workers
        EXPECT_EQ(c["workload"], "trace:" + *trace) << a;
        EXPECT_EQ(c["replay"], "threads") << a;
        EXPECT_TRUE(c["trace"]["complete"].get<bool>()) << a;
        EXPECT_EQ(c["trace"]["replay"], "threads") << a;
        EXPECT_GT(c["trace"]["dependencies"].get<unsigned>(), 0u) << a << ": the workers free each other's blocks";
        EXPECT_EQ(c["trace"]["recorded_peak_live_bytes"].get<std::uint64_t>(), info_peak) << a;
        EXPECT_GT(c["metrics"]["ops"].get<std::uint64_t>(), 2u * 8400u) << a;  // the program's own, plus the runtime's
        EXPECT_GT(c["metrics"]["peak_live_bytes"].get<std::uint64_t>(), 0u) << a;
    }
    for (const char* a : {"first_fit", "segregated", "slab", "buddy", "debug_segregated"}) {
        const auto& c = cell("threads", a);
        EXPECT_EQ(c["status"], "skipped") << a;
        EXPECT_NE(c["reason"].get<std::string>().find("not thread-safe"), std::string::npos) << a << ": " << c["reason"];
    }
    for (const char* a : {"bump", "arena"}) {
        EXPECT_EQ(cell("threads", a)["status"], "skipped") << a;
        EXPECT_NE(cell("threads", a)["reason"].get<std::string>().find("no individual free"), std::string::npos) << a;
    }
    EXPECT_NE(cell("threads", "stack")["reason"].get<std::string>().find("only the newest"), std::string::npos);
}

// Replayed in recorded order on one thread, the live bytes follow the recording exactly: the
// replay's peak equals trace info's on every allocator, single-threaded ones included.
TEST_F(trace_matrix, SerialReplayPeakEqualsTraceInfo) {
    unsigned ok = 0;
    for (const auto& c : (*docs)["serial"]["cells"]) {
        const std::string a = c["allocator"];
        if (c["status"] != "ok") {
            EXPECT_EQ(c["status"], "skipped") << a << ": " << c.dump();
            continue;
        }
        ++ok;
        EXPECT_EQ(c["threads"], 1) << a;
        EXPECT_EQ(c["metrics"]["peak_live_bytes"].get<std::uint64_t>(), info_peak) << a;
        EXPECT_TRUE(c["trace"]["complete"].get<bool>()) << a;
        EXPECT_EQ(c["trace"]["dependencies"], 0) << a;
    }
    for (const char* a : {"system", "jemalloc", "tcmalloc", "mimalloc", "first_fit", "best_fit", "buddy",
                          "segregated", "thread_cache", "hybrid", "locked_segregated", "debug_segregated", "harness"})
        EXPECT_EQ(cell("serial", a)["status"], "ok") << a << ": " << cell("serial", a).dump();
    EXPECT_GE(ok, 13u);
}

// Every allocator sees the same operations: one checksum and one count per replay order.
TEST_F(trace_matrix, SameOperationsOnEveryAllocator) {
    for (const char* order : {"threads", "serial"}) {
        std::set<std::string> checksums;
        std::set<std::uint64_t> ops;
        for (const auto& c : (*docs)[order]["cells"]) {
            if (c["status"] != "ok") continue;
            checksums.insert(c["op_checksum"].get<std::string>());
            ops.insert(c["metrics"]["ops"].get<std::uint64_t>());
        }
        EXPECT_EQ(checksums.size(), 1u) << order;
        EXPECT_EQ(ops.size(), 1u) << order;
    }
}

// The run records how it replayed: the touch policy, the order, and each trace's figures.
TEST_F(trace_matrix, EnvironmentNamesTheTrace) {
    const auto& env = (*docs)["threads"]["env"];
    EXPECT_EQ(env["touch"], "page");
    EXPECT_EQ(env["replay"], "threads");
    ASSERT_EQ(env["traces"].size(), 1u);
    EXPECT_EQ(env["traces"][0]["path"], *trace);
    EXPECT_EQ(env["traces"][0]["workload"], "trace:" + *trace);
    EXPECT_EQ(env["traces"][0]["replay"], "threads");
    EXPECT_EQ(env["traces"][0]["threads"], 4);
    EXPECT_EQ(env["traces"][0]["recorded_peak_live_bytes"].get<std::uint64_t>(), info_peak);
}

// A trace beside a synthetic workload: each keeps its own thread counts.
TEST(TraceMatrix, TraceBesideSyntheticWorkloads) {
    const auto dir = fresh_dir("trace-mixed");
    const std::string trace = (dir / "t.trace").string();
    ASSERT_EQ(run_allocmeter("record -o " + trace + " -- " RECORDER_TARGET).exit_code, 0);
    const auto r = run_allocmeter("run --workloads frame,trace:" + trace + " --allocators system,segregated --threads 1,2 "
                                  "--reps 1 --scale quick --replay serial --touch full --out " + dir.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto doc = latest_results(dir);
    std::multiset<std::string> kinds;
    for (const auto& c : doc["cells"]) {
        EXPECT_EQ(c["status"], "ok") << c.dump();
        kinds.insert(c["workload"].get<std::string>() + "/t" + std::to_string(c["threads"].get<unsigned>()));
        if (c["workload"] != "frame") {
            EXPECT_EQ(c["trace"]["touch"], "full");
        }
    }
    // Each group: system, segregated and the harness row.
    EXPECT_EQ(kinds.count("frame/t1"), 3u);
    EXPECT_EQ(kinds.count("frame/t2"), 3u);
    EXPECT_EQ(kinds.count("trace:" + trace + "@serial/t1"), 3u);  // named for its order
    EXPECT_EQ(doc["cells"].size(), 9u);
    std::filesystem::remove_all(dir);
}

namespace {

/// The lines of `text` from the one that starts with `title` to the next empty one.
std::vector<std::string> table_after(const std::string& text, const std::string& title) {
    std::vector<std::string> lines;
    const auto at = text.find("\n" + title);
    if (at == std::string::npos) return lines;
    std::istringstream in(text.substr(at + 1));
    for (std::string line; std::getline(in, line) && !line.empty();) lines.push_back(line);
    return lines;
}

}  // namespace

// --replay threads,timed on a trace recorded with --timestamps: each order is a workload of its
// own (trace:FILE as with one order, trace:FILE@timed), every cell says its order (in the JSON
// and the CSV), a timed cell says how its threads spent their time, and the summary shows the
// two side by side per allocator (summary.json too). The default on the same trace is as it
// was: one workload, trace:FILE, and no side by side.
TEST(TraceMatrix, ThreadsAndTimedSideBySide) {
    const auto dir = fresh_dir("trace-side-by-side");
    const std::string trace = (dir / "ts.trace").string(), name = "trace:" + trace;
    ASSERT_EQ(run_allocmeter("record --timestamps -o " + trace + " -- " RECORDER_TARGET).exit_code, 0);
    const std::string common = " --allocators system,jemalloc,segregated --reps 2 --latency off --sample-ms 0 --out ";

    const auto plain = run_allocmeter("run --workloads " + name + common + (dir / "default").string());
    ASSERT_EQ(plain.exit_code, 0) << plain.output;
    EXPECT_EQ(plain.output.find("side by side"), std::string::npos) << plain.output;
    const auto first = latest_results(dir / "default");
    EXPECT_EQ(first["env"]["replay"], "threads");
    for (const auto& c : first["cells"]) {
        EXPECT_EQ(c["workload"], name);
        EXPECT_EQ(c["replay"], "threads");
    }

    const auto r = run_allocmeter("run --workloads " + name + " --replay threads,timed" + common + (dir / "both").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("1 traces x 2 replay orders"), std::string::npos) << r.output;
    const auto doc = latest_results(dir / "both");
    EXPECT_EQ(doc["env"]["replay"], "threads,timed");
    ASSERT_EQ(doc["env"]["traces"].size(), 2u);
    EXPECT_EQ(doc["env"]["traces"][0]["workload"], name);
    EXPECT_EQ(doc["env"]["traces"][0]["replay"], "threads");
    EXPECT_EQ(doc["env"]["traces"][1]["workload"], name + "@timed");
    EXPECT_EQ(doc["env"]["traces"][1]["replay"], "timed");
    ASSERT_EQ(doc["cells"].size(), 2u * 2u * 4u);  // reps x orders x (allocators and the harness row)
    std::map<std::string, unsigned> ok;
    for (const auto& c : doc["cells"]) {
        const std::string order = c["replay"];
        EXPECT_EQ(c["workload"], order == "timed" ? name + "@timed" : name) << c.dump();
        if (c["allocator"] == "segregated") {
            EXPECT_EQ(c["status"], "skipped") << c.dump();
            continue;
        }
        ASSERT_EQ(c["status"], "ok") << c.dump();
        ++ok[order];
        EXPECT_EQ(c["trace"]["replay"], order);
        if (order == "threads") {
            EXPECT_FALSE(c["trace"].contains("timed")) << c.dump();
            continue;
        }
        const auto& t = c["trace"]["timed"];
        ASSERT_TRUE(t.is_object()) << c.dump();
        EXPECT_GT(t["gap_s"].get<double>(), 0.0) << t.dump();
        EXPECT_GE(t["wait_s"].get<double>(), 0.0) << t.dump();
        EXPECT_GE(t["thread_s"].get<double>(), t["gap_s"].get<double>() + t["wait_s"].get<double>()) << t.dump();
    }
    EXPECT_EQ(ok["threads"], 6u);
    EXPECT_EQ(ok["timed"], 6u);

    // The terminal: a table of both orders per allocator, after each order's own table.
    EXPECT_NE(r.output.find("\n" + name + "@timed, 4 threads, 2 rounds\n"), std::string::npos) << r.output;
    const auto table = table_after(r.output, trace + ", 4 threads, threads and timed replay side by side");
    ASSERT_EQ(table.size(), 6u) << r.output;
    EXPECT_EQ(table[1], "  allocator          threads ns/op  vs system    timed run  vs system  allocator share  waiting");
    const std::regex system_row(R"(  system +[0-9]+\.[0-9]{2} +1\.00x +[0-9]+\.[0-9] ms +1\.00x +[0-9]+\.[0-9]% +[0-9]+\.[0-9]%)");
    EXPECT_TRUE(std::regex_match(table[2], system_row)) << table[2];
    EXPECT_EQ(table[3].rfind("  jemalloc ", 0), 0u) << table[3];
    EXPECT_EQ(table[3].find(" - "), std::string::npos) << table[3];  // every figure there
    EXPECT_EQ(table[4].rfind("  segregated         skipped: ", 0), 0u) << table[4];
    // The harness row last, its figures without ratios: the program with no allocator is no comparison.
    const std::regex harness_row(R"(  harness +[0-9]+\.[0-9]{2} +- +[0-9]+\.[0-9] ms +- +[0-9]+\.[0-9]% +[0-9]+\.[0-9]%)");
    EXPECT_TRUE(std::regex_match(table[5], harness_row)) << table[5];

    // summary.json carries the same figures; the CSV the order of every cell.
    std::ifstream summary_file(dir / "both" / "latest" / "summary.json");
    const auto summary = nlohmann::json::parse(summary_file);
    ASSERT_EQ(summary["side_by_side"].size(), 1u);
    const auto& side = summary["side_by_side"][0];
    EXPECT_EQ(side["threads_workload"], name);
    EXPECT_EQ(side["timed_workload"], name + "@timed");
    ASSERT_EQ(side["rows"].size(), 4u);
    EXPECT_EQ(side["rows"][0]["allocator"], "system");
    EXPECT_EQ(side["rows"][0]["timed_ratio"].get<double>(), 1.0);
    const double share = side["rows"][0]["allocator_share"].get<double>();
    EXPECT_GT(share, 0.0);
    EXPECT_LT(share, 1.0);
    std::ifstream csv(dir / "both" / "latest" / "results.csv");
    std::vector<std::string> lines;
    for (std::string line; std::getline(csv, line);) lines.push_back(line);
    ASSERT_EQ(lines.size(), doc["cells"].size() + 1);
    EXPECT_EQ(lines[0].substr(lines[0].rfind(',')), ",replay");
    for (std::size_t i = 1; i < lines.size(); ++i)
        EXPECT_EQ(lines[i].substr(lines[i].rfind(',') + 1), doc["cells"][i - 1]["replay"].get<std::string>()) << lines[i];
}

// In a list, timed on a trace without timestamps is refused as on its own, naming the option
// that records them, before any cell runs; an order that does not exist, or one named twice,
// is refused too.
TEST(TraceMatrix, ReplayListRefusals) {
    const auto dir = fresh_dir("trace-replay-list");
    const std::string plain = (dir / "plain.trace").string(), out = (dir / "out").string();
    ASSERT_EQ(run_allocmeter("record -o " + plain + " -- " RECORDER_TARGET).exit_code, 0);
    auto r = run_allocmeter("run --workloads trace:" + plain + " --replay threads,timed --allocators system --out " + out);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("has no timestamps, which --replay timed needs"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("record --timestamps"), std::string::npos) << r.output;

    r = run_allocmeter("run --workloads trace:" + plain + " --replay threads,sideways --allocators system --out " + out);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--replay threads,sideways: 'sideways': expected threads, timed or serial"), std::string::npos)
        << r.output;
    r = run_allocmeter("run --workloads trace:" + plain + " --replay serial,serial --allocators system --out " + out);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("'serial' is named twice"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out));
}

// A missing file, a file that is not a trace, and bad option values: exit 2 with the file and
// the problem named, before any cell runs (no results folder is made).
TEST(TraceMatrix, BadTraceIsRefusedBeforeTheRun) {
    const auto dir = fresh_dir("trace-bad");
    const std::string out = (dir / "out").string();
    const std::string junk = (dir / "junk.trace").string();
    std::ofstream(junk) << "this is not a trace";

    auto r = run_allocmeter("run --workloads trace:" + (dir / "missing.trace").string() + " --out " + out);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("missing.trace is not a file"), std::string::npos) << r.output;

    r = run_allocmeter("run --workloads trace:" + junk + " --out " + out);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("junk.trace: byte"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("allocmeter trace validate"), std::string::npos) << r.output;

    r = run_allocmeter("run --workloads trace: --out " + out);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("no file after 'trace:'"), std::string::npos) << r.output;

    for (const char* bad : {"--touch some", "--replay backwards"}) {
        r = run_allocmeter(std::string("run --workloads frame ") + bad + " --out " + out);
        EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.output;
    }
    EXPECT_FALSE(std::filesystem::exists(out));
    std::filesystem::remove_all(dir);
}
