// Spec files: parsing (the examples, and each mistake with its message), the traces a spec
// becomes (deterministic, valid, with the distributions asked for), and trace profiles: a
// sample trace's profile, generated, looks like the trace within the tolerances stated here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "workloads/spec/trace_profile.hpp"
#include "workloads/spec/workload_spec.hpp"
#include "workloads/trace/format/trace_format.hpp"

using namespace allocmeter;
using namespace allocmeter::spec;

namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("allocmeter-spec-test-" + std::to_string(::getpid()) + "-" + name)).string();
}

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// A one-phase spec around `phase_json`.
std::string one_phase(const std::string& phase_json, unsigned threads = 1) {
    return R"({"allocmeter_spec": 1, "name": "t", "threads": )" + std::to_string(threads) + R"(, "phases": [)" + phase_json + "]}";
}

/// Generates `text` and measures the trace.
trace_shape shape_of(const std::string& text, std::uint64_t seed = 1, double scale = 1) {
    const std::string path = temp_path("shape.trace");
    generate_trace(parse_spec_text(text, "test.json"), path, seed, scale);
    trace_shape s = measure_trace(path);
    std::filesystem::remove(path);
    return s;
}

}  // namespace

// The committed examples parse, and a spec written back reads as the same spec.
TEST(workload_spec, examples_parse_and_round_trip_through_json) {
    for (const auto& entry : std::filesystem::directory_iterator(ALLOCMETER_SOURCE_DIR "/examples/specs")) {
        SCOPED_TRACE(entry.path().string());
        const workload_spec s = parse_spec(entry.path().string());
        EXPECT_FALSE(s.phases.empty());
        EXPECT_EQ(parse_spec_text(to_json_text(s), "again.json"), s);
    }
}

TEST(workload_spec, defaults) {
    const workload_spec s = parse_spec_text(one_phase(R"({"operations": 10, "sizes": {"dist": "uniform", "min": 8, "max": 64},
                                                          "lifetime": "phase-end"})"),
                                            "d.json");
    EXPECT_EQ(s.threads, 1u);
    EXPECT_FALSE(s.touch);
    ASSERT_EQ(s.phases.size(), 1u);
    EXPECT_EQ(s.phases[0].remote_free_share, 0);
    EXPECT_EQ(s.phases[0].realloc_share, 0);
    EXPECT_EQ(s.phases[0].alignments, (std::vector<bin>{{16, 1}}));
    EXPECT_EQ(s.phases[0].life.phase_end_share, 1);
    EXPECT_EQ(s.phases[0].at_end, phase_end::free);
}

// Each mistake is refused with the file, the JSON path and what to give.
TEST(workload_spec, bad_specs_name_the_file_the_path_and_the_fix) {
    const std::string sizes = R"("sizes": {"dist": "uniform", "min": 8, "max": 64})";
    const std::string life = R"("lifetime": "phase-end")";
    const struct {
        std::string text, message;
    } cases[] = {
        {"{", "bad.json: not valid JSON"},
        {"[]", "bad.json: expected an object"},
        {R"({"phases": []})", "no \"allocmeter_spec\": 1"},
        {R"({"allocmeter_spec": 2, "phases": []})", "allocmeter_spec: is 2; give 1"},
        {R"({"allocmeter_spec": 1, "phases": [], "treads": 2})", "unknown key 'treads'; valid here: allocmeter_spec, name, threads"},
        {R"({"allocmeter_spec": 1, "phases": []})", "phases: expected a list of at least one phase"},
        {R"({"allocmeter_spec": 1, "threads": 0, "phases": [{}]})", "threads: is 0; give a thread count from 1 to 1024"},
        {R"({"allocmeter_spec": 1, "touch": "some", "phases": [{}]})", "touch: is \"some\"; give none, page, full or part:F"},
        {one_phase("{" + sizes + "," + life + "}"), "phases[0].operations: missing"},
        {one_phase(R"({"operations": -5, )" + sizes + "," + life + "}"), "phases[0].operations: is -5; expected a whole number"},
        {one_phase(R"({"operations": 10, "sizes": {"dist": "zipf", "min": 1, "max": 2}, )" + life + "}"),
         "phases[0].sizes.dist: unknown distribution 'zipf'; give uniform, log-uniform, pareto or inverse-square"},
        {one_phase(R"({"operations": 10, "sizes": {"dist": "pareto", "min": 1, "max": 2}, )" + life + "}"),
         "phases[0].sizes.alpha: missing; pareto needs its tail index"},
        {one_phase(R"({"operations": 10, "sizes": {"dist": "pareto", "min": 1, "max": 2, "alpha": 0}, )" + life + "}"),
         "phases[0].sizes.alpha: is 0; give a tail index from 0.1 to 10"},
        {one_phase(R"({"operations": 10, "sizes": {"dist": "uniform", "min": 64, "max": 8}, )" + life + "}"),
         "phases[0].sizes.max: is 8, below min 64"},
        {one_phase(R"({"operations": 10, "sizes": {"histogram": [[64, 1], [32, 1]]}, )" + life + "}"),
         "phases[0].sizes.histogram[1][0]: is 32, not above the previous bin's 64"},
        {one_phase(R"({"operations": 10, "sizes": {"histogram": [[64, 0]]}, )" + life + "}"),
         "phases[0].sizes.histogram: every weight is 0"},
        {one_phase(R"({"operations": 10, )" + sizes + R"(, "lifetime": "forever"})"),
         "phases[0].lifetime: is \"forever\"; give \"phase-end\""},
        {one_phase(R"({"operations": 10, )" + sizes + "," + life + R"(, "realloc_share": 1.5})"),
         "phases[0].realloc_share: is 1.5; give a share from 0 to 1"},
        {one_phase(R"({"operations": 10, )" + sizes + "," + life + R"(, "remote_free_share": 0.5})"),
         "phases[0].remote_free_share: is above 0 with one thread"},
        {one_phase(R"({"operations": 10, )" + sizes + "," + life + R"(, "alignments": [[48, 1]]})"),
         "phases[0].alignments[0][0]: is 48; an alignment is a power of two"},
        {one_phase(R"({"operations": 10, )" + sizes + "," + life + R"(, "at_end": "drop"})"),
         "phases[0].at_end: is \"drop\"; give \"free\""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        try {
            parse_spec_text(c.text, "bad.json");
            ADD_FAILURE() << "accepted";
        } catch (const spec_error& e) {
            EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
            EXPECT_EQ(std::string(e.what()).rfind("bad.json: ", 0), 0u) << e.what();
        }
    }
    EXPECT_THROW(parse_spec("/nonexistent/x.json"), spec_error);
}

// The same (spec, seed, scale) writes the same bytes; another seed, another trace.
TEST(workload_spec, generation_is_deterministic) {
    const workload_spec s = parse_spec(ALLOCMETER_SOURCE_DIR "/examples/specs/server.json");
    const std::string a = temp_path("a.trace"), b = temp_path("b.trace"), c = temp_path("c.trace");
    generate_trace(s, a, 7, 0.1);
    generate_trace(s, b, 7, 0.1);
    generate_trace(s, c, 8, 0.1);
    EXPECT_EQ(file_bytes(a), file_bytes(b));
    EXPECT_NE(file_bytes(a), file_bytes(c));
    for (const auto& p : {a, b, c}) std::filesystem::remove(p);
}

// A generated trace is valid, with every thread, and as many operations as the scale asks.
TEST(workload_spec, generated_trace_validates_and_scales) {
    const workload_spec s = parse_spec(ALLOCMETER_SOURCE_DIR "/examples/specs/server.json");
    const std::string path = temp_path("v.trace");
    const generated_trace g = generate_trace(s, path, 3, 0.1);
    const trace::trace_summary v = trace::validate(path);
    EXPECT_EQ(v.events, g.events);
    EXPECT_EQ(v.threads, 4u);
    // Phase 1 keeps its objects (its operations are exact); phase 2 frees what is live at its
    // end within its count, give or take the one allocation that overshoots it.
    EXPECT_NEAR(static_cast<double>(g.operations), 220000.0, 2.0);
    std::filesystem::remove(path);
}

// Log-uniform sizes: each power-of-two band from 16 to 4095 gets an eighth, within 1 point.
TEST(workload_spec, log_uniform_sizes_fill_each_band_alike) {
    const trace_shape s = shape_of(one_phase(R"({"operations": 200000, "sizes": {"dist": "log-uniform", "min": 16, "max": 4095},
                                                 "lifetime": {"dist": "uniform", "min": 1, "max": 100}})"));
    for (unsigned band = 5; band <= 12; ++band) EXPECT_NEAR(s.band_share(band), 1.0 / 8, 0.01) << "band " << band;
}

// Pareto and inverse-square stay in their range and put most sizes near min.
TEST(workload_spec, pareto_sizes_stay_in_range_with_a_heavy_head) {
    const trace_shape s = shape_of(one_phase(R"({"operations": 100000, "sizes": {"dist": "inverse-square", "min": 16, "max": 65536},
                                                 "lifetime": {"dist": "uniform", "min": 1, "max": 10}})"));
    EXPECT_GE(s.size_bins.begin()->first, 16u);
    EXPECT_LE(s.size_bins.rbegin()->first, 65536u);
    // Inverse square on [16, 65537), rounded down: P(x <= 32) = (1 - 16/33) / (1 - 16/65537), 0.515.
    EXPECT_NEAR(s.band_share(5) + s.band_share(4), 0.515, 0.01);
}

// Lifetimes in operations: uniform 100..1000 gives p50 550 and p90 910, within 2%; the shares of
// remote frees, reallocs and phase-end objects within 1 point of what was asked.
TEST(workload_spec, lifetimes_and_shares_are_as_asked) {
    const trace_shape s = shape_of(one_phase(R"({"operations": 400000, "sizes": {"dist": "uniform", "min": 8, "max": 256},
                                                 "lifetime": {"dist": "uniform", "min": 100, "max": 1000, "phase_end_share": 0.1},
                                                 "remote_free_share": 0.25, "realloc_share": 0.05,
                                                 "alignments": [[16, 3], [64, 1]], "at_end": "keep"})",
                                             4));
    EXPECT_NEAR(static_cast<double>(s.lifetime_quantile(0.5)), 550, 11);
    EXPECT_NEAR(static_cast<double>(s.lifetime_quantile(0.9)), 910, 18);
    EXPECT_NEAR(static_cast<double>(s.remote_frees) / static_cast<double>(s.frees), 0.25, 0.01);
    EXPECT_NEAR(static_cast<double>(s.reallocs) / static_cast<double>(s.allocations + s.reallocs), 0.05, 0.01);
    const double objects = static_cast<double>(s.lifetimes.size() + s.never_freed);
    EXPECT_NEAR(static_cast<double>(s.never_freed) / objects, 0.1, 0.01);
    EXPECT_NEAR(static_cast<double>(s.alignments.at(64)) / static_cast<double>(s.allocations), 0.25, 0.01);
    EXPECT_EQ(s.threads, 4u);
}

// A phase-end lifetime with at_end free: everything allocated is freed, at the phase's end.
TEST(workload_spec, phase_end_objects_are_freed_at_the_end) {
    const trace_shape s = shape_of(one_phase(R"({"operations": 1000, "sizes": {"dist": "uniform", "min": 8, "max": 64},
                                                 "lifetime": "phase-end"})"));
    EXPECT_EQ(s.never_freed, 0u);
    EXPECT_EQ(s.allocations, 500u);
    EXPECT_EQ(s.frees, 500u);
}

TEST(trace_profile, bins) {
    EXPECT_EQ(bin_upper(1), 1u);
    EXPECT_EQ(bin_upper(8), 8u);
    EXPECT_EQ(bin_upper(9), 10u);   // (8, 16] in quarters: 10, 12, 14, 16
    EXPECT_EQ(bin_upper(16), 16u);
    EXPECT_EQ(bin_upper(17), 20u);
    EXPECT_EQ(bin_upper(24), 24u);
    EXPECT_EQ(bin_upper(25), 28u);
    EXPECT_EQ(bin_upper(1000), 1024u);
}

namespace {

/// Profiles the sample trace, generates from the profile, and compares: every power-of-two
/// size band's share within 2 points, lifetime p50 and p90 within 25% (a histogram bin is a
/// quarter of an octave wide, and values are drawn uniformly inside it), the remote-free and
/// realloc shares within 2 points, the operations within 1%. `p90_tolerance`: see the python test.
void round_trip(const std::string& name, double p90_tolerance = 0.25) {
    const std::string trace_path = std::string(ALLOCMETER_SOURCE_DIR "/workloads/traces/") + name;
    const trace_shape original = measure_trace(trace_path);
    const workload_spec profile = parse_spec_text(to_json_text(profile_of(original, name)), name + ".spec.json");
    const std::string path = temp_path("round.trace");
    generate_trace(profile, path, 1);
    const trace_shape copy = measure_trace(path);
    std::filesystem::remove(path);
    for (unsigned band = 0; band < 40; ++band) EXPECT_NEAR(copy.band_share(band), original.band_share(band), 0.02) << "band " << band;
    for (const double q : {0.5, 0.9}) {
        const auto a = static_cast<double>(original.lifetime_quantile(q)), b = static_cast<double>(copy.lifetime_quantile(q));
        EXPECT_LE(std::abs(b - a), (q == 0.5 ? 0.25 : p90_tolerance) * a + 1) << "lifetime quantile " << q << ": trace " << a << ", profile " << b;
    }
    const auto ratio = [](std::uint64_t n, std::uint64_t d) { return d == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(d); };
    EXPECT_NEAR(ratio(copy.remote_frees, copy.frees), ratio(original.remote_frees, original.frees), 0.02);
    EXPECT_NEAR(ratio(copy.reallocs, copy.allocations + copy.reallocs), ratio(original.reallocs, original.allocations + original.reallocs), 0.02);
    EXPECT_NEAR(ratio(copy.never_freed, copy.never_freed + copy.lifetimes.size()),
                ratio(original.never_freed, original.never_freed + original.lifetimes.size()), 0.02);
    EXPECT_NEAR(static_cast<double>(copy.operations), static_cast<double>(original.operations), 0.01 * static_cast<double>(original.operations));
    EXPECT_EQ(copy.threads, original.threads);
}

}  // namespace

TEST(trace_profile, cc1_round_trip) { round_trip("cc1-compile.trace"); }
// The python trace's long lifetimes end in its interpreter's teardown (its p90 is 80% of the
// trace): a one-phase profile draws them as from a stationary program, so the ones drawn late
// are cut by the end and its p90 comes out about a third short. Within 50%, and said so in
// docs/workload-spec.md.
TEST(trace_profile, python_threads_round_trip) { round_trip("python-json-threads.trace", 0.5); }
