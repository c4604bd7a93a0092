// The virtual clock of run --measure callgrind's cells (liballocmeter_virtual_clock.so,
// preloaded into every cell that valgrind runs): what it does, for the shim, for the cell that
// drives it, and for the results' env, which record it.
#pragma once

#include <cstdint>
#include <string_view>

namespace allocmeter {

/// The shared library that the cells of run --measure callgrind get preloaded.
inline constexpr std::string_view virtual_clock_library = "liballocmeter_virtual_clock.so";

/// The shim's tick counter (a std::atomic<std::uint64_t>, exported under this name): the cell
/// adds one per allocator call, the shim one per read of the clock.
inline constexpr const char* virtual_clock_ticks_symbol = "allocmeter_virtual_clock_ticks";

/// How far the virtual clock moves per tick. Under valgrind a program runs about 50 times
/// slower than natively, so an allocator that purges by the clock (jemalloc's decay,
/// mimalloc's purge delay) would purge about 50 times sooner, counted in its own calls, and
/// by how much would follow the host's load. Ticking with the calls instead passes the same
/// time per call for every allocator on every run: 100 ns, about what an operation of the
/// default matrix costs natively on a small VM (12-250 ns, harness included). Reads tick too,
/// so a loop that waits for time to pass ends even where no allocator is called.
inline constexpr std::uint64_t virtual_clock_tick_ns = 100;

/// What the results' env says of it.
inline constexpr std::string_view virtual_clock_description =
    "virtual: CLOCK_MONOTONIC, _RAW, _COARSE and CLOCK_BOOTTIME advance 100 ns per allocator call "
    "and per read (liballocmeter_virtual_clock.so); CLOCK_REALTIME and the CPU-time clocks are the host's";

}  // namespace allocmeter
