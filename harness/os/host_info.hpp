// The OS layer for the facts a run records about its host and build: CPU, kernel, THP mode,
// governor, perf_event_paranoid (from /proc and /sys), and the compiler that built allocmeter.
#pragma once

#include <string>

#include "harness/results/record.hpp"

namespace allocmeter {

/// The time now as strftime(`format`) writes it, in UTC or local time.
std::string now_text(const char* format, bool utc);

/// This host and build, now; a file that cannot be read leaves its field empty or none.
host_env collect_host_env();

}  // namespace allocmeter
