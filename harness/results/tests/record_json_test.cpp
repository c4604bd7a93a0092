// The results record's JSON: a real results file read and written again is the same JSON; the
// child's measurement crosses the protocol intact; a damaged file is refused with the file,
// the cell and the field named; the summary's paired figures, also from an older results file.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness/analysis/summary.hpp"
#include "harness/results/record.hpp"
#include "harness/results/results_csv.hpp"
#include "harness/results/tests/sample_results.hpp"

using namespace allocmeter;
using namespace allocmeter::testing;

namespace {

std::string fixture_text() {
    std::ifstream in(PLOTS_FIXTURE);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// The error that reading `doc` raises ("" when it reads).
std::string error_of(const nlohmann::json& doc) {
    try {
        results_from_json_text(doc.dump(), "f.json");
    } catch (const results_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// Every field of a real run survives a read and a write (the kinds and verify are newer than
// the fixture: an older file's run had no --verify).
TEST(RecordJson, FixtureRoundTrips) {
    const nlohmann::json original = nlohmann::json::parse(fixture_text());
    nlohmann::json again = nlohmann::json::parse(to_json_text(results_from_json_text(fixture_text(), "fixture")));
    // Fields added after the fixture was written come back with their defaults.
    ASSERT_TRUE(again["env"].contains("allocator_kinds"));
    again["env"].erase("allocator_kinds");
    EXPECT_EQ(again["env"]["build_id"], "");
    again["env"].erase("build_id");
    EXPECT_EQ(again["complete"], true);  // a run before --resume existed always finished
    again.erase("complete");
    ASSERT_EQ(again["env"]["verify"], false);
    again["env"].erase("verify");
    ASSERT_EQ(again["env"]["measure"], "time");
    again["env"].erase("measure");
    // Each trace workload's replay order, in env and in its cells: the run's one order.
    ASSERT_EQ(again["env"]["traces"].size(), 1u);
    EXPECT_EQ(again["env"]["traces"][0]["replay"], "threads");
    again["env"]["traces"][0].erase("replay");
    std::size_t trace_cells = 0;
    for (auto& c : again["cells"]) {
        if (c["workload"] != again["env"]["traces"][0]["workload"]) {
            EXPECT_FALSE(c.contains("replay")) << c["workload"];
            continue;
        }
        ++trace_cells;
        EXPECT_EQ(c["replay"], "threads");
        c.erase("replay");
    }
    EXPECT_GT(trace_cells, 0u);
    EXPECT_EQ(again, original) << nlohmann::json::diff(original, again).dump(1);
}

// A trace cell's order and a timed cell's time split survive a write and a read.
TEST(RecordJson, ReplayOrdersRoundTrip) {
    const results_document doc = threads_and_timed_document();
    const results_document back = results_from_json_text(to_json_text(doc), "f.json");
    ASSERT_EQ(back.cells.size(), doc.cells.size());
    for (std::size_t i = 0; i < doc.cells.size(); ++i) {
        EXPECT_EQ(back.cells[i].replay, doc.cells[i].replay) << i;
        const auto& t = doc.cells[i].measured ? doc.cells[i].measured->trace : std::nullopt;
        if (!t) continue;
        ASSERT_TRUE(back.cells[i].measured->trace.has_value());
        EXPECT_EQ(back.cells[i].measured->trace->timed.has_value(), t->timed.has_value()) << i;
        if (t->timed) {
            EXPECT_EQ(back.cells[i].measured->trace->timed->thread_s, t->timed->thread_s);
            EXPECT_EQ(back.cells[i].measured->trace->timed->gap_s, t->timed->gap_s);
            EXPECT_EQ(back.cells[i].measured->trace->timed->wait_s, t->timed->wait_s);
        }
    }
    ASSERT_EQ(back.env.traces.size(), 2u);
    EXPECT_EQ(back.env.traces[1].replay, "timed");
    // An older file: no order on its cells or its traces; both are the run's one order.
    nlohmann::json old = nlohmann::json::parse(to_json_text(doc));
    old["env"]["replay"] = "serial";
    for (auto& t : old["env"]["traces"]) t.erase("replay");
    for (auto& c : old["cells"]) c.erase("replay");
    const results_document read = results_from_json_text(old.dump(), "old.json");
    EXPECT_EQ(read.env.traces[0].replay, "serial");
    for (const cell_record& c : read.cells) EXPECT_EQ(c.replay, "serial") << c.workload;
}

// The child's measurement, sent and received, is the parent's cell as it was.
TEST(RecordJson, MeasurementCrossesTheProtocol) {
    const results_document doc = results_from_json_text(fixture_text(), "fixture");
    for (const cell_record& c : doc.cells) {
        if (!c.measured) continue;
        const cell_measurement back = measurement_from_json_text(to_json_text(*c.measured));
        EXPECT_EQ(to_json_text(back), to_json_text(*c.measured));
    }
}

// A run --measure callgrind's cells and env round-trip; its figures per operation follow from
// the counts (the harness's are the region's less the allocator's); a cell whose allocator
// counts more instructions than the whole region is refused.
TEST(RecordJson, CallgrindFiguresRoundTrip) {
    results_document doc = results_from_json_text(fixture_text(), "fixture");
    ASSERT_TRUE(doc.cells[0].ok());
    cell_metrics& m = doc.cells[0].measured->metrics;
    m.ops = 1000;
    m.callgrind = callgrind_metrics{{250000, 2000, 700, 30, 10, 4000, 90}, {100000, 900, 300, 5, 5, 1500, 40}, 1000, true,
                                    "callgrind/frame-t1-system-r1.callgrind"};
    doc.env.measure = "callgrind";
    doc.env.callgrind = callgrind_env{"/usr/bin/valgrind", "valgrind-3.19.0", {{"D1", "32768 B, 8-way, 64 B lines"}}, true,
                                      "boundary calls", "virtual, 100 ns per allocator call and per read"};
    const std::string text = to_json_text(doc);
    const results_document back = results_from_json_text(text, "again");
    EXPECT_EQ(to_json_text(back), text);
    ASSERT_TRUE(back.cells[0].measured->metrics.callgrind);
    EXPECT_EQ(*back.cells[0].measured->metrics.callgrind, *m.callgrind);
    EXPECT_EQ(back.env.measure, "callgrind");
    EXPECT_EQ(back.env.callgrind->caches.at("D1"), "32768 B, 8-way, 64 B lines");
    EXPECT_EQ(back.env.callgrind->clock, "virtual, 100 ns per allocator call and per read");
    EXPECT_DOUBLE_EQ(*metric_by_name(m, "instructions_per_op"), 250);
    EXPECT_DOUBLE_EQ(*metric_by_name(m, "allocator_instructions_per_op"), 100);
    EXPECT_DOUBLE_EQ(*metric_by_name(m, "harness_instructions_per_op"), 150);
    EXPECT_DOUBLE_EQ(*metric_by_name(m, "l1d_misses_per_op"), 2.7);
    EXPECT_DOUBLE_EQ(*metric_by_name(m, "allocator_ll_misses_per_op"), 0.01);
    EXPECT_DOUBLE_EQ(*metric_by_name(m, "branch_mispredicts_per_op"), 0.09);
    const nlohmann::json j = nlohmann::json::parse(text);
    EXPECT_DOUBLE_EQ(j["cells"][0]["metrics"]["callgrind"]["harness_instructions_per_op"].get<double>(), 150);
    // A cell of a time run has no callgrind figures at all.
    EXPECT_FALSE(j["cells"][1]["metrics"].contains("callgrind"));
    EXPECT_FALSE(metric_by_name(doc.cells[1].measured->metrics, "instructions_per_op"));
    nlohmann::json bad = j;
    bad["cells"][0]["metrics"]["callgrind"]["allocator"]["instructions"] = 300000;
    EXPECT_THROW(results_from_json_text(bad.dump(), "bad"), results_error);
}

// Missing fields, wrong types and unknown statuses name the file, the cell and the field.
TEST(RecordJson, DamagedFilesAreNamed) {
    const nlohmann::json good = nlohmann::json::parse(fixture_text());
    EXPECT_EQ(error_of(good), "");
    auto doc = good;
    doc["cells"][3]["metrics"].erase("ns_per_op");
    EXPECT_NE(error_of(doc).find("f.json: cell 3 (segregated, frame, 1 thread, rep 1): field 'metrics.ns_per_op' is missing"),
              std::string::npos) << error_of(doc);
    doc = good;
    doc["cells"][0]["threads"] = "two";
    EXPECT_NE(error_of(doc).find("f.json: cell 0: field 'threads' is a string, not a whole number of 0 or more"), std::string::npos) << error_of(doc);
    doc = good;
    doc["cells"][0]["status"] = "great";
    EXPECT_NE(error_of(doc).find("field 'status' is 'great', not ok, failed, timeout or skipped"), std::string::npos);
    doc = good;
    doc["cells"][0]["metrics"]["pmu"]["cycles"]["value"] = "many";
    EXPECT_NE(error_of(doc).find("field 'metrics.pmu.cycles.value' is a string, not a number or null"), std::string::npos)
        << error_of(doc);
    doc = good;
    doc["env"].erase("reps");
    EXPECT_NE(error_of(doc).find("f.json: field 'env.reps' is missing"), std::string::npos) << error_of(doc);
    doc = good;
    doc["schema"] = "allocmeter-results/9";
    EXPECT_NE(error_of(doc).find("schema 'allocmeter-results/9'"), std::string::npos);
    EXPECT_NE(error_of(nlohmann::json::array()).find("not an allocmeter results file"), std::string::npos);
    try {
        results_from_json_text("{\"cells\": [", "cut.json");
        ADD_FAILURE() << "cut-off JSON was read";
    } catch (const results_error& e) {
        EXPECT_NE(std::string(e.what()).find("cut.json: not JSON"), std::string::npos) << e.what();
    }
}

// A skipped cell has no metrics; an ok cell without ns/op is refused.
TEST(RecordJson, StatusAndMetricsAgree) {
    auto doc = nlohmann::json::parse(to_json_text(sample_document({not_run_cell("bump", "churn", 1, 1, cell_status::skipped, "no free")})));
    EXPECT_EQ(error_of(doc), "");
    EXPECT_TRUE(doc["cells"][0]["metrics"].is_null());
    doc["cells"][0]["status"] = "ok";
    EXPECT_NE(error_of(doc).find("(bump, churn, 1 thread, rep 1): field 'metrics' is null, not an object"), std::string::npos)
        << error_of(doc);
    cell_record no_ops = ok_cell("system", "frame", 1, 1, 5);
    no_ops.measured->metrics.ns_per_op.reset();
    EXPECT_NE(error_of(nlohmann::json::parse(to_json_text(sample_document({no_ops})))).find("is null in an ok cell"),
              std::string::npos);
}

// The CSV: the header names the record's columns; fields with commas and quotes are quoted.
TEST(RecordJson, CsvLines) {
    EXPECT_EQ(csv_header_line().rfind("allocator,workload,threads,rep,status,reason,wall_s", 0), 0u);
    const std::string skipped = csv_line(not_run_cell("bump", "churn", 1, 2, cell_status::skipped, "no \"free\", no reset"));
    EXPECT_EQ(skipped, "bump,churn,1,2,skipped,\"no \"\"free\"\", no reset\",,,,,,,,,,,,\n");
    const std::string ok = csv_line(ok_cell("system", "frame", 2, 1, 12.5, 4096));
    EXPECT_NE(ok.find("system,frame,2,1,ok,,"), std::string::npos) << ok;
    EXPECT_NE(ok.find(",12.5,4096,"), std::string::npos) << ok;
    // A trace cell's replay order is the last column, whether it ran or not.
    EXPECT_EQ(csv_header_line().substr(csv_header_line().rfind(',')), ",replay\n");
    const std::string timed = csv_line(as_trace_cell(ok_cell("system", "trace:x.trace@timed", 2, 1, 12.5), "timed"));
    EXPECT_EQ(timed.substr(timed.rfind(',')), ",timed\n") << timed;
    const std::string not_run = csv_line(as_trace_cell(not_run_cell("bump", "trace:x.trace", 1, 1, cell_status::skipped, "x"), "threads"));
    EXPECT_EQ(not_run.substr(not_run.rfind(',')), ",threads\n") << not_run;
    EXPECT_EQ(ok.substr(ok.rfind(',')), ",\n") << ok;  // a synthetic workload has none
}

// A trace's recorded RSS travels in the env (peak, first sample, what was touched) and in each
// cell (the peak); a file without them (older, or a trace without samples) reads them as none.
TEST(RecordJson, RecordedRssRoundTrips) {
    cell_record c = ok_cell("system", "trace:a.trace", 1, 1, 10);
    c.measured->trace = trace_cell{"a.trace", "threads", "part:0.1149", 1, 403, 0, 209716800};
    c.measured->trace->recorded_peak_rss_bytes = 24227840;
    results_document doc = sample_document({c, ok_cell("system", "trace:old.trace", 1, 1, 10)});
    doc.cells[1].measured->trace = trace_cell{"old.trace", "threads", "page", 1, 10, 0, 100};
    doc.env.touch = "auto";
    doc.env.replay = "threads";
    doc.env.traces = {{"trace:a.trace", "a.trace", 1, 403, 209716800, "threads", 24227840, 135168, "part:0.1149"},
                      {"trace:old.trace", "old.trace", 1, 10, 100, "threads", std::nullopt, std::nullopt, "page"}};
    const results_document back = results_from_json_text(to_json_text(doc), "f.json");
    ASSERT_EQ(back.env.traces.size(), 2u);
    EXPECT_EQ(back.env.traces[0].recorded_peak_rss_bytes, 24227840u);
    EXPECT_EQ(back.env.traces[0].recorded_start_rss_bytes, 135168u);
    EXPECT_EQ(back.env.traces[0].touch, "part:0.1149");
    EXPECT_FALSE(back.env.traces[1].recorded_peak_rss_bytes.has_value());
    EXPECT_FALSE(back.env.traces[1].recorded_start_rss_bytes.has_value());
    EXPECT_EQ(back.env.touch, "auto");
    EXPECT_EQ(back.cells[0].measured->trace->recorded_peak_rss_bytes, 24227840u);
    EXPECT_EQ(back.cells[0].measured->trace->touch, "part:0.1149");
    EXPECT_FALSE(back.cells[1].measured->trace->recorded_peak_rss_bytes.has_value());
    const nlohmann::json written = nlohmann::json::parse(to_json_text(doc));
    EXPECT_FALSE(written["cells"][1]["trace"].contains("recorded_peak_rss_bytes")) << "absent, not null";
    EXPECT_FALSE(written["env"]["traces"][1].contains("recorded_peak_rss_bytes"));
}

// --reps auto's settings and each group's rounds, and --pin-cpus' CPUs, travel in the env; a
// run without them (older, or of --reps N, unpinned) has neither field, and reads them as none.
TEST(RecordJson, AutoRepsAndPinnedCpusRoundTrip) {
    results_document doc = sample_document({ok_cell("system", "frame", 1, 1, 10)});
    doc.env.reps_auto = auto_reps_env{0.02, 40, 600, 123.5, {{"frame", 1, 6, "target"}, {"churn", 2, 40, "max-reps"}}};
    doc.env.pin_cpus = std::vector<unsigned>{1, 3};
    const results_document back = results_from_json_text(to_json_text(doc), "f.json");
    ASSERT_TRUE(back.env.reps_auto.has_value());
    EXPECT_EQ(back.env.reps_auto->target_ci, 0.02);
    EXPECT_EQ(back.env.reps_auto->max_reps, 40u);
    EXPECT_EQ(back.env.reps_auto->budget_s, 600.0);
    EXPECT_EQ(back.env.reps_auto->spent_s, 123.5);
    ASSERT_EQ(back.env.reps_auto->groups.size(), 2u);
    EXPECT_EQ(back.env.reps_auto->groups[1].workload, "churn");
    EXPECT_EQ(back.env.reps_auto->groups[1].threads, 2u);
    EXPECT_EQ(back.env.reps_auto->groups[1].rounds, 40u);
    EXPECT_EQ(back.env.reps_auto->groups[1].end, "max-reps");
    EXPECT_EQ(back.env.pin_cpus, (std::vector<unsigned>{1, 3}));
    EXPECT_EQ(repetitions_text(back.env), "6 to 40");

    doc.env.reps_auto->budget_s.reset();  // no budget: null
    EXPECT_TRUE(nlohmann::json::parse(to_json_text(doc))["env"]["reps_auto"]["budget_s"].is_null());
    EXPECT_FALSE(results_from_json_text(to_json_text(doc), "f.json").env.reps_auto->budget_s.has_value());

    const results_document plain = results_from_json_text(to_json_text(sample_document({})), "f.json");
    EXPECT_FALSE(plain.env.reps_auto.has_value());
    EXPECT_FALSE(plain.env.pin_cpus.has_value());
    const nlohmann::json written = nlohmann::json::parse(to_json_text(sample_document({})));
    EXPECT_FALSE(written["env"].contains("reps_auto")) << "absent, not null";
    EXPECT_FALSE(written["env"].contains("pin_cpus"));

    nlohmann::json damaged = nlohmann::json::parse(to_json_text(doc));
    damaged["env"]["reps_auto"]["groups"][0].erase("rounds");
    EXPECT_NE(error_of(damaged).find("field 'env.reps_auto.groups[0].rounds' is missing"), std::string::npos) << error_of(damaged);
}

// summary.json carries each row's ratios paired by round (null without a round in common) and
// the test its verdict reads; each group its rounds. Older results files, written before the
// summary had paired figures, have their reps: read, they pair too.
TEST(RecordJson, SummaryPairedFields) {
    const nlohmann::json s = nlohmann::json::parse(summary_json_text(summarize_run(drifting_document()), "r.json"));
    EXPECT_EQ(s["schema"], "allocmeter-summary/1");
    const auto& g = s["groups"][0];
    EXPECT_EQ(g["rounds"], 9);
    const auto& system = g["rows"][0]["time"];
    EXPECT_EQ(system["paired"]["rounds"], 8);
    EXPECT_EQ(system["paired"]["ratio"], 1.0);
    EXPECT_TRUE(system["paired"]["p_value"].is_null());
    EXPECT_TRUE(system["verdict_test"].is_null());
    const auto& jemalloc = g["rows"][1]["time"];
    EXPECT_EQ(jemalloc["paired"]["rounds"], 8);
    EXPECT_EQ(jemalloc["paired"]["ratio"], 0.8);
    EXPECT_EQ(jemalloc["paired"]["ratio_ci_low"], 0.8);
    EXPECT_EQ(jemalloc["paired"]["ratio_ci_high"], 0.8);
    EXPECT_DOUBLE_EQ(jemalloc["paired"]["p_value"].get<double>(), 2.0 / 256);
    EXPECT_EQ(jemalloc["verdict_test"], "signed-rank");
    EXPECT_LT(jemalloc["ratio_ci_low"].get<double>(), 0.6);  // unpaired, beside it as before
    EXPECT_DOUBLE_EQ(g["rows"][2]["rss"]["paired"]["ratio"].get<double>(), 1.2);

    const results_document older = results_from_json_text(fixture_text(), "fixture");
    const nlohmann::json old = nlohmann::json::parse(summary_json_text(summarize_run(older), "f"));
    for (const auto& group : old["groups"])
        for (const auto& row : group["rows"]) {
            if (row["time"].is_null()) continue;  // skipped
            EXPECT_EQ(row["time"]["paired"]["rounds"], 5) << row["allocator"];
            if (row["allocator"] != "system") {
                EXPECT_EQ(row["time"]["verdict_test"], "mann-whitney") << row["allocator"];
            }
        }

    // Without a round in common (the two ran in different rounds): no paired figures.
    const nlohmann::json apart = nlohmann::json::parse(summary_json_text(
        summarize_run(sample_document({ok_cell("system", "frame", 1, 1, 10), ok_cell("jemalloc", "frame", 1, 2, 8)})), "a"));
    EXPECT_TRUE(apart["groups"][0]["rows"][1]["time"]["paired"].is_null());
    EXPECT_EQ(apart["groups"][0]["rows"][1]["time"]["verdict_test"], "mann-whitney");
}
