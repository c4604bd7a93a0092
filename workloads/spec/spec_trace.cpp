// generate_trace: a spec turned into a trace, appended in global order. One step of the global
// operation counter is one event: a free that has come due (on the thread chosen to free it),
// else an allocation or a realloc on the thread whose turn it is (threads take turns in runs of
// a few operations, each drawing from its own generator). Lifetimes count these steps, so an
// object drawn to live L operations is freed L steps after its allocation, whichever threads
// made the steps in between: the quantity `trace profile` measures.
#include <algorithm>
#include <cmath>
#include <queue>
#include <vector>

#include "workloads/rng.hpp"
#include "workloads/spec/workload_spec.hpp"
#include "workloads/trace/format/smallest_free_id.hpp"
#include "workloads/trace/format/trace_format.hpp"

namespace allocmeter::spec {

namespace {

/// Operations a thread makes before the next thread's turn: long enough that a thread's
/// allocations arrive in bursts, as a program's do, short enough to interleave finely.
constexpr std::uint64_t turn_length = 16;
constexpr std::uint64_t never = UINT64_MAX;

double unit(rng& r) { return static_cast<double>(r.next() >> 11) * 0x1.0p-53; }

/// The bin drawn by weight from `bins` (a cumulative table built once).
class weighted_bins {
public:
    explicit weighted_bins(const std::vector<bin>& bins) : bins_(bins) {
        double sum = 0;
        for (const bin& b : bins) cumulative_.push_back(sum += b.weight);
    }
    /// Index of the bin drawn.
    std::size_t pick(rng& r) const {
        const double u = unit(r) * cumulative_.back();
        std::size_t i = static_cast<std::size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin());
        i = std::min(i, cumulative_.size() - 1);
        while (bins_[i].weight <= 0) ++i;  // u landed on a zero-width step's edge
        return i;
    }
    /// A value uniform within the bin drawn: (the previous upper, upper], from 1.
    std::uint64_t draw(rng& r) const {
        const std::size_t i = pick(r);
        const std::uint64_t lo = i == 0 ? 1 : bins_[i - 1].upper + 1;
        return r.between(std::min(lo, bins_[i].upper), bins_[i].upper);
    }
    std::uint64_t upper(std::size_t i) const { return bins_[i].upper; }

private:
    std::vector<bin> bins_;
    std::vector<double> cumulative_;
};

/// Draws from a distribution; histograms through their cumulative table.
class sampler {
public:
    explicit sampler(const distribution& d) : d_(d), bins_(d.bins.empty() ? std::vector<bin>{{1, 1}} : d.bins) {}

    std::uint64_t draw(rng& r) const {
        switch (d_.shape) {
            case distribution::kind::uniform: return r.between(d_.min, d_.max);
            case distribution::kind::log_uniform: return r.log_uniform(d_.min, d_.max);
            case distribution::kind::pareto: return pareto(r, d_.alpha);
            case distribution::kind::inverse_square: return pareto(r, 1);
            case distribution::kind::histogram: return bins_.draw(r);
        }
        return d_.min;
    }

private:
    // Pareto truncated to [min, max], by its inverse distribution function: no redraws, no
    // pile-up at max. Density falls as x^-(alpha+1); alpha 1 is the inverse-square law.
    std::uint64_t pareto(rng& r, double alpha) const {
        const double lo = static_cast<double>(d_.min), hi = static_cast<double>(d_.max) + 1;
        const double tail = std::pow(lo / hi, alpha);
        const double x = lo * std::pow(1 - unit(r) * (1 - tail), -1 / alpha);
        return std::clamp(static_cast<std::uint64_t>(x), d_.min, d_.max);
    }

    distribution d_;
    weighted_bins bins_;
};

struct live_object {
    std::uint64_t death = never;  ///< global step at which it is freed; never: phase end
    std::uint64_t serial = 0;     ///< tells a due-queue entry for it from one for an earlier holder of its id
    std::uint32_t owner = 0;      ///< the thread that allocated it (and reallocs it)
    std::uint32_t freer = 0;      ///< the thread that frees it
    std::size_t slot = 0;         ///< its place in its owner's live list
};

struct due_entry {
    std::uint64_t death, serial, id;
    bool operator>(const due_entry& o) const { return death != o.death ? death > o.death : serial > o.serial; }
};

/// The generator's state across phases: ids, live objects, the due queue and the writer.
class spec_generator {
public:
    spec_generator(const workload_spec& s, const std::string& path, std::uint64_t seed)
        : s_(s), writer_(path, header(s, seed)), live_(s.threads) {
        for (unsigned t = 0; t < s.threads; ++t) rngs_.emplace_back(seed, t + 1);
        for (unsigned t = 0; t < s.threads; ++t) {
            trace::event e;
            e.kind = trace::op::thread_start;
            e.parent = t == 0 ? trace::no_thread : 0;
            emit(e, t);
        }
    }

    /// Runs phase `p` for `operations` steps. The objects its end frees are counted in them:
    /// with at_end free every live object, else (the last phase) those with a drawn lifetime
    /// still to run, cut short by the end of the workload as a program's teardown frees them.
    void run_phase(const phase& p, std::uint64_t operations, bool last) {
        const sampler sizes(p.sizes), lifetimes(p.life.ops);
        const weighted_bins alignments(p.alignments);
        const bool free_all = p.at_end == phase_end::free;
        const auto freed_at_end = [&] { return free_all ? live_count() : last ? mortal_ : 0; };
        for (std::uint64_t steps = 0; steps + freed_at_end() < operations; ++steps) {
            if (const std::uint64_t id = next_due(); id != 0 && objects_[id].death <= step_) {
                due_.pop();
                free_object(id);
            } else {
                const auto t = static_cast<std::uint32_t>((turns_++ / turn_length) % s_.threads);
                rng& r = rngs_[t];
                if (!live_[t].empty() && r.chance(p.realloc_share)) resize(t, sizes.draw(r));
                else allocate(p, t, r, sizes, lifetimes, alignments);
            }
        }
        if (!free_all && !last) return;
        // In the order they were due, then (free) the phase-end objects, thread by thread.
        for (std::uint64_t id; (id = next_due()) != 0;) {
            due_.pop();
            free_object(id);
        }
        if (free_all)
            for (auto& ids : live_)
                while (!ids.empty()) free_object(ids.back());
    }

    generated_trace finish() {
        for (unsigned t = 0; t < s_.threads; ++t) {
            trace::event e;
            e.kind = trace::op::thread_exit;
            emit(e, t);
        }
        writer_.close();
        return {writer_.events(), operations_};
    }

private:
    static trace::trace_header header(const workload_spec& s, std::uint64_t seed) {
        trace::trace_header h;
        h.command_line = "allocmeter spec " + s.name + ", seed " + std::to_string(seed);
        h.host = "generated";
        return h;
    }

    /// The id of the due queue's first live entry (stale ones, whose object was resized under a
    /// new id, dropped); 0 when it is empty.
    std::uint64_t next_due() {
        while (!due_.empty() && objects_[due_.top().id].serial != due_.top().serial) due_.pop();
        return due_.empty() ? 0 : due_.top().id;
    }

    std::uint64_t live_count() const {
        std::uint64_t n = 0;
        for (const auto& ids : live_) n += ids.size();
        return n;
    }

    void emit(trace::event e, std::uint32_t thread) {
        e.thread = thread;
        e.seq = seq_++;
        writer_.append(e);
    }

    void emit_op(const trace::event& e, std::uint32_t thread) {
        emit(e, thread);
        ++operations_;
        ++step_;
    }

    void allocate(const phase& p, std::uint32_t t, rng& r, const sampler& sizes, const sampler& lifetimes,
                  const weighted_bins& alignments) {
        trace::event e;
        e.id = ids_.take();
        e.size = sizes.draw(r);
        const std::uint64_t align = alignments.upper(alignments.pick(r));
        if (align > malloc_alignment) {
            e.kind = trace::op::aligned;
            e.alignment = align;
            e.flags = static_cast<std::uint8_t>(trace::align_fn::posix_memalign);
        } else {
            e.kind = trace::op::malloc;
        }
        live_object o;
        o.owner = o.freer = t;
        if (s_.threads > 1 && r.chance(p.remote_free_share))
            o.freer = static_cast<std::uint32_t>((t + 1 + r.below(s_.threads - 1)) % s_.threads);
        if (!r.chance(p.life.phase_end_share)) o.death = step_ + lifetimes.draw(r);
        place(e.id, o);
        emit_op(e, t);
    }

    // A live object of thread t, drawn from its own generator, gets a new size and a new id;
    // it keeps its death and its freer.
    void resize(std::uint32_t t, std::uint64_t size) {
        std::vector<std::uint64_t>& mine = live_[t];
        const std::uint64_t old_id = mine[rngs_[t].below(mine.size())];
        live_object o = objects_[old_id];
        trace::event e;
        e.kind = trace::op::realloc;
        e.old_id = old_id;
        e.id = ids_.take();
        e.size = size;
        e.flags = trace::realloc_moved;
        unplace(old_id);
        ids_.release(old_id);
        place(e.id, o);
        emit_op(e, t);
    }

    void free_object(std::uint64_t id) {
        trace::event e;
        e.kind = trace::op::free;
        e.id = id;
        const std::uint32_t freer = objects_[id].freer;
        unplace(id);
        ids_.release(id);
        emit_op(e, freer);
    }

    void place(std::uint64_t id, live_object o) {
        if (objects_.size() <= id) objects_.resize(id + 1);
        o.serial = ++serial_;
        o.slot = live_[o.owner].size();
        live_[o.owner].push_back(id);
        objects_[id] = o;
        if (o.death != never) {
            due_.push({o.death, o.serial, id});
            ++mortal_;
        }
    }

    void unplace(std::uint64_t id) {
        live_object& o = objects_[id];
        std::vector<std::uint64_t>& mine = live_[o.owner];
        objects_[mine.back()].slot = o.slot;
        mine[o.slot] = mine.back();
        mine.pop_back();
        o.serial = 0;
        if (o.death != never) --mortal_;
    }

    const workload_spec& s_;
    trace::trace_writer writer_;
    std::vector<rng> rngs_;                          // one per thread
    std::vector<std::vector<std::uint64_t>> live_;   // per owner thread, the ids it holds
    std::vector<live_object> objects_;               // by id
    std::priority_queue<due_entry, std::vector<due_entry>, std::greater<>> due_;
    trace::smallest_free_id ids_;
    std::uint64_t mortal_ = 0;  // live objects with a drawn death
    std::uint64_t seq_ = 0, step_ = 0, turns_ = 0, serial_ = 0, operations_ = 0;
};

}  // namespace

generated_trace generate_trace(const workload_spec& s, const std::string& path, std::uint64_t seed, double scale) {
    spec_generator g(s, path, seed);
    for (std::size_t i = 0; i < s.phases.size(); ++i) {
        const auto operations = static_cast<std::uint64_t>(std::llround(static_cast<double>(s.phases[i].operations) * scale));
        g.run_phase(s.phases[i], std::max<std::uint64_t>(1, operations), i + 1 == s.phases.size());
    }
    return g.finish();
}

}  // namespace allocmeter::spec
