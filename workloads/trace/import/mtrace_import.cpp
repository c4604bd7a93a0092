// mtrace_import: reads a glibc mtrace() log line by line and writes the allocmeter trace it
// describes; every line is checked, and a bad one stops the import with its line number.
//
// What glibc 2.36 writes (libc_malloc_debug.so.0, malloc/mtrace-impl.c), checked on this host:
//   = Start                           first line; "= End" last, only if the program called muntrace()
//   [@ CALLER] + ADDR SIZE            malloc, calloc, memalign, posix_memalign, aligned_alloc,
//                                     valloc, pvalloc, and realloc(NULL, n); ADDR (nil) = failed
//   [@ CALLER] - ADDR                 free(ADDR), and realloc(ADDR, 0); free(NULL) is not logged
//   [@ CALLER] < OLD / > NEW SIZE     a successful realloc(OLD, SIZE): always two adjacent lines
//   [@ CALLER] ! OLD SIZE             a failed realloc(OLD, SIZE): OLD stays allocated
// CALLER is "FILE:(SYMBOL+OFF)[0xADDR]", "FILE:[0xADDR]" or "[0xADDR]" and is absent when
// glibc has no caller. ADDR is %p ("0x55d1..." or "(nil)"), SIZE is %#lx ("0x64", but "0").
// SIZE is what glibc passed on, not always what was asked: pvalloc(100) logs as 0x1001.
//
// How it becomes a trace (also docs/trace-format.md, "Importing glibc mtrace logs"):
// - One thread: mtrace has no thread ids. Thread 0, seq 0, 1, 2 ... in file order, no
//   timestamps. Header: command line "imported from mtrace log PATH", 8-byte pointers, this
//   host's name and page size (mtrace records neither).
// - Addresses become dense ids, the smallest id not live, from 1 (as the recorder does).
// - '+' is op::malloc whatever the call was: mtrace prints calloc, memalign & co. the same
//   way, so calloc's count and an alignment are lost. realloc(NULL, n) is a malloc too.
// - '-' is op::free; realloc(p, 0) is therefore a free. A '-' of an address that is not live
//   (allocated before mtrace() was called) is skipped and counted.
// - '< OLD' '> NEW SIZE' is one op::realloc: in place (same id, moved clear) when NEW == OLD,
//   else OLD's id ends and NEW gets the smallest free id, moved set. When OLD is not live the
//   pair becomes a malloc of NEW (counted with untracked_reallocs).
// - '! OLD SIZE' is a failed realloc: new id 0, size > 0, OLD stays live. Skipped (and
//   counted) when OLD is not live.
// - A failed call's size above 2^48 (glibc logs malloc(SIZE_MAX/2) as "+ (nil) 0x7fff...")
//   is recorded as 2^48, the recorder's convention. A successful one above 2^48 is an error.
// - An allocation at an address that is live is an error (a lost free, or a multithreaded
//   program's lines out of order), unless lenient: then the old object is freed just before.
#include "workloads/trace/import/mtrace_import.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace allocmeter::trace {

namespace {

/// Longest line accepted: glibc's lines are short, but a C++ symbol in CALLER can be long.
constexpr std::size_t max_line = std::size_t{1} << 20;

// The line, quoted for a message: at most 64 characters, anything unprintable as \xNN.
std::string quote(std::string_view s) {
    std::string q = "'";
    for (std::size_t i = 0; i < s.size() && i < 64; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f) {
            q += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            q += buf;
        }
    }
    return q + (s.size() > 64 ? "...'" : "'");
}

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

// Lines of a file, each without its '\n'; knows whether the last one had one. Reads in
// blocks, so a huge log streams and a file with no newline costs at most max_line.
class line_reader {
public:
    explicit line_reader(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "rb")) {
        if (file_ == nullptr) throw mtrace_error(path, 0, std::string("cannot open: ") + std::strerror(errno));
        buf_.resize(64 * 1024);
    }
    line_reader(const line_reader&) = delete;
    line_reader& operator=(const line_reader&) = delete;
    ~line_reader() { std::fclose(file_); }

    /// The next line into `line`; false at the end of the file.
    bool next(std::string& line) {
        line.clear();
        ++number_;
        for (;;) {
            if (pos_ == len_ && !refill()) {
                newline_ = false;
                return !line.empty();
            }
            const char* start = buf_.data() + pos_;
            const auto* nl = static_cast<const char*>(std::memchr(start, '\n', len_ - pos_));
            const std::size_t n = nl != nullptr ? static_cast<std::size_t>(nl - start) : len_ - pos_;
            if (line.size() + n > max_line)
                throw mtrace_error(path_, number_, "line longer than 1 MiB (is this a text mtrace log?)");
            line.append(start, n);
            pos_ += n;
            if (nl != nullptr) {
                ++pos_;
                newline_ = true;
                return true;
            }
        }
    }
    /// 1-based number of the line next() returned last.
    std::uint64_t number() const noexcept { return number_; }
    /// Whether that line ended with '\n' (a log cut off mid-line does not).
    bool had_newline() const noexcept { return newline_; }

private:
    bool refill() {
        len_ = std::fread(buf_.data(), 1, buf_.size(), file_);
        pos_ = 0;
        if (len_ == 0 && std::ferror(file_))
            throw mtrace_error(path_, number_, std::string("read error: ") + std::strerror(errno));
        return len_ > 0;
    }

    std::string path_;
    std::FILE* file_;
    std::vector<char> buf_;
    std::size_t pos_ = 0, len_ = 0;
    std::uint64_t number_ = 0;
    bool newline_ = false;
};

/// One event line of the log, parsed.
struct mtrace_line {
    char op = 0;             ///< '+', '-', '<', '>' or '!'
    std::uint64_t addr = 0;  ///< 0 for (nil)
    std::uint64_t size = 0;  ///< '+', '>' and '!' only
    std::string_view text;   ///< the line from OP on (without the caller), for messages
};

// Parses "0x" and 1..16 hex digits; "0" and "(nil)" when allowed. Empty string: ok.
std::string parse_number(std::string_view s, std::uint64_t& out, bool is_address) {
    out = 0;
    if (is_address && s == "(nil)") return {};
    if (!is_address && s == "0") return {};
    const char* what = is_address ? "address" : "size";
    const char* expected = is_address ? "0x and hex digits, or (nil)" : "0x and hex digits, or 0";
    if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return std::string("bad ") + what + " " + quote(s) + " (expected " + expected + ")";
    if (s.size() > 2 + 16) return std::string("bad ") + what + " " + quote(s) + " (more than 64 bits)";
    for (char c : s.substr(2)) {
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return std::string("bad ") + what + " " + quote(s) + " (expected " + expected + ")";
        out = out << 4 | static_cast<std::uint64_t>(d);
    }
    return {};
}

// Parses "[@ CALLER] OP ADDR [SIZE]" into `out`; the problem, or empty when it parsed.
std::string parse_event(std::string_view line, mtrace_line& out) {
    if (line.starts_with("@ ")) {
        // CALLER ends at its last "] ": a file name may hold anything, the event part no ']'.
        const std::size_t end = line.rfind("] ");
        if (end == std::string_view::npos)
            return "caller " + quote(line) + " has no closing ']' before the event";
        line.remove_prefix(end + 2);
    }
    out.text = line;
    const std::string_view ops = "+-<>!";
    if (line.size() < 3 || ops.find(line[0]) == std::string_view::npos || line[1] != ' ')
        return "unrecognised line " + quote(line) +
               " (expected '= Start', '= End' or '[@ CALLER] OP ADDRESS [SIZE]' with OP one of + - < > !)";
    out.op = line[0];
    std::string_view rest = line.substr(2);
    const std::size_t space = rest.find(' ');
    const std::string_view addr = rest.substr(0, space);
    if (std::string p = parse_number(addr, out.addr, true); !p.empty()) return p;
    const bool wants_size = out.op == '+' || out.op == '>' || out.op == '!';
    if (!wants_size) {
        if (space != std::string_view::npos)
            return "unexpected " + quote(rest.substr(space)) + " after the address in " + quote(line) +
                   " ('" + out.op + "' takes only an address)";
        return {};
    }
    if (space == std::string_view::npos)
        return "missing size in " + quote(line) + " ('" + out.op + " ADDRESS SIZE')";
    const std::string_view size = rest.substr(space + 1);
    if (size.find(' ') != std::string_view::npos)
        return "unexpected " + quote(size.substr(size.find(' '))) + " after the size in " + quote(line);
    return parse_number(size, out.size, false);
}

/// Dense object ids: the smallest id not live, from 1.
class id_pool {
public:
    std::uint64_t take() {
        if (free_.empty()) return next_++;
        const std::uint64_t id = free_.top();
        free_.pop();
        return id;
    }
    void give(std::uint64_t id) { free_.push(id); }

private:
    std::priority_queue<std::uint64_t, std::vector<std::uint64_t>, std::greater<>> free_;
    std::uint64_t next_ = 1;
};

/// A live block: its id and the line that allocated it (for messages).
struct live_block {
    std::uint64_t id;
    std::uint64_t line;
};

// The conversion proper: log lines in, events out to the writer.
class importer {
public:
    importer(const std::string& log_path, line_reader& in, trace_writer& writer, const mtrace_options& options,
             import_summary& summary)
        : path_(log_path), in_(in), writer_(writer), options_(options), summary_(summary) {}

    void run() {
        std::string line, pending_text;  // pending: a '<' line awaiting its '>'
        std::uint64_t pending_addr = 0, pending_line = 0, end_line = 0;
        bool started = false;
        while (in_.next(line)) {
            line_ = in_.number();
            summary_.lines = line_;
            if (!in_.had_newline())
                fail("the last line " + quote(line) +
                     " has no newline: the log was cut off (was the program killed before muntrace() or exit?); "
                     "remove that line to import the rest");
            if (end_line != 0) fail("text after '= End' (line " + std::to_string(end_line) + "): " + quote(line));
            if (!started) {
                if (line != "= Start")
                    fail("expected '= Start', the first line of a glibc mtrace log; got " + quote(line));
                started = true;
                continue;
            }
            mtrace_line ev;
            const bool is_event = line != "= End" && line != "= Start";
            std::string problem = is_event ? parse_event(line, ev) : std::string();
            if (pending_line != 0) {  // glibc writes a realloc's two lines together, even across threads
                if (!problem.empty() || ev.op != '>')
                    fail("expected '> ADDRESS SIZE' after '" + pending_text + "' (line " +
                         std::to_string(pending_line) + "), got " + quote(line));
                realloc_line(pending_addr, ev);
                pending_line = 0;
            } else if (line == "= End") {
                end_line = line_;
            } else if (line == "= Start") {
                fail("a second '= Start' (two logs in one file?)");
            } else if (!problem.empty()) {
                fail(problem);
            } else if (ev.op == '<') {
                if (ev.addr == 0) fail("'< (nil)': glibc logs realloc(NULL, n) as '+', so the log is corrupt");
                pending_addr = ev.addr;
                pending_text = std::string(ev.text);  // ev.text points into `line`, which the next read replaces
                pending_line = line_;
            } else {
                event_line(ev);
            }
        }
        if (line_ == 0) fail_at(1, "the log is empty: no '= Start' line (was the program killed before its log was flushed?)");
        if (pending_line != 0)
            fail_at(line_ + 1, "the log ends after '" + pending_text + "' (line " + std::to_string(pending_line) +
                                   "): expected '> ADDRESS SIZE'");
        if (summary_.events == 0)
            fail("the log holds no allocation events to import" +
                 (summary_.skipped_frees != 0 ? " (only " + std::to_string(summary_.skipped_frees) +
                                                    (summary_.skipped_frees == 1 ? " free" : " frees") +
                                                    " of blocks allocated before mtrace())"
                                              : std::string()));
    }

private:
    [[noreturn]] void fail(const std::string& problem) const { fail_at(line_, problem); }
    [[noreturn]] void fail_at(std::uint64_t line, const std::string& problem) const {
        throw mtrace_error(path_, line, problem);
    }

    void emit(event e) {
        e.thread = 0;
        e.seq = summary_.events++;
        writer_.append(e);
    }

    // A successful allocation's size must be one the format holds; a failed call's is capped.
    std::uint64_t checked_size(const mtrace_line& ev, bool succeeded) const {
        if (ev.size <= max_size) return ev.size;
        if (!succeeded) return max_size;
        fail("size " + hex(ev.size) + " in " + quote(ev.text) + " is absurd (more than 2^48 bytes) for a call that succeeded");
    }

    // `addr` is about to be handed out: it must not be live, unless lenient.
    void claim(std::uint64_t addr) {
        const auto it = live_.find(addr);
        if (it == live_.end()) return;
        if (!options_.lenient)
            fail("address " + hex(addr) + " allocated again while still live (allocated on line " +
                 std::to_string(it->second.line) +
                 ", never freed): the log is inconsistent (a lost free, or a multithreaded program's lines out of "
                 "order); --lenient treats the old block as freed just before");
        ++summary_.lenient_fixes;
        release(it);
    }

    void release(std::unordered_map<std::uint64_t, live_block>::iterator it) {
        event e;
        e.kind = op::free;
        e.id = it->second.id;
        emit(e);
        ids_.give(it->second.id);
        live_.erase(it);
    }

    std::uint64_t allocate(std::uint64_t addr) {
        const std::uint64_t id = ids_.take();
        live_.emplace(addr, live_block{id, line_});
        return id;
    }

    void malloc_line(const mtrace_line& ev) {
        event e;
        e.kind = op::malloc;
        e.size = checked_size(ev, ev.addr != 0);
        if (ev.addr != 0) {
            claim(ev.addr);
            e.id = allocate(ev.addr);
        }
        emit(e);
    }

    void event_line(const mtrace_line& ev) {
        switch (ev.op) {
            case '+': return malloc_line(ev);
            case '-': {
                if (ev.addr == 0) {  // glibc never logs free(NULL); free of id 0 is the trace's NULL
                    event e;
                    e.kind = op::free;
                    return emit(e);
                }
                const auto it = live_.find(ev.addr);
                if (it == live_.end()) {
                    ++summary_.skipped_frees;
                    return;
                }
                return release(it);
            }
            case '!': {
                if (ev.size == 0) fail(quote(ev.text) + ": glibc logs realloc(p, 0) as '- ADDRESS', never '!' with size 0");
                event e;
                e.kind = op::realloc;
                e.size = checked_size(ev, false);
                if (ev.addr != 0) {
                    const auto it = live_.find(ev.addr);
                    if (it == live_.end()) {
                        ++summary_.untracked_reallocs;
                        return;
                    }
                    e.old_id = it->second.id;
                }
                return emit(e);  // id 0 with size > 0: a failure, the old object stays live
            }
            default:  // '>' without its '<'
                fail(quote(ev.text) + " has no '< ADDRESS' line before it (glibc logs a realloc as '<' then '>')");
        }
    }

    // '< OLD' then '> NEW SIZE' (ev).
    void realloc_line(std::uint64_t old_addr, const mtrace_line& ev) {
        if (ev.addr == 0) fail("'> (nil)': glibc logs a failed realloc as '!', so the log is corrupt");
        const auto old = live_.find(old_addr);
        if (old == live_.end()) {  // OLD came before mtrace(): from here on NEW is an ordinary block
            ++summary_.untracked_reallocs;
            return malloc_line(ev);
        }
        event e;
        e.kind = op::realloc;
        e.size = checked_size(ev, true);
        e.old_id = old->second.id;
        if (ev.addr == old_addr) {
            e.id = e.old_id;
            old->second.line = line_;
            return emit(e);
        }
        claim(ev.addr);
        // As the recorder does: the old id is free before the new one is taken, so it may be reused.
        ids_.give(e.old_id);
        live_.erase(old_addr);
        e.id = allocate(ev.addr);
        e.flags = realloc_moved;
        emit(e);
    }

    const std::string& path_;
    line_reader& in_;
    trace_writer& writer_;
    const mtrace_options& options_;
    import_summary& summary_;
    std::unordered_map<std::uint64_t, live_block> live_;
    id_pool ids_;
    std::uint64_t line_ = 0;
};

trace_header import_header(const std::string& log_path) {
    trace_header h;
    h.pointer_size = 8;
    const long ps = ::sysconf(_SC_PAGESIZE);
    h.page_size = ps > 0 ? static_cast<std::uint32_t>(ps) : 4096;
    h.clock = clock_source::none;
    h.timestamps = false;
    h.command_line = "imported from mtrace log " + log_path;
    struct utsname u;
    if (::uname(&u) == 0) h.host = u.nodename;
    return h;
}

}  // namespace

mtrace_error::mtrace_error(const std::string& f, std::uint64_t l, const std::string& p)
    : std::runtime_error(f + ": " + (l == 0 ? std::string() : "line " + std::to_string(l) + ": ") + p),
      file(f),
      line(l),
      problem(p) {}

import_summary import_mtrace(const std::string& log_path, const std::string& trace_path, const mtrace_options& options) {
    std::error_code ec;
    if (std::filesystem::equivalent(log_path, trace_path, ec))
        throw mtrace_error(log_path, 0, "the output trace " + trace_path + " is the log itself; give another output path");
    const std::string tmp = trace_path + ".tmp";
    import_summary summary;
    try {
        {
            line_reader in(log_path);  // first, so that a missing log is the error reported
            trace_writer writer(tmp, import_header(log_path));
            importer(log_path, in, writer, options, summary).run();
            writer.close();
        }
        summary.trace = validate(tmp);
        std::filesystem::rename(tmp, trace_path, ec);
        if (ec) throw trace_error(trace_path, trace_error::no_offset, "cannot rename " + tmp + " to it: " + ec.message());
    } catch (...) {
        std::filesystem::remove(tmp, ec);
        throw;
    }
    return summary;
}

}  // namespace allocmeter::trace
