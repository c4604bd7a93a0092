// trace_spool: reading the recorder's spool and converting it into a trace. Two passes over
// the mapped file: the first checks every block (framing, checksum, records) and indexes each
// thread's blocks; the second merges the threads by key, turns addresses into dense ids, and
// checks the events in global order as they are written (the trace is then read back once).
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
#include <queue>
#include <unordered_map>
#include <utility>

#include "workloads/trace/format/live_table.hpp"
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

// The spool, mapped read-only. The recorder's process has exited, so the file no longer changes.
class mapped_file {
public:
    explicit mapped_file(const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            throw spool_error(path, spool_error::no_offset, std::string("cannot open: ") + std::strerror(errno));
        struct stat st;
        if (::fstat(fd, &st) != 0) {
            const int e = errno;
            ::close(fd);
            throw spool_error(path, spool_error::no_offset, std::string("cannot stat: ") + std::strerror(e));
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ != 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int e = errno;
                ::close(fd);
                throw spool_error(path, spool_error::no_offset, std::string("cannot map: ") + std::strerror(e));
            }
            data_ = static_cast<const unsigned char*>(p);
        }
        ::close(fd);
    }
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    ~mapped_file() {
        if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
    }
    const unsigned char* data() const { return data_; }
    std::size_t size() const { return size_; }

    /// Counts `bytes` of blocks as read through: every 8 MiB, the whole mapping's pages are
    /// dropped from this process (they stay in the page cache, and a block still in use reads
    /// its pages back), so what the converter keeps resident is bounded, not the spool. The
    /// whole mapping, not the block just read: a fault maps a large page-cache folio whole, so
    /// pages behind a dropped block come back when the next one is touched.
    void read_through(std::uint64_t bytes) {
        constexpr std::uint64_t drop_interval = std::uint64_t{8} << 20;
        if ((read_ += bytes) < drop_interval || data_ == nullptr) return;
        read_ = 0;
        ::madvise(const_cast<unsigned char*>(data_), size_, MADV_DONTNEED);
    }

private:
    const unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
    std::uint64_t read_ = 0;  // bytes read through since the last drop
};

// Decodes one block's records. A problem is reported with the byte where the bad field starts.
class block_decoder {
public:
    block_decoder() = default;
    block_decoder(const unsigned char* file, std::uint64_t block_at, bool timestamps) : file_(file), ts_(timestamps) {
        const unsigned char* h = file + block_at;
        left_ = static_cast<std::uint32_t>(get_le(h + 12, 4));
        s_.prev_seq = get_le(h + 16, 8);
        s_.prev_time = get_le(h + 24, 8);
        p_ = h + spool_block_header_bytes;
        end_ = p_ + get_le(h + 8, 4);
    }

    bool done() const { return left_ == 0; }
    /// Bytes of the payload not consumed (must be 0 once done()).
    std::size_t rest() const { return static_cast<std::size_t>(end_ - p_); }
    std::uint64_t offset() const { return static_cast<std::uint64_t>(p_ - file_); }

    /// The next record; on a bad record returns false with `problem` and `at` set.
    bool next(spool_record& r, std::uint64_t& at, std::string& problem) {
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
        if (!ok) return false;
        --left_;
        return true;
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
    std::uint32_t left_ = 0;
    spool_block_state s_;
};

// One recorded thread: its blocks in file order (its program order) and the merge cursor.
struct thread_stream {
    std::uint32_t key = 0;
    std::vector<std::uint64_t> blocks;  // offsets of block headers
    // pass 1
    std::uint64_t last_seq = 0;
    bool any = false, exited = false;
    // pass 2
    std::size_t next_block = 0;
    block_decoder dec;
    spool_record head;
    std::uint64_t head_at = 0;
    bool second_half = false;  // head is a realloc whose release point was handled
    bool placed = false;       // head waited (for another thread's record, or its window): convert it as it is
    std::uint64_t old_id = 0;  // that realloc's old object
    std::uint32_t dense = no_dense;
};

std::string describe_key(std::uint32_t key) { return "thread key " + std::to_string(key); }

// The whole conversion; members are the converter's state between the two passes.
class converter {
public:
    converter(const std::string& spool, const spool_options& o) : path_(spool), file_(spool), opt_(o) {}

    spool_summary run(const std::string& trace_path) {
        read_header();
        index_blocks();
        trace_validator checked(trace_path);
        checked_ = &checked;
        merge(trace_path);
        checked_ = nullptr;
        sum_.trace = validate_written(trace_path, checked);
        return sum_;
    }

private:
    [[noreturn]] void fail(std::uint64_t at, const std::string& problem) const {
        throw spool_error(path_, at, problem);
    }

    // A damaged block: an error, or in salvage mode the end of what is converted.
    bool damaged(std::uint64_t at, const std::string& problem) {
        if (!opt_.salvage) fail(at, problem);
        sum_.damage = spool_error(path_, at, problem).what();
        return false;
    }

    void read_header() {
        const unsigned char* d = file_.data();
        const std::size_t n = file_.size();
        if (n < spool_header_bytes) fail(n, "truncated: the file ends inside the spool header");
        if (std::memcmp(d, spool_magic, sizeof spool_magic) != 0) fail(0, "wrong magic (not an allocmeter spool)");
        const auto version = get_le(d + 8, 2);
        if (version != spool_version)
            fail(8, "unsupported spool version " + std::to_string(version) + " (this build reads version " +
                        std::to_string(spool_version) + "; record the program again with this build's recorder)");
        header_.pointer_size = d[10];
        if (header_.pointer_size != 4 && header_.pointer_size != 8)
            fail(10, "pointer size " + std::to_string(header_.pointer_size) + " is not 4 or 8");
        constexpr std::uint8_t known_flags = spool_flag_timestamps | spool_flag_tsc_keys;
        if (d[11] & ~known_flags) fail(11, "unknown header flag bits " + hex_byte(d[11] & ~known_flags));
        header_.timestamps = (d[11] & spool_flag_timestamps) != 0;
        header_.tsc_keys = (d[11] & spool_flag_tsc_keys) != 0;
        sum_.tsc_keys = header_.tsc_keys;
        header_.page_size = static_cast<std::uint32_t>(get_le(d + 12, 4));
        if (!std::has_single_bit(header_.page_size) || header_.page_size > (1u << 30))
            fail(12, "page size " + std::to_string(header_.page_size) + " is not a power of two up to 2^30");
        header_.pid = static_cast<std::uint32_t>(get_le(d + 16, 4));
        const std::uint64_t cmd = get_le(d + 20, 4), host = get_le(d + 24, 4);
        if (cmd > max_string) fail(20, "command line length " + std::to_string(cmd) + " exceeds the 1 MiB limit");
        if (host > max_string) fail(24, "host length " + std::to_string(host) + " exceeds the 1 MiB limit");
        if (n < spool_header_bytes + cmd + host) fail(n, "truncated: the file ends inside the spool header");
        header_.command_line.assign(reinterpret_cast<const char*>(d) + spool_header_bytes, cmd);
        header_.host.assign(reinterpret_cast<const char*>(d) + spool_header_bytes + cmd, host);
        blocks_at_ = spool_header_bytes + cmd + host;
    }

    // Pass 1: every block is checked whole before anything is converted, so the merge never
    // meets a bad record, and a damaged block ends the spool at a block boundary.
    void index_blocks() {
        const unsigned char* d = file_.data();
        const std::uint64_t n = file_.size();
        std::unordered_map<std::uint32_t, std::size_t> by_key;
        for (std::uint64_t at = blocks_at_; at < n;) {
            if (n - at < spool_block_header_bytes && !damaged(at, "truncated: the file ends inside a block header"))
                return;
            const unsigned char* h = d + at;
            if (get_le(h, 4) != spool_block_magic && !damaged(at, "bad block magic (not the start of a block)")) return;
            const std::uint32_t key = static_cast<std::uint32_t>(get_le(h + 4, 4));
            const std::uint64_t payload = get_le(h + 8, 4), count = get_le(h + 12, 4);
            if (payload > spool_max_payload &&
                !damaged(at, "block payload of " + std::to_string(payload) + " bytes exceeds the 16 MiB limit"))
                return;
            if (payload > n - at - spool_block_header_bytes &&
                !damaged(at, "truncated: the file ends inside a block (" + std::to_string(payload) + " payload bytes)"))
                return;
            if (count == 0 || count > payload / 2) {  // a record takes at least 2 bytes
                if (!damaged(at, "block claims " + std::to_string(count) + " records in " + std::to_string(payload) +
                                     " bytes"))
                    return;
            }
            const std::uint64_t sum = spool_checksum(h + spool_block_header_bytes, payload, spool_checksum(h, 32));
            if (sum != get_le(h + 32, 8) && !damaged(at, "block checksum mismatch (a torn or corrupt block)")) return;
            auto [it, fresh] = by_key.try_emplace(key, streams_.size());
            if (fresh) {
                streams_.emplace_back();
                streams_.back().key = key;
            }
            if (!check_block(streams_[it->second], at)) return;
            streams_[it->second].blocks.push_back(at);
            ++sum_.blocks;
            sum_.records += count;
            file_.read_through(spool_block_header_bytes + payload);
            at += spool_block_header_bytes + payload;
        }
    }

    bool check_block(thread_stream& t, std::uint64_t at) {
        block_decoder dec(file_.data(), at, header_.timestamps);
        spool_record r;
        std::uint64_t rat;
        std::string problem;
        // Copies: a damaged block must leave the stream as it was.
        std::uint64_t last = t.last_seq;
        bool any = t.any, exited = t.exited;
        while (!dec.done()) {
            if (!dec.next(r, rat, problem)) return damaged(rat, problem);
            if (exited) return damaged(rat, describe_key(t.key) + " has a record after its thread_exit");
            if (any && r.seq <= last)
                return damaged(rat, describe_key(t.key) + " goes back in sequence (seq " + std::to_string(r.seq) +
                                        " after " + std::to_string(last) + ")");
            last = r.kind == op::realloc ? r.seq2 : r.seq;
            any = true;
            exited = r.kind == op::thread_exit;
        }
        if (dec.rest() != 0) return damaged(dec.offset(), "the block's records end before its payload does");
        t.last_seq = last;
        t.any = any;
        t.exited = exited;
        return true;
    }

    // ---- pass 2 -------------------------------------------------------------------------

    // Loads the stream's next record into head; false at its end.
    bool advance(thread_stream& t) {
        t.second_half = false;
        t.placed = false;
        while (t.dec.done()) {
            if (t.next_block == t.blocks.size()) return false;
            const std::uint64_t at = t.blocks[t.next_block++];
            file_.read_through(spool_block_header_bytes + get_le(file_.data() + at + 8, 4));
            t.dec = block_decoder(file_.data(), at, header_.timestamps);
        }
        std::string problem;
        if (!t.dec.next(t.head, t.head_at, problem)) fail(t.head_at, problem);  // pass 1 read it already
        return true;
    }

    std::uint64_t take_id() {
        if (free_ids_.empty()) return next_id_++;
        const std::uint64_t id = free_ids_.top();
        free_ids_.pop();
        return id;
    }

    // A new object at addr: the smallest id not live (0 for a null result). An address that
    // is still live was released without a record (by a thread after its thread_exit): its
    // old object stays live in the trace, as a leak, and is never reused.
    std::uint64_t allocate(std::uint64_t addr) {
        if (addr == 0) return 0;
        const std::uint64_t id = take_id();
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
        free_ids_.push(id);
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
            checked_->in_global_order(e);
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
            free_ids_.push(t.old_id);
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
        heap_->emplace(p.key, p.stream);
    }

    // The oldest parked stream goes back once every other stream has gone past its window (or
    // none is left to go on: then nothing it waits for can come). One at a time, oldest first:
    // converting it may wake the others.
    void expire_parked() {
        std::size_t oldest = 0;
        for (std::size_t k = 1; k < parked_.size(); ++k)
            if (parked_[k].key < parked_[oldest].key) oldest = k;
        const std::uint64_t key = parked_[oldest].key;
        if (heap_->empty() || (heap_->top().first > key && heap_->top().first - key > spool_reorder_window))
            unpark(oldest);
    }

    // Pass 2: a k-way merge. Each thread's records are in key order, so a heap of the threads'
    // next key yields the global order; a realloc is visited twice, at each of its keys.
    void merge(const std::string& trace_path) {
        trace_header h;
        h.pointer_size = header_.pointer_size;
        h.timestamps = header_.timestamps;
        h.clock = header_.timestamps ? clock_source::monotonic_ns : clock_source::none;
        h.page_size = header_.page_size;
        h.command_line = header_.command_line;
        h.host = header_.host;
        h.rss_samples = opt_.rss != nullptr;
        trace_writer writer(trace_path, h);
        writer_ = &writer;

        key_heap heap;
        heap_ = &heap;
        for (std::size_t i = 0; i < streams_.size(); ++i)
            if (advance(streams_[i])) heap.emplace(streams_[i].head.seq, i);
        bool first = true;
        std::uint64_t last = 0;
        std::uint64_t last_at = 0;
        while (!heap.empty() || !parked_.empty()) {
            if (!parked_.empty()) expire_parked();
            const auto [seq, i] = heap.top();
            heap.pop();
            thread_stream& t = streams_[i];
            if (!header_.tsc_keys && !first && seq == last)
                fail(t.head_at, "sequence number " + std::to_string(seq) + " used twice (also by the record at byte " +
                                    std::to_string(last_at) + ")");
            first = false;
            last = seq;
            last_at = t.head_at;
            if (const int need = needs(t); need != 0) {
                const bool old = t.head.kind == op::realloc && !t.second_half;
                parked_.push_back({old ? t.head.old_addr : t.head.addr, seq, i, need == 1});
                continue;
            }
            if (t.head.kind == op::realloc && !t.second_half) {
                realloc_release(t);
                t.second_half = true;
                t.placed = false;
                heap.emplace(t.head.seq2, i);
                continue;
            }
            convert_record(t);
            if (advance(t)) heap.emplace(t.head.seq, i);
        }
        heap_ = nullptr;
        if (opt_.rss != nullptr) writer.set_rss(*opt_.rss);
        writer.close();
        writer_ = nullptr;
    }

    std::string path_;
    mapped_file file_;
    spool_options opt_;
    spool_header header_;
    std::uint64_t blocks_at_ = 0;
    std::vector<thread_stream> streams_;
    spool_summary sum_;
    trace_writer* writer_ = nullptr;
    trace_validator* checked_ = nullptr;  // the global checks, fed each event as it is written
    key_heap* heap_ = nullptr;            // the merge's heap, while it runs
    std::vector<parked_stream> parked_;   // TSC keys: streams waiting for another one's record (one entry each at most)
    live_table<page_local_keys> live_;    // live addresses -> ids
    std::priority_queue<std::uint64_t, std::vector<std::uint64_t>, std::greater<>> free_ids_;
    std::uint64_t next_id_ = 1;
    std::unordered_map<std::uint32_t, std::uint32_t> dense_of_key_;
};

}  // namespace

spool_error::spool_error(const std::string& f, std::uint64_t off, const std::string& p)
    : std::runtime_error(f + ": " + (off == no_offset ? std::string() : "byte " + std::to_string(off) + ": ") + p),
      file(f),
      offset(off),
      problem(p) {}

spool_summary convert_spool(const std::string& spool_path, const std::string& trace_path,
                            const spool_options& options) {
    return converter(spool_path, options).run(trace_path);
}

}  // namespace allocmeter::trace
