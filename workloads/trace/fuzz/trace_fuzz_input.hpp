// trace_fuzz_input: how an input of the trace reader's fuzz target becomes a trace file. The
// first byte picks the mode; in plain mode the rest is the decompressed stream and is
// compressed here, so mutations reach the header, chunk and event decoder instead of zstd.
// Resealed, a version-2 stream gets its checks recomputed first, so mutations also get past them.
#pragma once

#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "workloads/trace/format/trace_format.hpp"

namespace allocmeter::trace::fuzz {

/// The low two bits of an input's first byte (bit 1 only counts in plain mode).
enum class input_mode : std::uint8_t {
    raw = 0,             ///< the rest is the compressed trace file, byte for byte
    plain = 1,           ///< the rest is the decompressed stream: header, then chunks
    plain_resealed = 3,  ///< plain, with a version-2 stream's checks recomputed (reseal())
};

/// One checked block of a version-2 stream: its bytes are [start, check), its check the 8 bytes at check.
struct v2_block {
    std::size_t start, check;
};

/// The blocks of a version-2 decompressed stream (header, chunks, RSS samples, trailer: docs/trace-format.md)
/// as far as its framing parses, whatever their checks hold; none when it is not version 2.
inline std::vector<v2_block> v2_blocks(std::span<const std::uint8_t> s) {
    std::vector<v2_block> out;
    if (s.size() < 24 || s[8] != 2 || s[9] != 0) return out;
    std::size_t p = 24;  // past magic, version, pointer size, flags, page size, clock
    const auto varint = [&](std::uint64_t& v) {
        v = 0;
        for (int i = 0; i < 10 && p < s.size(); ++i) {
            const std::uint8_t b = s[p++];
            v |= std::uint64_t{b & 0x7fu} << (7 * i);
            if ((b & 0x80) == 0) return true;
        }
        return false;
    };
    const auto skip = [&] {  // a length, then that many bytes
        std::uint64_t n = 0;
        if (!varint(n) || n > s.size() - p) return false;
        p += static_cast<std::size_t>(n);
        return true;
    };
    const auto add = [&](std::size_t start) {  // the block ends here, with its check
        if (s.size() - p < 8) return false;
        out.push_back({start, p});
        p += 8;
        return true;
    };
    std::uint64_t v = 0;
    if (!skip() || !skip() || !add(0)) return out;  // command line, host
    const int fields = (s[11] & 1) != 0 ? 4 : 3;      // thread, first_seq, [first_time], count
    while (p < s.size()) {
        const std::size_t start = p++;
        if (s[start] == 0x45) {  // the trailer: chunks, events
            if (varint(v) && varint(v)) add(start);
            return out;
        }
        if (s[start] == 0x52) {  // the RSS samples: start, period, count, then count x (time, bytes)
            std::uint64_t count = 0;
            if (!varint(v) || !varint(v) || !varint(count)) return out;
            for (std::uint64_t i = 0; i < count; ++i)  // each varint takes a byte, so the stream bounds this
                if (!varint(v) || !varint(v)) return out;
            if (!add(start)) return out;
            continue;
        }
        if (s[start] != 0x43) return out;  // not a chunk either
        for (int i = 0; i < fields; ++i)
            if (!varint(v)) return out;
        if (!skip() || !add(start)) return out;
    }
    return out;
}

/// Recomputes every check of a version-2 stream in place, chained as the writer chains them.
inline void reseal(std::vector<std::uint8_t>& s) {
    std::uint64_t chain = 0;
    for (const v2_block& b : v2_blocks(s)) {
        chain = stream_check(s.data() + b.start, b.check - b.start, chain);
        for (std::size_t i = 0; i < 8; ++i) s[b.check + i] = static_cast<std::uint8_t>(chain >> (8 * i));
    }
}

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
    static thread_local std::vector<std::uint8_t> resealed;
    file.clear();
    if (input.empty()) return true;
    std::span<const std::uint8_t> rest = input.subspan(1);
    if ((input[0] & 1) == static_cast<std::uint8_t>(input_mode::raw)) {
        file.assign(rest.begin(), rest.end());
        return true;
    }
    if ((input[0] & 3) == static_cast<std::uint8_t>(input_mode::plain_resealed)) {
        resealed.assign(rest.begin(), rest.end());
        reseal(resealed);
        rest = resealed;
    }
    file.resize(ZSTD_compressBound(rest.size()));
    const std::size_t n = ZSTD_compressCCtx(cctx, file.data(), file.size(), rest.data(), rest.size(), 1);
    if (ZSTD_isError(n)) return false;
    file.resize(n);
    return true;
}

}  // namespace allocmeter::trace::fuzz
