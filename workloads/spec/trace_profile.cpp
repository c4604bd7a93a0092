// Measuring a trace's allocation pattern in global order, and the spec that reproduces it.
#include "workloads/spec/trace_profile.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <unordered_map>

#include "workloads/trace/format/trace_order.hpp"

namespace allocmeter::spec {

namespace {

/// The lower bound (exclusive) of the bin whose upper bound is `upper`.
std::uint64_t bin_lower(std::uint64_t upper) noexcept {
    if (upper <= 8) return upper - 1;
    const auto k = static_cast<unsigned>(std::bit_width(upper - 1) - 1);  // upper in (2^k, 2^(k+1)]
    return upper - (std::uint64_t{1} << (k - 2));
}

/// The histogram of `counts` (bin upper -> count) as spec bins: a zero-weight bin before each
/// bin whose neighbour below is empty, so that no value is drawn where the trace had none.
std::vector<bin> bins_of(const std::map<std::uint64_t, std::uint64_t>& counts) {
    std::vector<bin> bins;
    std::uint64_t covered = 0;  // the spec's bins cover [1, covered]
    for (const auto& [upper, n] : counts) {
        if (const std::uint64_t lower = bin_lower(upper); lower != covered) bins.push_back({lower, 0});
        bins.push_back({upper, static_cast<double>(n)});
        covered = upper;
    }
    return bins;
}

struct holder {
    std::uint64_t born = 0;     // operation index of the object's first allocation
    std::uint32_t thread = 0;   // the thread that allocated or last reallocated it
};

}  // namespace

std::uint64_t bin_upper(std::uint64_t x) noexcept {
    if (x <= 8) return std::max<std::uint64_t>(x, 1);
    const auto k = static_cast<unsigned>(std::bit_width(x - 1) - 1);  // x in (2^k, 2^(k+1)]
    const std::uint64_t base = std::uint64_t{1} << k, quarter = base >> 2;
    return base + (x - base + quarter - 1) / quarter * quarter;
}

double trace_shape::band_share(unsigned band) const {
    std::uint64_t in = 0, all = 0;
    for (const auto& [upper, n] : size_bins) {
        all += n;
        const std::uint64_t b = upper <= 1 ? 0 : static_cast<unsigned>(std::bit_width(upper - 1));
        if (b == band) in += n;
    }
    return all == 0 ? 0 : static_cast<double>(in) / static_cast<double>(all);
}

std::uint64_t trace_shape::lifetime_quantile(double q) const {
    if (lifetimes.empty()) return 0;
    const auto i = static_cast<std::size_t>(q * static_cast<double>(lifetimes.size() - 1));
    return lifetimes[std::min(i, lifetimes.size() - 1)];
}

trace_shape measure_trace(const std::string& path) {
    trace_shape s;
    s.threads = trace::validate(path).threads;
    std::unordered_map<std::uint64_t, holder> live;
    const auto allocated = [&](const trace::event& e, std::uint64_t alignment) {
        ++s.allocations;
        ++s.size_bins[bin_upper(std::min(trace::requested_bytes(e), max_size))];
        // memalign rounds an alignment up to a power of two; so does the profile.
        ++s.alignments[std::min(std::bit_ceil(std::max(alignment, malloc_alignment)), max_alignment)];
        live[e.id] = {s.operations, e.thread};
    };
    const auto freed = [&](const trace::event& e, std::uint64_t id) {
        const auto it = live.find(id);
        ++s.frees;
        s.lifetimes.push_back(s.operations - it->second.born);
        if (it->second.thread != e.thread) ++s.remote_frees;
        live.erase(it);
    };
    trace::ordered_events events(path);
    for (trace::event e; events.next(e);) {
        switch (e.kind) {
            case trace::op::malloc:
            case trace::op::calloc:
                if (e.id == 0) continue;
                allocated(e, 0);
                break;
            case trace::op::aligned:
                if (e.id == 0) continue;
                allocated(e, e.alignment);
                break;
            case trace::op::new_:
                if (e.id == 0) continue;
                allocated(e, (e.flags & trace::new_aligned) != 0 ? e.alignment : 0);
                break;
            case trace::op::realloc:
                if (e.old_id == 0) {  // realloc(NULL, n): a malloc
                    if (e.id == 0) continue;
                    allocated(e, 0);
                } else if (e.id == 0) {  // size 0: the old object freed; else a failure, nothing changed
                    if (e.size != 0) continue;
                    freed(e, e.old_id);
                } else {
                    ++s.reallocs;
                    ++s.size_bins[bin_upper(std::min(e.size, max_size))];
                    holder h = live.at(e.old_id);
                    h.thread = e.thread;
                    live.erase(e.old_id);
                    live[e.id] = h;
                }
                break;
            case trace::op::free:
            case trace::op::free_sized:
            case trace::op::delete_:
                if (e.id == 0) continue;
                freed(e, e.id);
                break;
            case trace::op::thread_start:
            case trace::op::thread_exit: continue;
        }
        ++s.operations;
    }
    s.never_freed = live.size();
    std::sort(s.lifetimes.begin(), s.lifetimes.end());
    return s;
}

workload_spec profile_of(const trace_shape& shape, const std::string& name) {
    workload_spec s;
    s.name = name;
    s.threads = std::max<std::uint32_t>(1, shape.threads);
    phase p;
    p.operations = std::max<std::uint64_t>(1, shape.operations);
    p.sizes.shape = distribution::kind::histogram;
    p.sizes.bins = bins_of(shape.size_bins);
    if (p.sizes.bins.empty()) p.sizes.bins = {{malloc_alignment, 1}};
    const auto objects = static_cast<double>(shape.lifetimes.size() + shape.never_freed);
    p.life.phase_end_share = objects == 0 ? 1 : static_cast<double>(shape.never_freed) / objects;
    std::map<std::uint64_t, std::uint64_t> lifetime_bins;
    for (const std::uint64_t l : shape.lifetimes) ++lifetime_bins[bin_upper(l)];
    p.life.ops.shape = distribution::kind::histogram;
    p.life.ops.bins = bins_of(lifetime_bins);
    if (p.life.ops.bins.empty()) p.life.ops.bins = {{1, 1}};
    if (s.threads > 1 && shape.frees > 0)
        p.remote_free_share = static_cast<double>(shape.remote_frees) / static_cast<double>(shape.frees);
    if (shape.reallocs > 0)
        p.realloc_share = static_cast<double>(shape.reallocs) / static_cast<double>(shape.allocations + shape.reallocs);
    p.alignments.clear();
    for (const auto& [align, n] : shape.alignments) p.alignments.push_back({align, static_cast<double>(n)});
    if (p.alignments.empty()) p.alignments = {{malloc_alignment, 1}};
    p.at_end = phase_end::keep;
    s.phases.push_back(std::move(p));
    return s;
}

}  // namespace allocmeter::spec
