// The cell request crosses to the child whole: every field set to something other than its
// default comes back from to_args/from_args as it was, --verify and --callgrind included; and a request
// without a field is refused, naming it.
#include "harness/run/cell_protocol.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>

using namespace allocmeter;

namespace {

cell_request every_field_set() {
    cell_request r;
    r.allocator = "mine";
    r.runner = "malloc";
    r.workload = "trace";
    r.expect_library = "/opt/lib/libmine.so";
    r.config = {scale::full, 42, 3, 256};
    r.trace = {"app.trace", "/tmp/plans/app.plan", trace::touch_policy::full, trace::replay_order::serial};
    r.pmu_events = {"cycles", "instructions"};
    r.sample_interval = std::chrono::microseconds(5000);
    r.verify = true;
    r.callgrind = true;
    return r;
}

}  // namespace

TEST(CellProtocol, RequestRoundTrips) {
    const cell_request sent = every_field_set();
    const cell_request got = cell_request::from_args(sent.to_args());
    EXPECT_EQ(got.allocator, sent.allocator);
    EXPECT_EQ(got.runner, sent.runner);
    EXPECT_EQ(got.workload, sent.workload);
    EXPECT_EQ(got.expect_library, sent.expect_library);
    EXPECT_EQ(got.config.size, sent.config.size);
    EXPECT_EQ(got.config.seed, sent.config.seed);
    EXPECT_EQ(got.config.threads, sent.config.threads);
    EXPECT_EQ(got.config.latency_every, sent.config.latency_every);
    EXPECT_EQ(got.trace.path, sent.trace.path);
    EXPECT_EQ(got.trace.plan_path, sent.trace.plan_path);
    EXPECT_EQ(got.trace.touch, sent.trace.touch);
    EXPECT_EQ(got.trace.order, sent.trace.order);
    EXPECT_EQ(got.pmu_events, sent.pmu_events);
    EXPECT_EQ(got.sample_interval, sent.sample_interval);
    EXPECT_TRUE(got.verify);
    EXPECT_TRUE(got.callgrind);
    cell_request off = sent;
    off.verify = false;
    off.callgrind = false;
    EXPECT_FALSE(cell_request::from_args(off.to_args()).verify);
    EXPECT_FALSE(cell_request::from_args(off.to_args()).callgrind);
}

// Every field travels, so the child has no defaults: a missing one is an error naming it.
TEST(CellProtocol, MissingFieldIsRefused) {
    std::vector<std::string> args = every_field_set().to_args();
    const auto at = std::find(args.begin(), args.end(), "--verify");
    ASSERT_NE(at, args.end());
    args.erase(at, at + 2);
    try {
        cell_request::from_args(args);
        FAIL() << "a request without --verify was accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("verify"), std::string::npos) << e.what();
    }
}

// A part touch travels as its share, exactly; auto does not travel at all: run resolves it for
// each trace before any cell starts, so a request that still says auto is refused.
TEST(CellProtocol, PartTouchTravelsAndAutoIsRefused) {
    cell_request sent = every_field_set();
    sent.trace.touch = trace::touch_policy::part(0.1149);
    EXPECT_EQ(cell_request::from_args(sent.to_args()).trace.touch, sent.trace.touch);
    sent.trace.touch = trace::touch_policy::part(1.0 / 3);
    EXPECT_EQ(cell_request::from_args(sent.to_args()).trace.touch, sent.trace.touch);
    sent.trace.touch = trace::touch_policy::automatic;
    try {
        cell_request::from_args(sent.to_args());
        FAIL() << "a cell was asked to touch auto";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("--touch auto: expected none, page, full or part:F"), std::string::npos) << e.what();
    }
}
