// The trace format: every opcode round-trips through trace_writer and trace_reader, threads
// keep program order and global sequence order, every kind of bad input is a trace_error
// naming the file, the byte of the decompressed stream and the problem, and no damage to a
// version-2 file reads back as other events.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "workloads/trace/format/live_table.hpp"
#include "workloads/trace/format/smallest_free_id.hpp"
#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/format/trace_validation.hpp"
#include "workloads/trace/fuzz/trace_fuzz_input.hpp"

using namespace allocmeter::trace;

namespace {

using bytes = std::vector<std::uint8_t>;

// A file in the test temp dir, removed when the test ends.
class temp_trace {
public:
    explicit temp_trace(const std::string& tag) {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = ::testing::TempDir() + "amtrace_" + info->test_suite_name() + "_" + info->name() + "_" + tag + "_" +
                std::to_string(::getpid()) + ".trace";
    }
    ~temp_trace() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const bytes& b) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// The decompressed stream of a trace file (the writer does not record a content size, so
// this streams).
bytes decompress(const std::string& path) {
    const bytes in = read_file(path);
    bytes out;
    ZSTD_DCtx* d = ZSTD_createDCtx();
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    std::vector<std::uint8_t> buf(1 << 16);
    while (ib.pos < ib.size) {
        ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
        const std::size_t r = ZSTD_decompressStream(d, &ob, &ib);
        EXPECT_FALSE(ZSTD_isError(r)) << ZSTD_getErrorName(r);
        if (ZSTD_isError(r)) break;
        out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(ob.pos));
    }
    ZSTD_freeDCtx(d);
    return out;
}

bytes compress(const bytes& raw) {
    bytes out(ZSTD_compressBound(raw.size()));
    const std::size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3);
    EXPECT_FALSE(ZSTD_isError(n));
    out.resize(n);
    return out;
}

void write_compressed(const std::string& path, const bytes& raw) { write_file(path, compress(raw)); }

void put_varint(bytes& b, std::uint64_t v) {
    while (v >= 0x80) {
        b.push_back(static_cast<std::uint8_t>(v) | 0x80);
        v >>= 7;
    }
    b.push_back(static_cast<std::uint8_t>(v));
}

// A version-1 header with empty strings and no timestamps: 26 bytes.
bytes raw_header() {
    return {'A', 'M', 'T', 'R', 'A', 'C', 'E', 0,  // magic
            1, 0,                                  // version
            8,                                     // pointer size
            0,                                     // flags
            0x00, 0x10, 0, 0,                      // page size 4096
            0, 0, 0, 0, 0, 0, 0, 0,                // clock: none
            0,                                     // command line: empty
            0};                                    // host: empty
}

// A chunk of thread 0 starting at seq 0 around the given event bytes.
bytes raw_chunk(std::uint64_t count, const bytes& events, std::uint64_t claimed = ~0ull) {
    bytes b;
    put_varint(b, 0);
    put_varint(b, 0);
    put_varint(b, count);
    put_varint(b, claimed == ~0ull ? events.size() : claimed);
    b.insert(b.end(), events.begin(), events.end());
    return b;
}

bytes cat(bytes a, const bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// Reads the whole trace; the trace_error it throws, if any.
std::optional<trace_error> read_error(const std::string& path, bool validating = false) {
    try {
        if (validating) {
            validate(path);
        } else {
            trace_reader r(path);
            for (event e; r.next(e);) {
            }
        }
    } catch (const trace_error& e) {
        return e;
    }
    return std::nullopt;
}

// The error names the file, says which byte of the decompressed stream, and the problem.
void expect_error(const std::string& path, std::uint64_t offset, const std::string& problem, bool validating = false) {
    const auto err = read_error(path, validating);
    ASSERT_TRUE(err.has_value()) << "no error for " << problem;
    const std::string what = err->what();
    EXPECT_EQ(err->file, path);
    EXPECT_EQ(what.rfind(path + ": ", 0), 0u) << what;
    EXPECT_NE(what.find("byte " + std::to_string(offset) + " of the decompressed stream"), std::string::npos) << what;
    EXPECT_EQ(err->offset, offset) << what;
    EXPECT_NE(what.find(problem), std::string::npos) << what;
}

event ev(op k, std::uint32_t thread, std::uint64_t seq) {
    event e;
    e.kind = k;
    e.thread = thread;
    e.seq = seq;
    return e;
}

// One event of every opcode and flag combination, as two threads, lifetimes consistent.
std::vector<event> every_opcode(bool timestamps) {
    std::vector<event> v;
    std::uint64_t seq = 0;
    std::uint64_t t = 1000;
    auto add = [&](event e) {
        e.seq = seq++;
        e.time_ns = timestamps ? (t += 7 + seq * 13) : 0;
        v.push_back(e);
    };
    auto mk = [](op k, std::uint64_t id, std::uint64_t size = 0) {
        event e = ev(k, 0, 0);
        e.id = id;
        e.size = size;
        return e;
    };
    event start = ev(op::thread_start, 0, 0);
    add(start);
    add(mk(op::malloc, 1, 24));
    event c = mk(op::calloc, 2, 8);
    c.count = 10;
    add(c);
    event r = mk(op::realloc, 3, 100);
    r.old_id = 1;
    r.flags = realloc_moved;
    add(r);
    add(mk(op::realloc, 4, 7));  // realloc(NULL, 7)
    event r2 = mk(op::realloc, 3, 50);
    r2.old_id = 3;  // shrunk in place
    add(r2);
    add(mk(op::free, 2));
    add(mk(op::free_sized, 3, 50));
    for (std::uint8_t which = 0; which <= 4; ++which) {
        event a = mk(op::aligned, 5u + which, 64u << which);
        a.alignment = std::uint64_t{16} << which;
        a.flags = which;
        add(a);
    }
    add(mk(op::new_, 10, 32));
    event n2 = mk(op::new_, 11, 256);
    n2.flags = new_array | new_aligned;
    n2.alignment = 128;
    add(n2);
    event n3 = mk(op::new_, 12, 8);
    n3.flags = new_nothrow | new_array;
    add(n3);
    event d1 = mk(op::delete_, 10, 32);
    d1.flags = delete_sized;
    add(d1);
    event d2 = mk(op::delete_, 11, 256);
    d2.flags = delete_array | delete_sized | delete_aligned;
    d2.alignment = 128;
    add(d2);
    event d3 = mk(op::delete_, 12);
    d3.flags = delete_array;
    add(d3);
    event d4 = mk(op::delete_, 0);  // delete of nullptr, aligned only
    d4.flags = delete_aligned;
    d4.alignment = 64;
    add(d4);
    add(mk(op::free, 0));                // free(NULL)
    add(mk(op::malloc, 0, max_size));    // a failed huge malloc
    for (std::uint64_t id = 4; id <= 9; ++id) add(mk(op::free, id));
    event child = ev(op::thread_start, 1, 0);
    child.parent = 0;
    add(child);
    event cm = mk(op::malloc, 1, 1);
    cm.thread = 1;
    add(cm);
    event cf = mk(op::free, 1);
    cf.thread = 1;
    add(cf);
    add(ev(op::thread_exit, 1, 0));
    add(ev(op::thread_exit, 0, 0));
    return v;
}

std::vector<event> read_in_file_order(const std::string& path, trace_header* h = nullptr) {
    trace_reader r(path);
    if (h != nullptr) *h = r.header();
    std::vector<event> out;
    for (event e; r.next(e);) out.push_back(e);
    return out;
}

std::vector<event> without_offsets(std::vector<event> v) {
    for (auto& e : v) e.at = 0;
    return v;
}

trace_header test_header(bool timestamps, std::uint16_t version = format_version) {
    trace_header h;
    h.version = version;
    h.timestamps = timestamps;
    h.clock = timestamps ? clock_source::monotonic_ns : clock_source::none;
    h.page_size = 16384;
    h.pointer_size = 8;
    h.command_line = "./app --flag \xc3\xa9t\xc3\xa9";
    h.host = "bench-01";
    return h;
}

void write_trace(const std::string& path, const std::vector<event>& events, bool timestamps = false,
                 std::size_t chunk_bytes = trace_writer::default_chunk_bytes, std::uint16_t version = format_version) {
    trace_writer w(path, test_header(timestamps, version), chunk_bytes);
    for (const event& e : events) w.append(e);
    w.close();
}

}  // namespace

// ---- round trips ----------------------------------------------------------------------------

// Every opcode and flag combination comes back field for field, header included.
TEST(TraceRoundTrip, EveryOpcodeWithoutTimestamps) {
    temp_trace f("t");
    const auto events = every_opcode(false);
    write_trace(f.path(), events);
    trace_header h;
    EXPECT_EQ(without_offsets(load_sorted(f.path(), &h)), events);
    EXPECT_EQ(h.version, 2);
    EXPECT_EQ(h.pointer_size, 8);
    EXPECT_FALSE(h.timestamps);
    EXPECT_EQ(h.page_size, 16384u);
    EXPECT_EQ(h.clock, clock_source::none);
    EXPECT_EQ(h.command_line, test_header(false).command_line);
    EXPECT_EQ(h.host, "bench-01");
    const trace_summary s = validate(f.path());
    EXPECT_EQ(s.events, events.size());
    EXPECT_EQ(s.threads, 2u);
    EXPECT_EQ(s.max_id, 12u);
}

// The same with per-event timestamps: the ns values come back exactly.
TEST(TraceRoundTrip, EveryOpcodeWithTimestamps) {
    temp_trace f("t");
    const auto events = every_opcode(true);
    write_trace(f.path(), events, true);
    trace_header h;
    EXPECT_EQ(without_offsets(load_sorted(f.path(), &h)), events);
    EXPECT_TRUE(h.timestamps);
    EXPECT_EQ(h.clock, clock_source::monotonic_ns);
    EXPECT_NO_THROW(validate(f.path()));
}

// Events of each thread come back in program order, chunks of threads interleave in the
// file, and load_sorted restores the global order exactly.
TEST(TraceRoundTrip, ThreadsKeepProgramAndGlobalOrder) {
    temp_trace f("t");
    std::mt19937_64 rng(42);
    std::vector<event> all;
    std::map<std::uint32_t, std::vector<std::uint64_t>> live;  // per thread, its own ids
    std::uint64_t seq = 0, next_id[4] = {1, 100001, 200001, 300001};
    for (std::uint32_t t = 0; t < 4; ++t) {
        event s = ev(op::thread_start, t, seq++);
        s.parent = t == 0 ? no_thread : 0;
        all.push_back(s);
    }
    for (int i = 0; i < 4000; ++i) {
        const auto t = static_cast<std::uint32_t>(rng() % 4);
        auto& mine = live[t];
        if (mine.empty() || rng() % 2 == 0) {
            event e = ev(op::malloc, t, seq++);
            e.id = next_id[t]++;
            e.size = 1 + rng() % 500;
            mine.push_back(e.id);
            all.push_back(e);
        } else {
            event e = ev(op::free, t, seq++);
            const std::size_t k = rng() % mine.size();
            e.id = mine[k];
            mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(k));
            all.push_back(e);
        }
    }
    write_trace(f.path(), all, false, 64);  // tiny chunks: many per thread

    const auto file_order = read_in_file_order(f.path());
    ASSERT_EQ(file_order.size(), all.size());
    std::map<std::uint32_t, std::vector<event>> want, got;
    for (const auto& e : all) want[e.thread].push_back(e);
    for (const auto& e : without_offsets(file_order)) got[e.thread].push_back(e);
    EXPECT_EQ(got, want);
    int switches = 0;
    for (std::size_t i = 1; i < file_order.size(); ++i) switches += file_order[i].thread != file_order[i - 1].thread;
    EXPECT_GT(switches, 20) << "chunks of different threads should interleave";
    EXPECT_EQ(without_offsets(load_sorted(f.path())), all);
    EXPECT_EQ(validate(f.path()).threads, 4u);
}

// A file of several concatenated zstd frames reads the same as one frame.
TEST(TraceRoundTrip, ConcatenatedFramesReadAsOneStream) {
    temp_trace f("t"), g("g");
    const auto events = every_opcode(false);
    write_trace(f.path(), events);
    const bytes raw = decompress(f.path());
    bytes parts;
    for (std::size_t a = 0, step = 11; a < raw.size(); a += step) {
        const bytes piece(raw.begin() + static_cast<std::ptrdiff_t>(a),
                          raw.begin() + static_cast<std::ptrdiff_t>(std::min(raw.size(), a + step)));
        parts = cat(parts, compress(piece));
    }
    write_file(g.path(), parts);
    EXPECT_EQ(without_offsets(load_sorted(g.path())), events);
}

// A free in another thread is valid when it comes later in global order, not when earlier.
TEST(TraceValidate, CrossThreadFreeFollowsGlobalOrder) {
    temp_trace ok("ok"), bad("bad");
    event m = ev(op::malloc, 0, 5);
    m.id = 1;
    m.size = 8;
    event fr = ev(op::free, 1, 6);
    fr.id = 1;
    write_trace(ok.path(), {fr, m});  // appended out of seq order, as two threads may be
    EXPECT_NO_THROW(validate(ok.path()));
    fr.seq = 4;
    write_trace(bad.path(), {m, fr});
    expect_error(bad.path(), read_in_file_order(bad.path()).back().at, "free of id 1, which is not live", true);
}

// validate(): the events read in global order must be those read in file order. The digest
// tells them apart, also where a plain sum of the fields would cancel two changes.
TEST(TraceValidate, BothOrdersMustHoldTheSameEvents) {
    std::vector<event> events;
    for (std::uint64_t i = 0; i < 2000; ++i) {
        event e = ev(i % 2 ? op::free : op::malloc, 0, i);
        e.id = 1 + (i / 2) % 7;
        e.size = i % 2 ? 0 : 24;
        events.push_back(e);
    }
    const auto fed_as = [&](const std::function<void(std::vector<event>&)>& change) {
        std::vector<event> global = events;
        change(global);
        trace_validator v("t");
        for (const event& e : events) v.in_file_order(e);
        v.end_of_file();
        for (const event& e : global) v.in_global_order(e);
        v.same_events(0);
    };
    EXPECT_NO_THROW(fed_as([](std::vector<event>&) {}));
    const auto refused = [&](const std::function<void(std::vector<event>&)>& change, const std::string& problem) {
        try {
            fed_as(change);
            ADD_FAILURE() << "accepted; expected: " << problem;
        } catch (const trace_error& e) {
            EXPECT_NE(std::string(e.what()).find(problem), std::string::npos) << e.what();
        }
    };
    refused([](std::vector<event>& g) { g[10].size = 25; }, "other events than were checked");
    refused(
        [](std::vector<event>& g) {
            ++g[10].size;
            --g[12].size;
        },
        "other events than were checked");
    refused([](std::vector<event>& g) { std::swap(g[10].seq, g[12].seq); }, "other events than were checked");
    refused([](std::vector<event>& g) { g.pop_back(); }, "were checked in global order");
}

// as_written (the recorder's conversion): each event checked once, in global order, by both
// halves. Its summary is validate()'s of the written file, and it refuses what validate() does,
// of a thread's order and of lifetimes.
TEST(TraceValidate, AsWrittenChecksBothOrders) {
    temp_trace f("t");
    const std::vector<event> good = every_opcode(true);
    write_trace(f.path(), good, true);
    trace_validator v(f.path());
    for (const event& e : good) v.as_written(e);
    v.end_of_file();
    const trace_summary full = validate(f.path());
    EXPECT_EQ(v.summary().events, full.events);
    EXPECT_EQ(v.summary().threads, full.threads);
    EXPECT_EQ(v.summary().max_id, full.max_id);
    EXPECT_EQ(v.summary().peak_live_objects, full.peak_live_objects);
    EXPECT_EQ(v.summary().peak_live_bytes, full.peak_live_bytes);

    const auto refused = [](std::vector<event> written, const std::string& problem) {
        trace_validator w("t");
        try {
            for (const event& e : written) w.as_written(e);
            w.end_of_file();
            ADD_FAILURE() << "accepted; expected: " << problem;
        } catch (const trace_error& e) {
            EXPECT_NE(std::string(e.what()).find(problem), std::string::npos) << e.what();
        }
    };
    event a = ev(op::malloc, 0, 0), b = ev(op::free, 0, 1);
    a.id = b.id = 5;
    a.size = 8;
    refused({b}, "free of id 5, which is not live");
    event twice = a;
    twice.seq = 1;
    refused({a, twice}, "id 5 allocated twice without a free");
    refused({a, ev(op::free, 0, 0)}, "goes back in sequence");
    event late = a;
    late.time_ns = 999;
    event early = b;
    early.time_ns = 998;
    refused({late, early}, "thread 0 goes back in time (998 ns after 999 ns)");
    refused({ev(op::thread_exit, 0, 0), a}, "after its thread_exit");
    refused({a, ev(op::thread_start, 0, 1)}, "thread_start of thread 0 is not its first event");
    refused({ev(op::malloc, 1, 0)}, "thread 1 has events but thread 0 has none");
}

// id_table: dense ids go to its array, sparse ones to its hash table, and an id moves from the
// one to the other when the array grows past it; every lookup sees what was put.
TEST(TraceValidate, IdTableDenseAndSparse) {
    id_table t;
    std::map<std::uint64_t, std::uint64_t> model;
    std::mt19937_64 rng(13);
    for (int i = 0; i < 200000; ++i) {
        const std::uint64_t id = rng() % 4 == 0 ? 1 + rng() % (std::uint64_t{1} << 40) : 1 + rng() % 300000;
        if (rng() % 3 == 0) {
            const auto it = model.find(id);
            EXPECT_EQ(t.take(id), it == model.end() ? 0 : it->second);
            if (it != model.end()) model.erase(it);
        } else {
            const std::uint64_t v = 1 + rng() % 1000;
            const auto it = model.find(id);
            EXPECT_EQ(t.put(id, v), it == model.end() ? 0 : it->second);
            model[id] = v;
        }
    }
    EXPECT_EQ(t.size(), model.size());
    for (const auto& [id, v] : model) EXPECT_EQ(t.find(id), v);
}

// smallest_free_id: every take() is the smallest id not live, against a std::set of the free
// ids, through phases that grow the live count past one, two and three levels of summary words
// (64, 4096 and 262,144 ids) and shrink it again, so ids are taken from deep in each level.
TEST(TraceValidate, SmallestFreeIdIsTheSmallest) {
    smallest_free_id ids;
    std::set<std::uint64_t> free_model;
    std::uint64_t next = 1;
    std::vector<std::uint64_t> live;
    std::mt19937_64 rng(29);
    for (const std::size_t target : {50, 3000, 300000, 1000, 270000, 10}) {
        while (live.size() != target) {
            const bool grow = live.size() < target ? rng() % 4 != 0 : rng() % 4 == 0;
            if (grow || live.empty()) {
                const std::uint64_t expected = free_model.empty() ? next++ : *free_model.begin();
                if (!free_model.empty()) free_model.erase(free_model.begin());
                const std::uint64_t id = ids.take();
                ASSERT_EQ(id, expected);
                live.push_back(id);
            } else {
                const std::size_t k = rng() % live.size();
                ids.release(live[k]);
                free_model.insert(live[k]);
                live[k] = live.back();
                live.pop_back();
            }
        }
        EXPECT_EQ(ids.live(), live.size());
    }
}

// ---- bad input ------------------------------------------------------------------------------

// A compressed file cut short: zstd ends inside a frame.
TEST(TraceBadInput, TruncatedFile) {
    temp_trace f("t");
    write_trace(f.path(), every_opcode(false));
    bytes b = read_file(f.path());
    b.resize(b.size() / 2);
    write_file(f.path(), b);
    const auto err = read_error(f.path());
    ASSERT_TRUE(err);
    EXPECT_NE(std::string(err->what()).find(f.path()), std::string::npos);
    EXPECT_NE(std::string(err->what()).find("truncated: the compressed file ends inside a zstd frame"),
              std::string::npos)
        << err->what();
}

// A complete zstd stream whose content stops in the middle of the last event (version 1,
// which ends with its last chunk; version 2 is in TraceChecksum).
TEST(TraceBadInput, TruncatedInsideEvent) {
    temp_trace f("t");
    write_trace(f.path(), every_opcode(false), false, trace_writer::default_chunk_bytes, 1);
    bytes raw = decompress(f.path());
    raw.pop_back();
    write_compressed(f.path(), raw);
    expect_error(f.path(), raw.size(), "truncated: the stream ends inside an event");
}

// A stream that stops inside the header, and an empty file.
TEST(TraceBadInput, TruncatedInsideHeader) {
    temp_trace f("t"), e("e");
    write_trace(f.path(), every_opcode(false));
    bytes raw = decompress(f.path());
    raw.resize(13);
    write_compressed(f.path(), raw);
    expect_error(f.path(), 13, "truncated: the stream ends inside the header");
    write_file(e.path(), {});
    expect_error(e.path(), 0, "truncated: the stream ends inside the header");
}

// The first byte changed: not an allocmeter trace.
TEST(TraceBadInput, WrongMagic) {
    temp_trace f("t");
    write_trace(f.path(), every_opcode(false));
    bytes raw = decompress(f.path());
    raw[0] = 'X';
    write_compressed(f.path(), raw);
    expect_error(f.path(), 0, "wrong magic (not an allocmeter trace)");
}

// A future version is refused with both numbers.
TEST(TraceBadInput, UnsupportedVersion) {
    temp_trace f("t");
    write_trace(f.path(), every_opcode(false));
    bytes raw = decompress(f.path());
    raw[8] = 7;
    write_compressed(f.path(), raw);
    expect_error(f.path(), 8, "unsupported version 7 (this build reads versions 1 to 2)");
}

// Opcode 0x2a at byte 30 (26 header bytes, 4 chunk header bytes).
TEST(TraceBadInput, UnknownOpcode) {
    temp_trace f("t");
    write_compressed(f.path(), cat(raw_header(), raw_chunk(1, {0x2a, 0x00})));
    expect_error(f.path(), 30, "unknown opcode 0x2a");
}

// A malloc whose id varint has 11 bytes; and one whose 10th byte overflows 64 bits.
TEST(TraceBadInput, OverlongVarint) {
    temp_trace f("t");
    const bytes ev11 = {0x01, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x08};
    write_compressed(f.path(), cat(raw_header(), raw_chunk(1, ev11)));
    expect_error(f.path(), 32, "varint longer than 10 bytes");

    const bytes ev10 = {0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x08};
    write_compressed(f.path(), cat(raw_header(), raw_chunk(1, ev10)));
    expect_error(f.path(), 32, "varint overflows 64 bits");
}

// malloc(2^62): refused by the reader at the size field, and by the writer.
TEST(TraceBadInput, AbsurdSize) {
    temp_trace f("t");
    bytes e = {0x01, 0x00, 0x01};
    put_varint(e, std::uint64_t{1} << 62);
    write_compressed(f.path(), cat(raw_header(), raw_chunk(1, e)));
    expect_error(f.path(), 33, "size 2^62 is absurd (more than 2^48 bytes)");

    temp_trace g("g");
    trace_writer w(g.path(), test_header(false));
    event m = ev(op::malloc, 0, 0);
    m.id = 1;
    m.size = std::uint64_t{1} << 62;
    try {
        w.append(m);
        FAIL() << "the writer accepted size 2^62";
    } catch (const trace_error& err) {
        EXPECT_NE(std::string(err.what()).find(g.path()), std::string::npos);
        EXPECT_NE(std::string(err.what()).find("size 2^62 is absurd"), std::string::npos) << err.what();
    }
}

// Lengths that would make a naive reader allocate or loop for ages are refused up front.
TEST(TraceBadInput, AbsurdCountsAndLengths) {
    temp_trace f("t");
    bytes chunk = {0x00, 0x00};
    put_varint(chunk, std::uint64_t{1} << 40);  // events
    chunk.push_back(4);                         // payload bytes
    write_compressed(f.path(), cat(raw_header(), chunk));
    expect_error(f.path(), 28, "chunk claims 2^40 events in 4 bytes");

    bytes h = raw_header();
    h.resize(24);
    put_varint(h, std::uint64_t{1} << 40);
    write_compressed(f.path(), h);
    expect_error(f.path(), 24, "command line length 2^40 exceeds the 1 MiB limit");
}

// An event longer than its chunk's declared payload, and a payload longer than its events.
TEST(TraceBadInput, ChunkLengthMismatch) {
    temp_trace f("t");
    write_compressed(f.path(), cat(raw_header(), raw_chunk(1, {0x01, 0x00, 0x01, 0x08}, 2)));
    expect_error(f.path(), 30, "event runs past the end of its chunk");
    write_compressed(f.path(), cat(raw_header(), raw_chunk(1, {0x01, 0x00, 0x01, 0x08, 0x0a, 0x02}, 6)));
    expect_error(f.path(), 34, "says it ends at byte 36 but its events end here");
}

// Bytes that are not zstd at all.
TEST(TraceBadInput, GarbageInsteadOfZstd) {
    temp_trace f("t");
    const std::string junk = "this is a text file, not a compressed allocmeter trace\n";
    write_file(f.path(), bytes(junk.begin(), junk.end()));
    const auto err = read_error(f.path());
    ASSERT_TRUE(err);
    EXPECT_EQ(std::string(err->what()).rfind(f.path() + ": ", 0), 0u) << err->what();
    EXPECT_NE(std::string(err->what()).find("corrupt zstd data"), std::string::npos) << err->what();
}

// A missing file names the path and the OS reason.
TEST(TraceBadInput, MissingFile) {
    const auto err = read_error("/nonexistent/dir/app.trace");
    ASSERT_TRUE(err);
    EXPECT_EQ(std::string(err->what()), "/nonexistent/dir/app.trace: cannot open: No such file or directory");
}

// Free of an id never allocated: the decoder accepts it, validation names the event.
TEST(TraceBadInput, FreeOfUnknownId) {
    temp_trace f("t");
    event m = ev(op::malloc, 0, 0);
    m.id = 1;
    m.size = 16;
    event fr = ev(op::free, 0, 1);
    fr.id = 17;
    write_trace(f.path(), {m, fr});
    EXPECT_FALSE(read_error(f.path()));
    expect_error(f.path(), read_in_file_order(f.path()).back().at, "free of id 17, which is not live", true);
}

// realloc of an id that was already freed.
TEST(TraceBadInput, ReallocOfDeadId) {
    temp_trace f("t");
    event m = ev(op::malloc, 0, 0);
    m.id = 5;
    m.size = 16;
    event fr = ev(op::free, 0, 1);
    fr.id = 5;
    event r = ev(op::realloc, 0, 2);
    r.old_id = 5;
    r.id = 6;
    r.size = 32;
    write_trace(f.path(), {m, fr, r});
    expect_error(f.path(), read_in_file_order(f.path()).back().at, "realloc of id 5, which is not live", true);
}

// The same id handed out twice with no free between.
TEST(TraceBadInput, IdAllocatedTwice) {
    temp_trace f("t");
    event a = ev(op::malloc, 0, 0);
    a.id = 9;
    a.size = 16;
    event b = ev(op::calloc, 0, 1);
    b.id = 9;
    b.count = 2;
    b.size = 8;
    write_trace(f.path(), {a, b});
    expect_error(f.path(), read_in_file_order(f.path()).back().at, "id 9 allocated twice without a free", true);
}

// Thread ids with a gap: threads 0 and 2 only, and a lone event of thread 2^24 - 1, which a
// replay would have taken for 2^24 threads (found by trace_reader_fuzz).
TEST(TraceBadInput, ThreadIdsWithAGap) {
    temp_trace f("t");
    event m = ev(op::malloc, 0, 0);
    m.id = 1;
    m.size = 8;
    write_trace(f.path(), {m, ev(op::thread_exit, 2, 1)});
    EXPECT_FALSE(read_error(f.path()));
    const auto in_file = read_in_file_order(f.path());
    const auto exit2 = std::find_if(in_file.begin(), in_file.end(), [](const event& e) { return e.thread == 2; });
    ASSERT_NE(exit2, in_file.end());
    expect_error(f.path(), exit2->at, "thread 2 has events but thread 1 has none", true);

    bytes chunk;
    put_varint(chunk, max_threads - 1);
    chunk.insert(chunk.end(), {0x00, 0x01, 0x02, 0x0a, 0x00});  // seq 0, 1 event in 2 bytes: thread_exit
    write_compressed(f.path(), cat(raw_header(), chunk));
    expect_error(f.path(), 33, "thread 16777215 has events but thread 0 has none", true);
}

// Thread 0's second chunk starts at 999 ns after its first chunk ended at 1000 ns: each chunk
// decodes, and validate() refuses the pair (found by trace_reader_fuzz).
TEST(TraceBadInput, TimeGoesBackAcrossChunks) {
    temp_trace f("t");
    bytes h = raw_header();
    h[11] = 0x01;  // timestamps
    h[16] = 0x01;  // CLOCK_MONOTONIC
    const auto chunk = [](std::uint64_t first_seq, std::uint64_t first_time) {
        bytes b = {0x00};
        put_varint(b, first_seq);
        put_varint(b, first_time);
        b.insert(b.end(), {0x01, 0x04, 0x04, 0x00, 0x00, 0x00});  // 1 event in 4 bytes: free(NULL), time +0
        return b;
    };
    write_compressed(f.path(), cat(cat(h, chunk(0, 1000)), chunk(1, 999)));
    EXPECT_FALSE(read_error(f.path()));
    expect_error(f.path(), read_in_file_order(f.path()).back().at, "thread 0 goes back in time (999 ns after 1000 ns)",
                 true);
    write_compressed(f.path(), cat(cat(h, chunk(0, 1000)), chunk(1, 1000)));
    EXPECT_FALSE(read_error(f.path(), true)) << "equal times are fine";
}

// Every prefix of a valid version-1 stream, and every single-byte corruption of it, ends in a
// clean result or a trace_error: never a crash, a hang or another exception.
TEST(TraceBadInput, EveryPrefixAndByteFlipIsHandled) {
    temp_trace f("t"), g("g");
    write_trace(f.path(), every_opcode(true), true, trace_writer::default_chunk_bytes, 1);
    const bytes raw = decompress(f.path());
    int clean = 0;  // prefixes that end between chunks are valid traces
    for (std::size_t n = 0; n < raw.size(); ++n) {
        write_compressed(g.path(), bytes(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(n)));
        clean += !read_error(g.path()).has_value();
    }
    EXPECT_EQ(clean, 2) << "only the bare header and the header plus thread 1's chunk are whole traces";
    for (std::size_t i = 0; i < raw.size(); ++i) {
        for (std::uint8_t x : {0x01, 0x80, 0xff}) {
            bytes b = raw;
            b[i] ^= x;
            write_compressed(g.path(), b);
            EXPECT_NO_THROW((void)read_error(g.path(), true));
        }
    }
}

// ---- checks (version 2) -----------------------------------------------------------------------

namespace {

// A version-2 stream built by hand around v1-style pieces: the header of raw_header() as
// version 2, each chunk tagged, the trailer, every check computed (reseal).
bytes v2_stream(const std::vector<bytes>& chunks, std::uint64_t events, std::optional<std::uint64_t> chunks_said = {}) {
    const bytes check(8, 0);
    bytes h = raw_header();
    h[8] = 2;
    bytes s = cat(h, check);
    for (const bytes& c : chunks) s = cat(s, cat(cat({0x43}, c), check));
    bytes trailer = {0x45};
    put_varint(trailer, chunks_said.value_or(chunks.size()));
    put_varint(trailer, events);
    s = cat(s, cat(trailer, check));
    fuzz::reseal(s);
    return s;
}

bool same_header(const trace_header& a, const trace_header& b) {
    return a.version == b.version && a.pointer_size == b.pointer_size && a.timestamps == b.timestamps &&
           a.page_size == b.page_size && a.clock == b.clock && a.rss_samples == b.rss_samples &&
           a.command_line == b.command_line && a.host == b.host;
}

enum class outcome { refused, same, different };

// Reads `path` as validate() and load_sorted() do: refused, or the header and events (in seq
// order) it should hold, or others.
outcome read_outcome(const std::string& path, const trace_header& want_header, const std::vector<event>& want) {
    try {
        validate(path);
        trace_header h;
        const std::vector<event> got = without_offsets(load_sorted(path, &h));
        return same_header(h, want_header) && got == want ? outcome::same : outcome::different;
    } catch (const trace_error&) {
        return outcome::refused;
    }
}

// Events of two threads in chunks of a few events each: several chunks per thread, interleaved.
std::vector<event> small_chunks_events() { return every_opcode(true); }
constexpr std::size_t small_chunk_bytes = 24;

}  // namespace

// Every single-bit flip of a version-2 decompressed stream (header, chunk fields, events,
// checks, trailer) is refused. The same events as version 1 let flips through with other
// content (a size, an id, the command line): the reason for version 2.
TEST(TraceChecksum, EveryBitFlipOfTheStreamIsRefused) {
    temp_trace f("t"), g("g");
    const auto events = small_chunks_events();
    std::map<std::uint16_t, std::map<outcome, int>> seen;
    for (std::uint16_t version : {std::uint16_t{1}, std::uint16_t{2}}) {
        write_trace(f.path(), events, true, small_chunk_bytes, version);
        const bytes raw = decompress(f.path());
        for (std::size_t bit = 0; bit < raw.size() * 8; ++bit) {
            bytes b = raw;
            b[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
            write_compressed(g.path(), b);
            const outcome o = read_outcome(g.path(), test_header(true, version), events);
            ++seen[version][o];
            if (version == 2) {
                EXPECT_EQ(o, outcome::refused) << "bit " << bit << " of " << raw.size() * 8;
            }
        }
    }
    std::printf("[ flips    ] stream: version 1 refused %d, accepted with other content %d; "
                "version 2 refused %d, accepted with other content %d\n",
                seen[1][outcome::refused], seen[1][outcome::different], seen[2][outcome::refused],
                seen[2][outcome::different]);
    EXPECT_GT(seen[1][outcome::different], 0) << "version 1 has no check: this test would see nothing";
}

// Every single-bit flip of a written version-2 file (the zstd frame) is refused or decodes
// to the very same trace: none reads back as other events.
TEST(TraceChecksum, EveryBitFlipOfTheFileIsRefusedOrReadsTheSame) {
    temp_trace f("t"), g("g");
    const auto events = small_chunks_events();
    write_trace(f.path(), events, true, small_chunk_bytes);
    const bytes file = read_file(f.path());
    std::map<outcome, int> seen;
    for (std::size_t bit = 0; bit < file.size() * 8; ++bit) {
        bytes b = file;
        b[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        write_file(g.path(), b);
        const outcome o = read_outcome(g.path(), test_header(true), events);
        ++seen[o];
        EXPECT_NE(o, outcome::different) << "bit " << bit << " of " << file.size() * 8;
    }
    std::printf("[ flips    ] file of %zu bytes: %d refused, %d read the same, %d read other events\n", file.size(),
                seen[outcome::refused], seen[outcome::same], seen[outcome::different]);
}

// A version-2 stream cut between two blocks, chunks dropped from its end, is refused as
// truncated; so is every other prefix. (Version 1 reads such a cut as a shorter valid trace.)
TEST(TraceChecksum, CutBetweenChunksIsTruncation) {
    temp_trace f("t"), g("g");
    write_trace(f.path(), small_chunks_events(), true, small_chunk_bytes);
    const bytes raw = decompress(f.path());
    const std::vector<fuzz::v2_block> blocks = fuzz::v2_blocks(raw);
    ASSERT_GE(blocks.size(), 5u) << "the header, several chunks, the trailer";
    EXPECT_EQ(blocks.back().check + 8, raw.size());
    for (std::size_t k = 0; k + 1 < blocks.size(); ++k) {  // after the header, after each chunk
        const std::size_t cut = blocks[k].check + 8;
        write_compressed(g.path(), bytes(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(cut)));
        expect_error(g.path(), cut, "truncated: the stream ends after " + std::to_string(k) + " chunks without its trailer");
        expect_error(g.path(), cut, "chunks may be missing", true);
    }
    int clean = 0;
    for (std::size_t n = 0; n < raw.size(); ++n) {
        write_compressed(g.path(), bytes(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(n)));
        clean += !read_error(g.path()).has_value();
    }
    EXPECT_EQ(clean, 0);
}

// Version 1 still reads: from the writer, asked for it, and built by hand byte for byte.
TEST(TraceChecksum, Version1StillReads) {
    temp_trace f("t"), g("g");
    const auto events = every_opcode(true);
    write_trace(f.path(), events, true, small_chunk_bytes, 1);
    trace_header h;
    EXPECT_EQ(without_offsets(load_sorted(f.path(), &h)), events);
    EXPECT_EQ(h.version, 1);
    EXPECT_TRUE(same_header(h, test_header(true, 1)));
    EXPECT_NO_THROW(validate(f.path()));

    write_compressed(g.path(), cat(raw_header(), raw_chunk(2, {0x01, 0x00, 0x01, 0x18, 0x04, 0x02, 0x01})));
    const auto two = read_in_file_order(g.path(), &h);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(h.version, 1);
    EXPECT_EQ(two[0].kind, op::malloc);
    EXPECT_EQ(two[0].size, 24u);
    EXPECT_EQ(two[1].kind, op::free);
    EXPECT_EQ(two[1].seq, 1u);
}

// A damaged chunk's error names the file, the chunk (its number and first byte), both check
// values and the damage, at the byte where the stored check starts; the header's and the
// trailer's likewise.
TEST(TraceChecksum, DamageNamesTheFileAndTheBlock) {
    temp_trace f("t"), g("g");
    write_trace(f.path(), small_chunks_events(), true, small_chunk_bytes);
    const bytes raw = decompress(f.path());
    const std::vector<fuzz::v2_block> blocks = fuzz::v2_blocks(raw);
    ASSERT_GE(blocks.size(), 4u);
    const auto damaged = [&](std::size_t at) {
        bytes b = raw;
        b[at] ^= 0x10;
        write_compressed(g.path(), b);
    };
    const fuzz::v2_block chunk1 = blocks[2];  // blocks[0] is the header
    damaged(chunk1.check - 1);                // its last event's last byte
    expect_error(g.path(), chunk1.check,
                 "chunk 1 at byte " + std::to_string(chunk1.start) + " fails its checksum (stored 0x");
    expect_error(g.path(), chunk1.check, "): the file is damaged", true);

    damaged(30);  // in the command line
    expect_error(g.path(), blocks[0].check, "the header fails its checksum");
    const fuzz::v2_block trailer = blocks.back();
    damaged(trailer.check - 1);  // the event count
    expect_error(g.path(), trailer.check, "the trailer at byte " + std::to_string(trailer.start) + " fails its checksum");
    damaged(raw.size() - 1);  // the trailer's check itself
    expect_error(g.path(), trailer.check, "the trailer at byte " + std::to_string(trailer.start) + " fails its checksum");
}

// A chunk yields no event before its check passed: damage in its last event stops the
// reader at its first.
TEST(TraceChecksum, ChunkIsCheckedBeforeItsFirstEvent) {
    temp_trace f("t"), g("g");
    write_trace(f.path(), every_opcode(false));  // one chunk per thread
    bytes raw = decompress(f.path());
    const std::vector<fuzz::v2_block> blocks = fuzz::v2_blocks(raw);
    ASSERT_EQ(blocks.size(), 4u);
    raw[blocks[2].check - 1] ^= 0x01;  // the last byte of the second chunk
    write_compressed(g.path(), raw);
    trace_reader r(g.path());
    event e;
    std::size_t yielded = 0;
    try {
        while (r.next(e)) ++yielded;
        FAIL() << "the damaged chunk was read";
    } catch (const trace_error& err) {
        EXPECT_NE(std::string(err.what()).find("chunk 1 at byte"), std::string::npos) << err.what();
    }
    trace_reader whole(f.path());
    std::size_t first_chunk = 0;
    while (whole.next(e) && e.at < blocks[2].start) ++first_chunk;
    EXPECT_EQ(yielded, first_chunk) << "only the first chunk's events";
}

// The stream ends with its trailer: a byte after it is refused, and a trailer whose counts
// disagree with the chunks read (with good checks: a writer bug) is too.
TEST(TraceChecksum, NothingAfterTheTrailerAndItsCountsHold) {
    temp_trace f("t"), g("g");
    write_trace(f.path(), every_opcode(false));
    const bytes raw = decompress(f.path());
    write_compressed(g.path(), cat(raw, {0x00}));
    expect_error(g.path(), raw.size(), "bytes after the trailer");

    const bytes two_events = raw_chunk(2, {0x01, 0x00, 0x01, 0x18, 0x04, 0x02, 0x01});
    write_compressed(g.path(), v2_stream({two_events}, 2));
    EXPECT_EQ(read_in_file_order(g.path()).size(), 2u);
    write_compressed(g.path(), v2_stream({two_events}, 3));
    expect_error(g.path(), 26 + 8 + 1 + 11 + 8 + 1, "the trailer counts 1 chunks and 3 events, but the stream holds 1 and 2");
    write_compressed(g.path(), v2_stream({two_events}, 2, 2));
    expect_error(g.path(), 26 + 8 + 1 + 11 + 8 + 1, "the trailer counts 2 chunks");
}

// A checked chunk is decoded with the same rules as version 1: events past its end or short
// of it, an unknown block tag, and a chunk that claims 2^30 bytes the stream does not hold.
TEST(TraceChecksum, CheckedChunksAreDecodedByTheSameRules) {
    temp_trace f("t");
    write_compressed(f.path(), v2_stream({raw_chunk(1, {0x01, 0x00, 0x01, 0x08}, 2)}, 1));
    expect_error(f.path(), 26 + 8 + 1 + 4, "event runs past the end of its chunk");
    write_compressed(f.path(), v2_stream({raw_chunk(1, {0x01, 0x00, 0x01, 0x08, 0x0a, 0x02}, 6)}, 1));
    expect_error(f.path(), 26 + 8 + 1 + 8, "says it ends at byte 45 but its events end here");
    write_compressed(f.path(), v2_stream({raw_chunk(1, {0x2a, 0x00})}, 1));
    expect_error(f.path(), 26 + 8 + 1 + 4, "unknown opcode 0x2a");

    bytes tag = v2_stream({}, 0);
    tag[34] = 0x44;
    write_compressed(f.path(), tag);
    expect_error(f.path(), 34, "unknown block 0x44 where a chunk (0x43) or the trailer (0x45) should start");

    bytes lying = v2_stream({}, 0);
    lying.resize(34);
    lying = cat(cat(lying, {0x43, 0x00, 0x00, 0x01}), {0x80, 0x80, 0x80, 0x80, 0x04});  // 1 event in 2^30 bytes
    lying = cat(lying, bytes(1000, 0x0a));
    write_compressed(f.path(), lying);
    expect_error(f.path(), lying.size(), "truncated: the stream ends inside a chunk");
}

// A version-2 trace with no events is its header and trailer; the writer refuses a version it
// cannot write.
TEST(TraceChecksum, EmptyTraceAndUnknownVersions) {
    temp_trace f("t");
    write_trace(f.path(), {});
    const bytes raw = decompress(f.path());
    const std::size_t header = 24 + 1 + test_header(false).command_line.size() + 1 + test_header(false).host.size();
    EXPECT_EQ(raw.size(), header + 8 + 3 + 8);
    EXPECT_EQ(validate(f.path()).events, 0u);
    try {
        trace_writer w(f.path(), test_header(false, 3));
        FAIL() << "version 3 written";
    } catch (const trace_error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot write version 3 (this build writes versions 1 to 2)"),
                  std::string::npos)
            << e.what();
    }
}

// ---- RSS samples (version 2, header flags bit 1) ---------------------------------------------

namespace {

// A program's resident set: up from its start, a peak, and down again (a fall is a negative delta).
recorded_rss test_rss() {
    return {987654321000, 5000, {{0, 1u << 20}, {5000, 9u << 20}, {10100, 25u << 20}, {15000, 25u << 20}, {20000, 4u << 20}}};
}

// every_opcode(true) on two threads in small chunks, with `rss` set at close (or none).
void write_with_rss(const std::string& path, const recorded_rss* rss) {
    trace_header h = test_header(true);
    h.rss_samples = true;
    trace_writer w(path, h, small_chunk_bytes);
    if (rss != nullptr) w.set_rss(*rss);  // before the first event: known long before close
    for (const event& e : every_opcode(true)) w.append(e);
    w.close();
}

// The trace's RSS samples as the reader gives them once every event was read.
std::optional<recorded_rss> read_rss(const std::string& path) {
    trace_reader r(path);
    for (event e; r.next(e);) EXPECT_EQ(r.rss(), nullptr) << "samples before the last event";
    return r.rss() != nullptr ? std::optional(*r.rss()) : std::nullopt;
}

}  // namespace

// Samples written at close come back point for point, after every event, which read as
// they do without them; validate() and the global-order reader summarize them.
TEST(TraceRss, RoundTrip) {
    temp_trace f("t"), plain("p");
    const recorded_rss rss = test_rss();
    write_with_rss(f.path(), &rss);
    write_trace(plain.path(), every_opcode(true), true, small_chunk_bytes);
    trace_header h;
    EXPECT_EQ(without_offsets(load_sorted(f.path(), &h)), without_offsets(load_sorted(plain.path())));
    EXPECT_TRUE(h.rss_samples);
    EXPECT_EQ(read_rss(f.path()), rss);
    const trace_summary s = validate(f.path());
    EXPECT_EQ(s.rss, (rss_summary{5, 5000, 20000, 1u << 20, 25u << 20, 10100}));
    EXPECT_EQ(s.events, validate(plain.path()).events);

    const bytes raw = decompress(f.path());
    EXPECT_EQ(raw[11], 0x03) << "flags: timestamps and RSS samples";
    const std::vector<fuzz::v2_block> blocks = fuzz::v2_blocks(raw);
    ASSERT_GE(blocks.size(), 4u);
    const fuzz::v2_block part = blocks[blocks.size() - 2];
    EXPECT_EQ(raw[part.start], 0x52) << "the samples come just before the trailer";
    // tag, start (6 bytes), period (2), count (1), then 5 x (time, bytes): (1 + 4) for the
    // first, 1 MiB up from 0; (2 + 4) for 8 MiB up after 5 ms; (2 + 4); (2 + 1) for no change; (2 + 4).
    EXPECT_EQ(part.check - part.start, 1u + 6 + 2 + 1 + 5 + 6 + 6 + 3 + 6) << "samples take a few bytes each";
}

// A trace without samples is written and read as before: flags bit 1 clear, no samples block,
// no samples; so is version 1 (which cannot hold any).
TEST(TraceRss, TracesWithoutSamplesAreAsBefore) {
    temp_trace f("t");
    write_trace(f.path(), every_opcode(true), true, small_chunk_bytes);
    const bytes raw = decompress(f.path());
    EXPECT_EQ(raw[11], 0x01);
    for (const fuzz::v2_block& b : fuzz::v2_blocks(raw)) EXPECT_NE(raw[b.start], 0x52);
    EXPECT_FALSE(read_rss(f.path()).has_value());
    EXPECT_EQ(validate(f.path()).rss, rss_summary{});
    write_trace(f.path(), every_opcode(true), true, small_chunk_bytes, 1);
    EXPECT_FALSE(read_rss(f.path()).has_value());
    EXPECT_EQ(validate(f.path()).rss.samples, 0u);
}

// The header announces samples before they are known: the last set_rss() before close wins,
// and a writer never given any writes an empty block (the program ended before a sample).
TEST(TraceRss, SetAnyTimeBeforeClose) {
    temp_trace f("t");
    trace_header h = test_header(false);
    h.rss_samples = true;
    {
        trace_writer w(f.path(), h);
        w.set_rss({1, 5000, {{0, 4096}}});
        for (const event& e : every_opcode(false)) w.append(e);
        w.set_rss(test_rss());
        w.close();
        EXPECT_THROW(w.set_rss(test_rss()), trace_error) << "after close";
    }
    EXPECT_EQ(read_rss(f.path()), test_rss());
    {
        trace_writer w(f.path(), h);
        for (const event& e : every_opcode(false)) w.append(e);
    }
    const std::optional<recorded_rss> none = read_rss(f.path());
    ASSERT_TRUE(none.has_value());
    EXPECT_TRUE(none->points.empty());
    EXPECT_EQ(validate(f.path()).rss.samples, 0u);
}

// The writer refuses what the reader would: samples a header did not announce, samples in
// version 1, time going back, resident bytes past 2^48, more than 2^20 samples.
TEST(TraceRss, WriterRefusesWhatCannotBeRead) {
    temp_trace f("t");
    const auto refused = [&](const std::function<void()>& write, const std::string& problem) {
        try {
            write();
            ADD_FAILURE() << "not refused: " << problem;
        } catch (const trace_error& e) {
            EXPECT_NE(std::string(e.what()).find(problem), std::string::npos) << e.what();
        }
    };
    refused([&] { trace_writer(f.path(), test_header(false)).set_rss(test_rss()); }, "the header did not announce them");
    trace_header v1 = test_header(false, 1);
    v1.rss_samples = true;
    refused([&] { trace_writer w(f.path(), v1); }, "RSS samples need format version 2");
    trace_header h = test_header(false);
    h.rss_samples = true;
    refused([&] { trace_writer(f.path(), h).set_rss({0, 5000, {{10, 4096}, {9, 4096}}}); }, "RSS sample 1 goes back in time");
    refused([&] { trace_writer(f.path(), h).set_rss({0, 5000, {{0, max_size + 1}}}); }, "RSS sample 0: resident bytes");
    refused([&] { trace_writer(f.path(), h).set_rss({0, 5000, std::vector<rss_point>(max_rss_points + 1)}); },
            "more than the 2^20");
}

// Each way the samples block can be wrong is a trace_error naming the file and the byte: the
// flag without the block or the block without the flag, the flag in version 1, a block twice
// or before a chunk, cut short, too many samples, a time past 2^64, resident bytes outside
// 0 .. 2^48, and damage its check finds.
TEST(TraceRss, MalformedSamplesAreRefused) {
    temp_trace f("t"), g("g");
    const recorded_rss rss = test_rss();
    write_with_rss(f.path(), &rss);
    const bytes raw = decompress(f.path());
    const std::vector<fuzz::v2_block> blocks = fuzz::v2_blocks(raw);
    ASSERT_GE(blocks.size(), 4u);
    const fuzz::v2_block part = blocks[blocks.size() - 2], trailer = blocks.back(), last_chunk = blocks[blocks.size() - 3];
    const std::size_t part_end = part.check + 8;
    const bytes part_bytes(raw.begin() + static_cast<std::ptrdiff_t>(part.start), raw.begin() + static_cast<std::ptrdiff_t>(part_end));
    const bytes chunk_bytes(raw.begin() + static_cast<std::ptrdiff_t>(last_chunk.start),
                            raw.begin() + static_cast<std::ptrdiff_t>(last_chunk.check + 8));
    // raw with [from, to) replaced, every check recomputed (as a writer with that bug would).
    const auto write_resealed = [&](std::size_t from, std::size_t to, const bytes& with) {
        bytes b(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(from));
        b = cat(b, with);
        b.insert(b.end(), raw.begin() + static_cast<std::ptrdiff_t>(to), raw.end());
        fuzz::reseal(b);
        write_compressed(g.path(), b);
    };
    const auto samples_block = [&](const bytes& fields) { return cat(cat({0x52}, fields), bytes(8, 0)); };

    write_resealed(11, 12, {0x01});  // flags: timestamps only
    expect_error(g.path(), part.start, "RSS samples (block 0x52), but the header's flags bit 1 does not announce them");
    write_resealed(part.start, part_end, {});
    expect_error(g.path(), part.start, "the trailer, but the header announces RSS samples (flags bit 1) and none came");
    write_resealed(part.start, part_end, cat(part_bytes, part_bytes));
    expect_error(g.path(), part_end, "a second block of RSS samples");
    write_resealed(last_chunk.start, part_end, cat(part_bytes, chunk_bytes));
    expect_error(g.path(), last_chunk.start + part_bytes.size(), "a chunk after the RSS samples");
    write_compressed(g.path(), bytes(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(part.start + 3)));
    expect_error(g.path(), part.start + 3, "truncated: the stream ends inside the RSS samples");

    bytes count = {0x00, 0x01};
    put_varint(count, max_rss_points + 1);
    write_resealed(part.start, part_end, samples_block(count));
    expect_error(g.path(), part.start + 3, "1048577 RSS samples is more than the 2^20 a trace holds");
    bytes late = {0x00, 0x01, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    late = cat(late, {0x01, 0x00});  // the second sample's time: past 2^64 - 1
    write_resealed(part.start, part_end, samples_block(late));
    expect_error(g.path(), part.start + 1 + late.size() - 2, "RSS sample 1: its time overflows 64 bits");
    // 4096 bytes, then 4097 fewer.
    write_resealed(part.start, part_end, samples_block({0x00, 0x01, 0x02, 0x00, 0x80, 0x40, 0x01, 0x81, 0x40}));
    expect_error(g.path(), part.start + 8, "RSS sample 1: resident bytes leave 0 .. 2^48 (delta -4097 from 4096)");
    bytes absurd = {0x00, 0x01, 0x01, 0x00};
    put_varint(absurd, std::uint64_t{1} << 50);  // zigzag: +2^49
    write_resealed(part.start, part_end, samples_block(absurd));
    expect_error(g.path(), part.start + 5, "RSS sample 0: resident bytes leave 0 .. 2^48");

    bytes damaged = raw;
    damaged[part.check - 1] ^= 0x04;  // the last sample's bytes
    write_compressed(g.path(), damaged);
    expect_error(g.path(), part.check,
                 "the RSS samples at byte " + std::to_string(part.start) + " fails its checksum (stored 0x");

    bytes old = raw;  // version 1 has no place for them
    old[8] = 1;
    write_compressed(g.path(), old);
    expect_error(g.path(), 11, "header flags bit 1 (RSS samples) in a version-1 trace");
    (void)trailer;
}

// The samples are in the check chain: a block changed and given a valid check of its own
// still fails the trailer, whose check was chained from the block's old one; and no single bit
// flip in the samples block, the trailer or the header's flags reads back.
TEST(TraceRss, SamplesAreInTheCheckChain) {
    temp_trace f("t"), g("g");
    const recorded_rss rss = test_rss();
    write_with_rss(f.path(), &rss);
    const bytes raw = decompress(f.path());
    const std::vector<fuzz::v2_block> blocks = fuzz::v2_blocks(raw);
    const fuzz::v2_block chunk = blocks[blocks.size() - 3], part = blocks[blocks.size() - 2], trailer = blocks.back();
    bytes b = raw;
    b[part.check - 1] ^= 0x04;
    std::uint64_t chain = 0;
    for (std::size_t i = 0; i < 8; ++i) chain |= std::uint64_t{raw[chunk.check + i]} << (8 * i);
    const std::uint64_t own = stream_check(b.data() + part.start, part.check - part.start, chain);
    for (std::size_t i = 0; i < 8; ++i) b[part.check + i] = static_cast<std::uint8_t>(own >> (8 * i));
    write_compressed(g.path(), b);
    expect_error(g.path(), trailer.check, "the trailer at byte " + std::to_string(trailer.start) + " fails its checksum");

    int accepted = 0, flips = 0;
    for (std::size_t bit = 0; bit < raw.size() * 8; ++bit) {
        if (bit / 8 != 11 && bit / 8 < part.start) continue;
        ++flips;
        bytes flipped = raw;
        flipped[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        write_compressed(g.path(), flipped);
        accepted += !read_error(g.path(), true).has_value();
    }
    EXPECT_EQ(accepted, 0) << "of " << flips << " flips";
}

// ---- size -----------------------------------------------------------------------------------

// 100k events of a malloc/free mix with reused small ids read back exactly, and the file
// stays under 4 bytes an event.
TEST(TraceSize, HundredThousandEventsCompact) {
    temp_trace f("t");
    std::mt19937_64 rng(7);
    std::vector<event> all;
    std::set<std::uint64_t> free_ids;  // lowest free id first, as a recorder hands them out
    std::vector<std::uint64_t> live;
    std::uint64_t next_id = 1, seq = 0;
    const std::uint64_t small[] = {16, 24, 32, 48, 64, 96, 128};
    while (all.size() < 100000) {
        const bool alloc = live.empty() || (live.size() < 500 ? rng() % 100 < 55 : rng() % 100 < 45);
        if (alloc) {
            event e = ev(op::malloc, 0, seq++);
            if (free_ids.empty()) {
                e.id = next_id++;
            } else {
                e.id = *free_ids.begin();
                free_ids.erase(free_ids.begin());
            }
            const auto r = rng() % 100;
            e.size = r < 75 ? small[rng() % 7] : r < 97 ? 129 + rng() % 900 : 1024 + rng() % 65536;
            live.push_back(e.id);
            all.push_back(e);
        } else {
            // Mostly young objects die first, as in most programs.
            const std::size_t k = rng() % 4 != 0 ? live.size() - 1 - rng() % std::min<std::size_t>(live.size(), 8)
                                                 : rng() % live.size();
            event e = ev(op::free, 0, seq++);
            e.id = live[k];
            live[k] = live.back();
            live.pop_back();
            free_ids.insert(e.id);
            all.push_back(e);
        }
    }
    write_trace(f.path(), all);
    EXPECT_EQ(without_offsets(load_sorted(f.path())), all);
    const trace_summary s = validate(f.path());
    EXPECT_EQ(s.events, all.size());
    const auto file_bytes = std::filesystem::file_size(f.path());
    const double per_event = static_cast<double>(file_bytes) / static_cast<double>(all.size());
    const double raw_per_event = static_cast<double>(decompress(f.path()).size()) / static_cast<double>(all.size());
    std::printf("[ trace    ] %zu events, %ju bytes compressed: %.2f bytes/event (%.2f before zstd), "
                "peak %ju live objects, max id %ju\n",
                all.size(), static_cast<std::uintmax_t>(file_bytes), per_event, raw_per_event,
                static_cast<std::uintmax_t>(s.peak_live_objects), static_cast<std::uintmax_t>(s.max_id));
    EXPECT_LE(per_event, 4.0);
}

// A FIFO (or a device, or a folder) is refused at once, not waited on in open().
TEST(TraceFormat, NotARegularFileIsRefusedAtOnce) {
    const std::string fifo = (std::filesystem::path(::testing::TempDir()) / "allocmeter-trace-fifo").string();
    std::filesystem::remove(fifo);
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto said = std::make_shared<std::promise<std::string>>();
    std::future<std::string> result = said->get_future();
    std::thread([said, fifo] {
        try {
            trace_reader r(fifo);
            said->set_value("opened");
        } catch (const trace_error& e) {
            said->set_value(e.what());
        }
    }).detach();
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
        std::ofstream unblock(fifo);  // let the blocked open return before the test ends
        FAIL() << "opening a FIFO blocked";
    }
    EXPECT_NE(result.get().find("not a regular file"), std::string::npos);
    std::filesystem::remove(fifo);
    try {
        trace_reader r("/dev/null");
        ADD_FAILURE() << "/dev/null was read as a trace";
    } catch (const trace_error& e) {
        EXPECT_NE(std::string(e.what()).find("/dev/null: not a regular file"), std::string::npos) << e.what();
    }
}
