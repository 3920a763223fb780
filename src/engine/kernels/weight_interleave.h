// Q4_0 / Q5_0 / Q4_1 / Q5_1 / Q8_0 / Q4_K / Q6_K / MXFP4 matrices repacked at load for the VNNI
// kernels: rows grouped in strips of 16, and per strip, per block (32 values; a K-quant's 256-value
// super-block), the 16 rows' scales (f16, 32 bytes; Q4_K: d, then dmin; Q4_1 / Q5_1: d, then m;
// MXFP4: the 16 exponent bytes) followed by the rest of the block (its payload) as 64-byte vectors
// whose dword r is row r's payload dword m (Q4_0 / Q4_1 / MXFP4: 4 vectors of packed nibbles;
// Q5_0 / Q5_1: the high bits qh, then 4 vectors of nibbles; Q8_0: 8 vectors of signed codes; Q4_K:
// 3 vectors of packed 6-bit scales and mins, then 32 of nibbles; Q6_K: 32 of ql, 16 of qh, 4 of
// scales). One vpdpbusd then advances 16
// rows by 4 values of a token, and a block's 16 row sums come out of one vector with no horizontal
// reduction.
//
// The repacked matrix takes exactly the bytes of the original (18 / 22 / 20 / 24 / 34 / 144 / 210
// / 17 per row and block) and each strip is one contiguous stream, so the repack replaces the mapped
// weights rather than copying them (the file's pages are released after the repack).
// WeightMatrix::interleaved marks such a matrix; every kernel path and dequantize_weight_row read
// it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/kernels/matmul.h"

namespace chimera::engine {

inline constexpr int kInterleaveRows = 16;

// Where the parts of one row's block are in the file, for a type that can be interleaved: the
// scales (head_fields of them, head_bytes each, consecutive, from head_offset) and the rest, the
// payload (payload_dwords dwords from payload_offset).
struct InterleaveLayout {
  int block_values;    // 32, or 256 for a K-quant super-block
  int block_bytes;     // per row, in the file
  int head_offset;
  int head_fields;     // Q4_K: d and dmin
  int payload_offset;
  int payload_dwords;
  int head_bytes = 2;  // f16 scales; MXFP4: its one exponent byte
  // Bytes of a 16-row block before its payload vectors: every row's head fields.
  constexpr size_t head_region() const {
    return static_cast<size_t>(kInterleaveRows * head_bytes * head_fields);
  }
};
// Null for a type that is not interleaved.
const InterleaveLayout* interleave_layout(GgmlType type);

// Whether models are repacked at load: on the AVX-512 VNNI path (the kernels that read the
// layout), unless CHIMERA_INTERLEAVE=0. The loader and the kernel benchmarks both ask.
bool interleave_at_load();
// Q4_0, Q5_0, Q4_1, Q5_1, Q8_0, Q4_K, Q6_K or MXFP4, rows a multiple of 16, whole blocks, row-major.
bool can_interleave(const WeightMatrix& w);
// Bytes of one 16-row block: the head region, then the payload vectors; 16 x the file's block
// bytes (288 / 352 / 320 / 384 / 544 / 2304 / 3360 / 272).
size_t interleaved_block_bytes(GgmlType type);
// Byte offset, within a 16-row block, of payload byte k of row r (0 <= r < 16). (Out of line:
// this header is also read by ISA-specific files.)
size_t interleaved_payload_offset(const InterleaveLayout& layout, int r, int k);
// Repacks strips [strip_begin, strip_end) of the row-major w into out (the interleaved matrix's
// buffer, rows * row_bytes bytes, written at the strips' offsets).
void interleave_strips(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end, uint8_t* out);
// The same, with AVX-512 where the CPU has it (the load-time repack); byte-identical output.
void interleave_strips_fast(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end,
                            uint8_t* out);
// Row `row` of w as f32, whichever layout w has (cols values).
void dequantize_weight_row(const WeightMatrix& w, int64_t row, float* out);

}  // namespace chimera::engine
