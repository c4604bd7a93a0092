// trace_fuzz_input: how an input of the trace reader's fuzz target becomes a trace file. The
// first byte picks the mode; in plain mode the rest is the decompressed stream and is
// compressed here, so mutations reach the header, chunk and event decoder instead of zstd.
#pragma once

#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace allocmeter::trace::fuzz {

/// The low bit of an input's first byte.
enum class input_mode : std::uint8_t {
    raw = 0,    ///< the rest is the compressed trace file, byte for byte
    plain = 1,  ///< the rest is the decompressed stream: header, then chunks
};

/// An input in the fuzz target's encoding: the mode byte, then `data`.
inline std::vector<std::uint8_t> make_input(input_mode mode, std::span<const std::uint8_t> data) {
    std::vector<std::uint8_t> in(1 + data.size());
    in[0] = static_cast<std::uint8_t>(mode);
    std::copy(data.begin(), data.end(), in.begin() + 1);
    return in;
}

/// The trace file that `input` stands for, into `file` (reused, so a fuzz loop does not
/// reallocate). An empty input is an empty file. Plain mode compresses at level 1 with `cctx`
/// into a single frame. False only when zstd fails, which a bound-sized output rules out.
inline bool input_to_file(std::span<const std::uint8_t> input, ZSTD_CCtx* cctx, std::vector<std::uint8_t>& file) {
    file.clear();
    if (input.empty()) return true;
    const std::span<const std::uint8_t> rest = input.subspan(1);
    if ((input[0] & 1) == static_cast<std::uint8_t>(input_mode::raw)) {
        file.assign(rest.begin(), rest.end());
        return true;
    }
    file.resize(ZSTD_compressBound(rest.size()));
    const std::size_t n = ZSTD_compressCCtx(cctx, file.data(), file.size(), rest.data(), rest.size(), 1);
    if (ZSTD_isError(n)) return false;
    file.resize(n);
    return true;
}

}  // namespace allocmeter::trace::fuzz
