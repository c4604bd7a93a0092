// Both halves of the cell protocol: the request as `--name value` pairs that Boost parses
// back, and the result as the record's JSON.
#include "harness/run/cell_protocol.hpp"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <stdexcept>

namespace allocmeter {

namespace po = boost::program_options;

std::vector<std::string> cell_request::to_args() const {
    std::vector<std::string> args{"--allocator",      allocator,
                                  "--runner",         runner,
                                  "--workload",       workload,
                                  "--expect-library", expect_library,
                                  "--threads",        std::to_string(config.threads),
                                  "--scale",          std::string(to_string(config.size)),
                                  "--seed",           std::to_string(config.seed),
                                  "--latency-every",  std::to_string(config.latency_every),
                                  "--sample-us",      std::to_string(sample_interval.count()),
                                  "--trace",          trace.path,
                                  "--plan",           trace.plan_path,
                                  "--touch",          std::string(trace::to_string(trace.touch)),
                                  "--replay",         std::string(trace::to_string(trace.order)),
                                  "--verify",         verify ? "true" : "false",
                                  "--callgrind",      callgrind ? "true" : "false"};
    for (const std::string& e : pmu_events) args.insert(args.end(), {"--pmu-event", e});
    return args;
}

cell_request cell_request::from_args(const std::vector<std::string>& args) {
    cell_request r;
    std::string scale_name, touch, replay;
    long long sample_us = 0;
    po::options_description opts;
    opts.add_options()("allocator", po::value(&r.allocator)->required())("runner", po::value(&r.runner)->required())(
        "workload", po::value(&r.workload)->required())("expect-library", po::value(&r.expect_library)->required())(
        "threads", po::value(&r.config.threads)->required())("scale", po::value(&scale_name)->required())(
        "seed", po::value(&r.config.seed)->required())("latency-every", po::value(&r.config.latency_every)->required())(
        "sample-us", po::value(&sample_us)->required())("pmu-event", po::value(&r.pmu_events)->composing())(
        "trace", po::value(&r.trace.path)->required())("plan", po::value(&r.trace.plan_path)->required())(
        "touch", po::value(&touch)->required())("replay", po::value(&replay)->required())(
        "verify", po::value(&r.verify)->required())("callgrind", po::value(&r.callgrind)->required());
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(opts).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw std::invalid_argument(e.what());
    }
    const auto size = parse_scale(scale_name);
    if (!size) throw std::invalid_argument("--scale " + scale_name + ": expected quick, default or full");
    const auto touch_policy = trace::parse_touch(touch);
    // auto is run's: it resolves it for each trace (trace_workloads.hpp) before any cell runs.
    if (!touch_policy || touch_policy->how == trace::touch_policy::mode::automatic)
        throw std::invalid_argument("--touch " + touch + ": expected none, page, full or part:F");
    const auto order = trace::parse_replay_order(replay);
    if (!order) throw std::invalid_argument("--replay " + replay + ": expected threads, timed or serial");
    r.config.size = *size;
    r.trace.touch = *touch_policy;
    r.trace.order = *order;
    r.sample_interval = std::chrono::microseconds(sample_us);
    return r;
}

bool send_result(const cell_measurement& m) {
    const std::string text = to_json_text(m);
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(result_fd, text.data() + done, text.size() - done);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

cell_measurement receive_result(const std::string& text) { return measurement_from_json_text(text); }

}  // namespace allocmeter
