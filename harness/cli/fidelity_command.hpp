// `allocmeter fidelity [options] [--] CMD ARGS...`: can I trust a replay of this program? Records
// it, runs it directly under each allocator, replays its trace under the same allocators, and
// says whether the replay ranks the allocators as the program does.
#pragma once

#include <string>
#include <vector>

namespace allocmeter {

/// Runs `allocmeter fidelity ARGS...`; returns the exit code (see its --help).
int fidelity_command(const std::vector<std::string>& args);

}  // namespace allocmeter
