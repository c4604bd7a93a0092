// Planning a replay into memory: plan_builder (plan_builder.hpp) with the plan's own vectors as
// its sink, fed from a vector of events (build) or from a trace streamed in global order (load).
#include "workloads/trace/replay/replay_plan.hpp"

#include <string>
#include <vector>

#include "workloads/trace/replay/plan_builder.hpp"

namespace allocmeter::trace {

namespace {

/// plan_builder's sink: the replay_plan's per-thread vectors.
struct vector_sink {
    replay_plan& plan;

    void push(std::uint32_t t, const replay_step& s) { plan.threads[t].push_back(s); }
    replay_step& slot(std::uint32_t t, std::uint64_t index) { return plan.threads[t][index]; }
    void wait(std::uint32_t t, const replay_dependency& d) { plan.waits[t].push_back(d); }
    void gap(std::uint32_t t, std::uint32_t g) { plan.gaps[t].push_back(g); }
};

}  // namespace

replay_plan replay_plan::load(const std::string& path, replay_order order) {
    detail::planned_trace trace(path, order);
    replay_plan plan;
    plan.threads.resize(trace.threads());
    plan.waits.resize(trace.threads());
    if (order == replay_order::timed) plan.gaps.resize(trace.threads());
    for (std::uint32_t t = 0; t < trace.threads(); ++t) plan.threads[t].reserve(trace.slots()[t]);
    vector_sink sink{plan};
    plan.launches = trace.build(sink, plan, [&](const replay_leak& l) { plan.leaks.push_back(l); });
    return plan;
}

replay_plan replay_plan::build(const std::vector<event>& events, std::uint32_t thread_count, std::uint64_t max_id,
                               const std::string& source) {
    replay_plan plan;
    plan.threads.resize(thread_count);
    plan.waits.resize(thread_count);
    vector_sink sink{plan};
    detail::plan_builder<vector_sink> b(sink, plan, thread_count, max_id, events.size(), source);
    for (const event& e : events) b.add(e);
    plan.launches = b.finish([&](const replay_leak& l) { plan.leaks.push_back(l); });
    return plan;
}

}  // namespace allocmeter::trace
