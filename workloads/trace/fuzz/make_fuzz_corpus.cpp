// make_fuzz_corpus: writes the seed corpus of trace_reader_fuzz
// (workloads/trace/fuzz/fuzz_corpus/), valid traces made with trace_writer and one hand-built
// file per kind of bad input, each in the fuzz target's encoding (trace_fuzz_input.hpp), and
// checks that each is what it claims. The seeds made before format version 2 stay version 1,
// byte for byte; the v2 ones cover the checks, some resealed so that mutations get past them.
//
// Regenerate, from the repository root (any build folder of the normal build will do):
//   cmake --build build --target make_fuzz_corpus &&
//     build/make_fuzz_corpus workloads/trace/fuzz/fuzz_corpus
// `make_fuzz_corpus --check DIR` only checks the files already in DIR (ctest TraceFuzzCorpus).
#include <unistd.h>
#include <zstd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "workloads/trace/format/trace_format.hpp"
#include "workloads/trace/fuzz/trace_fuzz_input.hpp"

using namespace allocmeter::trace;
using allocmeter::trace::fuzz::input_mode;

constexpr std::uint16_t v1 = 1;  // no checks
constexpr std::uint16_t v2 = 2;  // checked header, chunks and trailer

namespace {

using bytes = std::vector<std::uint8_t>;

/// One seed: a file name, its encoding, and the problem validate() must report ("" = valid).
struct seed {
    std::string name;
    input_mode mode;
    bytes data;
    std::string problem;
};

bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(in), {});
}

bool write_file(const std::string& path, const bytes& b) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    return static_cast<bool>(out);
}

std::string temp_path() {
    return (std::filesystem::temp_directory_path() / ("make_fuzz_corpus_" + std::to_string(::getpid()) + ".trace"))
        .string();
}

// The decompressed stream of a compressed trace (streamed: the writer records no content size).
bytes decompress(const bytes& in) {
    bytes out, buf(1 << 16);
    ZSTD_DCtx* d = ZSTD_createDCtx();
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    while (ib.pos < ib.size) {
        ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
        if (ZSTD_isError(ZSTD_decompressStream(d, &ob, &ib))) break;
        out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(ob.pos));
    }
    ZSTD_freeDCtx(d);
    return out;
}

bytes compress(const bytes& raw, bool checksum = false) {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum ? 1 : 0);
    bytes out(ZSTD_compressBound(raw.size()));
    const std::size_t n = ZSTD_compress2(c, out.data(), out.size(), raw.data(), raw.size());
    ZSTD_freeCCtx(c);
    out.resize(ZSTD_isError(n) ? 0 : n);
    return out;
}

bytes cat(bytes a, const bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

void put_varint(bytes& b, std::uint64_t v) {
    while (v >= 0x80) {
        b.push_back(static_cast<std::uint8_t>(v) | 0x80);
        v >>= 7;
    }
    b.push_back(static_cast<std::uint8_t>(v));
}

bytes varint(std::uint64_t v) {
    bytes b;
    put_varint(b, v);
    return b;
}

// ---- traces made by the writer -------------------------------------------------------------

trace_header header(std::uint16_t version, bool timestamps, bool rss = false) {
    trace_header h;
    h.version = version;
    h.timestamps = timestamps;
    h.rss_samples = rss;
    h.clock = timestamps ? clock_source::monotonic_ns : clock_source::none;
    h.command_line = "./app --seed 1";
    h.host = "fuzz";
    return h;
}

// Events in global order: seq and (when wanted) time advance with every call.
class script {
public:
    script& add(op k, std::uint32_t t, std::uint64_t id = 0, std::uint64_t size = 0) {
        event e;
        e.kind = k;
        e.thread = t;
        e.seq = seq_++;
        e.time_ns = time_ += 40 + 7 * (seq_ % 5);
        e.id = id;
        e.size = size;
        events_.push_back(e);
        return *this;
    }
    script& start(std::uint32_t t, std::uint32_t parent = no_thread) {
        add(op::thread_start, t);
        events_.back().parent = parent;
        return *this;
    }
    script& realloc(std::uint32_t t, std::uint64_t old_id, std::uint64_t id, std::uint64_t size) {
        add(op::realloc, t, id, size);
        events_.back().old_id = old_id;
        events_.back().flags = old_id != 0 && id != 0 && id != old_id ? realloc_moved : 0;
        return *this;
    }
    // Sets fields of the last event.
    script& with(std::uint8_t flags, std::uint64_t alignment = 0, std::uint64_t count = 0) {
        events_.back().flags = flags;
        events_.back().alignment = alignment;
        events_.back().count = count;
        return *this;
    }
    script& seq(std::uint64_t s) {  // overrides the last event's seq (bad-order cases)
        events_.back().seq = s;
        return *this;
    }

    // The compressed file, as trace_writer writes it.
    bytes file(std::uint16_t version, bool timestamps = false,
               std::size_t chunk_bytes = trace_writer::default_chunk_bytes, const recorded_rss* rss = nullptr) const {
        const std::string path = temp_path();
        {
            trace_writer w(path, header(version, timestamps, rss != nullptr), chunk_bytes);
            for (event e : events_) {
                if (!timestamps) e.time_ns = 0;
                w.append(e);
            }
            if (rss != nullptr) w.set_rss(*rss);
            w.close();
        }
        bytes b = read_file(path);
        std::filesystem::remove(path);
        return b;
    }
    bytes stream(std::uint16_t version, bool timestamps = false,
                 std::size_t chunk_bytes = trace_writer::default_chunk_bytes, const recorded_rss* rss = nullptr) const {
        return decompress(file(version, timestamps, chunk_bytes, rss));
    }

private:
    std::vector<event> events_;
    std::uint64_t seq_ = 0, time_ = 1'000'000;
};

// One thread: id reuse, and every realloc case (in place, moved, freeing, from NULL, failed).
script single_thread() {
    script s;
    s.start(0)
        .add(op::malloc, 0, 1, 24)
        .add(op::malloc, 0, 2, 100)
        .add(op::free, 0, 1)
        .add(op::malloc, 0, 1, 32)  // id 1 again
        .add(op::calloc, 0, 3, 8)
        .with(0, 0, 4)
        .realloc(0, 2, 2, 200)  // in place
        .realloc(0, 3, 4, 64)   // moved
        .realloc(0, 1, 0, 0)    // realloc(p, 0) freed p
        .realloc(0, 0, 1, 16)   // realloc(NULL, 16)
        .realloc(0, 1, 0, 100)  // failed: id 1 stays live
        .add(op::free, 0, 0)    // free(NULL)
        .add(op::free, 0, 2)
        .add(op::free, 0, 4)
        .add(op::free_sized, 0, 1, 16)
        .add(op::thread_exit, 0);
    return s;
}

// Three threads: frees and a realloc of another thread's objects, ids reused across threads.
script threads() {
    script s;
    s.start(0)
        .add(op::malloc, 0, 1, 48)
        .start(1, 0)
        .add(op::malloc, 0, 2, 64)
        .add(op::free, 1, 1)        // thread 1 frees thread 0's object
        .add(op::malloc, 1, 1, 80)  // and reuses its id
        .start(2, 0)
        .add(op::free, 2, 2)
        .add(op::malloc, 0, 2, 96)  // id 2 back on thread 0 after thread 2 freed it
        .realloc(2, 1, 3, 256)      // thread 2 moves thread 1's object
        .add(op::malloc, 1, 1, 8)
        .add(op::thread_exit, 1)    // leaves id 1 live: a leak
        .add(op::free, 0, 3)
        .add(op::free, 0, 2)
        .add(op::thread_exit, 2)
        .add(op::thread_exit, 0);
    return s;
}

// Every opcode and flag combination, on two threads.
script every_opcode() {
    script s;
    s.start(0).add(op::malloc, 0, 1, 24).add(op::calloc, 0, 2, 8).with(0, 0, 10).realloc(0, 1, 3, 100);
    for (std::uint8_t which = 0; which <= 4; ++which)
        s.add(op::aligned, 0, 4u + which, 64u << which).with(which, std::uint64_t{16} << which);
    s.add(op::new_, 0, 9, 32)
        .add(op::new_, 0, 10, 256)
        .with(new_array | new_aligned, 128)
        .add(op::new_, 0, 11, 8)
        .with(new_nothrow | new_array)
        .add(op::new_, 0, 12, 512)
        .with(new_aligned | new_nothrow, 4096)
        .add(op::delete_, 0, 9, 32)
        .with(delete_sized)
        .add(op::delete_, 0, 10, 256)
        .with(delete_array | delete_sized | delete_aligned, 128)
        .add(op::delete_, 0, 11)
        .with(delete_array)
        .add(op::delete_, 0, 12)
        .with(delete_aligned, 4096)
        .add(op::delete_, 0, 0)
        .add(op::free, 0, 2)
        .add(op::free_sized, 0, 3, 100)
        .add(op::malloc, 0, 0, max_size)  // a failed huge malloc
        .start(1, 0)
        .add(op::free, 1, 4)  // another thread's aligned block
        .add(op::malloc, 1, 2, 1);
    for (std::uint64_t id = 5; id <= 8; ++id) s.add(op::free, 0, id);
    s.add(op::free, 1, 2).add(op::thread_exit, 1).add(op::thread_exit, 0);
    return s;
}

// ---- hand-built decompressed streams ----------------------------------------------------------

// A version-1 header with empty strings and no timestamps: 26 bytes.
bytes raw_header() {
    return {'A', 'M', 'T', 'R', 'A', 'C', 'E', 0, 1, 0, 8, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
}

// A chunk of thread 0 from seq 0 around `events`; `claimed` overrides its byte length.
bytes raw_chunk(std::uint64_t count, const bytes& events, std::optional<std::uint64_t> claimed = {}) {
    bytes b = {0, 0};
    put_varint(b, count);
    put_varint(b, claimed.value_or(events.size()));
    return cat(b, events);
}

bytes with_byte(bytes b, std::size_t at, std::uint8_t v) {
    b[at] = v;
    return b;
}

bytes one_event(const bytes& event) { return cat(raw_header(), raw_chunk(1, event)); }

// A version-2 stream around v1-style chunks (raw_chunk): raw_header() as version 2, each chunk
// tagged, the trailer counting them and `events`, and every check computed.
bytes v2_stream(const std::vector<bytes>& chunks, std::uint64_t events) {
    const bytes check(8, 0);
    bytes s = cat(with_byte(raw_header(), 8, 2), check);
    for (const bytes& c : chunks) s = cat(s, cat(cat({0x43}, c), check));
    bytes trailer = {0x45};
    put_varint(trailer, chunks.size());
    put_varint(trailer, events);
    s = cat(s, cat(trailer, check));
    fuzz::reseal(s);
    return s;
}

// A program's RSS samples: a start, a rise and a fall.
recorded_rss some_rss() {
    return {123456789, 5000, {{0, 1u << 20}, {5000, 3u << 20}, {10000, 5u << 19}}};
}

// `s` (a version-2 stream) with the bytes [from, to) in place of [from, to) of its own: a
// block swapped for another or cut out. Not resealed.
bytes splice(const bytes& s, std::size_t from, std::size_t to, const bytes& with) {
    bytes out(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(from));
    out.insert(out.end(), with.begin(), with.end());
    out.insert(out.end(), s.begin() + static_cast<std::ptrdiff_t>(to), s.end());
    return out;
}

bytes flip(bytes b, std::size_t at) {
    b[at] ^= 0x01;
    return b;
}

std::vector<seed> all_seeds() {
    const bytes single = single_thread().stream(v1);
    std::vector<seed> v;
    const auto plain = [&](std::string name, bytes data, std::string problem = {}) {
        v.push_back({std::move(name), input_mode::plain, std::move(data), std::move(problem)});
    };
    const auto raw = [&](std::string name, bytes data, std::string problem = {}) {
        v.push_back({std::move(name), input_mode::raw, std::move(data), std::move(problem)});
    };
    const auto resealed = [&](std::string name, bytes data, std::string problem = {}) {
        fuzz::reseal(data);
        v.push_back({std::move(name), input_mode::plain_resealed, std::move(data), std::move(problem)});
    };

    // Valid traces.
    plain("valid_single_thread", single);
    plain("valid_threads", threads().stream(v1, false, 8));  // tiny chunks: threads interleave
    plain("valid_threads_timestamps", threads().stream(v1, true, 8));
    plain("valid_every_opcode", every_opcode().stream(v1));
    plain("valid_every_opcode_timestamps", every_opcode().stream(v1, true));
    plain("valid_no_events", script().stream(v1));
    raw("valid_raw_threads", threads().file(v1, false, 8));
    // Two frames with a skippable frame between them (magic 0x184D2A50, 4 bytes of payload).
    const std::size_t cut = single.size() / 2;
    const bytes skippable = {0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 'f', 'u', 'z', 'z'};
    raw("valid_raw_frames", cat(cat(compress(bytes(single.begin(), single.begin() + static_cast<std::ptrdiff_t>(cut))),
                                    skippable),
                                compress(bytes(single.begin() + static_cast<std::ptrdiff_t>(cut), single.end()))));

    // The compressed file.
    bytes half = single_thread().file(v1);
    half.resize(half.size() / 2);
    raw("bad_truncated_file", half, "truncated: the compressed file ends inside a zstd frame");
    const std::string text = "not a trace\n";
    raw("bad_not_zstd", bytes(text.begin(), text.end()), "corrupt zstd data");
    bytes summed = compress(single, true);
    summed.back() ^= 0xff;  // the frame's content checksum
    raw("bad_zstd_checksum", summed, "corrupt zstd data");
    raw("bad_empty_file", {}, "truncated: the stream ends inside the header");

    // Truncation of the decompressed stream.
    plain("bad_truncated_header", bytes(single.begin(), single.begin() + 13), "truncated: the stream ends inside the header");
    plain("bad_truncated_chunk_header", cat(raw_header(), {0, 0}), "truncated: the stream ends inside a chunk header");
    plain("bad_truncated_event", bytes(single.begin(), single.end() - 1), "truncated: the stream ends inside an event");

    // The header.
    plain("bad_magic", with_byte(single, 0, 'X'), "wrong magic");
    plain("bad_version", with_byte(single, 8, 7), "unsupported version 7");
    plain("bad_pointer_size", with_byte(single, 10, 5), "pointer size 5 is not 4 or 8");
    plain("bad_header_flags", with_byte(single, 11, 0x04), "unknown header flags 0x04");  // bit 1 is the RSS samples'
    plain("bad_v1_rss_flag", with_byte(single, 11, 0x02), "header flags bit 1 (RSS samples) in a version-1 trace");
    plain("bad_page_size", with_byte(single, 13, 0x11), "is not a power of two");
    plain("bad_clock", with_byte(single, 16, 2), "unknown clock 2");
    plain("bad_timestamps_without_clock", with_byte(single, 11, 0x01), "its clock is none");
    bytes long_string = raw_header();
    long_string.resize(24);
    plain("bad_string_length", cat(long_string, varint(std::uint64_t{1} << 40)), "command line length 2^40 exceeds");

    // Chunk headers, including lying lengths.
    plain("bad_thread_id", cat(raw_header(), cat(varint(max_threads), {0, 1, 2, 0x0a, 0})), "thread id 2^24 is absurd");
    plain("bad_first_seq", cat(raw_header(), cat(cat({0}, varint(std::uint64_t{1} << 63)), {1, 2, 0x0a, 0})),
          "overflows (more than 2^63 - 1)");
    plain("bad_chunk_no_events", cat(raw_header(), raw_chunk(0, {})), "has no events");
    plain("bad_chunk_count", cat(raw_header(), raw_chunk(std::uint64_t{1} << 40, {}, 4)), "chunk claims 2^40 events in 4 bytes");
    plain("bad_chunk_bytes", cat(raw_header(), raw_chunk(1, {}, std::uint64_t{1} << 31)), "larger than the 2^30-byte limit");
    plain("bad_chunk_overrun", cat(raw_header(), raw_chunk(1, {0x01, 0x00, 0x01, 0x08}, 2)), "event runs past the end of its chunk");
    plain("bad_chunk_underrun", cat(raw_header(), raw_chunk(1, {0x01, 0x00, 0x01, 0x08, 0x0a, 0x02}, 6)),
          "but its events end here");

    // Events.
    plain("bad_opcode", one_event({0x2a, 0x00}), "unknown opcode 0x2a");
    plain("bad_opcode_zero", one_event({0x00, 0x00}), "unknown opcode 0x00");
    plain("bad_varint_long", one_event({0x01, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x08}),
          "varint longer than 10 bytes");
    plain("bad_varint_overflow", one_event({0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x08}),
          "varint overflows 64 bits");
    plain("bad_size", one_event(cat({0x01, 0x00, 0x01}, varint(std::uint64_t{1} << 62))), "size 2^62 is absurd");
    plain("bad_id", one_event(cat(cat({0x01, 0x00}, varint(std::uint64_t{1} << 49)), {0x08})), "id 2^49 is absurd");
    plain("bad_alignment", one_event(cat({0x06, 0x00, 0x01, 0x40}, cat(varint(std::uint64_t{1} << 50), {0x00}))),
          "alignment 2^50 is absurd");
    plain("bad_new_flags", one_event({0x07, 0x00, 0x01, 0x10, 0x08}), "new: unknown flag bits 0x08");
    plain("bad_flags_not_a_byte", one_event({0x08, 0x00, 0x01, 0x80, 0x02}), "do not fit a byte");
    plain("bad_aligned_which", one_event({0x06, 0x00, 0x01, 0x40, 0x40, 0x05}), "aligned: unknown function 5");
    plain("bad_parent", one_event(cat({0x09, 0x00}, varint(std::uint64_t{max_threads} + 1))), "is absurd");
    plain("bad_seq_negative", one_event({0x0a, 0x01}), "sequence number leaves 0 .. 2^63 - 1");
    bytes ts_header = with_byte(raw_header(), 11, 0x01);
    ts_header[16] = 1;  // CLOCK_MONOTONIC
    const bytes big_time = varint(~std::uint64_t{0});
    plain("bad_time_overflow", cat(ts_header, cat(cat({0, 0}, big_time), {1, 3, 0x0a, 0x00, 0x01})),
          "timestamp overflows 64 bits");

    // What only validate() sees: lifetimes and order.
    script free_dead;
    free_dead.add(op::malloc, 0, 1, 16).add(op::free, 0, 17);
    plain("bad_free_not_live", free_dead.stream(v1), "free of id 17, which is not live");
    script realloc_dead;
    realloc_dead.add(op::malloc, 0, 5, 16).add(op::free, 0, 5).realloc(0, 5, 6, 32);
    plain("bad_realloc_not_live", realloc_dead.stream(v1), "realloc of id 5, which is not live");
    script twice;
    twice.add(op::malloc, 0, 9, 16).add(op::calloc, 0, 9, 8).with(0, 0, 2);
    plain("bad_allocated_twice", twice.stream(v1), "id 9 allocated twice without a free");
    script early_free;  // the free comes first in global order, on another thread
    early_free.add(op::free, 1, 1).add(op::malloc, 0, 1, 8);
    plain("bad_cross_thread_free_first", early_free.stream(v1), "free of id 1, which is not live");
    script seq_twice;
    seq_twice.add(op::malloc, 0, 1, 8).add(op::malloc, 1, 2, 8).seq(0);
    plain("bad_seq_twice", seq_twice.stream(v1), "used twice");
    script after_exit;
    after_exit.add(op::thread_exit, 0).add(op::malloc, 0, 1, 8);
    plain("bad_event_after_exit", after_exit.stream(v1), "after its thread_exit");
    script late_start;
    late_start.add(op::malloc, 0, 1, 8).start(0);
    plain("bad_late_thread_start", late_start.stream(v1), "is not its first event");
    script backwards;  // thread 0's second chunk goes back in seq
    backwards.add(op::malloc, 0, 1, 8).add(op::malloc, 0, 2, 8).add(op::free, 0, 1).seq(0);
    plain("bad_seq_backwards", backwards.stream(v1, false, 1), "goes back in sequence");

    // Version 2: valid traces, some resealed so that the fuzzer's mutations reach the decoder.
    const bytes single2 = single_thread().stream(v2);
    const std::vector<fuzz::v2_block> blocks = fuzz::v2_blocks(single2);  // header, chunk, trailer
    plain("valid_v2_single_thread", single2);
    plain("valid_v2_no_events", script().stream(v2));
    raw("valid_v2_raw_threads", threads().file(v2, false, 8));
    resealed("valid_v2_threads_timestamps", threads().stream(v2, true, 8));
    resealed("valid_v2_every_opcode", every_opcode().stream(v2));

    // Version 2: damage, each refused by its check, and framing the checks cannot vouch for.
    plain("bad_v2_header_checksum", flip(single2, blocks[0].check - 1), "the header fails its checksum");
    plain("bad_v2_chunk_checksum", flip(single2, blocks[1].check - 1),
          "chunk 0 at byte " + std::to_string(blocks[1].start) + " fails its checksum");
    plain("bad_v2_trailer_checksum", flip(single2, single2.size() - 1), "the trailer at byte");
    const bytes two_chunks = threads().stream(v2, false, 8);
    const std::size_t after_first = fuzz::v2_blocks(two_chunks)[1].check + 8;
    plain("bad_v2_truncated_between_chunks",
          bytes(two_chunks.begin(), two_chunks.begin() + static_cast<std::ptrdiff_t>(after_first)),
          "truncated: the stream ends after 1 chunks without its trailer");
    plain("bad_v2_after_trailer", cat(single2, {0x00}), "bytes after the trailer");
    bytes miscounted = single2;
    ++miscounted[blocks[2].check - 1];  // the trailer's event count
    resealed("bad_v2_trailer_counts", miscounted, "the trailer counts 1 chunks and 17 events");
    resealed("bad_v2_block_tag", with_byte(single2, blocks[1].start, 0x44), "unknown block 0x44");
    resealed("bad_v2_chunk_overrun", v2_stream({raw_chunk(1, {0x01, 0x00, 0x01, 0x08}, 2)}, 1),
             "event runs past the end of its chunk");
    bytes lying = v2_stream({}, 0);
    lying.resize(34);  // the header and its check; then a chunk of 1 event in 2^30 bytes, 64 given
    plain("bad_v2_truncated_chunk", cat(cat(lying, {0x43, 0x00, 0x00, 0x01, 0x80, 0x80, 0x80, 0x80, 0x04}), bytes(64, 0x0a)),
          "truncated: the stream ends inside a chunk");

    // Version 2 with the recorded program's RSS samples: valid, and each way the block can be wrong.
    const recorded_rss rss = some_rss();
    const bytes with_rss = single_thread().stream(v2, false, trace_writer::default_chunk_bytes, &rss);
    const std::vector<fuzz::v2_block> rb = fuzz::v2_blocks(with_rss);  // header, chunk, RSS samples, trailer
    const std::size_t rss_at = rb[2].start, rss_end = rb[2].check + 8, trailer_at = rb[3].start;
    const bytes rss_block(with_rss.begin() + static_cast<std::ptrdiff_t>(rss_at), with_rss.begin() + static_cast<std::ptrdiff_t>(rss_end));
    const bytes chunk_block(with_rss.begin() + static_cast<std::ptrdiff_t>(rb[1].start),
                            with_rss.begin() + static_cast<std::ptrdiff_t>(rb[1].check + 8));
    const recorded_rss none;
    plain("valid_v2_rss", with_rss);
    plain("valid_v2_rss_no_samples", threads().stream(v2, true, 8, &none));
    resealed("valid_v2_rss_threads", threads().stream(v2, true, 8, &rss));
    plain("bad_v2_rss_checksum", flip(with_rss, rss_end - 9), "the RSS samples at byte " + std::to_string(rss_at) + " fails its checksum");
    resealed("bad_v2_rss_missing", with_byte(single2, 11, 0x02), "the header announces RSS samples (flags bit 1) and none came");
    resealed("bad_v2_rss_unannounced", with_byte(with_rss, 11, 0x00), "does not announce them");
    resealed("bad_v2_rss_twice", splice(with_rss, rss_at, rss_end, cat(rss_block, rss_block)), "a second block of RSS samples");
    resealed("bad_v2_rss_before_chunk", splice(with_rss, rb[1].start, trailer_at, cat(rss_block, chunk_block)),
             "a chunk after the RSS samples");
    plain("bad_v2_rss_truncated", bytes(with_rss.begin(), with_rss.begin() + static_cast<std::ptrdiff_t>(rss_at + 4)),
          "truncated: the stream ends inside the RSS samples");
    const auto rss_part = [&](const bytes& fields) { return splice(with_rss, rss_at, rss_end, cat(cat({0x52}, fields), bytes(8, 0))); };
    resealed("bad_v2_rss_count", rss_part(cat({0x00, 0x01}, varint(std::uint64_t{1} << 21))), "2^21 RSS samples is more than");
    resealed("bad_v2_rss_time_overflow", rss_part(cat(cat({0x00, 0x01, 0x02}, varint(~std::uint64_t{0})), cat({0x02, 0x01}, {0x02}))),
             "RSS sample 1: its time overflows 64 bits");
    resealed("bad_v2_rss_negative", rss_part({0x00, 0x01, 0x02, 0x00, 0x80, 0x40, 0x01, 0x81, 0x40}),
             "RSS sample 1: resident bytes leave 0 .. 2^48");
    resealed("bad_v2_rss_absurd", rss_part(cat({0x00, 0x01, 0x01, 0x00}, varint(std::uint64_t{1} << 50))),
             "RSS sample 0: resident bytes leave 0 .. 2^48");

    // Inputs trace_reader_fuzz found, kept as they were saved (the stream after the mode byte).
    // One thread (id 122) whose one malloc has id 142538743: replay_plan::build made a table
    // of max_id + 1 entries (5.7 GB) until it renumbered sparse ids. Now refused for its
    // thread id; the same trace on thread 0 is valid and keeps the renumbering covered.
    const bytes sparse_id = {
        0x41, 0x4d, 0x54, 0x52, 0x41, 0x43, 0x45, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0e, 0x6e, 0x2f, 0x61, 0x70, 0x70, 0x20, 0x2d,
        0x2d, 0x73, 0x65, 0x65, 0x64, 0x20, 0x31, 0x04, 0x46, 0x75, 0x00, 0x7a, 0x7a, 0x00, 0x02, 0x09,
        0x01, 0x00, 0xf7, 0xef, 0xfb, 0x43, 0x08, 0x0a, 0x08,
    };
    plain("regress_sparse_id", sparse_id, "thread 122 has events but thread 0 has none");
    plain("regress_sparse_id_thread_0", with_byte(sparse_id, 44, 0x00));
    // A lone thread 1: validate() passed it for a trace of two threads.
    plain("regress_thread_gap", {
        0x41, 0x4d, 0x54, 0x52, 0x41, 0x43, 0x45, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x10, 0x00, 0x01, 0x06, 0x01, 0x04,
        0x01, 0x08, 0x0a, 0x02,
    }, "thread 1 has events but thread 0 has none");
    // Three threads with timestamps where a chunk of one starts before that thread's last
    // time: each chunk decoded, and validate() did not look across chunks.
    plain("regress_time_back", {
        0x41, 0x4d, 0x54, 0x52, 0x41, 0x43, 0x45, 0x00, 0x01, 0x00, 0x08, 0x01, 0x00, 0x10, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0e, 0x2e, 0x2f, 0x61, 0x70, 0x70, 0x20, 0x2d,
        0x2d, 0x73, 0x65, 0x65, 0x64, 0x20, 0x31, 0x04, 0x66, 0x75, 0x7a, 0x7a, 0x00, 0x00, 0xef, 0x84,
        0x3d, 0x02, 0x09, 0x09, 0x00, 0x00, 0x00, 0x01, 0x02, 0x01, 0x30, 0x36, 0x01, 0x02, 0xe2, 0x85,
        0x3d, 0x02, 0x08, 0x09, 0x00, 0x01, 0x00, 0x04, 0x04, 0x01, 0x6c, 0x02, 0x06, 0xb3, 0x87, 0x3d,
        0x02, 0x08, 0x09, 0x00, 0x01, 0x00, 0x04, 0x02, 0x02, 0x3d, 0x00, 0x03, 0xa6, 0x86, 0x3d, 0x02,
        0x0b, 0x01, 0x00, 0x02, 0x40, 0x00, 0x01, 0x0a, 0x02, 0x60, 0x8e, 0x02, 0x02, 0x09, 0xdc, 0x88,
        0x3d, 0x01, 0x08, 0x03, 0x00, 0x01, 0x03, 0x80, 0x02, 0x01, 0x00, 0x01, 0x05, 0xfd, 0x86, 0x3d,
        0x02, 0x0b, 0x01, 0x00, 0x01, 0x50, 0x00, 0x01, 0x0a, 0x01, 0x08, 0x8e, 0x02, 0x01, 0x0b, 0x8a,
        0x3d, 0x01, 0x03, 0x0a, 0x00, 0x00, 0x00, 0x0f, 0x99, 0x8b, 0x3d, 0x01, 0x03, 0x0a, 0x00, 0x00,
    }, "goes back in time");
    return v;
}

// Feeds every seed in `dir` through the fuzz target's decoding and validate(); 0 if each is
// valid or refused with its problem, as its table entry says.
int check(const std::string& dir) {
    int bad = 0;
    const std::string path = temp_path();
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    for (const seed& s : all_seeds()) {
        const std::string file = dir + "/" + s.name;
        if (!std::filesystem::exists(file)) {
            std::fprintf(stderr, "make_fuzz_corpus: %s is missing: regenerate the corpus\n", file.c_str());
            ++bad;
            continue;
        }
        bytes trace;
        if (!fuzz::input_to_file(read_file(file), cctx, trace) || !write_file(path, trace)) {
            std::fprintf(stderr, "make_fuzz_corpus: cannot decode %s into %s\n", file.c_str(), path.c_str());
            ++bad;
            continue;
        }
        std::string got;
        try {
            validate(path);
        } catch (const trace_error& e) {
            got = e.problem;
        }
        const bool ok = s.problem.empty() ? got.empty() : got.find(s.problem) != std::string::npos;
        if (!ok) {
            std::fprintf(stderr, "make_fuzz_corpus: %s: expected %s, got %s\n", file.c_str(),
                         s.problem.empty() ? "a valid trace" : ("\"" + s.problem + "\"").c_str(),
                         got.empty() ? "a valid trace" : ("\"" + got + "\"").c_str());
            ++bad;
        }
    }
    ZSTD_freeCCtx(cctx);
    std::filesystem::remove(path);
    return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string usage =
        "usage: make_fuzz_corpus DIR          write the seed corpus of trace_reader_fuzz into DIR, then check it\n"
        "       make_fuzz_corpus --check DIR  check the seeds in DIR: each valid, or refused as its name says\n"
        "example: build/make_fuzz_corpus workloads/trace/fuzz/fuzz_corpus\n";
    const std::string first = argc > 1 ? argv[1] : "";
    if (argc == 3 && first == "--check") return check(argv[2]);
    if (argc != 2 || first == "--help" || first == "-h" || first.starts_with("-")) {
        std::fputs(usage.c_str(), argc == 2 && (first == "--help" || first == "-h") ? stdout : stderr);
        return argc == 2 && (first == "--help" || first == "-h") ? 0 : 2;
    }
    std::filesystem::create_directories(first);
    std::size_t total = 0, count = 0;
    for (const seed& s : all_seeds()) {
        const bytes in = fuzz::make_input(s.mode, s.data);
        if (!write_file(first + "/" + s.name, in)) {
            std::fprintf(stderr, "make_fuzz_corpus: cannot write %s/%s\n", first.c_str(), s.name.c_str());
            return 1;
        }
        total += in.size();
        ++count;
    }
    std::printf("make_fuzz_corpus: %zu seeds, %zu bytes in %s\n", count, total, first.c_str());
    return check(first);
}
