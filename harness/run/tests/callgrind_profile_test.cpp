// Reading callgrind profiles: the region's totals are the self costs' sum, the allocator's are
// the inclusive costs of calls into the boundary from outside it (once, however deep), names
// and positions compressed or not; a text that is not such a profile is refused, naming the line.
#include "harness/run/callgrind_profile.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>

using namespace allocmeter;

namespace {

constexpr std::string_view prefix = "allocmeter::callgrind_boundary<";

callgrind_profile read(const std::string& text) {
    std::istringstream in(text);
    return read_callgrind_profile(in, prefix, "test.callgrind");
}

std::string error_of(const std::string& text) {
    try {
        read(text);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

// The shape callgrind writes: compressed names ("(2) name" once, "(2)" after), relative
// positions, short cost lines (trailing zeros left out), a boundary function that calls into
// the library, and a call from the boundary to itself that must not count twice.
const std::string profile = R"(# callgrind format
version: 1
creator: callgrind-3.19.0
cmd:  ./allocmeter __cell
part: 1

desc: I1 cache: 32768 B, 64 B, 8-way associative
desc: D1 cache: 32768 B, 64 B, 8-way associative
desc: LL cache: 8388608 B, 64 B, 16-way associative

positions: line
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
summary: 0

ob=(1) /work/allocmeter
fl=(1) harness/cell/run_cell.cpp
fn=(1) allocmeter::run_workload<frame_workload, callgrind_boundary<bump_allocator> >
10 100 20 10 1 2 0 0 1
+2 50
cfn=(2) allocmeter::callgrind_boundary<allocmeter::bump_allocator>::allocate(unsigned long, unsigned long)
calls=40 +5
* 400 80 40 0 4 1
cfn=(3) std::uniform_int_distribution
calls=40 -1
* 120 10
* 5 1

fn=(2)
15 360 80 40 0 4 1
cfn=(2)
calls=1 15
* 7 1 1

fl=(2) /usr/lib/libc.so.6
fn=(3)
3 120 10

totals: 635 111 50 1 6 1 0 1 0
)";

}  // namespace

TEST(CallgrindProfile, TotalsAndTheBoundaryInclusive) {
    const callgrind_profile p = read(profile);
    ASSERT_EQ(p.events.size(), 9u);
    EXPECT_EQ(p.count(p.total, "Ir"), 635u);  // 100 + 50 + 5 + 360 + 120
    EXPECT_EQ(p.count(p.total, "D1mr"), 6u);
    EXPECT_EQ(p.count(p.total, "DLmr"), 1u);
    EXPECT_EQ(p.count(p.total, "DLmw"), 0u);
    // Inside: the call from the workload (400 Ir) only; the boundary's call to itself is
    // already inside that.
    EXPECT_EQ(p.count(p.inside, "Ir"), 400u);
    EXPECT_EQ(p.count(p.inside, "Dr"), 80u);
    EXPECT_EQ(p.count(p.inside, "D1mw"), 1u);
    EXPECT_EQ(p.count(p.inside, "DLmr"), 0u);
    EXPECT_EQ(p.boundary_calls, 40u);
    EXPECT_FALSE(p.count(p.total, "Bc"));  // not simulated: none, not zero
    EXPECT_EQ(p.caches.at("D1"), "32768 B, 64 B, 8-way associative");
    EXPECT_EQ(p.caches.at("LL"), "8388608 B, 64 B, 16-way associative");
}

// Uncompressed names and two position columns (--dump-instr=yes) read the same.
TEST(CallgrindProfile, UncompressedNamesAndInstructionPositions) {
    const callgrind_profile p = read(
        "positions: instr line\n"
        "events: Ir Dr\n"
        "fn=main\n"
        "0x10 3 7 1\n"
        "cfn=allocmeter::callgrind_boundary<malloc_allocator>::deallocate(void*, unsigned long, unsigned long)\n"
        "calls=2 0x20 9\n"
        "0x11 3 30 6\n"
        "fn=allocmeter::callgrind_boundary<malloc_allocator>::deallocate(void*, unsigned long, unsigned long)\n"
        "0x20 9 30 6\n");
    EXPECT_EQ(p.count(p.total, "Ir"), 37u);
    EXPECT_EQ(p.count(p.inside, "Ir"), 30u);
    EXPECT_EQ(p.count(p.inside, "Dr"), 6u);
    EXPECT_EQ(p.boundary_calls, 2u);
}

TEST(CallgrindProfile, NotAProfileIsRefused) {
    EXPECT_NE(error_of("").find("test.callgrind: line 0: no 'events:' line"), std::string::npos) << error_of("");
    EXPECT_NE(error_of("events: Ir\nfn=f\n1 12x\n").find("line 3: '12x' is not a count"), std::string::npos);
    EXPECT_NE(error_of("events: Ir\nfn=f\n1 2 3\n").find("line 3: a cost line with more counts than events"),
              std::string::npos);
    EXPECT_NE(error_of("events: Ir\nfn=(4)\n").find("line 2: name id 4 is used before it is defined"), std::string::npos);
    EXPECT_NE(error_of("1 2\nevents: Ir\n").find("line 1: a cost line before the 'events:' line"), std::string::npos);
    EXPECT_NE(error_of("events: Ir\nfn=f\n1 5\ntotals: 6\n").find("its totals differ"), std::string::npos);
    EXPECT_NE(error_of("events: Ir\nnonsense\n").find("line 2: neither"), std::string::npos);
}

TEST(CallgrindProfile, ArgumentsAndCaches) {
    callgrind_settings s;
    s.valgrind = "/usr/bin/valgrind";
    const std::vector<std::string> a = callgrind_arguments(s, "/tmp/x.callgrind");
    EXPECT_EQ(a.front(), "--tool=callgrind");
    EXPECT_NE(std::find(a.begin(), a.end(), "--instr-atstart=no"), a.end());
    EXPECT_NE(std::find(a.begin(), a.end(), "--cache-sim=yes"), a.end());
    EXPECT_NE(std::find(a.begin(), a.end(), "--branch-sim=no"), a.end());
    EXPECT_NE(std::find(a.begin(), a.end(), "--D1=32768,8,64"), a.end());
    EXPECT_EQ(a.back(), "--callgrind-out-file=/tmp/x.callgrind");
    EXPECT_EQ(describe_cache("8388608,16,64"), "8388608 B, 16-way, 64 B lines");
}
