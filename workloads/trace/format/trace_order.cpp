// trace_order: the index of chunk runs (first pass) and the merge of per-thread queues (second pass)
// behind ordered_events. Buffered events are kept re-encoded as varints, about 8 bytes each.
#include "workloads/trace/format/trace_order.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <unordered_map>
#include <vector>

namespace allocmeter::trace {

namespace {

constexpr std::uint64_t no_seq = std::numeric_limits<std::uint64_t>::max();

/// A run of one thread's consecutive runs in the file: its events, which thread queue they go
/// to, and the smallest first seq of this run and every run after it.
struct run_entry {
    std::uint32_t count;
    std::uint32_t queue;
    std::uint64_t suffix_min_seq;
};
static_assert(sizeof(run_entry) == 16);

void put_varint(std::vector<std::uint8_t>& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<std::uint8_t>(v) | 0x80);
        v >>= 7;
    }
    out.push_back(static_cast<std::uint8_t>(v));
}

// Only reads what put_varint wrote, so it needs no bounds or length checks.
std::uint64_t get_varint(const std::uint8_t*& p) {
    std::uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        const std::uint8_t b = *p++;
        v |= std::uint64_t{b & 0x7fu} << shift;
        if ((b & 0x80) == 0) return v;
    }
}

/// One thread's events read but not yet handed out, in its program order, as compact records:
/// seq and offset deltas first (so the head's sort key reads without decoding the rest), then
/// opcode, flags, a mask of the non-zero fields and those fields. Deltas wrap, so any value
/// round-trips; in a valid trace they are small and positive.
class event_fifo {
public:
    bool empty() const noexcept { return read_ == buf_.size(); }
    std::size_t bytes() const noexcept { return buf_.size() - read_; }

    void push(const event& e) {
        put_varint(buf_, e.seq - in_.seq);
        put_varint(buf_, e.at - in_.at);
        buf_.push_back(static_cast<std::uint8_t>(e.kind));
        buf_.push_back(e.flags);
        const std::uint64_t parent = e.parent == no_thread ? 0 : std::uint64_t{e.parent} + 1;
        const std::uint64_t time = e.time_ns - in_.time;
        const std::uint64_t fields[] = {e.id, e.old_id, e.size, e.count, e.alignment, parent, time};
        std::uint8_t mask = 0;
        for (unsigned i = 0; i < std::size(fields); ++i) mask |= static_cast<std::uint8_t>((fields[i] != 0) << i);
        buf_.push_back(mask);
        for (const std::uint64_t f : fields)
            if (f != 0) put_varint(buf_, f);
        in_ = {e.seq, e.at, e.time_ns};
    }

    /// The seq and offset of the front event.
    std::pair<std::uint64_t, std::uint64_t> front_key() const {
        const std::uint8_t* p = buf_.data() + read_;
        const std::uint64_t seq = out_.seq + get_varint(p);
        return {seq, out_.at + get_varint(p)};
    }

    void pop(event& e, std::uint32_t thread) {
        const std::uint8_t* p = buf_.data() + read_;
        e = event{};
        e.thread = thread;
        e.seq = out_.seq += get_varint(p);
        e.at = out_.at += get_varint(p);
        e.kind = static_cast<op>(*p++);
        e.flags = *p++;
        const std::uint8_t mask = *p++;
        std::uint64_t fields[7] = {};
        for (unsigned i = 0; i < std::size(fields); ++i)
            if (mask & (1u << i)) fields[i] = get_varint(p);
        e.id = fields[0];
        e.old_id = fields[1];
        e.size = fields[2];
        e.count = fields[3];
        e.alignment = fields[4];
        e.parent = fields[5] == 0 ? no_thread : static_cast<std::uint32_t>(fields[5] - 1);
        e.time_ns = out_.time += fields[6];
        read_ = static_cast<std::size_t>(p - buf_.data());
        compact();
    }

private:
    struct delta_base {
        std::uint64_t seq = 0, at = 0, time = 0;
    };

    // Drops what was read: all of it when the queue empties (the buffer too, if it grew large
    // for a burst), else the front half once it is big, so the copying stays amortized O(1).
    void compact() {
        constexpr std::size_t keep_capacity = std::size_t{1} << 20;
        if (empty()) {
            if (buf_.capacity() > keep_capacity) std::vector<std::uint8_t>().swap(buf_);
            buf_.clear();
            read_ = 0;
        } else if (read_ >= (std::size_t{1} << 16) && read_ * 2 >= buf_.size()) {
            buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(read_));
            read_ = 0;
        }
    }

    std::vector<std::uint8_t> buf_;
    std::size_t read_ = 0;
    delta_base in_, out_;  // the last event pushed, the last popped
};

/// A thread queue's front in the merge heap: the smallest (seq, offset) goes out first.
struct head {
    std::uint64_t seq, at;
    std::uint32_t queue;
    bool operator>(const head& o) const noexcept { return seq != o.seq ? seq > o.seq : at > o.at; }
};

}  // namespace

struct ordered_events::impl {
    std::string path;
    trace_header header;
    std::uint64_t events = 0;
    std::uint32_t threads = 0;
    std::vector<run_entry> runs;  // the runs, in file order
    std::vector<std::uint32_t> thread_of_queue;
    merge_stats stats;
    std::optional<recorded_rss> rss;  // the RSS samples, read at the end of the first pass

    // The merge.
    std::unique_ptr<trace_reader> reader;
    std::size_t next_run = 0;        // the first run not started
    std::uint32_t left_in_run = 0;   // events of the current run not yet read
    std::uint32_t queue = 0;         // the current run's
    std::uint64_t unread_bound = 0;  // no unread event has a smaller seq
    std::vector<event_fifo> queues;
    std::vector<head> heap;  // a min-heap of the non-empty queues' fronts
    std::uint64_t buffered_events = 0, buffered_bytes = 0;

    [[noreturn]] void fail(std::uint64_t at, const std::string& problem) const { throw trace_error(path, at, problem); }

    void index(const visitor& each) {
        trace_reader r(path);
        header = r.header();
        struct thread_state {
            std::uint32_t queue;
            std::uint64_t last_seq;
        };
        std::unordered_map<std::uint32_t, thread_state> by_thread;
        thread_state* current = nullptr;
        std::uint64_t chunk_at = 0;
        std::vector<std::uint64_t> first_seq;  // per run, until the suffix minima are made
        for (event e; r.next(e);) {
            if (each) each(e);
            if (runs.empty() || r.chunk_offset() != chunk_at) {
                chunk_at = r.chunk_offset();
                const auto [it, fresh] =
                    by_thread.try_emplace(e.thread, thread_state{static_cast<std::uint32_t>(thread_of_queue.size()), 0});
                if (fresh) thread_of_queue.push_back(e.thread);
                else if (e.seq <= it->second.last_seq) goes_back(e, it->second.last_seq);
                current = &it->second;
                // Consecutive chunks of one thread are one run (its first seq is the run's
                // smallest): a single-threaded trace indexes as one entry, whatever its chunks.
                if (runs.empty() || runs.back().queue != current->queue) {
                    runs.push_back({0, current->queue, 0});
                    first_seq.push_back(e.seq);
                }
                threads = std::max(threads, e.thread + 1);
            } else if (e.seq <= current->last_seq) {
                goes_back(e, current->last_seq);
            }
            if (runs.back().count == std::numeric_limits<std::uint32_t>::max()) {  // a run of 2^32 - 1 events
                runs.push_back({0, current->queue, 0});
                first_seq.push_back(e.seq);
            }
            current->last_seq = e.seq;
            ++runs.back().count;
            ++events;
        }
        if (const recorded_rss* samples = r.rss()) rss = *samples;
        std::uint64_t m = no_seq;
        for (std::size_t i = runs.size(); i-- > 0;) runs[i].suffix_min_seq = m = std::min(m, first_seq[i]);
        stats.index_entries = runs.size();
    }

    [[noreturn]] void goes_back(const event& e, std::uint64_t last) const {
        fail(e.at, "thread " + std::to_string(e.thread) + " goes back in sequence (seq " + std::to_string(e.seq) +
                       " after " + std::to_string(last) + ")");
    }

    void push_heap(std::uint32_t q) {
        const auto [seq, at] = queues[q].front_key();
        heap.push_back({seq, at, q});
        std::push_heap(heap.begin(), heap.end(), std::greater<>{});
    }

    void buffer(const event& e, std::uint32_t q) {
        event_fifo& f = queues[q];
        const bool was_empty = f.empty();
        const std::size_t before = f.bytes();
        f.push(e);
        buffered_bytes += f.bytes() - before;
        ++buffered_events;
        stats.peak_buffered_events = std::max(stats.peak_buffered_events, buffered_events);
        stats.peak_buffered_bytes = std::max(stats.peak_buffered_bytes, buffered_bytes);
        if (was_empty) push_heap(q);
    }

    void pop(event& e) {
        std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
        const std::uint32_t q = heap.back().queue;
        heap.pop_back();
        event_fifo& f = queues[q];
        const std::size_t before = f.bytes();
        f.pop(e, thread_of_queue[q]);
        buffered_bytes -= before - f.bytes();
        --buffered_events;
        if (!f.empty()) push_heap(q);
    }

    // Reads the next event of the file into `e`; false at the end of the index.
    bool read(event& e) {
        if (left_in_run == 0) {
            if (next_run == runs.size()) return false;
            left_in_run = runs[next_run].count;
            queue = runs[next_run].queue;
            ++next_run;
        }
        if (!reader->next(e) || e.thread != thread_of_queue[queue])
            fail(reader->offset(), "the trace changed while it was read (its second reading differs from the first)");
        --left_in_run;
        const std::uint64_t later_runs = next_run < runs.size() ? runs[next_run].suffix_min_seq : no_seq;
        // The rest of this run comes after e: a thread's seq strictly increases (checked in index()).
        unread_bound = left_in_run != 0 ? std::min(later_runs, e.seq + 1) : later_runs;
        return true;
    }

    bool next(event& e) {
        for (;;) {
            if (!heap.empty() && heap.front().seq <= unread_bound) {
                pop(e);
                return true;
            }
            if (!read(e)) {
                if (heap.empty()) return false;
                unread_bound = no_seq;
                continue;
            }
            // Straight through when nothing buffered comes first (an equal seq was read earlier,
            // so it does) and nothing unread can. Then e's own queue is empty too: its front
            // would be in the heap with a smaller seq.
            if ((heap.empty() || e.seq < heap.front().seq) && e.seq <= unread_bound) return true;
            buffer(e, queue);
        }
    }
};

ordered_events::ordered_events(const std::string& path, const visitor& each_in_file_order)
    : impl_(std::make_unique<impl>()) {
    impl_->path = path;
    impl_->index(each_in_file_order);
    impl_->queues.resize(impl_->thread_of_queue.size());
    impl_->reader = std::make_unique<trace_reader>(path);
}

ordered_events::~ordered_events() = default;

const trace_header& ordered_events::header() const noexcept { return impl_->header; }
const recorded_rss* ordered_events::rss() const noexcept { return impl_->rss ? &*impl_->rss : nullptr; }
std::uint64_t ordered_events::events() const noexcept { return impl_->events; }
std::uint32_t ordered_events::threads() const noexcept { return impl_->threads; }
bool ordered_events::next(event& e) { return impl_->next(e); }
const merge_stats& ordered_events::stats() const noexcept { return impl_->stats; }

}  // namespace allocmeter::trace
