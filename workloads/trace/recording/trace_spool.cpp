// trace_spool: reading the recorder's spool and converting it into a trace. Two passes over
// the mapped file: the first checks every block's framing and checksum, and what its header says
// of its records against the thread's blocks before, and indexes each thread's blocks; the second
// merges the threads by key, decoding and checking the records, turns addresses into dense ids,
// and checks the events as they are written (validate()'s checks, in one pass).
// Both passes can run while the program is still writing the spool (spool_converter::follow):
// the merge then stops where a record still to come could precede what it would convert.
// Memory: the block index, the live addresses and the writer's per-thread buffers; the mapped
// spool's pages are dropped as blocks are read, so the spool is never resident whole.
#include "workloads/trace/recording/trace_spool.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <utility>

#include "workloads/trace/format/live_table.hpp"
#include "workloads/trace/format/smallest_free_id.hpp"
#include "workloads/trace/format/trace_validation.hpp"

namespace allocmeter::trace {

namespace {

constexpr std::uint32_t no_dense = std::numeric_limits<std::uint32_t>::max();

std::string hex_byte(unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", v & 0xffu);
    return buf;
}

std::uint64_t get_le(const unsigned char* p, std::size_t bytes) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, bytes);
    return v;
}

std::uint64_t clamp(std::uint64_t v) { return std::min(v, max_size); }

// The spool, mapped read-only. While the program runs the file grows (appends only: the shim
// never truncates it), so a following converter maps a large reservation once, and reads below
// the size it last saw; after the program exited the file is mapped at its size.
class mapped_file {
public:
    /// Maps `path`: its current size, or `reserve` bytes when following it (the reservation
    /// costs address space only; bytes past the end of the file are never read).
    explicit mapped_file(const std::string& path, std::uint64_t reserve = 0) : path_(path) {
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) throw spool_error(path, spool_error::no_offset, std::string("cannot open: ") + std::strerror(errno));
        if (!refresh()) fail_errno("cannot stat");
        mapped_ = std::max<std::uint64_t>(reserve, size_);
        if (mapped_ != 0) {
            void* p = ::mmap(nullptr, mapped_, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd_, 0);
            if (p == MAP_FAILED) fail_errno("cannot map");
            data_ = static_cast<const unsigned char*>(p);
        }
    }
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    ~mapped_file() {
        if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), mapped_);
        ::close(fd_);
    }
    const unsigned char* data() const { return data_; }
    /// Bytes of the file readable through data(): its size when last refreshed, at most the mapping.
    std::uint64_t size() const { return std::min(size_, mapped_); }
    /// Whether the file grew past the mapping (a following converter then gives up).
    bool outgrown() const { return size_ > mapped_; }

    /// Learns the file's size again; false when it cannot be stat'ed.
    bool refresh() {
        struct stat st;
        if (::fstat(fd_, &st) != 0) return false;
        size_ = static_cast<std::uint64_t>(st.st_size);
        return true;
    }

    /// Counts `bytes` of blocks as read through: every 8 MiB, the whole mapping's pages are
    /// dropped from this process (they stay in the page cache, and a block still in use reads
    /// its pages back), so what the converter keeps resident is bounded, not the spool. The
    /// whole mapping, not the block just read: a fault maps a large page-cache folio whole, so
    /// pages behind a dropped block come back when the next one is touched.
    void read_through(std::uint64_t bytes) {
        constexpr std::uint64_t drop_interval = std::uint64_t{8} << 20;
        if ((read_ += bytes) < drop_interval || data_ == nullptr) return;
        read_ = 0;
        ::madvise(const_cast<unsigned char*>(data_), size(), MADV_DONTNEED);
    }

private:
    [[noreturn]] void fail_errno(const char* what) {
        const int e = errno;
        ::close(fd_);
        throw spool_error(path_, spool_error::no_offset, std::string(what) + ": " + std::strerror(e));
    }

    std::string path_;
    int fd_ = -1;
    const unsigned char* data_ = nullptr;
    std::uint64_t mapped_ = 0, size_ = 0;
    std::uint64_t read_ = 0;  // bytes read through since the last drop
};

std::string describe_key(std::uint32_t key) { return "thread key " + std::to_string(key); }

// Decodes one block's records, and checks them against the block's header: the first at the
// base key, keys strictly increasing, nothing after a thread_exit, and at the end the header's
// last key and flag, and no payload left. A problem is reported with the byte where the bad
// field starts.
class block_decoder {
public:
    block_decoder() = default;
    block_decoder(const unsigned char* file, std::uint64_t block_at, bool timestamps) : file_(file), ts_(timestamps) {
        const unsigned char* h = file + block_at;
        key_ = static_cast<std::uint32_t>(get_le(h + 4, 4));
        left_ = static_cast<std::uint32_t>(get_le(h + 12, 4));
        s_.base_seq = s_.prev_seq = get_le(h + 16, 8);
        s_.prev_time = get_le(h + 24, 8);
        last_key_ = get_le(h + 32, 8);
        ends_thread_ = (get_le(h + 40, 4) & spool_block_ends_thread) != 0;
        p_ = h + spool_block_header_bytes;
        end_ = p_ + get_le(h + 8, 4);
    }

    bool done() const { return left_ == 0; }
    std::uint64_t offset() const { return static_cast<std::uint64_t>(p_ - file_); }

    /// The next record; on a bad record returns false with `problem` and `at` set.
    bool next(spool_record& r, std::uint64_t& at, std::string& problem) {
        if (!decode(r, at, problem)) return false;
        if (s_.count++ == 0 ? r.seq != s_.base_seq : r.seq == previous_)
            return fail(problem, s_.count == 1 ? "the block's first record is not at its base key"
                                               : describe_key(key_) + " goes back in sequence (seq " + std::to_string(r.seq) +
                                                     " after " + std::to_string(previous_) + ")");
        if (s_.ends_thread) return fail(problem, describe_key(key_) + " has a record after its thread_exit");
        s_.ends_thread = r.kind == op::thread_exit;
        previous_ = s_.prev_seq;  // a realloc's second key
        if (--left_ != 0) return true;
        if (p_ != end_) {
            at = offset();
            return fail(problem, "the block's records end before its payload does");
        }
        if (s_.prev_seq != last_key_)
            return fail(problem, "the block's header says its last key is " + std::to_string(last_key_) +
                                     ", its records end at " + std::to_string(s_.prev_seq));
        if (s_.ends_thread != ends_thread_)
            return fail(problem, ends_thread_ ? "the block's header says it ends its thread, its last record is no thread_exit"
                                              : "the block ends with a thread_exit its header does not flag");
        return true;
    }

private:
    static bool fail(std::string& problem, std::string what) {
        problem = std::move(what);
        return false;
    }

    bool decode(spool_record& r, std::uint64_t& at, std::string& problem) {
        at = offset();
        r = {};
        std::uint8_t kind;
        if (!byte(kind, problem)) return false;
        if (kind == 0 || kind > static_cast<std::uint8_t>(op::thread_exit) ||
            kind == static_cast<std::uint8_t>(op::free_sized)) {
            problem = "unknown record kind " + hex_byte(kind);
            return false;
        }
        r.kind = static_cast<op>(kind);
        std::uint64_t d;
        if (!varint(d, problem)) return false;
        if (__builtin_add_overflow(s_.prev_seq, d, &r.seq)) return overflow("seq", problem);
        s_.prev_seq = r.seq;
        if (ts_) {
            if (!varint(d, problem)) return false;
            if (__builtin_add_overflow(s_.prev_time, d, &r.time_ns)) return overflow("time", problem);
            s_.prev_time = r.time_ns;
        }
        bool ok = true;
        switch (r.kind) {
            case op::malloc: ok = addr(r.addr, problem) && varint(r.size, problem); break;
            case op::calloc: ok = addr(r.addr, problem) && varint(r.count, problem) && varint(r.size, problem); break;
            case op::realloc:
                ok = varint(d, problem);
                if (ok && (d == 0 || __builtin_add_overflow(r.seq, d, &r.seq2)))
                    return overflow("realloc's second seq", problem);
                s_.prev_seq = r.seq2;
                ok = ok && addr(r.old_addr, problem) && addr(r.addr, problem) && varint(r.size, problem);
                break;
            case op::free: ok = addr(r.addr, problem); break;
            case op::aligned:
                ok = addr(r.addr, problem) && varint(r.size, problem) && varint(r.alignment, problem) &&
                     byte(r.flags, problem);
                if (ok && r.flags > static_cast<std::uint8_t>(align_fn::pvalloc)) {
                    problem = "unknown aligned function " + std::to_string(r.flags);
                    return false;
                }
                break;
            case op::new_:
                ok = addr(r.addr, problem) && varint(r.size, problem) && byte(r.flags, problem) &&
                     flags_ok(r.flags, new_array | new_aligned | new_nothrow, problem);
                if (ok && (r.flags & new_aligned)) ok = varint(r.alignment, problem);
                break;
            case op::delete_:
                ok = addr(r.addr, problem) && byte(r.flags, problem) &&
                     flags_ok(r.flags, delete_array | delete_sized | delete_aligned, problem);
                if (ok && (r.flags & delete_sized)) ok = varint(r.size, problem);
                if (ok && (r.flags & delete_aligned)) ok = varint(r.alignment, problem);
                break;
            case op::thread_start: {
                std::uint64_t parent;
                ok = varint(parent, problem);
                if (ok && parent > std::numeric_limits<std::uint32_t>::max()) {
                    problem = "parent thread key " + std::to_string(parent) + " is absurd";
                    return false;
                }
                r.parent = static_cast<std::uint32_t>(parent);
                break;
            }
            case op::free_sized:
            case op::thread_exit: break;
        }
        return ok;
    }

private:
    bool byte(std::uint8_t& b, std::string& problem) {
        if (p_ == end_) {
            problem = "truncated record: the block's payload ends inside it";
            return false;
        }
        b = *p_++;
        return true;
    }

    bool varint(std::uint64_t& v, std::string& problem) {
        v = 0;
        for (int i = 0; i < 10; ++i) {
            std::uint8_t b;
            if (!byte(b, problem)) return false;
            if (i == 9 && b > 1) {
                problem = "varint overflows 64 bits";
                return false;
            }
            v |= std::uint64_t{b & 0x7fu} << (7 * i);
            if ((b & 0x80) == 0) return true;
        }
        problem = "varint longer than 10 bytes";
        return false;
    }

    bool addr(std::uint64_t& a, std::string& problem) {
        std::uint64_t z;
        if (!varint(z, problem)) return false;
        const std::uint64_t d = (z >> 1) ^ (~(z & 1) + 1);  // unzigzag, as an unsigned wrap-around delta
        a = s_.prev_addr + d;
        s_.prev_addr = a;
        return true;
    }

    static bool flags_ok(std::uint8_t f, std::uint8_t allowed, std::string& problem) {
        if ((f & ~allowed) == 0) return true;
        problem = "unknown flag bits " + hex_byte(f & ~allowed);
        return false;
    }

    static bool overflow(const char* what, std::string& problem) {
        problem = std::string(what) + " delta leaves its range";
        return false;
    }

    const unsigned char* file_ = nullptr;
    const unsigned char* p_ = nullptr;
    const unsigned char* end_ = nullptr;
    bool ts_ = false;
    std::uint32_t key_ = 0;
    std::uint32_t left_ = 0;
    std::uint64_t last_key_ = 0;   // the header's
    bool ends_thread_ = false;     // the header's flag
    std::uint64_t previous_ = 0;   // the last key decoded
    spool_block_state s_;          // base_seq: the header's; count and ends_thread: what was decoded
};

// One recorded thread: its blocks in file order (its program order) and the merge cursor.
struct thread_stream {
    std::uint32_t key = 0;
    std::vector<std::uint64_t> blocks;  // offsets of block headers
    // pass 1
    std::uint64_t last_seq = 0;
    std::uint64_t bound = 0;  // its records not yet indexed have keys at least this
    bool any = false, exited = false;
    // pass 2
    std::size_t next_block = 0;
    bool active = false;  // its head is in the merge's heap, or parked
    block_decoder dec;
    spool_record head;
    std::uint64_t head_at = 0;
    bool second_half = false;  // head is a realloc whose release point was handled
    bool placed = false;       // head waited (for another thread's record, or its window): convert it as it is
    std::uint64_t old_id = 0;  // that realloc's old object
    std::uint32_t dense = no_dense;
};

// A following conversion met what it cannot follow (damage, a file larger than its mapping):
// it stops, and finish() converts the spool from the start.
struct stop_following {};

}  // namespace

// The whole conversion: pass 1 indexes and checks blocks as they are found in the file, pass 2
// merges what pass 1 indexed, up to the point no record still to come can precede (while the
// program runs) or to the end (after it exited).
class spool_converter::impl {
public:
    impl(std::string spool, std::string trace, bool rss_samples)
        : path_(std::move(spool)), trace_path_(std::move(trace)), rss_samples_(rss_samples) {}
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    bool follow() {
        if (!following_) return false;
        try {
            if (!file_) {
                if (::access(path_.c_str(), F_OK) != 0) return false;  // the program has not started recording yet
                map_to_follow();
            }
            if (!file_->refresh() || file_->outgrown()) throw stop_following{};
            const std::uint64_t before = scan_at_;
            if (!have_header_ && !read_first_header(false)) return false;
            index_blocks(false);
            merge(false);
            return scan_at_ != before;
        } catch (...) {  // finish() converts from the start, and reports what went wrong then
            following_ = false;
            have_header_ = false;
            reset(0);
            file_.reset();
            return false;
        }
    }

    bool following() const { return following_; }
    std::uint64_t events() const { return sum_.events; }

    spool_summary finish(const spool_options& options) {
        opt_ = options;
        final_ = true;
        if (!file_) file_.emplace(path_);
        if (!file_->refresh() || file_->outgrown()) file_.emplace(path_);
        if (!have_header_) read_first_header(true);
        index_blocks(true);
        merge(true);
        if (opt_.rss != nullptr) writer_->set_rss(*opt_.rss);
        writer_->close();
        checked_->end_of_file();
        sum_.trace = checked_->summary();
        if (opt_.rss != nullptr) sum_.trace.rss = summarize(*opt_.rss);
        return sum_;
    }

private:
    // The size of a whole spool from which its writer compresses on a thread of its own (start_over()).
    static constexpr std::uint64_t threads_from = std::uint64_t{4} << 20;

    // Maps the spool with room to grow: address space only, 1 TiB where the process may have it,
    // less where it may not (a sanitizer's layout); following stops if the spool outgrows it.
    void map_to_follow() {
        for (std::uint64_t reserve = std::uint64_t{1} << (sizeof(void*) == 8 ? 40 : 30);; reserve /= 16) {
            try {
                file_.emplace(path_, reserve);
                return;
            } catch (const spool_error&) {
                if (reserve <= (std::uint64_t{1} << 28)) throw;
            }
        }
    }

    [[noreturn]] void fail(std::uint64_t at, const std::string& problem) const {
        throw spool_error(path_, at, problem);
    }

    // A damaged block at `at`: where the process exec'd after a write was cut short, the
    // spool starts over at the next header (the damage was the old image's); otherwise an
    // error, or in salvage mode the end of what is converted. false: stop indexing.
    bool damaged(std::uint64_t at, const std::string& problem) {
        if (const std::uint64_t again = next_header(at + 1); again != 0) return restart_at(again);
        if (!final_) throw stop_following{};
        if (!opt_.salvage) fail(at, problem);
        sum_.damage = spool_error(path_, at, problem).what();
        return false;
    }

    // The offset of a whole spool header of this process after `from`, or 0.
    std::uint64_t next_header(std::uint64_t from) const {
        const unsigned char* d = file_->data();
        const std::uint64_t n = file_->size();
        for (std::uint64_t at = from; at + spool_header_bytes <= n; ++at) {
            const void* m = std::memchr(d + at, spool_magic[0], n - at);
            if (m == nullptr) return 0;
            at = static_cast<std::uint64_t>(static_cast<const unsigned char*>(m) - d);
            spool_header h;
            if (at + spool_header_bytes <= n && std::memcmp(d + at, spool_magic, sizeof spool_magic) == 0 &&
                parse_header(at, h) != 0 && h.pid == header_.pid)
                return at;
        }
        return 0;
    }

    // Parses the spool header at `at` into h: the offset where blocks start, 0 when the file
    // ends inside it. A bad header is an error.
    std::uint64_t parse_header(std::uint64_t at, spool_header& h) const {
        const unsigned char* d = file_->data() + at;
        const std::uint64_t n = file_->size() - at;
        if (n < spool_header_bytes) return 0;
        if (std::memcmp(d, spool_magic, sizeof spool_magic) != 0) fail(at, "wrong magic (not an allocmeter spool)");
        const auto version = get_le(d + 8, 2);
        if (version != spool_version)
            fail(at + 8, "unsupported spool version " + std::to_string(version) + " (this build reads version " +
                             std::to_string(spool_version) + "; record the program again with this build's recorder)");
        h.pointer_size = d[10];
        if (h.pointer_size != 4 && h.pointer_size != 8)
            fail(at + 10, "pointer size " + std::to_string(h.pointer_size) + " is not 4 or 8");
        constexpr std::uint8_t known_flags = spool_flag_timestamps | spool_flag_tsc_keys;
        if (d[11] & ~known_flags) fail(at + 11, "unknown header flag bits " + hex_byte(d[11] & ~known_flags));
        h.timestamps = (d[11] & spool_flag_timestamps) != 0;
        h.tsc_keys = (d[11] & spool_flag_tsc_keys) != 0;
        h.page_size = static_cast<std::uint32_t>(get_le(d + 12, 4));
        if (!std::has_single_bit(h.page_size) || h.page_size > (1u << 30))
            fail(at + 12, "page size " + std::to_string(h.page_size) + " is not a power of two up to 2^30");
        h.pid = static_cast<std::uint32_t>(get_le(d + 16, 4));
        const std::uint64_t cmd = get_le(d + 20, 4), host = get_le(d + 24, 4);
        if (cmd > max_string) fail(at + 20, "command line length " + std::to_string(cmd) + " exceeds the 1 MiB limit");
        if (host > max_string) fail(at + 24, "host length " + std::to_string(host) + " exceeds the 1 MiB limit");
        if (n < spool_header_bytes + cmd + host) return 0;
        h.command_line.assign(reinterpret_cast<const char*>(d) + spool_header_bytes, cmd);
        h.host.assign(reinterpret_cast<const char*>(d) + spool_header_bytes + cmd, host);
        return at + spool_header_bytes + cmd + host;
    }

    // The spool's first header; false (following) when the file ends inside it.
    bool read_first_header(bool final) {
        const std::uint64_t end = parse_header(0, header_);
        if (end == 0) {
            if (!final) return false;
            fail(file_->size(), "truncated: the file ends inside the spool header");
        }
        have_header_ = true;
        start_over(end);
        return true;
    }

    // Forgets every block before `at`, and the trace written from them: the conversion starts
    // again with the blocks from `at` on (the first, or the header of an image the process exec'd).
    void reset(std::uint64_t at) {
        writer_.reset();
        checked_.reset();
        streams_.clear();
        by_key_.clear();
        sum_ = {};
        heap_ = {};
        parked_.clear();
        live_ = {};
        ids_ = {};
        dense_of_key_.clear();
        merged_any_ = false;
        last_key_ = last_at_ = 0;
        scan_at_ = at;
    }

    // The process exec'd: its new image's header is at `at`, and the spool starts over after it.
    // false (following) when the file ends inside that header.
    bool restart_at(std::uint64_t at) {
        spool_header h;
        const std::uint64_t end = parse_header(at, h);
        if (end == 0) {
            if (!final_) return false;
            fail(file_->size(), "truncated: the file ends inside the spool header of an exec'd image");
        }
        header_ = std::move(h);
        start_over(end);
        return true;
    }

    // A trace from the blocks from `at` on, written under the header last read.
    void start_over(std::uint64_t at) {
        reset(at);
        sum_.tsc_keys = header_.tsc_keys;
        trace_header h;
        h.pointer_size = header_.pointer_size;
        h.timestamps = header_.timestamps;
        h.clock = header_.timestamps ? clock_source::monotonic_ns : clock_source::none;
        h.page_size = header_.page_size;
        h.command_line = header_.command_line;
        h.host = header_.host;
        h.rss_samples = rss_samples_;
        // Following, or a spool of some size: zstd on a thread of its own (the merge only
        // encodes). For a small spool whole, starting it costs more than it saves.
        const bool threads = !final_ || file_->size() >= threads_from;
        writer_ = std::make_unique<trace_writer>(trace_path_, h, trace_writer::default_chunk_bytes, threads ? 1 : 0);
        checked_ = std::make_unique<trace_validator>(trace_path_);
    }

    // ---- pass 1 ------------------------------------------------------------------------------

    // Checks and indexes the blocks from scan_at_ on: framing, checksum, and the keys and the
    // thread_exit its header states, so that a torn or damaged block ends the spool at a block
    // boundary, and the watermark knows each thread's last key without decoding a record. A
    // block whose checksum holds but whose records are bad (a writer bug) is an error when the
    // merge decodes it. Following, a block the file does not hold whole yet waits.
    void index_blocks(bool final) {
        const unsigned char* d = file_->data();
        for (;;) {
            const std::uint64_t n = file_->size(), at = scan_at_;
            if (at == n) return;
            if (n - at < spool_block_header_bytes) {
                if (!final) return;
                if (!damaged(at, "truncated: the file ends inside a block header")) return;
                continue;
            }
            const unsigned char* h = d + at;
            if (std::memcmp(h, spool_magic, sizeof spool_magic) == 0) {  // the process exec'd
                if (!restart_at(at)) return;
                continue;
            }
            if (get_le(h, 4) != spool_block_magic) {
                if (!damaged(at, "bad block magic (not the start of a block)")) return;
                continue;
            }
            const std::uint32_t key = static_cast<std::uint32_t>(get_le(h + 4, 4));
            const std::uint64_t payload = get_le(h + 8, 4), count = get_le(h + 12, 4);
            if (payload > spool_max_payload) {
                if (!damaged(at, "block payload of " + std::to_string(payload) + " bytes exceeds the 16 MiB limit")) return;
                continue;
            }
            if (payload > n - at - spool_block_header_bytes) {
                if (!final) return;
                if (!damaged(at, "truncated: the file ends inside a block (" + std::to_string(payload) + " payload bytes)"))
                    return;
                continue;
            }
            // A block of no records announces a thread (before its first key was taken), with a
            // lower bound of its keys in the base key; others hold at least 2 bytes per record.
            if (count == 0 ? payload != 0 : count > payload / 2) {
                if (!damaged(at, "block claims " + std::to_string(count) + " records in " + std::to_string(payload) +
                                     " bytes"))
                    return;
                continue;
            }
            const std::uint64_t sum = spool_checksum(h + spool_block_header_bytes, payload, spool_checksum(h, 48));
            if (sum != get_le(h + 48, 8)) {
                if (!damaged(at, "block checksum mismatch (a torn or corrupt block)")) return;
                continue;
            }
            auto [it, fresh] = by_key_.try_emplace(key, streams_.size());
            if (fresh) {
                streams_.emplace_back();
                streams_.back().key = key;
            }
            thread_stream& t = streams_[it->second];
            if (count == 0) {
                if (t.any) {
                    if (!damaged(at, describe_key(key) + " is announced after its records")) return;
                    continue;
                }
                t.bound = std::max(t.bound, get_le(h + 16, 8));
            } else {
                // The records are checked as the merge decodes them (block_decoder); here what
                // the header says of them, against the thread's blocks before.
                const std::uint64_t first = get_le(h + 16, 8), last = get_le(h + 32, 8);
                const std::uint64_t flags = get_le(h + 40, 4), zero = get_le(h + 44, 4);
                std::string problem;
                if ((flags & ~std::uint64_t{spool_block_ends_thread}) != 0 || zero != 0)
                    problem = "unknown block flag bits " + std::to_string(flags & ~std::uint64_t{spool_block_ends_thread}) +
                              " (or a reserved field not 0)";
                else if (last < first || last - first < count - 1)  // keys strictly increase
                    problem = "the block's keys, " + std::to_string(first) + " to " + std::to_string(last) +
                              ", cannot be those of its " + std::to_string(count) + " records";
                else if (t.exited)
                    problem = describe_key(key) + " has a record after its thread_exit";
                else if (t.any && first <= t.last_seq)
                    problem = describe_key(key) + " goes back in sequence (seq " + std::to_string(first) + " after " +
                              std::to_string(t.last_seq) + ")";
                if (!problem.empty()) {
                    if (!damaged(at + spool_block_header_bytes, problem)) return;
                    continue;
                }
                t.last_seq = last;
                t.bound = last + 1;
                t.any = true;
                t.exited = (flags & spool_block_ends_thread) != 0;
                t.blocks.push_back(at);
                ++sum_.blocks;
                sum_.records += count;
            }
            file_->read_through(spool_block_header_bytes + payload);
            scan_at_ = at + spool_block_header_bytes + payload;
        }
    }

    // Following: the key below which every record is in the file. A thread's records still to
    // come are keyed above its last one indexed (or, before any, its announcement's bound); a
    // thread not announced yet takes its keys after this pass read the file, so above every
    // key read (TSC keys: but for the cores' skew, which the merge's window covers).
    std::uint64_t watermark() const {
        std::uint64_t w = std::numeric_limits<std::uint64_t>::max();
        for (const thread_stream& t : streams_)
            if (!t.exited) w = std::min(w, t.bound);
        return w;
    }

    // ---- pass 2 -------------------------------------------------------------------------

    // Loads the stream's next record into head; false at its end.
    bool advance(thread_stream& t) {
        t.second_half = false;
        t.placed = false;
        while (t.dec.done()) {
            if (t.next_block == t.blocks.size()) return false;
            const std::uint64_t at = t.blocks[t.next_block++];
            file_->read_through(spool_block_header_bytes + get_le(file_->data() + at + 8, 4));
            t.dec = block_decoder(file_->data(), at, header_.timestamps);
        }
        if (!t.dec.next(t.head, t.head_at, problem_)) fail(t.head_at, problem_);  // whole (checksum), but wrong: a writer bug
        return true;
    }

    // A new object at addr: the smallest id not live (0 for a null result). An address that
    // is still live was released without a record (by a thread after its thread_exit): its
    // old object stays live in the trace, as a leak, and is never reused.
    std::uint64_t allocate(std::uint64_t addr) {
        if (addr == 0) return 0;
        const std::uint64_t id = ids_.take();
        if (live_.put(addr, id) != 0) ++sum_.orphaned;
        wake(addr, false);
        return id;
    }

    // Releases addr's object; false when the address was never seen allocated (allocated before
    // recording started, or by an unrecorded call): such a release is not in the trace.
    bool release(std::uint64_t addr, std::uint64_t& id) {
        id = 0;
        if (addr == 0) return true;  // free(NULL)
        id = live_.take(addr);
        if (id == 0) {
            ++sum_.unknown_releases;
            return false;
        }
        ids_.release(id);
        wake(addr, true);
        return true;
    }

    void emit(thread_stream& t, event& e) {
        if (t.dense == no_dense) {
            t.dense = sum_.threads++;
            dense_of_key_.emplace(t.key, t.dense);
        }
        e.thread = t.dense;
        e.seq = sum_.events++;
        e.time_ns = t.head.time_ns;
        writer_->append(e);
        try {
            checked_->as_written(e);
        } catch (const trace_error& bad) {  // the spool's record is what to look at
            fail(t.head_at, "its events do not make a valid trace: " + bad.problem);
        }
    }

    // realloc, at its first seq (before the real call): a moved or freeing realloc released
    // the old address here, so from now on the address may come back to any thread, with a
    // new id. The old id stays live until the second seq, where the realloc event goes.
    void realloc_release(thread_stream& t) {
        const spool_record& r = t.head;
        t.old_id = 0;
        if (r.old_addr == 0) return;
        t.old_id = live_.find(r.old_addr);
        if (t.old_id == 0) {
            ++sum_.unknown_releases;  // recorded as realloc(NULL, size)
            return;
        }
        const bool failed = r.addr == 0 && r.size != 0;
        const bool in_place = r.addr == r.old_addr;
        if (!failed && !in_place) {
            live_.take(r.old_addr);
            wake(r.old_addr, true);
        }
    }

    // realloc, at its second seq (after the real call): the trace's one realloc event.
    void realloc_event(thread_stream& t, event& e) {
        const spool_record& r = t.head;
        e.old_id = t.old_id;
        e.size = clamp(r.size);
        if (r.addr == 0 && r.size != 0) return;  // failed: id 0, the old object stays live
        if (r.addr == r.old_addr && t.old_id != 0) {
            if (live_.find(r.addr) == t.old_id) {
                e.id = t.old_id;  // in place: same object, same id
                return;
            }
            e.old_id = 0;  // the address was released meanwhile (a double free): a fresh object
        } else if (t.old_id != 0) {
            ids_.release(t.old_id);
        }
        e.id = allocate(r.addr);
        if (r.old_addr != 0 && r.addr != 0 && r.addr != r.old_addr) e.flags = realloc_moved;
    }

    void convert_record(thread_stream& t) {
        const spool_record& r = t.head;
        event e;
        e.kind = r.kind;
        switch (r.kind) {
            case op::malloc:
            case op::calloc:
            case op::aligned:
            case op::new_:
                e.id = allocate(r.addr);
                e.size = clamp(r.size);
                e.count = clamp(r.count);
                e.alignment = clamp(r.alignment);
                e.flags = r.flags;
                break;
            case op::free:
            case op::delete_:
                if (!release(r.addr, e.id)) return;
                e.size = clamp(r.size);
                e.alignment = clamp(r.alignment);
                e.flags = r.flags;
                break;
            case op::realloc: realloc_event(t, e); break;
            case op::thread_start: {
                const auto it = r.parent == 0 ? dense_of_key_.end() : dense_of_key_.find(r.parent - 1);
                e.parent = it == dense_of_key_.end() ? no_thread : it->second;
                break;
            }
            case op::free_sized:
            case op::thread_exit: break;
        }
        emit(t, e);
    }

    // ---- TSC keys: ties and skew ----------------------------------------------------------
    //
    // Two events of different threads on one address are ordered by the program (a free and
    // the reuse of the block, through the allocator; an allocation and the free of the block
    // handed to another thread, through the program's own synchronisation), and the shim reads
    // the key before the release call and after the allocating one, so the first event has the
    // smaller key, unless the keys tie, the cores' TSCs disagree, or the second key was read a
    // little early (an unfenced rdtsc, see the shim). Then the merge meets an allocation at an
    // address that is live, or a release of one that is not. With TSC keys that stream is
    // parked: its later records wait (its program order is kept) while the other threads go on,
    // until the event it needs (a release, or an allocation, of that address) comes in another
    // stream, and the parked record then goes right after it (a repair, counted in `reordered`),
    // or until every other stream has gone spool_reorder_window ticks past it, and the record is
    // converted as it is (a leak of the old object, or a release that is dropped, as with
    // counter keys). Counter keys are exact: no stream ever waits.

    using heap_item = std::pair<std::uint64_t, std::size_t>;  // key, stream
    using key_heap = std::priority_queue<heap_item, std::vector<heap_item>, std::greater<>>;

    struct parked_stream {
        std::uint64_t addr, key;
        std::size_t stream;
        bool needs_release;  // else it needs an allocation of addr
    };

    // Whether the stream's head is an allocation of a live address (it needs a release first:
    // returns 1) or a release of an address that is not live (it needs an allocation: 2); 0 when
    // it can be converted now. A realloc's first half releases old_addr, its second allocates addr.
    int needs(const thread_stream& t) const {
        if (!header_.tsc_keys || t.placed) return 0;
        const spool_record& r = t.head;
        switch (r.kind) {
            case op::malloc:
            case op::calloc:
            case op::aligned:
            case op::new_: return r.addr != 0 && live_.find(r.addr) != 0 ? 1 : 0;
            case op::free:
            case op::delete_: return r.addr != 0 && live_.find(r.addr) == 0 ? 2 : 0;
            case op::realloc:
                if (!t.second_half) return r.old_addr != 0 && live_.find(r.old_addr) == 0 ? 2 : 0;
                return r.addr != 0 && r.addr != r.old_addr && live_.find(r.addr) != 0 ? 1 : 0;
            default: return 0;
        }
    }

    // An event on addr: the stream parked for it (if any) goes next.
    void wake(std::uint64_t addr, bool released) {
        if (parked_.empty()) [[likely]]
            return;
        for (std::size_t k = 0; k < parked_.size(); ++k) {
            if (parked_[k].addr != addr || parked_[k].needs_release != released) continue;
            unpark(k);
            ++sum_.reordered;
            return;
        }
    }

    void unpark(std::size_t k) {
        const parked_stream p = parked_[k];
        parked_.erase(parked_.begin() + static_cast<std::ptrdiff_t>(k));
        streams_[p.stream].placed = true;
        heap_.emplace(p.key, p.stream);
    }

    // The oldest parked stream goes back once every other stream has gone past its window (or
    // none is left to go on: then nothing it waits for can come). One at a time, oldest first:
    // converting it may wake the others. Following, only once every record within its window is
    // in the file (below `limit`).
    void expire_parked(bool final, std::uint64_t limit) {
        std::size_t oldest = 0;
        for (std::size_t k = 1; k < parked_.size(); ++k)
            if (parked_[k].key < parked_[oldest].key) oldest = k;
        const std::uint64_t key = parked_[oldest].key;
        if (!final && (limit < spool_reorder_window || key >= limit - spool_reorder_window)) return;
        if (heap_.empty() || (heap_.top().first > key && heap_.top().first - key > spool_reorder_window))
            unpark(oldest);
    }

    // Pass 2: a k-way merge. Each thread's records are in key order, so a heap of the threads'
    // next key yields the global order; a realloc is visited twice, at each of its keys.
    // Following, the merge stops at the watermark (TSC keys: a window below it, so that what a
    // parked record waits for is in the file if it ever comes).
    void merge(bool final) {
        std::uint64_t limit = std::numeric_limits<std::uint64_t>::max();
        if (!final) {
            limit = watermark();
            if (header_.tsc_keys) limit = limit > spool_reorder_window ? limit - spool_reorder_window : 0;
        }
        for (std::size_t i = 0; i < streams_.size(); ++i) {
            thread_stream& t = streams_[i];
            if (!t.active && advance(t)) {
                t.active = true;
                heap_.emplace(t.head.seq, i);
            }
        }
        for (;;) {
            if (!parked_.empty()) expire_parked(final, limit);
            if (heap_.empty()) break;
            const auto [seq, i] = heap_.top();
            if (seq >= limit) break;
            heap_.pop();
            merge_run(i, seq, limit);
        }
    }

    // Merges stream i's records from its head (at `key`) on, for as long as its next key is
    // still the smallest of all (below every other stream's next, and below `limit`): a run of
    // one thread's events takes no heap operation per event. Then it is back in the heap, or
    // parked, or out of records.
    void merge_run(std::size_t i, std::uint64_t key, std::uint64_t limit) {
        thread_stream& t = streams_[i];
        for (;;) {
            if (!header_.tsc_keys && merged_any_ && key == last_key_)
                fail(t.head_at, "sequence number " + std::to_string(key) + " used twice (also by the record at byte " +
                                    std::to_string(last_at_) + ")");
            merged_any_ = true;
            last_key_ = key;
            last_at_ = t.head_at;
            if (const int need = needs(t); need != 0) {
                const bool old = t.head.kind == op::realloc && !t.second_half;
                parked_.push_back({old ? t.head.old_addr : t.head.addr, key, i, need == 1});
                return;
            }
            if (t.head.kind == op::realloc && !t.second_half) {
                realloc_release(t);
                t.second_half = true;
                t.placed = false;
                key = t.head.seq2;
            } else {
                convert_record(t);
                if (!advance(t)) {
                    t.active = false;  // until pass 1 indexes more of its blocks
                    return;
                }
                key = t.head.seq;
            }
            if (!parked_.empty() || key >= limit || (!heap_.empty() && heap_.top().first <= key)) {
                heap_.emplace(key, i);
                return;
            }
        }
    }

    std::string path_, trace_path_;
    bool rss_samples_;        // the trace's header announces RSS samples (finish() gets them)
    std::optional<mapped_file> file_;
    bool following_ = true;   // follow() still converts (it stops at what it cannot follow)
    bool final_ = false;      // finish() runs: the spool is whole
    bool have_header_ = false;
    spool_options opt_;
    spool_header header_;     // of the image being converted (the last one, when the process exec'd)
    std::uint64_t scan_at_ = 0;  // pass 1: the next block to index
    std::vector<thread_stream> streams_;
    std::unordered_map<std::uint32_t, std::size_t> by_key_;  // thread key -> streams_ index
    spool_summary sum_;
    std::unique_ptr<trace_writer> writer_;
    std::unique_ptr<trace_validator> checked_;  // validate()'s checks, fed each event as it is written
    key_heap heap_;                            // the merge's heap: the active streams' next keys
    bool merged_any_ = false;                  // counter keys: the last key merged, for a key used twice
    std::uint64_t last_key_ = 0, last_at_ = 0;
    std::string problem_;                 // the decoder's, kept so that no record constructs one
    std::vector<parked_stream> parked_;   // TSC keys: streams waiting for another one's record (one entry each at most)
    live_table<page_local_keys> live_;    // live addresses -> ids
    smallest_free_id ids_;                 // the objects' ids
    std::unordered_map<std::uint32_t, std::uint32_t> dense_of_key_;
};


spool_error::spool_error(const std::string& f, std::uint64_t off, const std::string& p)
    : std::runtime_error(f + ": " + (off == no_offset ? std::string() : "byte " + std::to_string(off) + ": ") + p),
      file(f),
      offset(off),
      problem(p) {}

spool_converter::spool_converter(std::string spool_path, std::string trace_path, bool rss_samples)
    : impl_(std::make_unique<impl>(std::move(spool_path), std::move(trace_path), rss_samples)) {}

spool_converter::~spool_converter() = default;

bool spool_converter::follow() { return impl_->follow(); }

bool spool_converter::following() const { return impl_->following(); }

std::uint64_t spool_converter::events() const { return impl_->events(); }

spool_summary spool_converter::finish(const spool_options& options) { return impl_->finish(options); }

spool_summary convert_spool(const std::string& spool_path, const std::string& trace_path,
                            const spool_options& options) {
    return spool_converter(spool_path, trace_path, options.rss != nullptr).finish(options);
}

}  // namespace allocmeter::trace
