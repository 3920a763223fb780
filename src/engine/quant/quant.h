// src/engine/quant/: weight formats. The block layouts of every type the engine computes with
// (Q4_0, Q5_0, Q8_0, MXFP4 and the K-quants) and their scalar reference quantizers and dequantizers
// (quant.cpp, quant_k.cpp, quant_k_search.cpp), plus exact f16/bf16 conversions (fp16.h). They are
// the ground truth the SIMD kernels in kernels/ are tested against and what the synthesizer writes.
//
// Block layouts and the scalar reference quantizers/dequantizers for weight types
// (engine-reference.md §2). These are the ground truth that SIMD kernels are tested against.
// Weight quantizers make the same choices as ggml's `quantize_row_*_ref` (no importance matrix), so a
// tensor quantized here is what llama.cpp's quantizer would have written for the same f32 input.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/gguf/ggml_type.h"
#include "util/status.h"

namespace chimera::engine {

class ThreadPool;

inline constexpr int kQK = 32;    // elements per block of the *_0 / *_1 types
inline constexpr int kQK_K = 256; // elements per K-quant super-block

#pragma pack(push, 1)
struct BlockQ4_0 { uint16_t d; uint8_t qs[kQK / 2]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[kQK]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
// The *_1 types: value = d * code + m (unsigned codes; a per-block offset m, not a fixed one).
struct BlockQ4_1 { uint16_t d; uint16_t m; uint8_t qs[kQK / 2]; };
struct BlockQ5_1 { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
struct BlockQ4_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[kQK_K / 2]; };
struct BlockQ5_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qh[kQK_K / 8]; uint8_t qs[kQK_K / 2]; };
struct BlockQ6_K { uint8_t ql[kQK_K / 2]; uint8_t qh[kQK_K / 4]; int8_t scales[kQK_K / 16]; uint16_t d; };
struct BlockQ8_K { float d; int8_t qs[kQK_K]; int16_t bsums[kQK_K / 16]; };
// MXFP4 (engine-reference-models.md §8): an E8M0 exponent, then 32 E2M1 codes, value j in the low
// nibble of qs[j], value j + 16 in the high nibble (Q4_0's order).
struct BlockMXFP4 { uint8_t e; uint8_t qs[kQK / 2]; };
#pragma pack(pop)
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockMXFP4) == 17);

// The E2M1 values of MXFP4's 16 codes, doubled so they are integers (ggml's kvalues_mxfp4): code c
// means kMxfp4Values[c] / 2 x 2^(e - 127) = kMxfp4Values[c] x mxfp4_half_scale(e).
inline constexpr int8_t kMxfp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
// 2^(e - 128) as an f32, exactly (e 0 and 1 give the denormals 2^-128 and 2^-127).
// static: the ISA-specific kernel files each get their own copy (no shared inline code across ISA
// flags, matmul_kernels.h).
static inline float mxfp4_half_scale(uint8_t e) {
  const uint32_t bits = e < 2 ? uint32_t{0x00200000} << e : static_cast<uint32_t>(e - 1) << 23;
  float f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
}

// True for F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K, MXFP4. (Q5_0 / Q5_1 / Q8_0
// are what llama.cpp's Q4_K / Q5_K / Q6_K rules fall back to for rows not a multiple of 256, e.g.
// every d_model=1152 row of gemma3 1B or 896 of Qwen2.5 0.5B; engine-reference-models.md §8.)
bool can_quantize(GgmlType type);
// The same set plus Q8_K (an activation type, dequantizable for tests).
bool can_dequantize(GgmlType type);
// n must be a multiple of the type's block size. `out` receives ggml_row_bytes(type, n) bytes.
void quantize_row(GgmlType type, const float* x, void* out, int64_t n);
void dequantize_row(GgmlType type, const void* in, float* out, int64_t n);

// Checked, multi-threaded form for whole tensors (`rows` rows of `cols` values, row-major): validates
// the type and the row length, then quantizes rows in parallel on `pool` (serially when null).
Status quantize_matrix(GgmlType type, const float* x, int64_t rows, int64_t cols, void* out,
                       ThreadPool* pool);

// Activation types (engine-reference.md §2.3).
void quantize_row_q8_0(const float* x, BlockQ8_0* out, int64_t n);
void quantize_row_q8_k(const float* x, BlockQ8_K* out, int64_t n);

// The K-quant 6-bit scale/min unpacking of Q4_K and Q5_K (sub-block j in 0..7).
inline void k4_scale_min(int j, const uint8_t* scales, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

namespace quant_detail {
// Per-type reference kernels (quant.cpp: the *_0 types and floats; quant_k.cpp: K-quants).
void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t n);
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n);
void quantize_mxfp4(const float* x, BlockMXFP4* y, int64_t n);
void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n);
void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t n);
void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n);
void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t n);
void dequantize_mxfp4(const BlockMXFP4* x, float* y, int64_t n);

// Round to nearest, ties to even (what ggml's `nearest_int` computes), valid for |v| < 2^22.
inline int nearest_int(float v) {
  float shifted = v + 12582912.0f;  // 1.5 * 2^23: the mantissa now holds round(v) + 2^22
  uint32_t bits;
  __builtin_memcpy(&bits, &shifted, sizeof bits);
  return static_cast<int>(bits & 0x007FFFFF) - 0x00400000;
}
// nearest_int of v clamped to [lo, hi]; v is clamped first so the rounding trick stays in range even
// for degenerate scales (NaN maps to lo).
inline int nearest_clamped(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;
  if (v > static_cast<float>(hi)) return hi;
  return nearest_int(v);
}

// The K-quant scale searches (quant_k.cpp), as ggml's make_qkx2_quants / make_qx_quants (rmse_type 1, no
// importance weights) do them. fit_scale_min: asymmetric x ~ scale * L + min, L in [0, nmax], min <= 0,
// returns scale and writes -min. fit_symmetric: x ~ scale * (L - nmax), returns scale.
float fit_scale_min(const float* x, const float* w, int n, int nmax, uint8_t* L, float* neg_min, float rmin,
                    float rdelta, int nstep);
float fit_symmetric(const float* x, int n, int nmax, int8_t* L);
// The same searches for 4 groups at once (quant_k_search.cpp): group g is x[g*stride ..], w[g*stride ..],
// L[g*stride ..]; bit-identical to the scalar ones. n <= 32.
void fit_scale_min_x4(const float* x, const float* w, int n, int stride, int nmax, uint8_t* L, float* scale,
                      float* neg_min, float rmin, float rdelta, int nstep);
void fit_symmetric_x4(const float* x, int n, int stride, int nmax, int8_t* L, float* scale);

// Round half away from zero (C roundf), for |v| < 2^23, without a libm call.
inline int round_away(float v) {
  int i = static_cast<int>(v);  // truncates toward zero
  float rest = v - static_cast<float>(i);  // exact: i and v are within 1
  if (rest >= 0.5f) return i + 1;
  if (rest <= -0.5f) return i - 1;
  return i;
}
}  // namespace quant_detail

}  // namespace chimera::engine
