// trace_format: encoding and decoding of the trace file, versions 1 and 2 (docs/trace-format.md).
// The writer keeps one encoded buffer per thread and compresses whole chunks, and writes the RSS
// samples it was given last, at close; the reader
// decodes byte by byte from a zstd stream (version 2: from a chunk buffered as it arrives and
// checked whole first), so no allocation is ever larger than what the stream delivered.
#include "workloads/trace/format/trace_format.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>

namespace allocmeter::trace {

namespace {

constexpr std::uint64_t max_seq = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
constexpr std::uint8_t header_flag_timestamps = 0x01;
constexpr std::uint8_t header_flag_rss = 0x02;  // version 2: the RSS samples block comes before the trailer
// Version 2 (docs/trace-format.md, "Checks"): a tag opens each block after the header, and each
// block, the header too, ends with its check.
constexpr std::uint8_t chunk_tag = 0x43;    // 'C'
constexpr std::uint8_t trailer_tag = 0x45;  // 'E'
constexpr std::uint8_t rss_tag = 0x52;      // 'R': the RSS samples, after the last chunk
constexpr int check_bytes = 8;

// "versions 1 to 2", for messages about a version this build does not handle.
std::string known_versions() {
    return "versions " + std::to_string(oldest_format_version) + " to " + std::to_string(format_version);
}

// ---- small helpers shared by writer and reader ----------------------------------------

void put_varint(std::vector<std::uint8_t>& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<std::uint8_t>(v) | 0x80);
        v >>= 7;
    }
    out.push_back(static_cast<std::uint8_t>(v));
}

void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t zigzag(std::int64_t v) {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

std::int64_t unzigzag(std::uint64_t u) {
    return static_cast<std::int64_t>(u >> 1) ^ -static_cast<std::int64_t>(u & 1);
}

// "2^62" for a large power of two, else the decimal value: big corrupt values read better.
std::string describe(std::uint64_t v) {
    if (v >= 1024 && std::has_single_bit(v)) return "2^" + std::to_string(std::countr_zero(v));
    return std::to_string(v);
}

std::string hex_byte(unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", v & 0xffu);
    return buf;
}

std::string hex_check(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
    return buf;
}

bool known_op(std::uint8_t b) { return b >= 0x01 && b <= 0x0a; }

std::string absurd_bytes(const char* field, std::uint64_t v) {
    return std::string(field) + " " + describe(v) + " is absurd (more than 2^48 bytes)";
}

std::string absurd_id(const char* field, std::uint64_t v) {
    return std::string(field) + " " + describe(v) + " is absurd (more than 2^48; ids are dense)";
}

std::string absurd_thread(std::uint64_t v) {
    return "thread id " + describe(v) + " is absurd (more than 2^24 threads; thread ids are dense)";
}

// The flag bits an opcode allows; an aligned event's flags hold an align_fn instead.
std::uint8_t allowed_flags(op k) {
    switch (k) {
        case op::realloc: return realloc_moved;
        case op::new_: return new_array | new_aligned | new_nothrow;
        case op::delete_: return delete_array | delete_sized | delete_aligned;
        default: return 0;
    }
}

// Whether `flags` are valid for an event of kind k: known flag bits, or an aligned event's align_fn.
bool flags_allowed(op k, std::uint8_t flags) {
    if (k == op::aligned) return flags <= static_cast<std::uint8_t>(align_fn::pvalloc);
    return (flags & ~allowed_flags(k)) == 0;
}

std::string flags_problem(op k, std::uint8_t flags) {
    if (flags_allowed(k, flags)) return {};
    if (k == op::aligned) return "aligned: unknown function " + std::to_string(flags) + " (0..4 are defined)";
    return std::string(op_name(k)) + ": unknown flag bits " + hex_byte(flags & ~allowed_flags(k));
}

// Whether event_problem() has nothing to say, without building its message (the writer asks
// this of every event; the message is built only for an event it refuses).
bool event_fits(const event& e) {
    const auto raw = static_cast<std::uint8_t>(e.kind);
    if (!known_op(raw) || e.thread >= max_threads || e.seq > max_seq) return false;
    if (e.id > max_id || e.old_id > max_id || e.size > max_size || e.count > max_size || e.alignment > max_size) return false;
    if (!flags_allowed(e.kind, e.flags)) return false;
    return e.kind != op::thread_start || e.parent == no_thread || e.parent < max_threads;
}

// What the writer refuses: anything the reader would reject.
std::string event_problem(const event& e) {
    const auto raw = static_cast<std::uint8_t>(e.kind);
    if (!known_op(raw)) return "unknown opcode " + hex_byte(raw);
    if (e.thread >= max_threads) return absurd_thread(e.thread);
    if (e.seq > max_seq) return "sequence number " + describe(e.seq) + " overflows (more than 2^63 - 1)";
    if (e.id > max_id) return absurd_id("id", e.id);
    if (e.old_id > max_id) return absurd_id("old id", e.old_id);
    if (e.size > max_size) return absurd_bytes("size", e.size);
    if (e.count > max_size) return absurd_bytes("count", e.count);
    if (e.alignment > max_size) return absurd_bytes("alignment", e.alignment);
    if (std::string p = flags_problem(e.kind, e.flags); !p.empty()) return p;
    if (e.kind == op::thread_start && e.parent != no_thread && e.parent >= max_threads)
        return absurd_thread(e.parent);
    return {};
}

[[noreturn]] void fail(const std::string& file, std::uint64_t offset, const std::string& problem) {
    throw trace_error(file, offset, problem);
}

// What the writer refuses of RSS samples: anything the reader would reject.
std::string rss_problem(const recorded_rss& rss) {
    if (rss.points.size() > max_rss_points)
        return std::to_string(rss.points.size()) + " RSS samples is more than the 2^20 a trace holds";
    for (std::size_t i = 0; i < rss.points.size(); ++i) {
        if (rss.points[i].bytes > max_size) return "RSS sample " + std::to_string(i) + ": " + absurd_bytes("resident bytes", rss.points[i].bytes);
        if (i > 0 && rss.points[i].t_us < rss.points[i - 1].t_us)
            return "RSS sample " + std::to_string(i) + " goes back in time (" + std::to_string(rss.points[i].t_us) +
                   " us after " + std::to_string(rss.points[i - 1].t_us) + " us)";
    }
    return {};
}

// ---- the event payload, for writer and reader alike --------------------------------------

// The fields that follow an event's opcode and sequence delta, in wire order (docs/trace-format.md,
// "Events"): the one statement of each opcode's layout, walked by the writer to encode and by the
// reader to decode, so that the two cannot disagree. `f` is called as f.id(field, name), f.bytes(field,
// name), f.flags(field) and f.parent(field); a field that the flags govern comes after them, so
// a decoder has read the flags by the time they are tested.
template <class Event, class Fields>
void visit_payload(Event& e, Fields&& f) {
    switch (e.kind) {
        case op::malloc:
        case op::free_sized:
            f.id(e.id, "id");
            f.bytes(e.size, "size");
            break;
        case op::calloc:
            f.id(e.id, "id");
            f.bytes(e.count, "count");
            f.bytes(e.size, "size");
            break;
        case op::realloc:
            f.id(e.old_id, "old id");
            f.id(e.id, "id");
            f.bytes(e.size, "size");
            f.flags(e.flags);
            break;
        case op::free:
            f.id(e.id, "id");
            break;
        case op::aligned:
            f.id(e.id, "id");
            f.bytes(e.size, "size");
            f.bytes(e.alignment, "alignment");
            f.flags(e.flags);
            break;
        case op::new_:
            f.id(e.id, "id");
            f.bytes(e.size, "size");
            f.flags(e.flags);
            if (e.flags & new_aligned) f.bytes(e.alignment, "alignment");
            break;
        case op::delete_:
            f.id(e.id, "id");
            f.flags(e.flags);
            if (e.flags & delete_sized) f.bytes(e.size, "size");
            if (e.flags & delete_aligned) f.bytes(e.alignment, "alignment");
            break;
        case op::thread_start:
            f.parent(e.parent);
            break;
        case op::thread_exit:
            break;
    }
}

// A varint at p, which has room for 10 bytes; returns the end.
std::uint8_t* put_varint(std::uint8_t* p, std::uint64_t v) {
    while (v >= 0x80) {
        *p++ = static_cast<std::uint8_t>(v) | 0x80;
        v >>= 7;
    }
    *p++ = static_cast<std::uint8_t>(v);
    return p;
}

// The most bytes an event takes: its opcode, then at most seven varints (seq, five payload
// fields, time).
constexpr std::size_t max_event_bytes = 1 + 7 * 10;

// The writer's side of visit_payload: every field a varint, written at p.
struct payload_encoder {
    std::uint8_t*& p;

    void id(std::uint64_t v, const char*) { p = put_varint(p, v); }
    void bytes(std::uint64_t v, const char*) { p = put_varint(p, v); }
    void flags(std::uint8_t v) { p = put_varint(p, v); }
    // 0 for no recorded parent, else its thread id + 1.
    void parent(std::uint32_t t) { p = put_varint(p, t == no_thread ? 0 : std::uint64_t{t} + 1); }
};

// ---- the decompressed byte stream -------------------------------------------------------

/// Opens `path` for reading if it is a regular file. Opened without blocking and checked
/// before any read, so a FIFO or a device is refused at once instead of waiting in open().
std::FILE* open_regular_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) fail(path, trace_error::no_offset, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, trace_error::no_offset, "not a regular file (a FIFO, a device or a folder); give a trace file");
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    std::FILE* file = ::fdopen(fd, "rb");
    if (file == nullptr) {
        ::close(fd);
        fail(path, trace_error::no_offset, std::string("cannot open: ") + std::strerror(errno));
    }
    return file;
}

// Bytes of the decompressed stream, one at a time, from a file of concatenated zstd frames.
class byte_source {
public:
    /// `growing`: called at the end of the file, while a writer may still be writing it; it
    /// waits a little for more (or for the writer to close) and says whether more may come.
    byte_source(const std::string& path, std::function<bool()> growing) : path_(path), growing_(std::move(growing)) {
        file_ = open_regular_file(path);
        dctx_ = ZSTD_createDCtx();
        if (dctx_ == nullptr) {
            std::fclose(file_);
            fail(path, trace_error::no_offset, "cannot create a zstd decompression context");
        }
        in_.resize(ZSTD_DStreamInSize());
        out_.resize(ZSTD_DStreamOutSize());
    }
    byte_source(const byte_source&) = delete;
    byte_source& operator=(const byte_source&) = delete;
    ~byte_source() {
        ZSTD_freeDCtx(dctx_);
        std::fclose(file_);
    }

    /// The next byte; false at the end of the stream.
    bool get(std::uint8_t& b) {
        if (pos_ == len_ && !refill()) return false;
        b = out_[pos_++];
        ++offset_;
        return true;
    }
    /// Appends the next `n` bytes to `to`, fewer when the stream ends first; returns how many.
    /// `to` grows with what arrives (doubling), never past its size plus `n`: a length field
    /// that lies costs no more memory than the bytes behind it.
    std::uint64_t read(std::vector<std::uint8_t>& to, std::uint64_t n) {
        std::uint64_t done = 0;
        while (done < n && (pos_ < len_ || refill())) {
            const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n - done, len_ - pos_));
            if (to.size() + k > to.capacity())
                to.reserve(static_cast<std::size_t>(
                    std::min<std::uint64_t>(to.size() + (n - done), std::max(2 * to.capacity(), to.size() + k))));
            to.insert(to.end(), out_.begin() + static_cast<std::ptrdiff_t>(pos_),
                      out_.begin() + static_cast<std::ptrdiff_t>(pos_ + k));
            pos_ += k;
            offset_ += k;
            done += k;
        }
        return done;
    }
    /// True when no byte is left (reads ahead, consumes nothing).
    bool at_end() { return pos_ == len_ && !refill(); }
    std::uint64_t offset() const noexcept { return offset_; }
    const std::string& path() const noexcept { return path_; }

private:
    // Decompresses until some output appears; false at a clean end of the file.
    bool refill() {
        pos_ = len_ = 0;
        for (;;) {
            if (in_pos_ == in_len_ && !output_pending_) {
                if (eof_) break;
                in_len_ = std::fread(in_.data(), 1, in_.size(), file_);
                in_pos_ = 0;
                if (in_len_ == 0) {
                    if (std::ferror(file_))
                        fail(path_, offset_, std::string("read error: ") + std::strerror(errno));
                    if (growing_) {
                        std::clearerr(file_);
                        if (!growing_()) growing_ = nullptr;  // it stopped growing: one more read finds its end
                        continue;
                    }
                    eof_ = true;
                    break;
                }
                file_read_ += in_len_;
            }
            ZSTD_inBuffer in{in_.data(), in_len_, in_pos_};
            ZSTD_outBuffer out{out_.data(), out_.size(), 0};
            const std::size_t r = ZSTD_decompressStream(dctx_, &out, &in);
            if (ZSTD_isError(r)) {
                const std::uint64_t at = file_read_ - (in_len_ - in_pos_);
                fail(path_, offset_,
                     std::string("corrupt zstd data (") + ZSTD_getErrorName(r) + ") near byte " +
                         std::to_string(at) + " of the compressed file");
            }
            in_pos_ = in.pos;
            frame_open_ = r != 0;
            // A full output buffer may leave more output inside zstd with no input needed.
            output_pending_ = out.pos == out.size;
            if (out.pos > 0) {
                len_ = out.pos;
                return true;
            }
        }
        if (frame_open_)
            fail(path_, offset_, "truncated: the compressed file ends inside a zstd frame");
        return false;
    }

    std::string path_;
    std::function<bool()> growing_;
    std::FILE* file_ = nullptr;
    ZSTD_DCtx* dctx_ = nullptr;
    std::vector<std::uint8_t> in_, out_;
    std::size_t in_pos_ = 0, in_len_ = 0;
    std::size_t pos_ = 0, len_ = 0;
    std::uint64_t offset_ = 0;     // decompressed bytes consumed
    std::uint64_t file_read_ = 0;  // compressed bytes read
    bool eof_ = false;
    bool frame_open_ = false;
    bool output_pending_ = false;
};

}  // namespace

const char* op_name(op k) noexcept {
    switch (k) {
        case op::malloc: return "malloc";
        case op::calloc: return "calloc";
        case op::realloc: return "realloc";
        case op::free: return "free";
        case op::free_sized: return "free_sized";
        case op::aligned: return "aligned";
        case op::new_: return "new";
        case op::delete_: return "delete";
        case op::thread_start: return "thread_start";
        case op::thread_exit: return "thread_exit";
    }
    return "?";
}

std::uint64_t stream_check(const std::uint8_t* data, std::size_t n, std::uint64_t seed) noexcept {
    return XXH3_64bits_withSeed(data, n, seed);
}

std::uint64_t requested_bytes(const event& e) noexcept {
    if (e.kind != op::calloc) return e.size;
    std::uint64_t bytes;
    if (__builtin_mul_overflow(e.count, e.size, &bytes)) return max_size;
    return std::min(bytes, max_size);
}

rss_summary summarize(const recorded_rss& rss) noexcept {
    rss_summary s;
    s.samples = rss.points.size();
    s.period_us = rss.period_us;
    if (rss.points.empty()) return s;
    s.span_us = rss.points.back().t_us;
    s.first_bytes = rss.points.front().bytes;
    for (const rss_point& p : rss.points)
        if (p.bytes > s.peak_bytes) {
            s.peak_bytes = p.bytes;
            s.peak_at_us = p.t_us;
        }
    return s;
}

// ---- trace_error ---------------------------------------------------------------------------

trace_error::trace_error(const std::string& f, std::uint64_t off, const std::string& p)
    : std::runtime_error(f + ": " +
                         (off == no_offset ? std::string()
                                           : "byte " + std::to_string(off) + " of the decompressed stream: ") +
                         p),
      file(f),
      offset(off),
      problem(p) {}

// ---- writer --------------------------------------------------------------------------------

namespace {

// Encoded bytes that grow by whole events: room for the largest is made, the event encoded
// into it, and the size set to where it ended (a vector would zero the room first).
class event_bytes {
public:
    /// Room for n more bytes at end(); the contents before it stay.
    std::uint8_t* room(std::size_t n) {
        if (size_ + n > capacity_) {
            const std::size_t capacity = std::max(2 * capacity_, size_ + n);
            auto grown = std::make_unique_for_overwrite<std::uint8_t[]>(capacity);
            if (size_ != 0) std::memcpy(grown.get(), data_.get(), size_);
            data_ = std::move(grown);
            capacity_ = capacity;
        }
        return data_.get() + size_;
    }
    /// The bytes written into room() end at `end`.
    void grow_to(const std::uint8_t* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
    const std::uint8_t* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    void clear() noexcept { size_ = 0; }
    void release() noexcept {
        data_.reset();
        size_ = capacity_ = 0;
    }

private:
    std::unique_ptr<std::uint8_t[]> data_;
    std::size_t size_ = 0, capacity_ = 0;
};

// One thread's events not yet written, already encoded.
struct thread_buffer {
    event_bytes bytes;
    std::uint64_t count = 0;
    std::uint64_t first_seq = 0, prev_seq = 0;
    std::uint64_t first_time = 0, prev_time = 0;
    std::uint64_t first_append = 0;  // the writer's event count at the first buffered event
};

// A buffer that was started: which thread, and when (a FIFO, so the oldest is at the front).
struct buffer_start {
    std::uint32_t thread;
    std::uint64_t append;
};

// Appends the check of a version-2 block (`block` holds it from its first byte), chained from
// the check before it, which `chain` holds and is updated to this one.
void seal(std::vector<std::uint8_t>& block, std::uint64_t& chain) {
    chain = stream_check(block.data(), block.size(), chain);
    put_le(block, chain, check_bytes);
}

}  // namespace

struct trace_writer::impl {
    std::string path;
    std::uint16_t version = format_version;
    bool timestamps = false;
    std::size_t chunk_bytes = default_chunk_bytes;
    std::FILE* file = nullptr;
    ZSTD_CCtx* cctx = nullptr;
    std::vector<std::uint8_t> out;
    std::vector<std::uint8_t> scratch;
    std::vector<thread_buffer> threads;
    std::deque<buffer_start> starts;  // of buffers that may still hold events
    std::uint64_t events = 0;
    std::uint64_t chunks = 0;
    std::uint64_t chain = 0;  // version 2: the last block's check
    bool rss_announced = false;  // the header has flags bit 1: the RSS samples block is written at close
    recorded_rss rss;
    bool closed = false;

    ~impl() {
        ZSTD_freeCCtx(cctx);
        if (file != nullptr) std::fclose(file);
    }

    void write_out(std::size_t n) {
        if (n != 0 && std::fwrite(out.data(), 1, n, file) != n)
            fail(path, trace_error::no_offset, std::string("write error: ") + std::strerror(errno));
    }

    void compress(const std::uint8_t* data, std::size_t n, ZSTD_EndDirective mode) {
        ZSTD_inBuffer in{data, n, 0};
        for (;;) {
            ZSTD_outBuffer o{out.data(), out.size(), 0};
            const std::size_t r = ZSTD_compressStream2(cctx, &o, &in, mode);
            if (ZSTD_isError(r))
                fail(path, trace_error::no_offset, std::string("zstd compression failed: ") + ZSTD_getErrorName(r));
            write_out(o.pos);
            if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size) break;
        }
    }

    void flush_chunk(std::uint32_t t) {
        thread_buffer& b = threads[t];
        if (b.count == 0) return;
        scratch.clear();
        if (has_checks(version)) scratch.push_back(chunk_tag);
        put_varint(scratch, t);
        put_varint(scratch, b.first_seq);
        if (timestamps) put_varint(scratch, b.first_time);
        put_varint(scratch, b.count);
        put_varint(scratch, b.bytes.size());
        if (has_checks(version)) {  // one block: tag, fields, events, then its check
            scratch.insert(scratch.end(), b.bytes.data(), b.bytes.data() + b.bytes.size());
            seal(scratch, chain);
            compress(scratch.data(), scratch.size(), ZSTD_e_continue);
        } else {
            compress(scratch.data(), scratch.size(), ZSTD_e_continue);
            compress(b.bytes.data(), b.bytes.size(), ZSTD_e_continue);
        }
        b.bytes.clear();
        b.count = 0;
        ++chunks;
    }

    // The RSS samples block: start, period, count, then per sample its time and resident bytes
    // as deltas from the previous sample's (unsigned, zigzag).
    void write_rss() {
        scratch.assign(1, rss_tag);
        put_varint(scratch, rss.start_ns);
        put_varint(scratch, rss.period_us);
        put_varint(scratch, rss.points.size());
        rss_point prev;
        for (const rss_point& p : rss.points) {
            put_varint(scratch, p.t_us - prev.t_us);
            put_varint(scratch, zigzag(static_cast<std::int64_t>(p.bytes) - static_cast<std::int64_t>(prev.bytes)));
            prev = p;
        }
        seal(scratch, chain);
        compress(scratch.data(), scratch.size(), ZSTD_e_continue);
    }

    // Version 2's last block: the counts, so that a stream cut between chunks is seen as cut.
    void write_trailer() {
        scratch.assign(1, trailer_tag);
        put_varint(scratch, chunks);
        put_varint(scratch, events);
        seal(scratch, chain);
        compress(scratch.data(), scratch.size(), ZSTD_e_continue);
    }

    // The flush policy's age rule: buffers whose first event is flush_window appends old.
    // Entries of buffers flushed meanwhile (or started again since) are skipped.
    void flush_old_buffers() {
        while (!starts.empty() && events - starts.front().append >= flush_window) {
            const buffer_start s = starts.front();
            starts.pop_front();
            if (threads[s.thread].count != 0 && threads[s.thread].first_append == s.append) flush_chunk(s.thread);
        }
    }
};

trace_writer::trace_writer(const std::string& path, const trace_header& h, std::size_t chunk_bytes,
                           int compress_threads)
    : impl_(std::make_unique<impl>()) {
    impl& w = *impl_;
    w.path = path;
    w.version = h.version;
    w.timestamps = h.timestamps;
    w.chunk_bytes = chunk_bytes == 0 ? 1 : chunk_bytes;
    if (h.version < oldest_format_version || h.version > format_version)
        fail(path, trace_error::no_offset,
             "cannot write version " + std::to_string(h.version) + " (this build writes " + known_versions() + ")");
    if (h.pointer_size != 4 && h.pointer_size != 8)
        fail(path, trace_error::no_offset, "pointer size " + std::to_string(h.pointer_size) + " is not 4 or 8");
    if (!std::has_single_bit(h.page_size) || h.page_size > (1u << 30))
        fail(path, trace_error::no_offset, "page size " + std::to_string(h.page_size) + " is not a power of two up to 2^30");
    if (h.clock != clock_source::none && h.clock != clock_source::monotonic_ns)
        fail(path, trace_error::no_offset, "unknown clock " + std::to_string(static_cast<std::uint64_t>(h.clock)));
    if (h.timestamps && h.clock == clock_source::none)
        fail(path, trace_error::no_offset, "timestamps need a clock (the header's clock is none)");
    if (h.command_line.size() > max_string || h.host.size() > max_string)
        fail(path, trace_error::no_offset, "a header string is longer than 1 MiB");
    if (h.rss_samples && !has_checks(h.version))
        fail(path, trace_error::no_offset, "RSS samples need format version 2 (version 1 has no place for them)");
    w.rss_announced = h.rss_samples;

    w.file = std::fopen(path.c_str(), "wb");
    if (w.file == nullptr)
        fail(path, trace_error::no_offset, std::string("cannot create: ") + std::strerror(errno));
    w.cctx = ZSTD_createCCtx();
    if (w.cctx == nullptr) fail(path, trace_error::no_offset, "cannot create a zstd compression context");
    // Level 3's strategy (dfast) with matches from 4 bytes (the events' deltas are short), a
    // 256 KiB window (zstd's worker buffers follow it: record's peak RSS 29 MiB, against 42 MiB
    // with 1 MiB) and tables a quarter of level 3's. zstd -b3 on decompressed traces with
    // --zstd=wlog=18,clog=14,hlog=15,slog=1,mml=4,strat=2: a 295 MB Python recording 19% smaller
    // and about 1.25x faster to compress; a 39 MB allocation loop, whose repeats lie far apart,
    // 22% larger (with tables of level 3's size, 11%, but no faster than level 3 on the Python one).
    ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_strategy, ZSTD_dfast);
    ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_windowLog, 18);
    ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_chainLog, 14);
    ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_hashLog, 15);
    ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_searchLog, 1);
    ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_minMatch, 4);
    // A libzstd built without threads refuses workers: it then compresses in the caller's thread.
    if (compress_threads > 0) ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_nbWorkers, compress_threads);
    w.out.resize(ZSTD_CStreamOutSize());

    std::vector<std::uint8_t> hdr(magic, magic + sizeof magic);
    put_le(hdr, h.version, 2);
    put_le(hdr, h.pointer_size, 1);
    put_le(hdr, (h.timestamps ? header_flag_timestamps : 0) | (h.rss_samples ? header_flag_rss : 0), 1);
    put_le(hdr, h.page_size, 4);
    put_le(hdr, static_cast<std::uint64_t>(h.clock), 8);
    put_varint(hdr, h.command_line.size());
    hdr.insert(hdr.end(), h.command_line.begin(), h.command_line.end());
    put_varint(hdr, h.host.size());
    hdr.insert(hdr.end(), h.host.begin(), h.host.end());
    if (has_checks(w.version)) seal(hdr, w.chain);
    w.compress(hdr.data(), hdr.size(), ZSTD_e_continue);
}

trace_writer::~trace_writer() {
    try {
        close();
    } catch (const trace_error&) {
        // Lost by design: the destructor cannot report; callers who care call close().
    }
}

void trace_writer::append(const event& e) {
    impl& w = *impl_;
    if (w.closed) fail(w.path, trace_error::no_offset, "cannot append: the writer is closed");
    if (!event_fits(e))
        fail(w.path, trace_error::no_offset, "cannot append event " + std::to_string(w.events) + ": " + event_problem(e));
    if (e.thread >= w.threads.size()) w.threads.resize(e.thread + 1);
    thread_buffer& b = w.threads[e.thread];
    if (b.count == 0) {
        b.first_seq = b.prev_seq = e.seq;
        b.first_time = b.prev_time = e.time_ns;
        b.first_append = w.events;
        w.starts.push_back({e.thread, w.events});
    }
    if (w.timestamps && e.time_ns < b.prev_time)
        fail(w.path, trace_error::no_offset,
             "cannot append event " + std::to_string(w.events) + ": time goes backwards in thread " +
                 std::to_string(e.thread));

    event_bytes& o = b.bytes;
    std::uint8_t* p = o.room(max_event_bytes);
    *p++ = static_cast<std::uint8_t>(e.kind);
    p = put_varint(p, zigzag(static_cast<std::int64_t>(e.seq) - static_cast<std::int64_t>(b.prev_seq)));
    visit_payload(e, payload_encoder{p});
    if (w.timestamps) p = put_varint(p, e.time_ns - b.prev_time);
    o.grow_to(p);
    b.prev_seq = e.seq;
    b.prev_time = e.time_ns;
    ++b.count;
    ++w.events;
    if (o.size() >= w.chunk_bytes || e.kind == op::thread_exit) {
        w.flush_chunk(e.thread);
        if (e.kind == op::thread_exit) o.release();  // the thread is done
    }
    w.flush_old_buffers();
}

void trace_writer::set_rss(recorded_rss rss) {
    impl& w = *impl_;
    if (w.closed) fail(w.path, trace_error::no_offset, "cannot set the RSS samples: the writer is closed");
    if (!w.rss_announced)
        fail(w.path, trace_error::no_offset, "cannot set the RSS samples: the header did not announce them (trace_header::rss_samples)");
    if (std::string p = rss_problem(rss); !p.empty()) fail(w.path, trace_error::no_offset, "cannot set the RSS samples: " + p);
    w.rss = std::move(rss);
}

void trace_writer::close() {
    impl& w = *impl_;
    if (w.closed) return;
    w.closed = true;
    for (std::uint32_t t = 0; t < w.threads.size(); ++t) w.flush_chunk(t);
    if (w.rss_announced) w.write_rss();
    if (has_checks(w.version)) w.write_trailer();
    w.compress(nullptr, 0, ZSTD_e_end);
    std::FILE* f = w.file;
    w.file = nullptr;
    if (std::fclose(f) != 0)
        fail(w.path, trace_error::no_offset, std::string("write error on close: ") + std::strerror(errno));
}

std::uint64_t trace_writer::events() const noexcept { return impl_->events; }

// ---- reader --------------------------------------------------------------------------------

struct trace_reader::impl {
    impl(const std::string& path, std::function<bool()> growing) : src(path, std::move(growing)) {}

    byte_source src;
    trace_header header;
    std::uint64_t remaining = 0;  // events left in the current chunk
    bool in_chunk = false;
    std::uint32_t thread = 0;
    std::uint64_t chunk_start = 0, chunk_end = 0;
    std::uint64_t prev_seq = 0, prev_time = 0;
    std::uint64_t event_at = 0;  // where the event being decoded starts

    // Version 2: each block is read whole into `block` (from its first byte, as in the stream)
    // and checked before any of it is decoded; events are then decoded from there.
    bool checked = false;                        // the header says version 2
    bool ended = false;                          // the trailer was read
    bool rss_read = false;                       // the RSS samples block was read (into rss)
    recorded_rss rss;
    std::uint64_t chain = 0;                     // the last check that passed
    std::uint64_t chunks = 0, events = 0;        // read so far, for the trailer
    std::vector<std::uint8_t> block;
    std::vector<std::uint8_t>* recording = nullptr;  // bytes read from src are appended here
    bool from_block = false;                     // decoding reads block, not src
    std::size_t block_pos = 0;
    std::uint64_t block_start = 0;               // offset of block[0] in the stream

    [[noreturn]] void fail_at(std::uint64_t off, const std::string& problem) { fail(src.path(), off, problem); }

    // Where decoding stands in the decompressed stream.
    std::uint64_t pos() const noexcept { return from_block ? block_start + block_pos : src.offset(); }

    std::string past_chunk_end() const {
        return "event runs past the end of its chunk (the chunk at byte " + std::to_string(chunk_start) +
               " ends at byte " + std::to_string(chunk_end) + ")";
    }

    std::uint8_t byte(const char* where) {
        if (from_block) {
            if (block_pos == block.size()) fail_at(event_at, past_chunk_end());
            return block[block_pos++];
        }
        std::uint8_t b;
        if (!src.get(b)) fail_at(src.offset(), std::string("truncated: the stream ends inside ") + where);
        if (recording != nullptr) recording->push_back(b);
        return b;
    }

    std::uint64_t le(int bytes, const char* where) {
        std::uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v |= std::uint64_t{byte(where)} << (8 * i);
        return v;
    }

    // LEB128: at most 10 bytes, and the 10th may only carry the top bit of a 64-bit value. Inline
    // where no byte can run past the block, and it is 9 bytes at most.
    [[gnu::always_inline]] std::uint64_t varint(const char* where) {
        if (from_block && block.size() - block_pos >= 10) [[likely]] {
            const std::uint8_t* p = block.data() + block_pos;
            std::uint64_t v = 0;
            for (int i = 0; i < 9; ++i) {
                v |= std::uint64_t{p[i] & 0x7fu} << (7 * i);
                if ((p[i] & 0x80) == 0) {
                    block_pos += static_cast<std::size_t>(i) + 1;
                    return v;
                }
            }
        }
        return checked_varint(where);
    }

    [[gnu::noinline]] std::uint64_t checked_varint(const char* where) {
        const std::uint64_t start = pos();
        std::uint64_t v = 0;
        for (int i = 0; i < 10; ++i) {
            const std::uint8_t b = byte(where);
            if (i == 9) {
                if (b & 0x80) fail_at(start, "varint longer than 10 bytes");
                if (b > 1) fail_at(start, "varint overflows 64 bits");
            }
            v |= std::uint64_t{b & 0x7fu} << (7 * i);
            if ((b & 0x80) == 0) break;
        }
        return v;
    }

    std::uint64_t bytes_field(const char* name) {
        const std::uint64_t at = pos();
        const std::uint64_t v = varint("an event");
        if (v > max_size) fail_at(at, absurd_bytes(name, v));
        return v;
    }

    std::uint64_t id_field(const char* name) {
        const std::uint64_t at = pos();
        const std::uint64_t v = varint("an event");
        if (v > max_id) fail_at(at, absurd_id(name, v));
        return v;
    }

    std::uint8_t flags_field(op k) {
        const std::uint64_t at = pos();
        const std::uint64_t v = varint("an event");
        if (v > 0xff) fail_at(at, std::string(op_name(k)) + ": flags " + describe(v) + " do not fit a byte");
        if (!flags_allowed(k, static_cast<std::uint8_t>(v))) fail_at(at, flags_problem(k, static_cast<std::uint8_t>(v)));
        return static_cast<std::uint8_t>(v);
    }

    // thread_start's parent: 0 for none, else its thread id + 1.
    std::uint32_t parent_field() {
        const std::uint64_t at = pos();
        const std::uint64_t p = varint("an event");
        if (p > max_threads) fail_at(at, absurd_thread(p - 1));
        return p == 0 ? no_thread : static_cast<std::uint32_t>(p - 1);
    }

    // The reader's side of visit_payload: each field checked as it is read.
    struct payload_decoder {
        impl& r;
        op kind;

        void id(std::uint64_t& v, const char* name) { v = r.id_field(name); }
        void bytes(std::uint64_t& v, const char* name) { v = r.bytes_field(name); }
        void flags(std::uint8_t& v) { v = r.flags_field(kind); }
        void parent(std::uint32_t& t) { t = r.parent_field(); }
    };

    std::string string_field(const char* name) {
        const std::uint64_t at = src.offset();
        const std::uint64_t n = varint("the header");
        if (n > max_string) fail_at(at, std::string(name) + " length " + describe(n) + " exceeds the 1 MiB limit");
        std::string s;
        for (std::uint64_t i = 0; i < n; ++i) s.push_back(static_cast<char>(byte("the header")));
        return s;
    }

    // Reads the check stored after a version-2 block (`bytes`, from its first byte) and compares
    // it with the one computed, chained from the check before it.
    void verify(const std::vector<std::uint8_t>& bytes, const std::string& what, const char* where) {
        const std::uint64_t at = src.offset();
        const std::uint64_t stored = le(check_bytes, where);
        const std::uint64_t computed = stream_check(bytes.data(), bytes.size(), chain);
        if (stored != computed)
            fail_at(at, what + " fails its checksum (stored " + hex_check(stored) + ", computed " + hex_check(computed) +
                            "): the file is damaged");
        chain = computed;
    }

    void read_header() {
        block.clear();
        recording = &block;  // the header's bytes, for its check in version 2
        for (std::size_t i = 0; i < sizeof magic; ++i) {
            const std::uint8_t b = byte("the header (an empty or very short file is not an allocmeter trace)");
            if (b != static_cast<std::uint8_t>(magic[i])) fail_at(0, "wrong magic (not an allocmeter trace)");
        }
        const auto version = static_cast<std::uint16_t>(le(2, "the header"));
        if (version < oldest_format_version || version > format_version)
            fail_at(8, "unsupported version " + std::to_string(version) + " (this build reads " + known_versions() + ")");
        header.version = version;
        checked = has_checks(version);
        header.pointer_size = static_cast<std::uint8_t>(le(1, "the header"));
        if (header.pointer_size != 4 && header.pointer_size != 8)
            fail_at(10, "pointer size " + std::to_string(header.pointer_size) + " is not 4 or 8");
        const auto flags = static_cast<std::uint8_t>(le(1, "the header"));
        if (flags & ~(header_flag_timestamps | header_flag_rss)) fail_at(11, "unknown header flags " + hex_byte(flags));
        header.timestamps = (flags & header_flag_timestamps) != 0;
        header.rss_samples = (flags & header_flag_rss) != 0;
        if (header.rss_samples && !checked)
            fail_at(11, "header flags bit 1 (RSS samples) in a version-1 trace (only version 2 has a place for them)");
        header.page_size = static_cast<std::uint32_t>(le(4, "the header"));
        if (!std::has_single_bit(header.page_size) || header.page_size > (1u << 30))
            fail_at(12, "page size " + std::to_string(header.page_size) + " is not a power of two up to 2^30");
        const std::uint64_t clock = le(8, "the header");
        if (clock > 1) fail_at(16, "unknown clock " + describe(clock) + " (0 none, 1 CLOCK_MONOTONIC ns)");
        header.clock = static_cast<clock_source>(clock);
        if (header.timestamps && header.clock == clock_source::none)
            fail_at(11, "the header says events carry timestamps but its clock is none");
        header.command_line = string_field("command line");
        header.host = string_field("host");
        recording = nullptr;
        if (checked) verify(block, "the header", "the header");
    }

    // The next chunk's header, or the end: false at the end of the stream (version 1) or at the
    // trailer (version 2). A version-2 chunk is then read whole and checked.
    bool read_chunk_header() {
        from_block = false;
        if (ended) return false;
        if (!checked) {
            if (src.at_end()) return false;
            read_chunk_fields(src.offset());
            return true;
        }
        const std::uint64_t at = src.offset();
        std::uint8_t tag;
        if (!src.get(tag))
            fail_at(at, "truncated: the stream ends after " + std::to_string(chunks) +
                            " chunks without its trailer (a version-2 trace ends with one): chunks may be missing");
        block.assign(1, tag);
        recording = &block;
        if (tag == rss_tag) {
            read_rss(at);
            return read_chunk_header();  // the trailer, which must follow
        }
        if (tag == trailer_tag) {
            if (header.rss_samples && !rss_read)
                fail_at(at, "the trailer, but the header announces RSS samples (flags bit 1) and none came before it");
            read_trailer(at);
            return false;
        }
        if (tag != chunk_tag)
            fail_at(at, "unknown block " + hex_byte(tag) + " where a chunk (0x43)" +
                            (header.rss_samples && !rss_read ? ", the RSS samples (0x52)" : "") +
                            " or the trailer (0x45) should start");
        if (rss_read)
            fail_at(at, "a chunk after the RSS samples (they come after every chunk, just before the trailer)");
        read_chunk_fields(at);
        recording = nullptr;
        const std::uint64_t events_at = src.offset();
        if (src.read(block, chunk_end - events_at) != chunk_end - events_at)
            fail_at(src.offset(), "truncated: the stream ends inside a chunk");
        verify(block, "chunk " + std::to_string(chunks) + " at byte " + std::to_string(at), "a chunk");
        ++chunks;
        events += remaining;
        from_block = true;
        block_start = at;
        block_pos = static_cast<std::size_t>(events_at - at);
        return true;
    }

    // The RSS samples block (version 2, when the header announces it): read whole, each field
    // checked as it is read, then its check. Its samples grow with the bytes that arrive.
    void read_rss(std::uint64_t at) {
        if (!header.rss_samples)
            fail_at(at, "RSS samples (block 0x52), but the header's flags bit 1 does not announce them");
        if (rss_read) fail_at(at, "a second block of RSS samples");
        const char* where = "the RSS samples";
        recorded_rss r;
        r.start_ns = varint(where);
        r.period_us = varint(where);
        const std::uint64_t at_count = src.offset();
        const std::uint64_t count = varint(where);
        if (count > max_rss_points)
            fail_at(at_count, describe(count) + " RSS samples is more than the 2^20 a trace holds");
        rss_point p;
        for (std::uint64_t i = 0; i < count; ++i) {
            const std::uint64_t at_time = src.offset();
            if (__builtin_add_overflow(p.t_us, varint(where), &p.t_us))
                fail_at(at_time, "RSS sample " + std::to_string(i) + ": its time overflows 64 bits");
            const std::uint64_t at_bytes = src.offset();
            const std::int64_t delta = unzigzag(varint(where));
            const std::uint64_t step = delta < 0 ? 0 - static_cast<std::uint64_t>(delta) : static_cast<std::uint64_t>(delta);
            if (delta < 0 ? step > p.bytes : step > max_size - p.bytes)
                fail_at(at_bytes, "RSS sample " + std::to_string(i) + ": resident bytes leave 0 .. 2^48 (delta " +
                                      std::to_string(delta) + " from " + std::to_string(p.bytes) + ")");
            p.bytes = delta < 0 ? p.bytes - step : p.bytes + step;
            r.points.push_back(p);
        }
        recording = nullptr;
        verify(block, "the RSS samples at byte " + std::to_string(at), where);
        rss = std::move(r);
        rss_read = true;
    }

    // Version 2's last block: its check, then the counts, then nothing after it.
    void read_trailer(std::uint64_t at) {
        const std::uint64_t at_counts = src.offset();
        const std::uint64_t chunks_said = varint("the trailer");
        const std::uint64_t events_said = varint("the trailer");
        recording = nullptr;
        verify(block, "the trailer at byte " + std::to_string(at), "the trailer");
        if (chunks_said != chunks || events_said != events)
            fail_at(at_counts, "the trailer counts " + std::to_string(chunks_said) + " chunks and " +
                                   std::to_string(events_said) + " events, but the stream holds " +
                                   std::to_string(chunks) + " and " + std::to_string(events));
        if (!src.at_end()) fail_at(src.offset(), "bytes after the trailer (a version-2 trace ends with it)");
        ended = true;
    }

    // thread .. bytes, the fields both versions share; the chunk starts at `start`.
    void read_chunk_fields(std::uint64_t start) {
        chunk_start = start;
        const char* where = "a chunk header";
        const std::uint64_t at_thread = src.offset();
        const std::uint64_t t = varint(where);
        if (t >= max_threads) fail_at(at_thread, absurd_thread(t));
        thread = static_cast<std::uint32_t>(t);
        const std::uint64_t at_seq = src.offset();
        prev_seq = varint(where);
        if (prev_seq > max_seq) fail_at(at_seq, "sequence number " + describe(prev_seq) + " overflows (more than 2^63 - 1)");
        prev_time = header.timestamps ? varint(where) : 0;
        const std::uint64_t at_count = src.offset();
        const std::uint64_t count = varint(where);
        const std::uint64_t bytes = varint(where);
        if (count == 0) fail_at(at_count, "chunk of thread " + std::to_string(thread) + " has no events");
        if (bytes > max_chunk_bytes)
            fail_at(at_count, "chunk of " + describe(bytes) + " bytes is larger than the 2^30-byte limit");
        if (count > bytes / 2)
            fail_at(at_count, "chunk claims " + describe(count) + " events in " + describe(bytes) +
                                  " bytes (an event takes at least 2)");
        remaining = count;
        chunk_end = src.offset() + bytes;
        in_chunk = true;
    }

    void read_event(event& e) {
        e = event{};
        e.at = event_at = pos();
        e.thread = thread;
        const std::uint8_t code = byte("an event");
        if (!known_op(code)) fail_at(e.at, "unknown opcode " + hex_byte(code));
        e.kind = static_cast<op>(code);

        const std::uint64_t at_seq = pos();
        const std::int64_t delta = unzigzag(varint("an event"));
        std::int64_t seq;
        if (__builtin_add_overflow(static_cast<std::int64_t>(prev_seq), delta, &seq) || seq < 0)
            fail_at(at_seq, "sequence number leaves 0 .. 2^63 - 1 (delta " + std::to_string(delta) + ")");
        e.seq = prev_seq = static_cast<std::uint64_t>(seq);

        visit_payload(e, payload_decoder{*this, e.kind});
        if (header.timestamps) {
            const std::uint64_t at = pos();
            const std::uint64_t d = varint("an event");
            if (__builtin_add_overflow(prev_time, d, &prev_time))
                fail_at(at, "timestamp overflows 64 bits");
            e.time_ns = prev_time;
        }
        if (pos() > chunk_end) fail_at(e.at, past_chunk_end());
    }
};

trace_reader::trace_reader(const std::string& path, std::function<bool()> growing)
    : impl_(std::make_unique<impl>(path, std::move(growing))) {
    impl_->read_header();
}

trace_reader::~trace_reader() = default;

const trace_header& trace_reader::header() const noexcept { return impl_->header; }

std::uint64_t trace_reader::offset() const noexcept { return impl_->pos(); }

std::uint64_t trace_reader::chunk_offset() const noexcept { return impl_->chunk_start; }

const recorded_rss* trace_reader::rss() const noexcept { return impl_->rss_read ? &impl_->rss : nullptr; }

bool trace_reader::next(event& e) {
    impl& r = *impl_;
    if (r.remaining == 0) {
        if (r.in_chunk && r.pos() != r.chunk_end)
            r.fail_at(r.pos(), "the chunk at byte " + std::to_string(r.chunk_start) + " says it ends at byte " +
                                          std::to_string(r.chunk_end) + " but its events end here");
        r.in_chunk = false;
        if (!r.read_chunk_header()) return false;
    }
    r.read_event(e);
    --r.remaining;
    return true;
}

// ---- whole-trace helpers ---------------------------------------------------------------------

std::vector<event> load_sorted(const std::string& path, trace_header* header) {
    trace_reader r(path);
    if (header != nullptr) *header = r.header();
    std::vector<event> all;
    for (event e; r.next(e);) all.push_back(e);
    std::stable_sort(all.begin(), all.end(), [](const event& a, const event& b) { return a.seq < b.seq; });
    return all;
}

}  // namespace allocmeter::trace
