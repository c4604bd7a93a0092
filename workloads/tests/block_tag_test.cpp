// Block tags (run --verify): a tag reads back intact at every size, names its serial, and a
// damaged one says where and whose tag is there; a verified run makes the same operations as a
// measured one on every kind of allocator; and a run on an allocator that hands out overlapping
// blocks completes unverified but ends with the block named when verified.
#include "workloads/block_tag.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "allocators/arena_allocator.hpp"
#include "allocators/bump_allocator.hpp"
#include "allocators/malloc_allocator.hpp"
#include "allocators/pool_allocator.hpp"
#include "allocators/segregated_allocator.hpp"
#include "allocators/stack_allocator.hpp"
#include "workloads/churn_workload.hpp"
#include "workloads/frame_workload.hpp"
#include "workloads/parser_workload.hpp"
#include "workloads/request_workload.hpp"
#include "workloads/tests/overlapping_allocator.hpp"
#include "workloads/workload.hpp"

using namespace allocmeter;

namespace {

const workload_config quick1{scale::quick, 7, 1, 0};

/// `bytes` of zeros with 64-byte alignment to tag into.
struct buffer {
    explicit buffer(std::size_t bytes) : v(bytes + 64) {}
    unsigned char* data() { return v.data() + (64 - reinterpret_cast<std::uintptr_t>(v.data()) % 64) % 64; }
    std::vector<unsigned char> v;
};

}  // namespace

// Serials pack a thread and an index; each tag word names its serial back, at any byte rotation.
TEST(BlockTag, WordNamesItsSerial) {
    for (const std::uint64_t s : {block_serial(0, 1), block_serial(1, 12345), block_serial(1023, (std::uint64_t{1} << 38) - 1)}) {
        const std::uint64_t w = tag_word(s);
        EXPECT_EQ(serial_of_tag(w), s);
        EXPECT_EQ(serial_of_tag(w << 24 | w >> 40), s);  // read 3 bytes off
    }
    EXPECT_EQ(serial_thread(block_serial(5, 77)), 5u);
    EXPECT_EQ(serial_index(block_serial(5, 77)), 77u);
    EXPECT_NE(tag_word(block_serial(0, 1)), tag_word(block_serial(1, 1)));
    EXPECT_FALSE(serial_of_tag(0).has_value());
    EXPECT_FALSE(serial_of_tag(0x2f2f2f2f2f2f2f2fULL).has_value());
}

// A tag reads back intact at sizes around every edge of its layout (0, the 8-byte words, the
// dense KiB, a page word, the tail).
TEST(BlockTag, IntactAtEverySize) {
    buffer b(70000);
    for (const std::size_t size : {0, 1, 7, 8, 9, 15, 16, 37, 1023, 1024, 1025, 1031, 1032, 4095, 4096, 4100, 4104, 4105, 5000,
                                   8192, 70000}) {
        write_tag(b.data(), size, block_serial(2, size + 1));
        EXPECT_FALSE(find_tag_damage(b.data(), size, block_serial(2, size + 1)).has_value()) << size;
        if (size != 0) {
            EXPECT_TRUE(find_tag_damage(b.data(), size, block_serial(2, size + 2)).has_value()) << size;
        }
    }
}

// A byte changed anywhere the tag covers is found, with its offset; bytes it does not cover
// (past the first KiB, between the page words) are not checked.
TEST(BlockTag, DamageIsFoundWhereTheTagCovers) {
    buffer b(10000);
    const std::uint64_t s = block_serial(0, 42);
    for (const std::size_t at : {0, 5, 1023, 4096, 4103, 8192, 9993, 9999}) {
        write_tag(b.data(), 10000, s);
        b.data()[at] ^= 0x55;
        const auto d = find_tag_damage(b.data(), 10000, s);
        ASSERT_TRUE(d.has_value()) << at;
        EXPECT_EQ(d->first, at);
        EXPECT_EQ(d->last, at);
        EXPECT_EQ(d->damaged, 1u);
        EXPECT_EQ(d->covered, 1024u + 8 + 8 + 8);  // the first KiB, two page words, the last 8 bytes
        EXPECT_FALSE(d->other.has_value());
    }
    write_tag(b.data(), 10000, s);
    b.data()[2000] ^= 0x55;  // past the dense KiB, between page words
    EXPECT_FALSE(find_tag_damage(b.data(), 10000, s).has_value());
}

// A block tagged over part of a live one: the live one's check names the other block's tag.
TEST(BlockTag, OverlapNamesTheOtherBlock) {
    buffer b(256);
    const std::uint64_t first = block_serial(0, 5), second = block_serial(1, 9);
    write_tag(b.data(), 128, first);
    write_tag(b.data() + 32, 64, second);
    EXPECT_FALSE(find_tag_damage(b.data() + 32, 64, second).has_value());
    const auto d = find_tag_damage(b.data(), 128, first);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->first, 32u);
    EXPECT_EQ(d->last, 39u);
    EXPECT_EQ(d->other, second);
    EXPECT_EQ(d->damaged, 64u);
    EXPECT_EQ(d->covered, 128u);
}

// A damaged tag ends the process with one line naming the block, its size and the operations.
TEST(BlockTagDeathTest, FailureNamesTheBlock) {
    buffer b(256);
    write_tag(b.data(), 128, block_serial(0, 5));
    write_tag(b.data() + 32, 64, block_serial(1, 9));
    EXPECT_EXIT(check_tag(b.data(), 128, 16, block_serial(0, 5), {"freed", block_serial(0, 12)}),
                ::testing::ExitedWithCode(verify_exit_code),
                "verify: block #0:5 of 128 bytes at 0x[0-9a-f]+ \\(alignment 16, allocated at operation 5 of thread 0\\) "
                "was overwritten before it was freed at operation 12 of thread 0: bytes 32..39 hold another block's tag "
                "\\(#1:9\\); 64 of the 128 tagged bytes differ");
}

template <class W>
class verified_workloads : public ::testing::Test {};
using seed_workloads = ::testing::Types<frame_workload, request_workload, parser_workload, churn_workload>;
TYPED_TEST_SUITE(verified_workloads, seed_workloads);

// Verified, a workload makes the same operations (checksum, count, peak) as measured, on malloc.
TYPED_TEST(verified_workloads, SameOperationsAsMeasured) {
    const auto measured = run_workload<TypeParam, malloc_allocator>(quick1);
    const auto verified_run = run_workload<TypeParam, verified<malloc_allocator>>(quick1);
    EXPECT_EQ(verified_run.checksum, measured.checksum);
    EXPECT_EQ(verified_run.ops, measured.ops);
    EXPECT_EQ(verified_run.peak_live_bytes, measured.peak_live_bytes);
}

// Blocks that die by reset (bump, arena), by retirement (stack, parser's scratch on bump) and
// one by one (pool, segregated) all pass their checks on sound allocators.
TEST(VerifiedWorkloads, EveryWayOfDyingPasses) {
    const auto frame = run_workload<frame_workload, malloc_allocator>(quick1).checksum;
    EXPECT_EQ((run_workload<frame_workload, verified<bump_allocator>>(quick1).checksum), frame);
    EXPECT_EQ((run_workload<frame_workload, verified<pool_allocator<256>>>(quick1).checksum), frame);
    EXPECT_EQ((run_workload<frame_workload, verified<stack_allocator>>(quick1).checksum), frame);
    const auto request = run_workload<request_workload, malloc_allocator>(quick1).checksum;
    EXPECT_EQ((run_workload<request_workload, verified<arena_allocator>>(quick1).checksum), request);
    const auto parser = run_workload<parser_workload, malloc_allocator>(quick1).checksum;
    EXPECT_EQ((run_workload<parser_workload, verified<bump_allocator>>(quick1).checksum), parser);
    EXPECT_EQ((run_workload<parser_workload, verified<stack_allocator>>(quick1).checksum), parser);
    const workload_config churn2{scale::quick, 7, 2, 0};
    EXPECT_EQ((run_workload<churn_workload, verified<malloc_allocator>>(churn2).checksum),
              (run_workload<churn_workload, malloc_allocator>(churn2).checksum));
    EXPECT_EQ((run_workload<churn_workload, verified<segregated_allocator<>>>(quick1).checksum),
              (run_workload<churn_workload, malloc_allocator>(quick1).checksum));
}

// Blocks handed out inside live ones: churn completes on them unverified, and a verified churn
// ends at the first overlapped block's death, naming it and the block over it.
using overlapping = test_helpers::overlapping_allocator<5000, 997>;
TEST(VerifiedWorkloadsDeathTest, OverlappingBlocksFailTheRun) {
    EXPECT_GT((run_workload<churn_workload, overlapping>(quick1).ops), 0u);
    EXPECT_EXIT((run_workload<churn_workload, verified<overlapping>>(quick1)), ::testing::ExitedWithCode(verify_exit_code),
                "verify: block #0:[0-9]+ of [0-9]+ bytes .* was overwritten before it was freed at operation [0-9]+ of "
                "thread 0: bytes 16..23 hold another block's tag \\(#0:[0-9]+\\)");
}

template <class W>
class verified_workloads_death : public ::testing::Test {};
TYPED_TEST_SUITE(verified_workloads_death, seed_workloads);

// Every seed workload, on an allocator that overlaps one block in 97: it completes unverified,
// and ends verified with the block named (at a free, or when the workload writes into a live one).
TYPED_TEST(verified_workloads_death, OverlapsAreCaught) {
    using often_overlapping = test_helpers::overlapping_allocator<1000, 97>;
    EXPECT_GT((run_workload<TypeParam, often_overlapping>(quick1).ops), 0u);
    EXPECT_EXIT((run_workload<TypeParam, verified<often_overlapping>>(quick1)), ::testing::ExitedWithCode(verify_exit_code),
                "verify: block #0:[0-9]+ of [0-9]+ bytes .* was overwritten before it was .* hold another block's tag");
}
