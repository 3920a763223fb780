// Q4_0 / Q5_0 / Q8_0 matrices repacked at load for the VNNI kernels: rows grouped in strips of 16,
// and per strip, per 32-value block, the 16 rows' f16 scales (32 bytes) followed by the rest of the
// block (its payload) as 64-byte vectors whose dword r is row r's payload dword m (Q4_0: 4 vectors
// of packed nibbles; Q5_0: the high bits qh, then 4 vectors of nibbles; Q8_0: 8 vectors of signed
// codes). One vpdpbusd then advances 16 rows by 4 values of a
// token, and a block's 16 row sums come out of one vector with no horizontal reduction.
//
// The repacked matrix takes exactly the bytes of the original (18 / 22 / 34 per row and block) and
// each strip is one contiguous stream, so the repack replaces the mapped weights rather than
// copying them (the file's pages are released after the repack). WeightMatrix::interleaved marks
// such a matrix; every kernel path and dequantize_weight_row read it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/matmul.h"

namespace chimera::engine {

inline constexpr int kInterleaveRows = 16;

// Q4_0, Q5_0 or Q8_0, rows a multiple of 16, row-major.
bool can_interleave(const WeightMatrix& w);
// Bytes of one 16-row block: 32 bytes of scales + 16 x the type's payload (288 / 352 / 544).
size_t interleaved_block_bytes(GgmlType type);
// Byte offset, within a 16-row block, of payload byte k (the block's bytes after d: 16 for Q4_0,
// 20 for Q5_0, 32 for Q8_0) of row r (0 <= r < 16).
inline size_t interleaved_payload_offset(int r, int k) {
  return 32 + static_cast<size_t>(k / 4) * 64 + static_cast<size_t>(r) * 4 +
         static_cast<size_t>(k % 4);
}
// Repacks strips [strip_begin, strip_end) of the row-major w into out (the interleaved matrix's
// buffer, rows * row_bytes bytes, written at the strips' offsets).
void interleave_strips(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end, uint8_t* out);
// The same, with AVX-512 where the CPU has it (the load-time repack); byte-identical output.
void interleave_strips_fast(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end,
                            uint8_t* out);
// Row `row` of w as f32, whichever layout w has (cols values).
void dequantize_weight_row(const WeightMatrix& w, int64_t row, float* out);

}  // namespace chimera::engine
