// allocmeter-micro: per-operation cost of each reference allocator next to its anchors (a
// bare pointer bump, malloc, std::pmr's monotonic and pool resources, mimalloc), on Google
// Benchmark. Ends with the ratio table the README quotes: our time over the anchor's.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <memory_resource>
#include <string>
#include <vector>

#include "allocators/malloc_allocator.hpp"
#include "harness/cell/reference_allocators.hpp"
#include "workloads/churn_workload.hpp"
#include "workloads/scale.hpp"
#include "workloads/workload.hpp"
#include "workloads/workload_needs.hpp"

namespace allocmeter {
namespace {

constexpr std::size_t sizes[] = {16, 64, 256, 4096};
constexpr std::size_t batch = 1000;  // blocks per batch iteration
constexpr std::size_t align = 16;

/// The floor for a bump allocator: align, bump, nothing else (no capacity check, no stats).
struct bare_bump {
    static constexpr capabilities caps{.reset = true};
    explicit bare_bump(std::size_t bytes) : buffer_(new std::byte[bytes]) {}
    void* allocate(std::size_t size, std::size_t a) noexcept {
        offset_ = (offset_ + a - 1) & ~(a - 1);
        void* p = buffer_.get() + offset_;
        offset_ += size;
        return p;
    }
    void deallocate(void*, std::size_t, std::size_t) noexcept {}
    void reset() noexcept { offset_ = 0; }

private:
    std::unique_ptr<std::byte[]> buffer_;
    std::size_t offset_ = 0;
};

/// A std::pmr resource seen through the adapter; calls go through memory_resource's virtual
/// interface, as they do for a pmr user.
template <class Resource>
struct pmr_adapter {
    static constexpr capabilities caps{.individual_free = true};
    template <class... Args>
    explicit pmr_adapter(Args&&... args) : resource(std::forward<Args>(args)...) {}
    void* allocate(std::size_t size, std::size_t a) { return upcast().allocate(size, a); }
    void deallocate(void* p, std::size_t size, std::size_t a) noexcept { upcast().deallocate(p, size, a); }
    std::pmr::memory_resource& upcast() { return resource; }
    Resource resource;
};

/// mimalloc's own API, loaded with dlopen(RTLD_LOCAL) so it does not replace this process's
/// malloc; nullptr entries when the library is not installed.
struct mimalloc_api {
    void* (*malloc_aligned)(std::size_t, std::size_t) = nullptr;
    void (*free_size)(void*, std::size_t) = nullptr;
    void (*collect)(bool) = nullptr;

    static const mimalloc_api& get() {
        static const mimalloc_api api = [] {
            mimalloc_api a;
            void* lib = ::dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
            if (lib == nullptr) return a;
            a.malloc_aligned = reinterpret_cast<void* (*)(std::size_t, std::size_t)>(::dlsym(lib, "mi_malloc_aligned"));
            a.free_size = reinterpret_cast<void (*)(void*, std::size_t)>(::dlsym(lib, "mi_free_size"));
            a.collect = reinterpret_cast<void (*)(bool)>(::dlsym(lib, "mi_collect"));
            if (a.malloc_aligned == nullptr || a.free_size == nullptr || a.collect == nullptr) a = {};
            return a;
        }();
        return api;
    }
};

/// mimalloc through the adapter, for the churn comparison.
struct mimalloc_allocator {
    static constexpr capabilities caps{.individual_free = true, .thread_safe = true};
    /// Returns everything mimalloc keeps cached, so each run starts as cold as a new instance.
    static void drop_caches() { mimalloc_api::get().collect(true); }
    void* allocate(std::size_t size, std::size_t a) noexcept { return mimalloc_api::get().malloc_aligned(size, a); }
    void deallocate(void* p, std::size_t size, std::size_t) noexcept { mimalloc_api::get().free_size(p, size); }
};

/// One allocation and its free, repeated: the fast path of allocators that free one by one.
template <class A, class Make>
void alloc_free_pair(benchmark::State& state, Make make, std::size_t size) {
    auto a = make();
    for (auto _ : state) {
        void* p = a->allocate(size, align);
        benchmark::DoNotOptimize(p);
        a->deallocate(p, size, align);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 2);
}

/// `batch` allocations, then every block released: one by one in allocation order, or one
/// reset(). Items are allocations plus deaths, as in the workloads.
template <class A, class Make>
void batch_then_free(benchmark::State& state, Make make, std::size_t size) {
    auto a = make();
    std::vector<void*> blocks(batch);
    for (auto _ : state) {
        for (std::size_t i = 0; i < batch; ++i) blocks[i] = a->allocate(size, align);
        benchmark::DoNotOptimize(blocks.data());
        benchmark::ClobberMemory();
        if constexpr (requires { a->reset(); }) {
            a->reset();
        } else if constexpr (requires { a->resource.release(); }) {
            a->resource.release();
        } else {
            for (void* p : blocks) a->deallocate(p, size, align);
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch * 2));
}

/// The churn workload at 2 threads (quick scale), timed by the workload runner itself. Every
/// run starts cold: reference allocators are new instances, and process-wide ones (malloc,
/// mimalloc) are asked first to give back what they cache, so warm memory left by the last
/// run does not favour them.
template <class A>
void churn_two_threads(benchmark::State& state) {
    std::uint64_t ops = 0;
    for (auto _ : state) {
        if constexpr (requires { A::drop_caches(); }) A::drop_caches();
        if constexpr (std::is_same_v<A, malloc_allocator>) ::malloc_trim(0);
        const workload_result r = run_workload<churn_workload, A>({scale::quick, 1, 2});
        state.SetIterationTime(r.wall_s);
        ops += r.ops;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(ops));
}

/// churn2/<name> for every thread-safe reference allocator that serves churn, and for malloc.
void register_churn_candidates() {
    benchmark::RegisterBenchmark("churn2/malloc", churn_two_threads<malloc_allocator>)->UseManualTime()->Unit(benchmark::kMillisecond);
    std::apply(
        [](const auto&... r) {
            (
                [&] {
                    using A = typename std::decay_t<decltype(r)>::type;
                    if constexpr (first_missing(A::caps, churn_workload::needs, 2) == missing_capability::none)
                        benchmark::RegisterBenchmark(("churn2/" + std::string(r.name)).c_str(), churn_two_threads<A>)
                            ->UseManualTime()
                            ->Unit(benchmark::kMillisecond);
                }(),
                ...);
        },
        reference_types);
}

template <class A>
auto default_made() {
    return [] { return std::make_unique<A>(); };
}

void register_size(std::size_t size) {
    const std::string s = "/" + std::to_string(size);
    const auto add = [](const std::string& name, auto fn) { benchmark::RegisterBenchmark(name.c_str(), fn); };
    const auto bare = [] { return std::make_unique<bare_bump>(batch * (4096 + align) + 4096); };
    add("batch/bare_bump" + s, [=](benchmark::State& st) { batch_then_free<bare_bump>(st, bare, size); });
    add("batch/malloc" + s, [=](benchmark::State& st) { batch_then_free<malloc_allocator>(st, default_made<malloc_allocator>(), size); });
    add("pair/malloc" + s, [=](benchmark::State& st) { alloc_free_pair<malloc_allocator>(st, default_made<malloc_allocator>(), size); });

    // std::pmr anchors. The monotonic resource starts from a buffer that holds a whole batch,
    // so, like the arena once warm, it never goes upstream in the timed loop.
    using monotonic = pmr_adapter<std::pmr::monotonic_buffer_resource>;
    const std::size_t monotonic_bytes = batch * (size + align);
    auto monotonic_buffer = std::make_shared<std::vector<std::byte>>(monotonic_bytes);
    add("batch/pmr_monotonic" + s, [=](benchmark::State& st) {
        batch_then_free<monotonic>(st, [=] { return std::make_unique<monotonic>(monotonic_buffer->data(), monotonic_bytes); }, size);
    });
    using unsync_pool = pmr_adapter<std::pmr::unsynchronized_pool_resource>;
    using sync_pool = pmr_adapter<std::pmr::synchronized_pool_resource>;
    add("batch/pmr_unsync_pool" + s, [=](benchmark::State& st) { batch_then_free<unsync_pool>(st, default_made<unsync_pool>(), size); });
    add("pair/pmr_unsync_pool" + s, [=](benchmark::State& st) { alloc_free_pair<unsync_pool>(st, default_made<unsync_pool>(), size); });
    add("batch/pmr_sync_pool" + s, [=](benchmark::State& st) { batch_then_free<sync_pool>(st, default_made<sync_pool>(), size); });
    add("pair/pmr_sync_pool" + s, [=](benchmark::State& st) { alloc_free_pair<sync_pool>(st, default_made<sync_pool>(), size); });

    // Our reference allocators, as the matrix configures them; the pool at the size measured.
    std::apply(
        [&](const auto&... r) {
            (
                [&] {
                    using A = typename std::decay_t<decltype(r)>::type;
                    if (size > A::caps.max_size) return;
                    const std::string name(r.name);
                    if (name == "pool") return;  // measured below at each size
                    add("batch/" + name + s, [=](benchmark::State& st) { batch_then_free<A>(st, default_made<A>(), size); });
                    if constexpr (A::caps.individual_free)
                        add("pair/" + name + s, [=](benchmark::State& st) { alloc_free_pair<A>(st, default_made<A>(), size); });
                }(),
                ...);
        },
        reference_types);
    const auto add_pool = [&]<std::size_t N>() {
        add("batch/pool" + s, [=](benchmark::State& st) { batch_then_free<pool_allocator<N>>(st, default_made<pool_allocator<N>>(), size); });
        add("pair/pool" + s, [=](benchmark::State& st) { alloc_free_pair<pool_allocator<N>>(st, default_made<pool_allocator<N>>(), size); });
    };
    switch (size) {
        case 16: add_pool.template operator()<16>(); break;
        case 64: add_pool.template operator()<64>(); break;
        case 256: add_pool.template operator()<256>(); break;
        default: add_pool.template operator()<4096>(); break;
    }
}

/// Forwards to Google Benchmark's own display reporter (console or JSON, as the flags say)
/// and keeps each benchmark's time per item for the ratio table.
class ratio_reporter : public benchmark::BenchmarkReporter {
public:
    explicit ratio_reporter(benchmark::BenchmarkReporter* display) : display_(display) {}

    bool ReportContext(const Context& context) override {
        display_->SetOutputStream(&GetOutputStream());
        display_->SetErrorStream(&GetErrorStream());
        return display_->ReportContext(context);
    }
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& run : runs) {
            const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
            if (run.error_occurred || (run.run_type != Run::RT_Iteration && !median)) continue;
            const auto items = run.counters.find("items_per_second");
            if (items == run.counters.end() || items->second.value <= 0) continue;
            std::string name = run.benchmark_name();  // "batch/arena/16", "churn2/x/manual_time_median"
            for (const char* suffix : {"_median", "/manual_time"})
                if (const auto cut = name.rfind(suffix); cut != std::string::npos && cut + std::strlen(suffix) == name.size())
                    name.erase(cut);
            (median ? medians_ : ns_per_item_)[name].push_back(1e9 / items->second.value);
        }
        display_->ReportRuns(runs);
    }
    void Finalize() override { display_->Finalize(); }

    /// True when no benchmark reported a time (nothing ran, or --benchmark_list_tests).
    bool empty() const { return ns_per_item_.empty() && medians_.empty(); }

    /// Median time per item of a benchmark over its repetitions (Google Benchmark's own median
    /// when it reported one), or NaN if it did not run.
    double ns(const std::string& name) const {
        if (const auto m = medians_.find(name); m != medians_.end()) return m->second.front();
        const auto it = ns_per_item_.find(name);
        if (it == ns_per_item_.end()) return std::nan("");
        std::vector<double> v = it->second;
        std::sort(v.begin(), v.end());
        return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    }

private:
    std::unique_ptr<benchmark::BenchmarkReporter> display_;
    std::map<std::string, std::vector<double>> ns_per_item_;  // per repetition
    std::map<std::string, std::vector<double>> medians_;      // Google Benchmark's median aggregate
};

/// The README's table: for each pairing, our ns/op over the anchor's, per size, against a target.
void print_ratios(const ratio_reporter& r) {
    struct pairing {
        const char* ours;
        const char* anchor;
        double target;
    };
    const pairing pairings[] = {{"batch/bump", "batch/bare_bump", 1.5},
                                {"batch/arena", "batch/pmr_monotonic", 1.0},
                                {"batch/pool", "batch/pmr_unsync_pool", 1.0},
                                {"pair/pool", "pair/pmr_unsync_pool", 1.0}};
    std::fprintf(stderr, "\nratios (our ns/op over the anchor's, medians over repetitions; lower is better)\n");
    std::fprintf(stderr, "  %-28s %-26s %8s %8s %8s %8s %7s  %s\n", "ours", "anchor", "16 B", "64 B", "256 B", "4096 B",
                 "target", "verdict");
    for (const pairing& p : pairings) {
        double worst = 0;
        std::string cells;
        for (const std::size_t size : sizes) {
            const std::string s = "/" + std::to_string(size);
            const double ratio = r.ns(p.ours + s) / r.ns(p.anchor + s);
            cells += std::isnan(ratio) ? std::string("        -") : fmt::format(" {:8.2f}", ratio);
            if (!std::isnan(ratio)) worst = std::max(worst, ratio);
        }
        std::fprintf(stderr, "  %-28s %-26s%s %7.2f  %s\n", p.ours, p.anchor, cells.c_str(), p.target,
                     worst == 0 ? "not run" : worst <= p.target ? "met" : "MISSED (worst size)");
    }
    const double churn = r.ns("churn2/thread_cache") / r.ns("churn2/mimalloc");
    std::fprintf(stderr, "  %-28s %-26s %8s %8.2f %8s %8s %7.2f  %s\n", "churn2/thread_cache", "churn2/mimalloc", "",
                 churn, "", "", 1.3,
                 std::isnan(churn) ? "not run" : churn <= 1.3 ? "met" : "MISSED");
}

}  // namespace
}  // namespace allocmeter

int main(int argc, char** argv) {
    using namespace allocmeter;
    for (const std::size_t size : sizes) register_size(size);
    if (mimalloc_api::get().malloc_aligned != nullptr)
        benchmark::RegisterBenchmark("churn2/mimalloc", churn_two_threads<mimalloc_allocator>)->UseManualTime()->Unit(benchmark::kMillisecond);
    else
        std::fprintf(stderr, "allocmeter-micro: libmimalloc.so.2 not found; install libmimalloc2.0 for churn2/mimalloc\n");
    register_churn_candidates();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    ratio_reporter reporter(benchmark::CreateDefaultDisplayReporter());
    benchmark::RunSpecifiedBenchmarks(&reporter);
    if (!reporter.empty()) print_ratios(reporter);
    benchmark::Shutdown();
    return 0;
}
