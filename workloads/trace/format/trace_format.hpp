// trace_format: the allocmeter trace file, versions 1 and 2 (spec: docs/trace-format.md). A
// writer that buffers events per thread and emits zstd-compressed chunks (version 2: each one
// checksummed, then the recorded program's RSS samples if any, then a trailer), a streaming
// reader that rejects bad input with an error naming the file and the byte of the decompressed
// stream, and a validation pass that checks object lifetimes in global sequence order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace allocmeter::trace {

/// The eight bytes every decompressed trace starts with.
inline constexpr char magic[8] = {'A', 'M', 'T', 'R', 'A', 'C', 'E', '\0'};
/// The version this build writes by default and the newest it reads: 2, checksummed.
inline constexpr std::uint16_t format_version = 2;
/// The oldest version this build reads (and still writes when asked): 1, without checks.
inline constexpr std::uint16_t oldest_format_version = 1;
/// True for a version whose header, chunks and trailer carry checks: 2 on.
constexpr bool has_checks(std::uint16_t version) noexcept { return version >= 2; }
/// Largest size, element count or alignment a trace may carry: 2^48 bytes.
inline constexpr std::uint64_t max_size = std::uint64_t{1} << 48;
/// Object ids are dense; anything past 2^48 is corruption.
inline constexpr std::uint64_t max_id = std::uint64_t{1} << 48;
/// Thread ids are dense, 0 .. max_threads-1.
inline constexpr std::uint32_t max_threads = std::uint32_t{1} << 24;
/// Longest header string (command line, host) a reader accepts.
inline constexpr std::size_t max_string = std::size_t{1} << 20;
/// Largest chunk payload a reader accepts (the writer's default is 64 KiB).
inline constexpr std::uint64_t max_chunk_bytes = std::uint64_t{1} << 30;
/// Most RSS samples a trace may hold (the recorder keeps at most a few thousand).
inline constexpr std::uint64_t max_rss_points = std::uint64_t{1} << 20;
/// event::parent of a thread that has no recorded parent (the initial thread).
inline constexpr std::uint32_t no_thread = std::numeric_limits<std::uint32_t>::max();

/// Every kind of event. The value is the opcode byte in the file; 0 is never valid.
enum class op : std::uint8_t {
    malloc = 0x01,        ///< id, size
    calloc = 0x02,        ///< id, count (nmemb), size
    realloc = 0x03,       ///< old_id, id (the result), size, flags (realloc_moved)
    free = 0x04,          ///< id
    free_sized = 0x05,    ///< id, size
    aligned = 0x06,       ///< id, size, alignment, flags (an align_fn)
    new_ = 0x07,          ///< id, size, flags (new_*), alignment when new_aligned
    delete_ = 0x08,       ///< id, flags (delete_*), size when delete_sized, alignment when delete_aligned
    thread_start = 0x09,  ///< parent
    thread_exit = 0x0a,   ///< no fields
};

/// Which C function an op::aligned event recorded (its flags byte).
enum class align_fn : std::uint8_t { posix_memalign = 0, aligned_alloc = 1, memalign = 2, valloc = 3, pvalloc = 4 };

/// Flag bits, per opcode.
inline constexpr std::uint8_t realloc_moved = 0x01;   ///< realloc returned a different address
inline constexpr std::uint8_t new_array = 0x01;       ///< operator new[]
inline constexpr std::uint8_t new_aligned = 0x02;     ///< the std::align_val_t overload
inline constexpr std::uint8_t new_nothrow = 0x04;     ///< the std::nothrow_t overload
inline constexpr std::uint8_t delete_array = 0x01;    ///< operator delete[]
inline constexpr std::uint8_t delete_sized = 0x02;    ///< the sized overload
inline constexpr std::uint8_t delete_aligned = 0x04;  ///< the std::align_val_t overload

/// The clock that event::time_ns counts.
enum class clock_source : std::uint64_t { none = 0, monotonic_ns = 1 };

/// Everything before the first chunk.
struct trace_header {
    std::uint16_t version = format_version;    ///< the writer writes this one: 2, or 1 for an older reader
    std::uint8_t pointer_size = sizeof(void*);  ///< of the recorded process: 4 or 8
    bool timestamps = false;                    ///< events carry time_ns (flags bit 0)
    std::uint32_t page_size = 4096;             ///< of the recorded host, a power of two
    clock_source clock = clock_source::none;    ///< must not be none when timestamps is set
    bool rss_samples = false;                   ///< the trace ends with the program's RSS samples (flags bit 1; version 2)
    std::string command_line;                   ///< UTF-8, at most max_string bytes
    std::string host;                           ///< UTF-8, at most max_string bytes
};

/// One recorded call. Fields an opcode does not carry are ignored by the writer and read
/// back as 0 (parent: no_thread). Object id 0 stands for a null pointer.
struct event {
    op kind = op::malloc;
    std::uint32_t thread = 0;          ///< dense recorded thread id
    std::uint64_t seq = 0;             ///< global sequence number (total order across threads)
    std::uint64_t id = 0;              ///< the object created or released; realloc: its result
    std::uint64_t old_id = 0;          ///< realloc: the object passed in (0 = realloc(NULL))
    std::uint64_t size = 0;            ///< bytes requested (calloc: per element)
    std::uint64_t count = 0;           ///< calloc: number of elements
    std::uint64_t alignment = 0;       ///< aligned; new/delete with their aligned flag
    std::uint8_t flags = 0;            ///< realloc/new/delete flag bits; aligned: an align_fn
    std::uint32_t parent = no_thread;  ///< thread_start: the creating thread
    std::uint64_t time_ns = 0;         ///< when the header has timestamps
    std::uint64_t at = 0;              ///< reader: offset of the opcode in the decompressed stream

    bool operator==(const event&) const = default;
};

/// One sample of the recorded program's resident set.
struct rss_point {
    std::uint64_t t_us = 0;   ///< since the program was started
    std::uint64_t bytes = 0;  ///< resident bytes (statm's resident pages x the page size)

    bool operator==(const rss_point&) const = default;
};

/// The recorded program's resident set over time: the RSS samples part (docs/trace-format.md).
struct recorded_rss {
    std::uint64_t start_ns = 0;       ///< CLOCK_MONOTONIC (the events' clock) at t_us 0; 0 when unknown
    std::uint64_t period_us = 0;      ///< the sampling period at the end (it doubles as samples thin out)
    std::vector<rss_point> points;    ///< in time order, at most max_rss_points

    bool operator==(const recorded_rss&) const = default;
};

/// What a trace's RSS samples say, in a few numbers; all 0 for a trace without samples.
struct rss_summary {
    std::uint64_t samples = 0;
    std::uint64_t period_us = 0;    ///< the sampling period at the end of recording
    std::uint64_t span_us = 0;      ///< the last sample's time
    std::uint64_t first_bytes = 0;  ///< at the first sample, as the program started: its baseline
    std::uint64_t peak_bytes = 0;   ///< the largest sample
    std::uint64_t peak_at_us = 0;   ///< when it was taken

    bool operator==(const rss_summary&) const = default;
};

/// The summary of `rss`'s samples.
rss_summary summarize(const recorded_rss& rss) noexcept;

/// Bad input, or an I/O failure. The message is "<file>: byte <N> of the decompressed
/// stream: <problem>" (without the byte part when no position applies).
struct trace_error : std::runtime_error {
    static constexpr std::uint64_t no_offset = std::numeric_limits<std::uint64_t>::max();

    trace_error(const std::string& file, std::uint64_t offset, const std::string& problem);

    std::string file;      ///< the trace's path
    std::uint64_t offset;  ///< byte of the decompressed stream, or no_offset
    std::string problem;   ///< the message without file and offset
};

/// Writes a trace. Not thread-safe: a recorder hands it events from one thread. Events of
/// one thread must be appended in program order with increasing seq.
class trace_writer {
public:
    static constexpr std::size_t default_chunk_bytes = 64 * 1024;
    /// A thread's buffer is also flushed once its oldest event is this many appends old, so an
    /// idle thread's chunk does not lie far behind its events' place in global order: a reader
    /// that merges a trace appended in seq order buffers about this many events (trace_order.hpp).
    static constexpr std::uint64_t flush_window = std::uint64_t{1} << 20;

    /// Creates `path` and writes the header; throws trace_error when it cannot.
    /// `compress_threads` > 0: zstd compresses on that many threads of its own, so that append()
    /// only encodes (the stream then differs from a single-threaded one's, and reads the same).
    trace_writer(const std::string& path, const trace_header& header,
                 std::size_t chunk_bytes = default_chunk_bytes, int compress_threads = 0);
    trace_writer(const trace_writer&) = delete;
    trace_writer& operator=(const trace_writer&) = delete;
    /// Closes the file; errors are lost here, so call close() to see them.
    ~trace_writer();

    /// Encodes `e` into its thread's buffer; a buffer that reaches chunk_bytes (or a
    /// thread_exit), or whose first event is flush_window appends old, becomes a chunk.
    /// Throws trace_error for an event the format cannot hold.
    void append(const event& e);
    /// The RSS samples written at close(), before the trailer: callable any time before then (a
    /// recorder knows them only once the program has exited), the last call winning. The header
    /// must have announced them (trace_header::rss_samples); a header that did and never gets
    /// them is closed with an empty part. Throws trace_error for samples the format cannot hold.
    void set_rss(recorded_rss rss);
    /// Flushes every thread's buffer, writes the RSS samples (when the header announced them),
    /// ends the zstd frame and closes the file. Idempotent.
    void close();
    /// Events appended so far.
    std::uint64_t events() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Reads a trace front to back, one chunk at a time, without loading it whole.
class trace_reader {
public:
    /// Opens `path` and reads the header; throws trace_error on any problem. `growing`, for a
    /// file a writer is still writing: called at the end of the file, it waits a little for more
    /// (or for the writer to close it) and returns whether more may come; the end of the file is
    /// the end of the trace only once it returned false.
    explicit trace_reader(const std::string& path, std::function<bool()> growing = {});
    trace_reader(const trace_reader&) = delete;
    trace_reader& operator=(const trace_reader&) = delete;
    ~trace_reader();

    const trace_header& header() const noexcept;
    /// The next event in file order (chunk by chunk); false at a clean end of the stream. In a
    /// version-2 trace a chunk yields no event before its check passed, and the end is the trailer.
    bool next(event& e);
    /// Bytes of the decompressed stream consumed so far.
    std::uint64_t offset() const noexcept;
    /// Where the chunk of the event last returned by next() starts (its header's offset): it
    /// changes exactly when a new chunk begins (trace_order.hpp indexes chunks by it).
    std::uint64_t chunk_offset() const noexcept;
    /// The RSS samples part, once next() has returned false (the part comes last); null before
    /// that and for a trace whose header announces none.
    const recorded_rss* rss() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Every event of `path` in global sequence order (a stable sort, so it also works for a
/// trace whose seq values are all 0). Fills *header when given. Holds the whole trace in
/// memory: for tests and the fuzzer; ordered_events (trace_order.hpp) streams the same order.
std::vector<event> load_sorted(const std::string& path, trace_header* header = nullptr);

/// The check of a version-2 block (header, chunk or trailer): XXH3-64 of its bytes, seeded by the
/// check before it (0 for the header). For tools that build a stream by hand: tests, fuzz seeds.
std::uint64_t stream_check(const std::uint8_t* data, std::size_t n, std::uint64_t seed) noexcept;

/// The opcode's name, as messages and `allocmeter trace info` print it.
const char* op_name(op k) noexcept;

/// Bytes an allocating event asked for: calloc's count x size (saturating at max_size), else size.
std::uint64_t requested_bytes(const event& e) noexcept;

/// What validate() learned; a replayer sizes its tables from it.
struct trace_summary {
    std::uint64_t events = 0;
    std::uint32_t threads = 0;             ///< highest thread id + 1
    std::uint64_t max_id = 0;              ///< highest object id used
    std::uint64_t peak_live_objects = 0;
    std::uint64_t peak_live_bytes = 0;     ///< requested bytes
    rss_summary rss;                       ///< the recorded program's RSS samples, if the trace has them
};

/// Reads `path` and checks what the decoder alone cannot: a thread's events in increasing
/// seq, no seq used twice, thread_start first and thread_exit last in a thread, and, in
/// global order, every object released exactly once after its allocation. Throws trace_error.
/// Streams (trace_validation.hpp): memory for the threads and the live objects, not the events.
trace_summary validate(const std::string& path);

}  // namespace allocmeter::trace
