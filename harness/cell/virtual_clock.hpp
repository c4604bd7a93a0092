// The virtual clock of run --measure callgrind's cells (liballocmeter_virtual_clock.so,
// preloaded into every cell that valgrind runs): what it does, for the shim and for the
// results' env, which record it.
#pragma once

#include <cstdint>
#include <string_view>

namespace allocmeter {

/// The shared library that the cells of run --measure callgrind get preloaded.
inline constexpr std::string_view virtual_clock_library = "liballocmeter_virtual_clock.so";

/// How far the virtual clock moves on each read. Under valgrind a program runs about 50 times
/// slower than natively, so an allocator that purges by the clock (jemalloc's decay,
/// mimalloc's purge delay) would purge about 50 times sooner, counted in its own operations,
/// and by how much would follow the host's load. A fixed step per read instead ties the
/// clock to the program's work: jemalloc reads it about once per few hundred operations on
/// churn, so 20 us per read passes time at about the rate of its native run there.
inline constexpr std::uint64_t virtual_clock_step_ns = 20'000;

/// What the results' env says of it.
inline constexpr std::string_view virtual_clock_description =
    "virtual: CLOCK_MONOTONIC, _RAW, _COARSE and CLOCK_BOOTTIME advance 20 us per read "
    "(liballocmeter_virtual_clock.so); CLOCK_REALTIME and the CPU-time clocks are the host's";

}  // namespace allocmeter
