// The recorder's spool and its converter, without a preload: spools built record by record,
// converted, then read back and validated. Covers realloc's two seqs (the old address taken
// by another thread in between), address reuse across threads, id reuse, dense threads, and
// damaged spools (an error naming the file and the byte, or salvage up to the damage).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/recording/trace_spool.hpp"

using namespace allocmeter::trace;

namespace {

// A spool and the trace converted from it, in the test temp dir, removed at the end.
class temp_files {
public:
    temp_files() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        base_ = ::testing::TempDir() + "amspool_" + info->test_suite_name() + "_" + info->name() + "_" +
                std::to_string(::getpid());
    }
    ~temp_files() {
        std::remove(spool().c_str());
        std::remove(trace().c_str());
    }
    std::string spool() const { return base_ + ".spool"; }
    std::string trace() const { return base_ + ".trace"; }

private:
    std::string base_;
};

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

std::string header_bytes(bool timestamps = false, bool tsc_keys = false) {
    spool_header h;
    h.timestamps = timestamps;
    h.tsc_keys = tsc_keys;
    h.command_line = "./prog arg";
    h.host = "testhost";
    return encode_spool_header(h);
}

// Record builders; seq first, as the shim takes it.
spool_record rec(op kind, std::uint64_t seq, std::uint64_t addr, std::uint64_t size = 0) {
    spool_record r;
    r.kind = kind;
    r.seq = seq;
    r.addr = addr;
    r.size = size;
    return r;
}
spool_record start(std::uint64_t seq, std::uint32_t parent_key_plus_1 = 0) {
    spool_record r = rec(op::thread_start, seq, 0);
    r.parent = parent_key_plus_1;
    return r;
}
spool_record realloc_rec(std::uint64_t seq1, std::uint64_t seq2, std::uint64_t old_addr, std::uint64_t result,
                         std::uint64_t size) {
    spool_record r = rec(op::realloc, seq1, result, size);
    r.seq2 = seq2;
    r.old_addr = old_addr;
    return r;
}

std::string block(std::uint32_t key, const std::vector<spool_record>& records, bool timestamps = false) {
    spool_block_builder b(key, timestamps);
    for (const auto& r : records) b.add(r);
    return b.bytes();
}

// Converts `spool_bytes` and returns the trace's events in seq order.
std::vector<event> convert(const temp_files& f, const std::string& spool_bytes, spool_summary* summary = nullptr,
                           trace_header* header = nullptr) {
    write_file(f.spool(), spool_bytes);
    const spool_summary s = convert_spool(f.spool(), f.trace());
    if (summary != nullptr) *summary = s;
    const trace_summary v = validate(f.trace());  // throws on any lifetime inconsistency
    // What conversion's own validation learned is what validate() learns.
    EXPECT_EQ(s.trace.events, v.events);
    EXPECT_EQ(s.trace.threads, v.threads);
    EXPECT_EQ(s.trace.max_id, v.max_id);
    EXPECT_EQ(s.trace.peak_live_objects, v.peak_live_objects);
    EXPECT_EQ(s.trace.peak_live_bytes, v.peak_live_bytes);
    return load_sorted(f.trace(), header);
}

// A header whose keys are TSC readings: ties allowed, small inversions repaired.
std::string tsc_header() { return header_bytes(false, true); }

// The spool_error of converting `spool_bytes`, if any.
std::optional<spool_error> convert_error(const temp_files& f, const std::string& spool_bytes) {
    write_file(f.spool(), spool_bytes);
    try {
        convert_spool(f.spool(), f.trace());
    } catch (const spool_error& e) {
        return e;
    }
    return std::nullopt;
}

// The error names the spool, the byte and the problem.
void expect_error(const temp_files& f, const std::string& spool_bytes, std::uint64_t offset,
                  const std::string& problem) {
    const auto err = convert_error(f, spool_bytes);
    ASSERT_TRUE(err.has_value()) << "no error for " << problem;
    const std::string what = err->what();
    EXPECT_EQ(what.rfind(f.spool() + ": byte " + std::to_string(offset) + ": ", 0), 0u) << what;
    EXPECT_EQ(err->offset, offset) << what;
    EXPECT_NE(what.find(problem), std::string::npos) << what;
}

/// The model allocator and program of the randomized spool tests: addresses handed out and
/// freed, which model object lives at each, and which addresses each thread may release.
struct model_heap {
    struct pending_realloc {  ///< a realloc between its two keys
        bool active = false;
        spool_record r;
        long old_object = -1;
    };

    explicit model_heap(int threads) : owned(static_cast<std::size_t>(threads)), in_realloc(static_cast<std::size_t>(threads)) {}

    std::uint64_t fresh() { return next_addr += 0x40; }
    /// A new model object at `a`, owned by thread t; returns it.
    long create(int t, std::uint64_t a) {
        live_at[a] = objects;
        owned[static_cast<std::size_t>(t)].push_back(a);
        return objects++;
    }
    /// Takes thread `from`'s k-th address out of the live set (its address in `a`); returns its
    /// object. The address goes on the free list.
    long release(int from, std::size_t k, std::uint64_t& a) {
        auto& mine = owned[static_cast<std::size_t>(from)];
        a = mine[k];
        mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(k));
        const long object = live_at.at(a);
        live_at.erase(a);
        free_addrs.push_back(a);
        return object;
    }
    /// A moving realloc's result is never its old address (a real allocator copies out of the
    /// old block before it lets it go): `a` is given back and a fresh address taken instead.
    std::uint64_t not_the_old(std::uint64_t a, std::uint64_t old) {
        if (a != old) return a;
        free_addrs.push_back(a);
        return fresh();
    }

    std::vector<std::uint64_t> free_addrs;
    std::uint64_t next_addr = 0x10000;
    std::map<std::uint64_t, long> live_at;          ///< address -> model object
    std::vector<std::vector<std::uint64_t>> owned;  ///< per thread: addresses it may release
    long objects = 0;
    std::vector<pending_realloc> in_realloc;
};

}  // namespace

// Every kind of record becomes its event, with the call's arguments; seq is renumbered densely.
TEST(SpoolConvert, EveryKindRoundTrips) {
    temp_files f;
    spool_record c = rec(op::calloc, 3, 0x2000, 50);
    c.count = 4;
    spool_record a = rec(op::aligned, 4, 0x3000, 100);
    a.alignment = 64;
    a.flags = static_cast<std::uint8_t>(align_fn::memalign);
    spool_record n = rec(op::new_, 5, 0x4000, 48);
    n.flags = new_array | new_aligned;
    n.alignment = 32;
    spool_record d = rec(op::delete_, 8, 0x4000, 48);
    d.flags = delete_array | delete_sized | delete_aligned;
    d.alignment = 32;
    const auto ev = convert(f, header_bytes() + block(0, {start(1), rec(op::malloc, 2, 0x1000, 24), c, a, n,
                                                          realloc_rec(6, 7, 0x1000, 0x5000, 200), d,
                                                          rec(op::free, 9, 0x2000), rec(op::free, 10, 0x3000),
                                                          rec(op::free, 11, 0x5000), rec(op::thread_exit, 12, 0)}));
    ASSERT_EQ(ev.size(), 11u);
    for (std::size_t i = 0; i < ev.size(); ++i) {
        EXPECT_EQ(ev[i].seq, i);
        EXPECT_EQ(ev[i].thread, 0u);
    }
    EXPECT_EQ(ev[0].kind, op::thread_start);
    EXPECT_EQ(ev[0].parent, no_thread);
    EXPECT_EQ(ev[1].kind, op::malloc);
    EXPECT_EQ(ev[1].id, 1u);
    EXPECT_EQ(ev[1].size, 24u);
    EXPECT_EQ(ev[2].kind, op::calloc);
    EXPECT_EQ(ev[2].id, 2u);
    EXPECT_EQ(ev[2].count, 4u);
    EXPECT_EQ(ev[2].size, 50u);
    EXPECT_EQ(ev[3].kind, op::aligned);
    EXPECT_EQ(ev[3].alignment, 64u);
    EXPECT_EQ(ev[3].flags, static_cast<std::uint8_t>(align_fn::memalign));
    EXPECT_EQ(ev[4].kind, op::new_);
    EXPECT_EQ(ev[4].flags, new_array | new_aligned);
    EXPECT_EQ(ev[4].alignment, 32u);
    EXPECT_EQ(ev[5].kind, op::realloc);
    EXPECT_EQ(ev[5].old_id, 1u);
    EXPECT_EQ(ev[5].id, 1u);  // the old id is free again at the realloc: the smallest not live
    EXPECT_EQ(ev[5].flags, realloc_moved);
    EXPECT_EQ(ev[6].kind, op::delete_);
    EXPECT_EQ(ev[6].id, 4u);
    EXPECT_EQ(ev[6].size, 48u);
    EXPECT_EQ(ev[6].flags, delete_array | delete_sized | delete_aligned);
    EXPECT_EQ(ev[7].id, 2u);
    EXPECT_EQ(ev[8].id, 3u);
    EXPECT_EQ(ev[9].id, 1u);
    EXPECT_EQ(ev[10].kind, op::thread_exit);
}

// The header's command line, host, page size and pointer size pass into the trace.
TEST(SpoolConvert, HeaderCarriesOver) {
    temp_files f;
    trace_header h;
    convert(f, header_bytes() + block(0, {start(0)}), nullptr, &h);
    EXPECT_EQ(h.command_line, "./prog arg");
    EXPECT_EQ(h.host, "testhost");
    EXPECT_EQ(h.page_size, 4096u);
    EXPECT_EQ(h.pointer_size, sizeof(void*));
    EXPECT_FALSE(h.timestamps);
    EXPECT_EQ(h.clock, clock_source::none);
}

// A freed id is reused by the next allocation: always the smallest id not live.
TEST(SpoolConvert, SmallestFreeIdIsReused) {
    temp_files f;
    const auto ev = convert(f, header_bytes() + block(0, {rec(op::malloc, 0, 0xa0, 8), rec(op::malloc, 1, 0xb0, 8),
                                                          rec(op::malloc, 2, 0xc0, 8), rec(op::free, 3, 0xb0),
                                                          rec(op::free, 4, 0xa0), rec(op::malloc, 5, 0xd0, 8)}));
    ASSERT_EQ(ev.size(), 6u);
    EXPECT_EQ(ev[5].id, 1u);
}

// Thread 1 frees what thread 0 allocated, and thread 0 gets the same address back: the seq
// order (free before the new malloc) makes it a new object, never a double allocation.
TEST(SpoolConvert, AddressReusedAcrossThreads) {
    temp_files f;
    const std::string spool =
        header_bytes() +
        block(0, {start(0), rec(op::malloc, 1, 0x1000, 32), rec(op::malloc, 4, 0x1000, 64), rec(op::free, 6, 0x1000)}) +
        block(1, {start(2, 1), rec(op::free, 3, 0x1000)}) +
        block(1, {rec(op::malloc, 5, 0x2000, 16), rec(op::free, 7, 0x2000)});
    const auto ev = convert(f, spool);
    ASSERT_EQ(ev.size(), 8u);
    EXPECT_EQ(ev[1].id, 1u);
    EXPECT_EQ(ev[2].parent, 0u);
    EXPECT_EQ(ev[3].kind, op::free);  // thread 1 frees thread 0's object
    EXPECT_EQ(ev[3].thread, 1u);
    EXPECT_EQ(ev[3].id, 1u);
    EXPECT_EQ(ev[4].kind, op::malloc);  // 0x1000 again: a new object, with the smallest free id
    EXPECT_EQ(ev[4].thread, 0u);
    EXPECT_EQ(ev[4].id, 1u);
    EXPECT_EQ(ev[4].size, 64u);
    EXPECT_EQ(ev[5].id, 2u);
    EXPECT_EQ(ev[6].id, 1u);
    EXPECT_EQ(ev[7].id, 2u);
}

// Between realloc's two seqs the old address is free: another thread that receives it gets a
// new id, and the old id stays live until the realloc event at the second seq.
TEST(SpoolConvert, ReallocOldAddressTakenBetweenItsSeqs) {
    temp_files f;
    const std::string spool = header_bytes() +
                              block(0, {start(0), rec(op::malloc, 1, 0x1000, 100),
                                        realloc_rec(3, 6, 0x1000, 0x9000, 5000), rec(op::free, 8, 0x9000)}) +
                              block(1, {start(2, 1), rec(op::malloc, 4, 0x1000, 100), rec(op::free, 5, 0x1000),
                                        rec(op::malloc, 7, 0x1000, 10)});
    spool_summary s;
    const auto ev = convert(f, spool, &s);
    EXPECT_EQ(s.orphaned, 0u);
    EXPECT_EQ(s.unknown_releases, 0u);
    ASSERT_EQ(ev.size(), 8u);
    // seq order: 0 start, 1 malloc, 2 start, [3: realloc's release], 4 malloc, 5 free, 6 realloc, 7 malloc, 8 free
    EXPECT_EQ(ev[3].kind, op::malloc);
    EXPECT_EQ(ev[3].thread, 1u);
    EXPECT_EQ(ev[3].id, 2u) << "the old address must be a new object while the old id is live";
    EXPECT_EQ(ev[4].kind, op::free);
    EXPECT_EQ(ev[4].id, 2u);
    EXPECT_EQ(ev[5].kind, op::realloc);
    EXPECT_EQ(ev[5].thread, 0u);
    EXPECT_EQ(ev[5].old_id, 1u);
    EXPECT_EQ(ev[5].id, 1u);
    EXPECT_EQ(ev[5].flags, realloc_moved);
    EXPECT_EQ(ev[5].size, 5000u);
    EXPECT_EQ(ev[6].kind, op::malloc);  // 0x1000 once more: the realloc did not keep it
    EXPECT_EQ(ev[6].id, 2u);
    EXPECT_EQ(ev[7].kind, op::free);
    EXPECT_EQ(ev[7].id, 1u);  // 0x9000: the realloc's result
}

// In place and failed reallocs keep the old id (the address never became free); a realloc to
// size 0 that returns NULL frees it.
TEST(SpoolConvert, ReallocInPlaceFailedAndToZero) {
    temp_files f;
    const std::string spool =
        header_bytes() +
        block(0, {rec(op::malloc, 0, 0x1000, 100), realloc_rec(1, 2, 0x1000, 0x1000, 120),
                  realloc_rec(3, 5, 0x1000, 0, 1u << 30), rec(op::free, 6, 0x1000), rec(op::malloc, 7, 0x2000, 8),
                  realloc_rec(8, 9, 0x2000, 0, 0), realloc_rec(10, 11, 0, 0x3000, 16)}) +
        block(1, {rec(op::free, 4, 0x7777)});  // a free of an address never allocated: dropped
    spool_summary s;
    const auto ev = convert(f, spool, &s);
    EXPECT_EQ(s.unknown_releases, 1u);
    ASSERT_EQ(ev.size(), 7u);
    EXPECT_EQ(ev[1].kind, op::realloc);  // in place
    EXPECT_EQ(ev[1].old_id, 1u);
    EXPECT_EQ(ev[1].id, 1u);
    EXPECT_EQ(ev[1].flags, 0);
    EXPECT_EQ(ev[2].old_id, 1u);  // failed: id 0, the old object stays live
    EXPECT_EQ(ev[2].id, 0u);
    EXPECT_EQ(ev[3].kind, op::free);
    EXPECT_EQ(ev[3].id, 1u);
    EXPECT_EQ(ev[5].old_id, 1u);  // realloc(p, 0) returned NULL: freed
    EXPECT_EQ(ev[5].id, 0u);
    EXPECT_EQ(ev[5].size, 0u);
    EXPECT_EQ(ev[6].old_id, 0u);  // realloc(NULL, 16)
    EXPECT_EQ(ev[6].id, 1u);
    EXPECT_EQ(ev[6].flags, 0);
}

// Objects from before recording: a free is dropped, a realloc becomes realloc(NULL, size).
TEST(SpoolConvert, AddressesFromBeforeRecording) {
    temp_files f;
    spool_summary s;
    const auto ev = convert(f,
                            header_bytes() + block(0, {rec(op::free, 0, 0x500), realloc_rec(1, 2, 0x600, 0x700, 64),
                                                       rec(op::free, 3, 0x700), rec(op::free, 4, 0)}),
                            &s);
    EXPECT_EQ(s.unknown_releases, 2u);
    ASSERT_EQ(ev.size(), 3u);
    EXPECT_EQ(ev[0].kind, op::realloc);
    EXPECT_EQ(ev[0].old_id, 0u);
    EXPECT_EQ(ev[0].id, 1u);
    EXPECT_EQ(ev[0].flags, realloc_moved);
    EXPECT_EQ(ev[2].kind, op::free);  // free(NULL) is recorded, with id 0
    EXPECT_EQ(ev[2].id, 0u);
}

// A failed call has address 0 and becomes id 0; sizes above 2^48 are clamped.
TEST(SpoolConvert, FailedCallsAndAbsurdSizes) {
    temp_files f;
    spool_record c = rec(op::calloc, 1, 0, std::uint64_t{1} << 62);
    c.count = std::uint64_t{1} << 60;
    spool_record a = rec(op::aligned, 2, 0, 8);
    a.alignment = std::uint64_t{1} << 50;
    const auto ev = convert(f, header_bytes() + block(0, {rec(op::malloc, 0, 0, ~std::uint64_t{0}), c, a}));
    ASSERT_EQ(ev.size(), 3u);
    for (const auto& e : ev) EXPECT_EQ(e.id, 0u);
    EXPECT_EQ(ev[0].size, max_size);
    EXPECT_EQ(ev[1].size, max_size);
    EXPECT_EQ(ev[1].count, max_size);
    EXPECT_EQ(ev[2].alignment, max_size);
}

// An address allocated again while its object is live was freed without a record (by a thread
// after its thread_exit): the old object stays live as a leak, the new one gets its own id.
TEST(SpoolConvert, AddressBackWithoutAFreeLeavesALeak) {
    temp_files f;
    spool_summary s;
    const auto ev =
        convert(f,
                header_bytes() + block(3, {start(0), rec(op::malloc, 1, 0x1000, 8), rec(op::thread_exit, 2, 0)}) +
                    block(5, {rec(op::malloc, 3, 0x1000, 8), rec(op::free, 4, 0x1000), rec(op::free, 5, 0x1000)}),
                &s);
    EXPECT_EQ(s.orphaned, 1u);
    EXPECT_EQ(s.unknown_releases, 1u);
    ASSERT_EQ(ev.size(), 5u);
    EXPECT_EQ(ev[3].id, 2u);
    EXPECT_EQ(ev[4].id, 2u);
}

// Thread ids are dense in order of first event, whatever the spool keys; parents map over.
TEST(SpoolConvert, DenseThreadsAndParents) {
    temp_files f;
    const auto ev = convert(f, header_bytes() + block(9, {start(2, 43), rec(op::thread_exit, 3, 0)}) +
                                   block(42, {start(0), rec(op::malloc, 1, 0x10, 1), rec(op::free, 4, 0x10)}) +
                                   block(7, {start(5, 99)}));  // parent key 98 was never seen
    ASSERT_EQ(ev.size(), 6u);
    EXPECT_EQ(ev[0].thread, 0u);  // key 42
    EXPECT_EQ(ev[2].thread, 1u);  // key 9
    EXPECT_EQ(ev[2].parent, 0u);
    EXPECT_EQ(ev[5].thread, 2u);  // key 7
    EXPECT_EQ(ev[5].parent, no_thread);
}

// With timestamps the header says monotonic ns and every event keeps its time.
TEST(SpoolConvert, Timestamps) {
    temp_files f;
    auto t = [](spool_record r, std::uint64_t ns) {
        r.time_ns = ns;
        return r;
    };
    trace_header h;
    const auto ev =
        convert(f,
                header_bytes(true) +
                    block(0,
                          {t(start(0), 1'000'000), t(rec(op::malloc, 1, 0x10, 8), 1'000'500),
                           t(realloc_rec(3, 4, 0x10, 0x20, 16), 1'002'000)},
                          true) +
                    block(1, {t(rec(op::free, 2, 0x99), 1'000'700), t(rec(op::free, 5, 0x20), 1'003'000)}, true),
                nullptr, &h);
    EXPECT_TRUE(h.timestamps);
    EXPECT_EQ(h.clock, clock_source::monotonic_ns);
    ASSERT_EQ(ev.size(), 4u);
    EXPECT_EQ(ev[0].time_ns, 1'000'000u);
    EXPECT_EQ(ev[1].time_ns, 1'000'500u);
    EXPECT_EQ(ev[2].time_ns, 1'002'000u);  // the realloc: the time of its second seq
    EXPECT_EQ(ev[3].time_ns, 1'003'000u);
}

// Property test against a model: four threads share one allocator that hands freed addresses
// out again (LIFO, across threads), with reallocs split around other threads' calls. The
// spool's blocks are cut at random sizes and interleaved in the file. Each trace event must
// name the model's object: the id a release names is the id its object was created with.
TEST(SpoolConvert, ModelWithAddressReuseAcrossThreadsAndBlocks) {
    temp_files f;
    std::mt19937_64 rng(20240601);
    constexpr int threads = 4;
    struct expected {
        op kind;
        int thread;
        long created = -1;   // model object created (malloc, realloc result)
        long released = -1;  // model object released (free, realloc's old object)
    };
    std::vector<expected> want;  // in seq order: what the trace must say
    std::vector<std::vector<spool_record>> streams(threads);
    model_heap m(threads);
    std::uint64_t seq = 0;
    const auto take_addr = [&] {
        if (!m.free_addrs.empty() && rng() % 4 != 0) {
            const std::uint64_t a = m.free_addrs.back();
            m.free_addrs.pop_back();
            return a;
        }
        return m.fresh();
    };
    const auto finish_realloc = [&](int t) {
        model_heap::pending_realloc& pr = m.in_realloc[t];
        pr.r.seq2 = seq++;
        pr.r.addr = m.not_the_old(take_addr(), pr.r.old_addr);
        streams[t].push_back(pr.r);
        want.push_back({op::realloc, t, m.create(t, pr.r.addr), pr.old_object});
        pr.active = false;
    };
    for (int t = 0; t < threads; ++t) {
        streams[t].push_back(start(seq++, t == 0 ? 0 : 101));  // parent: key 100, + 1
        want.push_back({op::thread_start, t});
    }
    for (int step = 0; step < 20000; ++step) {
        const int t = static_cast<int>(rng() % threads);
        model_heap::pending_realloc& pr = m.in_realloc[t];
        if (pr.active) {  // the realloc's second seq: the result is allocated now
            finish_realloc(t);
            continue;
        }
        const unsigned what = static_cast<unsigned>(rng() % 10);
        // A thread releases any live address it can find, which includes other threads' objects.
        const int from = static_cast<int>(rng() % threads);
        if (what < 4 || m.owned[from].empty()) {
            const std::uint64_t a = take_addr();
            streams[t].push_back(rec(op::malloc, seq++, a, 16 + rng() % 200));
            want.push_back({op::malloc, t, m.create(t, a)});
            continue;
        }
        std::uint64_t a;
        const long object = m.release(from, static_cast<std::size_t>(rng() % m.owned[from].size()), a);
        if (what < 8) {
            streams[t].push_back(rec(op::free, seq++, a));
            want.push_back({op::free, t, -1, object});
        } else {  // realloc, moving: the address is free from the first seq on
            pr.active = true;
            pr.r = realloc_rec(seq++, 0, a, 0, 300);
            pr.old_object = object;
        }
    }
    for (int t = 0; t < threads; ++t) {
        if (m.in_realloc[t].active) finish_realloc(t);
        streams[t].push_back(rec(op::thread_exit, seq++, 0));
        want.push_back({op::thread_exit, t});
    }
    // Cut each stream into blocks, then interleave the blocks, keeping each thread's in order.
    std::vector<std::vector<std::string>> blocks(threads);
    for (int t = 0; t < threads; ++t) {
        std::size_t i = 0;
        while (i < streams[t].size()) {
            const std::size_t n = std::min<std::size_t>(1 + rng() % 300, streams[t].size() - i);
            blocks[t].push_back(
                block(static_cast<std::uint32_t>(100 + t), {streams[t].begin() + static_cast<std::ptrdiff_t>(i),
                                                            streams[t].begin() + static_cast<std::ptrdiff_t>(i + n)}));
            i += n;
        }
    }
    std::string spool = header_bytes();
    std::vector<std::size_t> next(threads, 0);
    for (bool any = true; any;) {
        any = false;
        const int t = static_cast<int>(rng() % threads);
        for (int k = 0; k < threads; ++k) {
            const int u = (t + k) % threads;
            if (next[u] < blocks[u].size()) {
                spool += blocks[u][next[u]++];
                any = true;
                break;
            }
        }
    }
    spool_summary s;
    const auto ev = convert(f, spool, &s);
    EXPECT_EQ(s.orphaned, 0u);
    EXPECT_EQ(s.unknown_releases, 0u);
    ASSERT_EQ(ev.size(), want.size());
    std::map<long, std::uint64_t> id_of;  // model object -> trace id
    for (std::size_t i = 0; i < ev.size(); ++i) {
        const expected& w = want[i];
        ASSERT_EQ(ev[i].kind, w.kind) << "event " << i;
        ASSERT_EQ(ev[i].thread, static_cast<std::uint32_t>(w.thread)) << "event " << i;
        if (w.released >= 0) {
            const std::uint64_t released = w.kind == op::realloc ? ev[i].old_id : ev[i].id;
            ASSERT_EQ(released, id_of.at(w.released)) << "event " << i << " releases the wrong object";
        }
        if (w.created >= 0) id_of[w.created] = ev[i].id;
    }
}

// ---- TSC keys: ties and skew -----------------------------------------------------------------

// Two threads' records with one key: with TSC keys not an error. Thread 1's block comes first in
// the file, so its malloc of 0x1000 (still thread 0's) is met first: it waits for thread 0's
// free at the same key and goes right after it, a new object with the id just freed.
TEST(SpoolTscKeys, EqualKeysOfAFreeAndTheReuse) {
    temp_files f;
    const std::string spool = tsc_header() + block(1, {start(200, 1), rec(op::malloc, 500, 0x1000, 64)}) +
                              block(0, {start(100), rec(op::malloc, 300, 0x1000, 32), rec(op::free, 500, 0x1000)});
    spool_summary s;
    const auto ev = convert(f, spool, &s);
    EXPECT_TRUE(s.tsc_keys);
    EXPECT_EQ(s.reordered, 1u);
    EXPECT_EQ(s.orphaned, 0u);
    ASSERT_EQ(ev.size(), 5u);
    EXPECT_EQ(ev[3].kind, op::free);
    EXPECT_EQ(ev[3].id, 1u);
    EXPECT_EQ(ev[4].kind, op::malloc);
    EXPECT_EQ(ev[4].size, 64u);
    EXPECT_EQ(ev[4].id, 1u);
    // The same keys are an error where they come from the counter, which never repeats one.
    EXPECT_TRUE(convert_error(f, header_bytes() + spool.substr(tsc_header().size())).has_value());
}

// The reuse of an address keyed a little before its free by another thread (skew between the
// cores' TSCs): the reusing thread waits, with the records that follow it, until the free.
TEST(SpoolTscKeys, ReuseKeyedBeforeItsFreeIsMovedAfterIt) {
    temp_files f;
    const std::string spool =
        tsc_header() + block(0, {start(100), rec(op::malloc, 200, 0x1000, 32), rec(op::free, 1000, 0x1000)}) +
        block(1, {start(150, 1), rec(op::malloc, 990, 0x1000, 64), rec(op::malloc, 995, 0x2000, 16),
                  rec(op::free, 2000, 0x1000), rec(op::free, 2001, 0x2000)});
    spool_summary s;
    const auto ev = convert(f, spool, &s);
    EXPECT_EQ(s.reordered, 1u);
    EXPECT_EQ(s.orphaned, 0u);
    EXPECT_EQ(s.unknown_releases, 0u);
    ASSERT_EQ(ev.size(), 8u);
    // start, start, malloc 0x1000 (t0), free 0x1000 (t0), then thread 1 in its program order.
    EXPECT_EQ(ev[3].kind, op::free);
    EXPECT_EQ(ev[3].thread, 0u);
    EXPECT_EQ(ev[4].size, 64u);
    EXPECT_EQ(ev[4].thread, 1u);
    EXPECT_EQ(ev[5].size, 16u) << "a waiting thread's later records stay after it";
    EXPECT_EQ(ev[6].id, ev[4].id);
    EXPECT_EQ(ev[7].id, ev[5].id);
}

// A block handed to another thread, whose free is keyed a little before the allocation: the
// free waits for the allocation instead of being dropped as a release of an unknown address.
// The same for a realloc of such a block (its first half releases the old address).
TEST(SpoolTscKeys, HandOffFreeKeyedBeforeItsAllocationWaitsForIt) {
    temp_files f;
    const std::string spool =
        tsc_header() + block(1, {start(150, 1), rec(op::free, 990, 0x1000), realloc_rec(1990, 2100, 0x3000, 0x4000, 99),
                                 rec(op::free, 2200, 0x4000)}) +
        block(0, {start(100), rec(op::malloc, 1000, 0x1000, 32), rec(op::malloc, 2000, 0x3000, 48)});
    spool_summary s;
    const auto ev = convert(f, spool, &s);
    EXPECT_EQ(s.reordered, 2u);
    EXPECT_EQ(s.unknown_releases, 0u);
    ASSERT_EQ(ev.size(), 7u);
    EXPECT_EQ(ev[2].kind, op::malloc);
    EXPECT_EQ(ev[3].kind, op::free);
    EXPECT_EQ(ev[3].id, ev[2].id);
    EXPECT_EQ(ev[4].kind, op::malloc);
    EXPECT_EQ(ev[5].kind, op::realloc);
    EXPECT_EQ(ev[5].old_id, ev[4].id);
    EXPECT_EQ(ev[6].id, ev[5].id);
}

// Beyond the window nothing is moved: the records are converted as they are keyed, as with the
// counter (an address back unreleased leaves the old object live; a release of an address not
// live is dropped). A pre-recording block's free waits out the window, then is dropped.
TEST(SpoolTscKeys, BeyondTheWindowNothingIsMoved) {
    temp_files f;
    const std::uint64_t late = 1000 + 2 * spool_reorder_window;
    const std::string spool =
        tsc_header() + block(0, {start(100), rec(op::malloc, 200, 0x1000, 32), rec(op::free, late, 0x1000)}) +
        block(1, {start(150, 1), rec(op::malloc, 1000, 0x1000, 64), rec(op::free, late + 10, 0x1000),
                  rec(op::free, late + 20, 0x7000)});
    spool_summary s;
    const auto ev = convert(f, spool, &s);
    EXPECT_EQ(s.reordered, 0u);
    EXPECT_EQ(s.orphaned, 1u);
    EXPECT_EQ(s.unknown_releases, 2u);  // thread 1's free of 0x1000 (thread 0 freed it), and 0x7000
    ASSERT_EQ(ev.size(), 5u);
    EXPECT_EQ(ev[3].kind, op::malloc);
    EXPECT_EQ(ev[3].thread, 1u);
    EXPECT_EQ(ev[4].kind, op::free);
    EXPECT_EQ(ev[4].thread, 0u);
    EXPECT_EQ(ev[4].id, ev[3].id);
}

// Property test: a model program (four threads, one allocator handing freed addresses out again
// across threads, frees of other threads' blocks, reallocs split around other threads' calls)
// whose keys are its true times on clocks that disagree: each thread's clock is off by a fixed
// skew plus jitter (up to eight events' worth, often equal across threads), kept strictly
// increasing per thread as the shim keeps it. As on real cores, one address passes between
// threads no faster than a few events (`handover`), so a single hand-over may be inverted by the
// skew but two in a row never are (the repair's limit). Whatever order the merge picks, every
// release must name the object the model released, and nothing may be dropped or leaked.
TEST(SpoolTscKeys, ModelWithSkewedClocks) {
    temp_files f;
    std::mt19937_64 rng(20250113);
    constexpr int threads = 4;
    constexpr std::uint64_t tick = 16;                                // true time between two events
    const std::int64_t skew[threads] = {0, 3 * 16, -2 * 16, 5 * 16};  // whole ticks: ties across threads
    constexpr std::uint64_t handover = 5 * tick;  // > half the largest inversion (7 ticks of skew + jitter)
    struct expected {
        op kind;
        long created = -1;   // model object created (malloc, realloc result)
        long released = -1;  // model object released (free, realloc's old object)
    };
    std::vector<std::vector<spool_record>> streams(threads);
    std::vector<std::vector<expected>> want(threads);  // per thread, in program order
    std::vector<std::uint64_t> last_key(threads, 0);
    std::uint64_t now = 1000;
    struct touch {
        std::uint64_t at;
        int thread;
    };
    std::map<std::uint64_t, touch> last_touch;  // address -> its last event
    const auto may_touch = [&](std::uint64_t a, int t) {
        const auto it = last_touch.find(a);
        return it == last_touch.end() || it->second.thread == t || now + tick - it->second.at >= handover;
    };
    const auto key = [&](int t) {
        now += tick;
        const std::int64_t jitter = static_cast<std::int64_t>(rng() % 3) * 8 - 8;
        std::uint64_t k = static_cast<std::uint64_t>(static_cast<std::int64_t>(now) + skew[t] + jitter);
        if (k <= last_key[t]) k = last_key[t] + 1;
        return last_key[t] = k;
    };
    model_heap m(threads);
    // The most recently freed address this thread may have now, else a fresh one.
    const auto take_addr = [&](int t) {
        for (std::size_t k = m.free_addrs.size(); k-- > 0 && rng() % 8 != 0;) {
            const std::uint64_t a = m.free_addrs[k];
            if (!may_touch(a, t)) continue;
            m.free_addrs.erase(m.free_addrs.begin() + static_cast<std::ptrdiff_t>(k));
            return a;
        }
        return m.fresh();
    };
    const auto finish_realloc = [&](int t) {
        model_heap::pending_realloc& pr = m.in_realloc[t];
        pr.r.addr = m.not_the_old(take_addr(t), pr.r.old_addr);
        pr.r.seq2 = key(t);
        last_touch[pr.r.addr] = {now, t};
        streams[t].push_back(pr.r);
        want[t].push_back({op::realloc, m.create(t, pr.r.addr), pr.old_object});
        pr.active = false;
    };
    for (int t = 0; t < threads; ++t) {
        streams[t].push_back(start(key(t)));
        want[t].push_back({op::thread_start});
        const std::uint64_t a = m.fresh();
        streams[t].push_back(rec(op::malloc, key(t), a, 1000 * (t + 1)));  // names the thread
        want[t].push_back({op::malloc, m.create(t, a)});
    }
    for (int step = 0; step < 20000; ++step) {
        const int t = static_cast<int>(rng() % threads);
        if (m.in_realloc[t].active) {
            finish_realloc(t);
            continue;
        }
        const unsigned what = static_cast<unsigned>(rng() % 10);
        const int from = static_cast<int>(rng() % threads);
        const std::size_t k = m.owned[from].empty() ? 0 : static_cast<std::size_t>(rng() % m.owned[from].size());
        if (what < 4 || m.owned[from].empty() || !may_touch(m.owned[from][k], t)) {
            const std::uint64_t a = take_addr(t);
            streams[t].push_back(rec(op::malloc, key(t), a, 16 + rng() % 200));
            last_touch[a] = {now, t};
            want[t].push_back({op::malloc, m.create(t, a)});
            continue;
        }
        std::uint64_t a;
        const long object = m.release(from, k, a);
        if (what < 8) {
            streams[t].push_back(rec(op::free, key(t), a));
            want[t].push_back({op::free, -1, object});
        } else {
            m.in_realloc[t].active = true;
            m.in_realloc[t].r = realloc_rec(key(t), 0, a, 0, 300);
            m.in_realloc[t].old_object = object;
        }
        last_touch[a] = {now, t};
    }
    std::string spool = tsc_header();
    for (int t = 0; t < threads; ++t) {
        if (m.in_realloc[t].active) finish_realloc(t);
        for (std::size_t i = 0; i < streams[t].size(); i += 500) {
            const auto from = streams[t].begin() + static_cast<std::ptrdiff_t>(i);
            spool += block(static_cast<std::uint32_t>(t), {from, from + std::min<std::ptrdiff_t>(500, streams[t].end() - from)});
        }
    }
    spool_summary s;
    const auto ev = convert(f, spool, &s);
    EXPECT_GT(s.reordered, 100u) << "the skew was meant to invert many pairs";
    EXPECT_EQ(s.orphaned, 0u);
    EXPECT_EQ(s.unknown_releases, 0u);
    std::size_t total = 0;
    for (const auto& w : want) total += w.size();
    ASSERT_EQ(ev.size(), total);
    // Each trace thread is a model thread (its first malloc's size says which), in program order.
    std::map<std::uint32_t, int> model_of;
    for (const event& e : ev)
        if (e.kind == op::malloc && !model_of.count(e.thread)) model_of[e.thread] = static_cast<int>(e.size / 1000) - 1;
    std::vector<std::size_t> at(threads, 0);
    std::map<long, std::uint64_t> id_of;
    for (std::size_t i = 0; i < ev.size(); ++i) {
        ASSERT_TRUE(model_of.count(ev[i].thread)) << "event " << i;
        const int t = model_of[ev[i].thread];
        const expected& w = want[t].at(at[t]++);
        ASSERT_EQ(ev[i].kind, w.kind) << "event " << i << " of model thread " << t;
        if (w.released >= 0) {
            const std::uint64_t released = w.kind == op::realloc ? ev[i].old_id : ev[i].id;
            ASSERT_TRUE(id_of.count(w.released)) << "event " << i << " releases an object not yet created";
            ASSERT_EQ(released, id_of.at(w.released)) << "event " << i << " releases the wrong object";
        }
        if (w.created >= 0) id_of[w.created] = ev[i].id;
    }
}

// ---- following a spool while it is written ---------------------------------------------------

// The block of no records a thread writes before its first key: keys from `floor` on.
std::string announcement(std::uint32_t key, std::uint64_t floor) {
    unsigned char bytes[spool_block_header_bytes];
    spool_block_state s;
    s.base_seq = floor;
    finish_spool_block(bytes, key, s, 0);
    return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

// A simulated recording: the spool's pieces in the order the shim appends them. Threads start
// at random points (each announced before its first key), allocate, free any thread's objects,
// realloc around other threads' calls, and some exit; a thread's block is appended when its
// buffer fills (at a random count) or it exits, the rest at the program's exit. Counter keys,
// or TSC keys with per-thread skew, jitter and ties (an address goes to another thread only a
// while after its last event, as a real hand-over takes).
std::vector<std::string> simulated_appends(std::uint64_t seed, bool tsc, int steps = 30000) {
    std::mt19937_64 rng(seed);
    constexpr int threads = 6;
    constexpr std::int64_t skew[threads] = {0, 48, -32, 80, 16, -16};
    constexpr std::uint64_t handover = 5 * 16;
    struct sim_thread {
        bool started = false, exited = false;
        std::vector<spool_record> buffer;
        std::size_t flush_at = 1;
        std::uint64_t last_key = 0;
        bool in_realloc = false;
        spool_record pending;
    };
    std::vector<sim_thread> th(threads);
    std::vector<std::string> appends{header_bytes(false, tsc)};
    std::uint64_t now = 1000;
    std::vector<std::uint64_t> live, free_addrs;
    std::uint64_t next_addr = 0x10000;
    std::map<std::uint64_t, std::pair<std::uint64_t, int>> last_touch;  // address -> (time, thread)
    const auto key_of = [](int t) { return static_cast<std::uint32_t>(100 + t); };
    const auto key = [&](int t) {
        std::uint64_t k;
        if (!tsc) {
            k = now++;
        } else {
            now += 16;
            k = static_cast<std::uint64_t>(static_cast<std::int64_t>(now) + skew[t] + static_cast<std::int64_t>(rng() % 3) * 8 - 8);
            if (k <= th[t].last_key) k = th[t].last_key + 1;
        }
        return th[t].last_key = k;
    };
    const auto may_touch = [&](std::uint64_t a, int t) {
        const auto it = last_touch.find(a);
        return !tsc || it == last_touch.end() || it->second.second == t || now + 16 - it->second.first >= handover;
    };
    const auto touched = [&](std::uint64_t a, int t) { last_touch[a] = {now, t}; };
    const auto flush = [&](int t) {
        if (th[t].buffer.empty()) return;
        appends.push_back(block(key_of(t), th[t].buffer));
        th[t].buffer.clear();
        th[t].flush_at = 1 + rng() % 200;
    };
    const auto push = [&](int t, const spool_record& r) {
        th[t].buffer.push_back(r);
        if (th[t].buffer.size() >= th[t].flush_at) flush(t);
    };
    const auto take_addr = [&](int t) {
        for (std::size_t k = free_addrs.size(); k-- > 0 && rng() % 4 != 0;) {
            const std::uint64_t a = free_addrs[k];
            if (!may_touch(a, t)) continue;
            free_addrs.erase(free_addrs.begin() + static_cast<std::ptrdiff_t>(k));
            return a;
        }
        return next_addr += 0x40;
    };
    const auto finish_realloc = [&](int t) {
        spool_record r = th[t].pending;
        r.seq2 = key(t);
        r.addr = take_addr(t);
        if (r.addr == r.old_addr) r.addr = next_addr += 0x40;
        touched(r.addr, t);
        live.push_back(r.addr);
        push(t, r);
        th[t].in_realloc = false;
    };
    for (int step = 0; step < steps; ++step) {
        const int t = static_cast<int>(rng() % threads);
        sim_thread& me = th[static_cast<std::size_t>(t)];
        if (me.exited) continue;
        if (!me.started) {
            me.started = true;
            me.flush_at = 1 + rng() % 200;
            appends.push_back(announcement(key_of(t), tsc ? now + static_cast<std::uint64_t>(skew[t] - 8) : now));
            push(t, start(key(t), t != 0 && th[0].started ? key_of(0) + 1 : 0));
            continue;
        }
        if (me.in_realloc) {
            finish_realloc(t);
            continue;
        }
        const unsigned what = static_cast<unsigned>(rng() % 100);
        if (t != 0 && what == 0 && rng() % 30 == 0) {  // the thread exits: its last block goes out at once
            push(t, rec(op::thread_exit, key(t), 0));
            flush(t);
            me.exited = true;
            continue;
        }
        std::size_t k = live.empty() ? 0 : static_cast<std::size_t>(rng() % live.size());
        if (what < 45 || live.empty() || !may_touch(live[k], t)) {
            const std::uint64_t a = take_addr(t);
            push(t, rec(op::malloc, key(t), a, 16 + rng() % 200));
            touched(a, t);
            live.push_back(a);
            continue;
        }
        const std::uint64_t a = live[k];
        live[k] = live.back();
        live.pop_back();
        if (what < 85) {
            push(t, rec(op::free, key(t), a));
            touched(a, t);
            free_addrs.push_back(a);
        } else {  // a moving realloc: the old address is free from its first key on
            me.pending = realloc_rec(key(t), 0, a, 0, 300);
            me.in_realloc = true;
            touched(a, t);
            free_addrs.push_back(a);
        }
    }
    for (int t = 0; t < threads; ++t) {  // the exit flush
        if (th[t].in_realloc) finish_realloc(t);
        flush(t);
    }
    return appends;
}

std::string joined(const std::vector<std::string>& pieces) {
    std::string all;
    for (const std::string& p : pieces) all += p;
    return all;
}

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Follows a spool written piece by piece (each piece in two writes, split at a random byte, so
// that blocks are seen half written), then finishes: the trace's bytes.
std::string follow_pieces(const temp_files& f, const std::vector<std::string>& pieces, std::uint64_t seed,
                          std::uint64_t* events_while_following = nullptr) {
    std::remove(f.spool().c_str());
    std::mt19937_64 rng(seed);
    spool_converter conv(f.spool(), f.trace());
    EXPECT_FALSE(conv.follow());  // no spool yet: waits for it
    std::ofstream out(f.spool(), std::ios::binary | std::ios::app);
    for (const std::string& p : pieces) {
        const std::size_t cut = static_cast<std::size_t>(rng() % (p.size() + 1));
        out.write(p.data(), static_cast<std::streamsize>(cut)).flush();
        conv.follow();
        out.write(p.data() + cut, static_cast<std::streamsize>(p.size() - cut)).flush();
        conv.follow();
    }
    EXPECT_TRUE(conv.following());
    if (events_while_following != nullptr) *events_while_following = conv.events();
    conv.finish();
    return file_bytes(f.trace());
}

// Converting while the spool grows writes the very trace that converting it whole writes, and
// most of it before the program's exit: with counter keys, and with TSC keys whose threads
// disagree (the merge then waits a window below what it knows, for the repairs).
TEST(SpoolFollow, GrowingSpoolConvertsAsAWhole) {
    for (const bool tsc : {false, true}) {
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            temp_files f;
            const std::vector<std::string> pieces = simulated_appends(seed, tsc);
            write_file(f.spool(), joined(pieces));
            const spool_summary whole = convert_spool(f.spool(), f.trace());
            const std::string expected = file_bytes(f.trace());
            std::uint64_t early = 0;
            const std::string followed = follow_pieces(f, pieces, seed, &early);
            EXPECT_TRUE(followed == expected) << (tsc ? "TSC" : "counter") << " keys, seed " << seed << ": "
                                              << followed.size() << " bytes against " << expected.size();
            EXPECT_GT(whole.events, 10000u);
            EXPECT_GT(early, whole.events / 2) << "following converted only " << early << " of " << whole.events;
        }
    }
}

// A thread announced and silent holds the merge back (it may still take a key below the others'),
// until its records come; the trace is still the whole conversion's.
TEST(SpoolFollow, AnnouncedThreadHoldsTheMergeBack) {
    temp_files f;
    const std::string header = header_bytes();
    const std::vector<std::string> pieces = {
        header,
        announcement(0, 0),
        announcement(1, 1),
        block(0, {start(1), rec(op::malloc, 2, 0x10, 8), rec(op::free, 4, 0x10)}),
        block(1, {start(3, 1), rec(op::malloc, 5, 0x10, 16), rec(op::thread_exit, 6, 0)}),
        block(0, {rec(op::malloc, 7, 0x20, 8)}),
    };
    write_file(f.spool(), joined(pieces));
    convert_spool(f.spool(), f.trace());
    const std::string expected = file_bytes(f.trace());
    std::remove(f.spool().c_str());
    spool_converter conv(f.spool(), f.trace());
    std::ofstream out(f.spool(), std::ios::binary | std::ios::app);
    for (std::size_t i = 0; i < 4; ++i) out.write(pieces[i].data(), static_cast<std::streamsize>(pieces[i].size()));
    out.flush();
    conv.follow();
    EXPECT_EQ(conv.events(), 0u) << "thread 1 was announced from key 1: nothing of thread 0's from key 1 on may go";
    out.write(pieces[4].data(), static_cast<std::streamsize>(pieces[4].size())).flush();
    conv.follow();
    EXPECT_EQ(conv.events(), 4u) << "thread 1 exited, and thread 0 may still take key 5 on: keys 1 to 4 go";
    out.write(pieces[5].data(), static_cast<std::streamsize>(pieces[5].size())).flush();
    conv.finish();
    EXPECT_TRUE(file_bytes(f.trace()) == expected);
}

// A process that execs appends a new header, after whatever its old image left (here a block cut
// short by the exec): the trace is of the new image, converted whole or followed.
TEST(SpoolFollow, ExecStartsOverAtTheNewHeader) {
    temp_files f;
    const std::vector<std::string> second = {header_bytes(), announcement(0, 0),
                                             block(0, {start(0), rec(op::malloc, 1, 0x10, 8), rec(op::free, 2, 0x10)})};
    write_file(f.spool(), joined(second));
    convert_spool(f.spool(), f.trace());
    const std::string expected = file_bytes(f.trace());
    const std::string torn = block(0, {rec(op::malloc, 9, 0x30, 8), rec(op::malloc, 10, 0x40, 8)});
    std::vector<std::string> pieces = {header_bytes(), announcement(0, 0),
                                       block(0, {start(0), rec(op::malloc, 1, 0x900, 64), rec(op::malloc, 2, 0xa00, 64)}),
                                       torn.substr(0, torn.size() - 5)};
    pieces.insert(pieces.end(), second.begin(), second.end());
    write_file(f.spool(), joined(pieces));
    spool_summary s = convert_spool(f.spool(), f.trace());
    EXPECT_TRUE(file_bytes(f.trace()) == expected);
    EXPECT_EQ(s.events, 3u);
    EXPECT_TRUE(s.damage.empty());
    EXPECT_TRUE(follow_pieces(f, pieces, 7) == expected);
}

// Damage stops the following (a killed program may have been cut in a write); finish() then
// converts from the start and reports it as convert_spool does.
TEST(SpoolFollow, DamageStopsFollowingAndFinishReportsIt) {
    temp_files f;
    std::string bad = block(0, {start(0), rec(op::malloc, 1, 0x10, 8)});
    bad[bad.size() - 1] ^= 0x55;
    const std::string spool = header_bytes() + announcement(0, 0) + bad;
    const auto err = convert_error(f, spool);
    ASSERT_TRUE(err.has_value());
    std::remove(f.spool().c_str());
    write_file(f.spool(), spool);
    spool_converter conv(f.spool(), f.trace());
    conv.follow();
    EXPECT_FALSE(conv.following());
    try {
        conv.finish();
        FAIL() << "no error";
    } catch (const spool_error& e) {
        EXPECT_EQ(std::string(e.what()), std::string(err->what()));
    }
    spool_options salvage;
    salvage.salvage = true;
    spool_converter again(f.spool(), f.trace());
    again.follow();
    const spool_summary s = again.finish(salvage);
    EXPECT_EQ(s.events, 0u);
    EXPECT_NE(s.damage.find("checksum"), std::string::npos) << s.damage;
}

// ---- damaged spools --------------------------------------------------------------------------

TEST(SpoolBadInput, MissingFile) {
    try {
        convert_spool("/no/such/dir/x.spool", "/no/such/dir/x.trace");
        FAIL() << "no error";
    } catch (const spool_error& e) {
        EXPECT_NE(std::string(e.what()).find("/no/such/dir/x.spool: cannot open"), std::string::npos) << e.what();
    }
}

TEST(SpoolBadInput, HeaderProblems) {
    temp_files f;
    expect_error(f, "", 0, "truncated: the file ends inside the spool header");
    expect_error(f, std::string("NOTSPOOL") + std::string(40, '\0'), 0, "wrong magic (not an allocmeter spool)");
    std::string h = header_bytes();
    h[8] = 7;
    expect_error(f, h, 8, "unsupported spool version 7");
    h[8] = 2;  // the spool of older recorders, whose threads did not announce themselves
    expect_error(f, h, 8, "unsupported spool version 2 (this build reads version 3; record the program again");
    h = header_bytes();
    h[11] = 0x40;
    expect_error(f, h, 11, "unknown header flag bits 0x40");
    h[11] = 0x46;
    expect_error(f, h, 11, "unknown header flag bits 0x44");
    h = header_bytes();
    expect_error(f, h.substr(0, h.size() - 2), h.size() - 2, "truncated: the file ends inside the spool header");
}

// A file cut inside its last block: an error at that block, or with salvage the blocks
// before it, and the damage named.
TEST(SpoolBadInput, TruncatedBlockAndSalvage) {
    temp_files f;
    const std::string first = block(0, {start(0), rec(op::malloc, 1, 0x10, 8)});
    const std::string second = block(0, {rec(op::free, 2, 0x10), rec(op::malloc, 3, 0x20, 8)});
    const std::string whole = header_bytes() + first + second;
    const std::uint64_t second_at = header_bytes().size() + first.size();
    expect_error(f, whole.substr(0, whole.size() - 3), second_at, "truncated: the file ends inside a block");
    expect_error(f, whole.substr(0, second_at + 10), second_at, "truncated: the file ends inside a block header");

    write_file(f.spool(), whole.substr(0, whole.size() - 3));
    spool_options salvage;
    salvage.salvage = true;
    const spool_summary s = convert_spool(f.spool(), f.trace(), salvage);
    EXPECT_EQ(s.blocks, 1u);
    EXPECT_EQ(s.events, 2u);
    EXPECT_NE(s.damage.find(f.spool() + ": byte " + std::to_string(second_at) + ": truncated"), std::string::npos)
        << s.damage;
    EXPECT_EQ(validate(f.trace()).events, 2u);
}

// A torn block (its bytes overwritten by another block's) fails its checksum.
TEST(SpoolBadInput, CorruptPayloadFailsTheChecksum) {
    temp_files f;
    std::string spool = header_bytes() + block(0, {start(0), rec(op::malloc, 1, 0x10, 8)});
    spool.back() ^= 0x55;
    expect_error(f, spool, header_bytes().size(), "block checksum mismatch");
    spool = header_bytes() + block(0, {start(0)});
    spool[header_bytes().size()] = 'X';
    expect_error(f, spool, header_bytes().size(), "bad block magic");
}

// A block whose checksum holds but whose records are bad (a writer bug) names the record's byte.
TEST(SpoolBadInput, BadRecordsInAWholeBlock) {
    temp_files f;
    const std::uint64_t at = header_bytes().size();
    const auto patched = [&](std::string b, std::size_t byte, char value) {
        b[spool_block_header_bytes + byte] = value;
        spool_block_state s;  // the header's fields as they were; only the checksum changes
        std::memcpy(&s.count, b.data() + 12, 4);
        std::memcpy(&s.base_seq, b.data() + 16, 8);
        std::memcpy(&s.base_time, b.data() + 24, 8);
        std::memcpy(&s.prev_seq, b.data() + 32, 8);
        s.ends_thread = (b[40] & spool_block_ends_thread) != 0;
        finish_spool_block(reinterpret_cast<unsigned char*>(b.data()), 0, s,
                           static_cast<std::uint32_t>(b.size() - spool_block_header_bytes));
        return b;
    };
    const std::string good = block(0, {rec(op::malloc, 0, 0x10, 8), rec(op::free, 1, 0x10)});
    expect_error(f, header_bytes() + patched(good, 0, 0x2a), at + spool_block_header_bytes, "unknown record kind 0x2a");
    const std::string aligned = block(0, {[] {
                                          spool_record r = rec(op::aligned, 0, 0x10, 8);
                                          r.alignment = 16;
                                          return r;
                                      }()});
    expect_error(f, header_bytes() + patched(aligned, aligned.size() - spool_block_header_bytes - 1, 9),
                 at + spool_block_header_bytes, "unknown aligned function 9");
    // What the header says of the records must be what they are: the watermark of a following
    // conversion goes by it.
    const auto with_header = [&](std::string b, std::uint64_t last, bool ends) {
        spool_block_state s;
        std::memcpy(&s.count, b.data() + 12, 4);
        std::memcpy(&s.base_seq, b.data() + 16, 8);
        s.prev_seq = last;
        s.ends_thread = ends;
        finish_spool_block(reinterpret_cast<unsigned char*>(b.data()), 0, s,
                           static_cast<std::uint32_t>(b.size() - spool_block_header_bytes));
        return b;
    };
    const std::uint64_t second = at + spool_block_header_bytes + 4;  // malloc: kind, key delta, address, size
    expect_error(f, header_bytes() + with_header(good, 7, false), second,
                 "the block's header says its last key is 7, its records end at 1");
    expect_error(f, header_bytes() + with_header(good, 1, true), second,
                 "the block's header says it ends its thread, its last record is no thread_exit");
    const std::string exits = block(0, {rec(op::malloc, 0, 0x10, 8), rec(op::thread_exit, 1, 0)});
    expect_error(f, header_bytes() + with_header(exits, 1, false), second,
                 "the block ends with a thread_exit its header does not flag");
    expect_error(f, header_bytes() + with_header(good, 0, false), at + spool_block_header_bytes,
                 "the block's keys, 0 to 0, cannot be those of its 2 records");
}

// Order problems: a thread going back in seq across its blocks, a record after thread_exit, and
// one seq used by two threads.
TEST(SpoolBadInput, SequenceProblems) {
    temp_files f;
    const std::string h = header_bytes();
    const std::string b1 = block(0, {rec(op::malloc, 5, 0x10, 8)});
    expect_error(f, h + b1 + block(0, {rec(op::free, 4, 0x10)}), h.size() + b1.size() + spool_block_header_bytes,
                 "thread key 0 goes back in sequence (seq 4 after 5)");
    const std::string b2 = block(0, {rec(op::thread_exit, 1, 0)});
    expect_error(f, h + b2 + block(0, {rec(op::malloc, 2, 0x10, 8)}), h.size() + b2.size() + spool_block_header_bytes,
                 "thread key 0 has a record after its thread_exit");
    const std::string b3 = block(0, {rec(op::malloc, 3, 0x10, 8)});
    expect_error(f, h + b3 + block(1, {rec(op::malloc, 3, 0x20, 8)}), h.size() + b3.size() + spool_block_header_bytes,
                 "sequence number 3 used twice");
}

// Whole, well-formed blocks whose records do not make a valid trace (a thread_start after the
// thread's first call): conversion checks each event as it writes it, and names the record.
TEST(SpoolBadInput, RecordsThatMakeAnInvalidTraceAreRefused) {
    temp_files f;
    write_file(f.spool(), header_bytes() + block(0, {rec(op::malloc, 1, 0x10, 8), start(2), rec(op::free, 3, 0x10)}));
    try {
        convert_spool(f.spool(), f.trace());
        ADD_FAILURE() << "a thread_start after the thread's first event was converted";
    } catch (const spool_error& e) {  // checked as it is written: the spool record is named
        EXPECT_NE(std::string(e.what()).find(f.spool() + ": byte "), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("thread_start of thread 0 is not its first event"), std::string::npos)
            << e.what();
    }
}

// Every prefix of a good spool, and every single-byte change, is either converted into a valid
// trace or rejected with a spool_error: never a crash, never an invalid trace.
TEST(SpoolBadInput, EveryPrefixAndByteFlipIsHandled) {
    temp_files f;
    for (const bool tsc : {false, true}) {
        const std::string good =
            header_bytes(false, tsc) +
            block(0, {start(0), rec(op::malloc, 1, 0x1000, 24), realloc_rec(2, 4, 0x1000, 0x2000, 99)}) +
            block(1, {start(3, 1), rec(op::free, 5, 0x2000), rec(op::thread_exit, 6, 0)});
        const auto check = [&](const std::string& bytes) {
            write_file(f.spool(), bytes);
            try {
                convert_spool(f.spool(), f.trace());
            } catch (const spool_error& e) {
                EXPECT_EQ(std::string(e.what()).rfind(f.spool() + ": ", 0), 0u) << e.what();
                return;
            }
            EXPECT_NO_THROW(validate(f.trace()));
        };
        for (std::size_t n = 0; n < good.size(); ++n) check(good.substr(0, n));
        for (std::size_t i = 0; i < good.size(); ++i) {
            std::string b = good;
            b[i] = static_cast<char>(b[i] ^ 0x5a);
            check(b);
        }
    }
}
