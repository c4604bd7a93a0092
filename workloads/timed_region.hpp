// timed_region: the harness's hook at the two edges of a run's timed region (it reads rusage
// and starts its samplers there). The runners of workloads and of trace replays call it.
#pragma once

#include "workloads/live_meter.hpp"

namespace allocmeter {

/// Called by the runner at the edges of the timed region (the harness reads rusage there).
/// `live` is the workers' shared count of live requested bytes, which they fold in every
/// live_meter::flush_bytes, for a sampler to read during the region.
class timed_region {
public:
    virtual ~timed_region() = default;
    virtual void begin(const live_board& live) = 0;
    virtual void end() = 0;
    /// True when the run's threads take turns on one CPU (under valgrind): its workers then
    /// start in a fixed order (start_gate's `ordered`), so that their interleaving is the same
    /// on every run.
    virtual bool threads_serialised() const noexcept { return false; }
};

}  // namespace allocmeter
