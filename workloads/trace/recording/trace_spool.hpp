// trace_spool: the recorder's spool, the raw file the LD_PRELOAD shim appends to while the
// program runs (framed blocks of one thread's compact records, addresses not ids), and the
// converter that merges the threads by ordering key into a trace (docs/trace-format.md,
// "The recorder"). The encoding half is inline and never allocates: the shim runs it.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/trace/format/trace_format.hpp"

namespace allocmeter::trace {

static_assert(std::endian::native == std::endian::little, "the spool is written in host order, little-endian");

/// The eight bytes a spool file starts with.
inline constexpr char spool_magic[8] = {'A', 'M', 'S', 'P', 'O', 'O', 'L', '\0'};
/// The only spool version this build writes and reads (2: keys may be TSC readings, which tie;
/// 3: a block of no records announces a thread, and a process that exec'd appends a new header).
inline constexpr std::uint16_t spool_version = 3;
/// Fixed part of the spool header: magic, version, pointer size, flags, page size, the
/// recorded process's pid, two string lengths.
inline constexpr std::size_t spool_header_bytes = 28;
/// spool header flags bit 0: every record carries a CLOCK_MONOTONIC time.
inline constexpr std::uint8_t spool_flag_timestamps = 0x01;
/// spool header flags bit 1: the ordering keys may be TSC readings (threads may tie, and cores
/// may skew a little); without it they all come from one global counter (unique, exact).
inline constexpr std::uint8_t spool_flag_tsc_keys = 0x02;

/// The environment that sets a recorder going: the preload, and what the recorder reads (this
/// one's spool and timestamps, and the older recorder's ALLOCMETER_TRACE_OUT). `record` replaces
/// these in the program's environment; a run that must not be recorded drops them.
inline constexpr std::string_view recorder_variables[] = {"LD_PRELOAD", "ALLOCMETER_SPOOL", "ALLOCMETER_TIMESTAMPS",
                                                          "ALLOCMETER_TRACE_OUT"};
/// TSC keys: how far (in ticks) a record may be moved after another thread's record on the same
/// address that it needs first (an allocation keyed before the release of its address, a
/// release keyed before the allocation it releases). Far above the skew of synchronised TSCs and
/// the lateness of an unfenced rdtsc (well under a microsecond); a few microseconds.
inline constexpr std::uint64_t spool_reorder_window = std::uint64_t{1} << 14;
/// The four bytes every block starts with ("ABLK").
inline constexpr std::uint32_t spool_block_magic = 0x4B4C4241;
/// Block header: magic, thread key, payload bytes, record count, base key, base time, last key,
/// flags (and 4 bytes of 0), checksum.
inline constexpr std::size_t spool_block_header_bytes = 56;
/// Block header flags bit 0: the block's last record is its thread's thread_exit.
inline constexpr std::uint32_t spool_block_ends_thread = 0x01;
/// Largest block payload a reader accepts (the shim writes at most 64 KiB).
inline constexpr std::uint32_t spool_max_payload = std::uint32_t{1} << 24;
/// Largest encoded record: opcode, six varints of up to 10 bytes (realloc with a time).
inline constexpr std::size_t spool_max_record_bytes = 64;

/// What the spool header holds; becomes the trace header.
struct spool_header {
    std::uint8_t pointer_size = sizeof(void*);
    bool timestamps = false;
    bool tsc_keys = false;     ///< keys may be TSC readings, not only the global counter's
    std::uint32_t page_size = 4096;
    std::uint32_t pid = 0;     ///< the recorded process: an image it execs into (same pid) starts the spool over
    std::string command_line;  ///< at most max_string bytes
    std::string host;          ///< at most max_string bytes
};

/// One raw record as the shim captured it: addresses, not ids. The kind is the trace opcode
/// of the event it becomes; free_sized is not recorded (nothing interposes it).
struct spool_record {
    op kind = op::malloc;
    std::uint64_t seq = 0;        ///< ordering key (TSC or global counter); realloc: taken before the call (the release point)
    std::uint64_t seq2 = 0;       ///< realloc only: key taken after the call (the allocation point)
    std::uint64_t time_ns = 0;    ///< CLOCK_MONOTONIC at the event's seq moment (realloc: seq2), when timestamps
    std::uint64_t addr = 0;       ///< allocated or released address (0: NULL or a failed call); realloc: the result
    std::uint64_t old_addr = 0;   ///< realloc: the address passed in
    std::uint64_t size = 0;       ///< as requested, unclamped (calloc: per element)
    std::uint64_t count = 0;      ///< calloc: nmemb
    std::uint64_t alignment = 0;  ///< aligned; new/delete with their aligned flag
    std::uint8_t flags = 0;       ///< new/delete flag bits; aligned: an align_fn
    std::uint32_t parent = 0;     ///< thread_start: the creating thread's key + 1; 0 = none

    bool operator==(const spool_record&) const = default;
};

/// Delta bases of the block being filled. A block is self-contained: its first record's
/// deltas are taken from the block header's base seq and time, and the address from 0.
struct spool_block_state {
    std::uint64_t base_seq = 0, base_time = 0;
    std::uint64_t prev_seq = 0, prev_time = 0, prev_addr = 0;  ///< prev_seq: the last key so far
    std::uint32_t count = 0;  ///< records in the block so far
    bool ends_thread = false;  ///< the last record so far is a thread_exit
};

namespace spool_detail {

// always_inline: the shim calls the encoder with a constant kind on every allocation; inlined,
// the switch folds away (and a shared library would otherwise call it through the PLT).
[[gnu::always_inline]] inline unsigned char* put_varint(unsigned char* p, std::uint64_t v) {
    while (v >= 0x80) {
        *p++ = static_cast<unsigned char>(v | 0x80);
        v >>= 7;
    }
    *p++ = static_cast<unsigned char>(v);
    return p;
}

[[gnu::always_inline]] inline unsigned char* put_addr(unsigned char* p, spool_block_state& s, std::uint64_t a) {
    const auto d = static_cast<std::int64_t>(a - s.prev_addr);  // wraps: any two addresses have a delta
    s.prev_addr = a;
    return put_varint(p, (static_cast<std::uint64_t>(d) << 1) ^ static_cast<std::uint64_t>(d >> 63));
}

inline void put_le(unsigned char* p, std::uint64_t v, std::size_t bytes) { std::memcpy(p, &v, bytes); }

}  // namespace spool_detail

/// Encodes `r` at `p` (room for spool_max_record_bytes) and returns the end. Records of one
/// block must come in increasing key (and, with timestamps, non-decreasing time).
[[gnu::always_inline]] inline unsigned char* encode_spool_record(unsigned char* p, spool_block_state& s, const spool_record& r,
                                          bool timestamps) {
    using namespace spool_detail;
    if (s.count == 0) {
        s.base_seq = s.prev_seq = r.seq;
        s.base_time = s.prev_time = r.time_ns;
        s.prev_addr = 0;
    }
    *p++ = static_cast<unsigned char>(r.kind);
    p = put_varint(p, r.seq - s.prev_seq);
    s.prev_seq = r.seq;
    if (timestamps) {
        const std::uint64_t t = r.time_ns < s.prev_time ? s.prev_time : r.time_ns;  // never negative
        p = put_varint(p, t - s.prev_time);
        s.prev_time = t;
    }
    switch (r.kind) {
        case op::malloc:
            p = put_addr(p, s, r.addr);
            p = put_varint(p, r.size);
            break;
        case op::calloc:
            p = put_addr(p, s, r.addr);
            p = put_varint(p, r.count);
            p = put_varint(p, r.size);
            break;
        case op::realloc:
            p = put_varint(p, r.seq2 - r.seq);
            s.prev_seq = r.seq2;
            p = put_addr(p, s, r.old_addr);
            p = put_addr(p, s, r.addr);
            p = put_varint(p, r.size);
            break;
        case op::free: p = put_addr(p, s, r.addr); break;
        case op::aligned:
            p = put_addr(p, s, r.addr);
            p = put_varint(p, r.size);
            p = put_varint(p, r.alignment);
            *p++ = r.flags;
            break;
        case op::new_:
            p = put_addr(p, s, r.addr);
            p = put_varint(p, r.size);
            *p++ = r.flags;
            if (r.flags & new_aligned) p = put_varint(p, r.alignment);
            break;
        case op::delete_:
            p = put_addr(p, s, r.addr);
            *p++ = r.flags;
            if (r.flags & delete_sized) p = put_varint(p, r.size);
            if (r.flags & delete_aligned) p = put_varint(p, r.alignment);
            break;
        case op::thread_start: p = put_varint(p, r.parent); break;
        case op::free_sized:  // not recorded
        case op::thread_exit: break;
    }
    ++s.count;
    s.ends_thread = r.kind == op::thread_exit;
    return p;
}

/// Checksum of a block (header bytes before the checksum field, then the payload): catches a
/// block torn by a kill in the middle of its write(). About a cycle per 2 bytes.
inline std::uint64_t spool_checksum(const unsigned char* p, std::size_t n, std::uint64_t h = 0x243F6A8885A308D3ull) {
    constexpr std::uint64_t k = 0x9E3779B97F4A7C15ull;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        h = std::rotl((h ^ w) * k, 29);
    }
    std::uint64_t w = 0;
    std::memcpy(&w, p + i, n - i);
    return std::rotl((h ^ w ^ n) * k, 29);
}

/// Fills the spool_block_header_bytes in front of a block's payload (`block` points at the
/// header, the payload follows it). The block is then written as is.
inline void finish_spool_block(unsigned char* block, std::uint32_t thread_key, const spool_block_state& s,
                               std::uint32_t payload_bytes) {
    using spool_detail::put_le;
    put_le(block, spool_block_magic, 4);
    put_le(block + 4, thread_key, 4);
    put_le(block + 8, payload_bytes, 4);
    put_le(block + 12, s.count, 4);
    put_le(block + 16, s.base_seq, 8);
    put_le(block + 24, s.base_time, 8);
    put_le(block + 32, s.prev_seq, 8);
    put_le(block + 40, s.ends_thread ? spool_block_ends_thread : 0, 4);
    put_le(block + 44, 0, 4);
    const std::uint64_t head = spool_checksum(block, 48);
    put_le(block + 48, spool_checksum(block + spool_block_header_bytes, payload_bytes, head), 8);
}

/// The spool's header bytes (written once, before any block). Throws std::length_error for a
/// string over max_string.
inline std::string encode_spool_header(const spool_header& h) {
    if (h.command_line.size() > max_string || h.host.size() > max_string)
        throw std::length_error("spool header string longer than 1 MiB");
    std::string out(spool_header_bytes, '\0');
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    std::memcpy(p, spool_magic, sizeof spool_magic);
    spool_detail::put_le(p + 8, spool_version, 2);
    p[10] = h.pointer_size;
    p[11] = static_cast<unsigned char>((h.timestamps ? spool_flag_timestamps : 0) | (h.tsc_keys ? spool_flag_tsc_keys : 0));
    spool_detail::put_le(p + 12, h.page_size, 4);
    spool_detail::put_le(p + 16, h.pid, 4);
    spool_detail::put_le(p + 20, h.command_line.size(), 4);
    spool_detail::put_le(p + 24, h.host.size(), 4);
    return out + h.command_line + h.host;
}

/// Builds one block in memory: for tests and tools (the shim fills its mmap'd buffer directly).
class spool_block_builder {
public:
    spool_block_builder(std::uint32_t thread_key, bool timestamps) : key_(thread_key), timestamps_(timestamps) {
        bytes_.resize(spool_block_header_bytes);
    }
    /// Appends a record (seq increasing within the block).
    void add(const spool_record& r) {
        const std::size_t at = bytes_.size();
        bytes_.resize(at + spool_max_record_bytes);
        unsigned char* end = encode_spool_record(bytes_.data() + at, state_, r, timestamps_);
        bytes_.resize(static_cast<std::size_t>(end - bytes_.data()));
    }
    /// The framed block: header and payload.
    std::string bytes() {
        finish_spool_block(bytes_.data(), key_, state_,
                           static_cast<std::uint32_t>(bytes_.size() - spool_block_header_bytes));
        return std::string(bytes_.begin(), bytes_.end());
    }

private:
    std::uint32_t key_;
    bool timestamps_;
    spool_block_state state_;
    std::vector<unsigned char> bytes_;
};

/// A spool that cannot be read or converted: "<file>: byte <N>: <problem>" (no byte part when
/// no position applies).
struct spool_error : std::runtime_error {
    static constexpr std::uint64_t no_offset = trace_error::no_offset;

    spool_error(const std::string& file, std::uint64_t offset, const std::string& problem);

    std::string file;      ///< the spool's path
    std::uint64_t offset;  ///< byte of the spool file, or no_offset
    std::string problem;   ///< the message without file and offset
};

/// How convert_spool treats a damaged block.
struct spool_options {
    /// false: a damaged block is a spool_error. true: convert the blocks before the first
    /// damaged one and report the damage in spool_summary::damage (for a program that was
    /// killed, possibly in the middle of a block's write).
    bool salvage = false;
    /// The recorded program's RSS samples (record's sampler), or null: convert_spool announces
    /// them in the trace's header when set (a spool_converter, when made with rss_samples), and
    /// what this points to is read when the trace is closed, after the last event.
    const recorded_rss* rss = nullptr;
};

/// What convert_spool read and wrote.
struct spool_summary {
    std::uint64_t blocks = 0;            ///< blocks converted
    std::uint64_t records = 0;           ///< raw records read
    std::uint64_t events = 0;            ///< events written to the trace
    std::uint32_t threads = 0;           ///< threads in the trace
    std::uint64_t unknown_releases = 0;  ///< frees of addresses never seen allocated (dropped)
    std::uint64_t orphaned = 0;          ///< objects left live because their address came back unreleased
    std::uint64_t reordered = 0;         ///< TSC keys: records moved after another thread's record on their address
    bool tsc_keys = false;               ///< the spool's keys were TSC readings (else the global counter)
    std::string damage;                  ///< salvage: why conversion stopped early; empty when the spool was whole
    trace_summary trace;                 ///< what validating the trace written learned
};

/// convert_spool in steps, so that converting keeps up with the program while it runs: follow()
/// as often as it suits the caller while the spool is written (it converts what no record
/// still to come can precede: every thread announces itself before its first key is taken, and
/// its records come in key order), then finish() once the program has exited. A spool that
/// does not exist yet is waited for; one that following cannot handle (damage: the program may
/// have been killed in the middle of a write) stops the following, and finish() converts it from
/// the start, reporting what convert_spool reports.
class spool_converter {
public:
    /// `rss_samples`: the trace's header announces the program's RSS samples, which finish()
    /// gets in spool_options::rss (the header is written before they are known).
    spool_converter(std::string spool_path, std::string trace_path, bool rss_samples = false);
    ~spool_converter();
    spool_converter(const spool_converter&) = delete;
    spool_converter& operator=(const spool_converter&) = delete;

    /// Converts what can be converted now; true when it read something new.
    bool follow();
    /// False once following stopped (finish() then starts over).
    bool following() const;
    /// Events written to the trace so far.
    std::uint64_t events() const;
    /// Converts the rest, closes and checks the trace: what convert_spool returns or throws.
    spool_summary finish(const spool_options& options = {});

private:
    class impl;
    std::unique_ptr<impl> impl_;
};

/// Converts the spool at `spool_path` into a trace at `trace_path`: merges the threads'
/// record streams by key (TSC keys: ties in any order, and a record keyed up to
/// spool_reorder_window before another thread's record that it needs first moved after it), gives
/// each address the smallest id not live (1, 2, ...; 0 is NULL), clamps sizes to max_size,
/// renumbers seq densely and writes with trace_writer. Each event is checked as validate() would
/// check it, as it is written (trace_validator::as_written). Throws spool_error for a bad spool
/// (one whose events fail those checks too, naming the record) and trace_error when the trace
/// cannot be written.
spool_summary convert_spool(const std::string& spool_path, const std::string& trace_path,
                            const spool_options& options = {});

}  // namespace allocmeter::trace
