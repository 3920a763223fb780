// Block layouts and the scalar reference quantizers/dequantizers for weight types
// (engine-reference.md §2). These are the ground truth that SIMD kernels are tested against.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/ggml_type.h"

namespace chimera::engine {

inline constexpr int kQK = 32;    // elements per block of the *_0 / *_1 types
inline constexpr int kQK_K = 256; // elements per K-quant super-block

#pragma pack(push, 1)
struct BlockQ4_0 { uint16_t d; uint8_t qs[kQK / 2]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[kQK]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
struct BlockQ4_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[kQK_K / 2]; };
struct BlockQ5_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qh[kQK_K / 8]; uint8_t qs[kQK_K / 2]; };
struct BlockQ6_K { uint8_t ql[kQK_K / 2]; uint8_t qh[kQK_K / 4]; int8_t scales[kQK_K / 16]; uint16_t d; };
struct BlockQ8_K { float d; int8_t qs[kQK_K]; int16_t bsums[kQK_K / 16]; };
#pragma pack(pop)
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// True for F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K. (Q5_0 is what llama.cpp's Q4_K_M rule
// falls back to for rows not a multiple of 256, e.g. every d_model=1152 row of gemma3 1B.)
bool can_quantize(GgmlType type);
// n must be a multiple of the type's block size. `out` receives ggml_row_bytes(type, n) bytes.
void quantize_row(GgmlType type, const float* x, void* out, int64_t n);
void dequantize_row(GgmlType type, const void* in, float* out, int64_t n);

// Activation types (engine-reference.md §2.3).
void quantize_row_q8_0(const float* x, BlockQ8_0* out, int64_t n);
void quantize_row_q8_k(const float* x, BlockQ8_K* out, int64_t n);

}  // namespace chimera::engine
