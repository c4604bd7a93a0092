// The sample traces committed under workloads/traces/ (recorded from python3, gcc's cc1 and
// sqlite3 by record-samples.sh): each is valid, and replays to completion on malloc and on
// reference allocators, with the recorded peak reproduced exactly by a serial replay.
#include <gtest/gtest.h>

#include <string>

#include "allocators/malloc_allocator.hpp"
#include "allocators/segregated_allocator.hpp"
#include "allocators/thread_cache_allocator.hpp"
#include "workloads/trace/replay/replay_plan.hpp"
#include "workloads/trace/replay/trace_replay.hpp"

using namespace allocmeter;
using namespace allocmeter::trace;

namespace {

std::string sample(const char* name) { return std::string(ALLOCMETER_SOURCE_DIR) + "/workloads/traces/" + name; }

struct sample_trace {
    const char* file;
    std::uint32_t threads;  ///< recorded threads
};

const sample_trace samples[] = {
    {"python-json-threads.trace", 3},
    {"cc1-compile.trace", 1},
    {"sqlite-index.trace", 1},
};

class SampleTraces : public ::testing::TestWithParam<sample_trace> {};

}  // namespace

// Valid, with the recorded command in the header and timestamps on. They stay version 1, as
// recorded before version 2: they show that a version-1 file still reads.
TEST_P(SampleTraces, AreValidRecordings) {
    const std::string path = sample(GetParam().file);
    const trace_summary s = validate(path);
    EXPECT_EQ(s.threads, GetParam().threads);
    EXPECT_GT(s.events, 10000u);
    EXPECT_GT(s.peak_live_bytes, 0u);
    trace_reader r(path);
    EXPECT_FALSE(r.header().command_line.empty());
    EXPECT_TRUE(r.header().timestamps);
    EXPECT_EQ(r.header().version, 1);
}

// One thread in recorded order: the live bytes follow the recording, so the replayed peak is
// validate()'s (what `trace info` prints), on every allocator.
TEST_P(SampleTraces, SerialReplayReproducesThePeak) {
    const std::string path = sample(GetParam().file);
    const trace_summary s = validate(path);
    const replay_plan plan = replay_plan::load(path, replay_order::serial);
    ASSERT_EQ(plan.threads.size(), 1u);
    EXPECT_EQ(plan.peak_live_bytes, s.peak_live_bytes);
    const replay_result a = replay<malloc_allocator>(plan, touch_policy::page);
    const replay_result b = replay<segregated_allocator<>>(plan, touch_policy::full);
    for (const replay_result& r : {a, b}) {
        EXPECT_TRUE(r.complete);
        EXPECT_EQ(r.ops, plan.operations());
        EXPECT_EQ(static_cast<std::uint64_t>(r.peak_live_bytes), s.peak_live_bytes);
    }
    EXPECT_EQ(a.checksum, b.checksum);
}

// One replay thread per recorded thread, on thread-safe allocators.
TEST_P(SampleTraces, ThreadedReplayCompletes) {
    const replay_plan plan = replay_plan::load(sample(GetParam().file));
    EXPECT_EQ(plan.threads.size(), GetParam().threads);
    if (GetParam().threads > 1) {
        EXPECT_GT(plan.dependencies, 0u);
    }
    for (const replay_result& r : {replay<malloc_allocator>(plan, touch_policy::none),
                                   replay<thread_cache_allocator>(plan, touch_policy::page)}) {
        EXPECT_TRUE(r.complete);
        EXPECT_EQ(r.ops, plan.operations());
    }
}

INSTANTIATE_TEST_SUITE_P(Committed, SampleTraces, ::testing::ValuesIn(samples),
                         [](const auto& info) {
                             std::string n = info.param.file;
                             n = n.substr(0, n.find('.'));
                             for (char& c : n)
                                 if (c == '-') c = '_';
                             return n;
                         });
