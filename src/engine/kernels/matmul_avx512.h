// Internal to the matmul_*avx512.cpp files (compiled with AVX-512 F/BW/VL/DQ/VNNI flags; never include
// this from a portable file). Activation layouts, the integer dot helpers, and the register-tiled loop
// shared by every weight type.
#pragma once

// GCC 12 reports its own _mm512_undefined_* placeholders inside the intrinsic headers as uninitialized
// (a known false positive); silence it for the header only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

#include <cstddef>
#include <cstdint>

#include "engine/kernels/matmul_kernels.h"
#include "engine/quant/quant.h"

namespace chimera::engine::matmul_detail::avx512 {

// sum over each dword of u8 x s8 products, added to acc. Without VNNI: maddubs (pairs to s16; callers
// keep |u * s| pairs below 32768) and madd by ones.
template <bool kVnni>
inline __m512i dot_u8s8(__m512i acc, __m512i u, __m512i s) {
  if constexpr (kVnni) {
    return _mm512_dpbusd_epi32(acc, u, s);
  } else {
    __m512i pairs = _mm512_maddubs_epi16(u, s);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)));
  }
}

// sum over each dword of s16 x s16 products, added to acc.
template <bool kVnni>
inline __m512i dot_s16(__m512i acc, __m512i a, __m512i b) {
  if constexpr (kVnni) {
    return _mm512_dpwssd_epi32(acc, a, b);
  } else {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
  }
}

template <int R, int T>
inline void store_sums(const __m512 (&sum)[R][T], float* y, int64_t y_stride) {
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) y[t * y_stride + r] = _mm512_reduce_add_ps(sum[r][t]);
  }
}

// Bytes of one row's block in the file for the 32-value types (Q4_0, Q5_0, Q4_1, Q5_1, Q8_0,
// MXFP4): the tiles' group stride and the strips' block size.
constexpr int block32_bytes(GgmlType type) {
  return type == GgmlType::kQ4_0    ? sizeof(BlockQ4_0)
         : type == GgmlType::kQ5_0  ? sizeof(BlockQ5_0)
         : type == GgmlType::kQ4_1  ? sizeof(BlockQ4_1)
         : type == GgmlType::kQ5_1  ? sizeof(BlockQ5_1)
         : type == GgmlType::kMXFP4 ? sizeof(BlockMXFP4)
                                    : sizeof(BlockQ8_0);
}

// Q4_1 / Q5_1: value = d * code + m, a second f16 head field (m) per row and block.
constexpr bool has_min(GgmlType type) { return type == GgmlType::kQ4_1 || type == GgmlType::kQ5_1; }

// MXFP4 block scales: 2^(e - 128) for the exponent byte e in each dword (the codes are looked up
// as doubled E2M1 values, hence 128 rather than E8M0's bias 127): (e - 1) << 23 as f32 bits, or
// the denormals 2^-128 and 2^-127 for e 0 and 1.
[[gnu::always_inline]] inline __m512 mxfp4_scales(__m512i e) {
  const __m512i normal = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), 23);
  const __m512i denormal = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), e);
  return _mm512_castsi512_ps(
      _mm512_mask_mov_epi32(normal, _mm512_cmplt_epi32_mask(e, _mm512_set1_epi32(2)), denormal));
}

// MXFP4's 4-bit codes (one per byte) as their doubled E2M1 value plus 12: unsigned 0..24, taken
// by the unsigned-code dots with code offset 12.
[[gnu::always_inline]] inline __m512i mxfp4_codes(__m512i nibbles) {
  const __m512i table = _mm512_broadcast_i32x4(
      _mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
  return _mm512_shuffle_epi8(table, nibbles);
}

// f16 -> f32 of one scalar (F16C), so no shared inline helper is instantiated with these ISA flags.
inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// Prefill through dequantized f32 panels and an FMA micro-kernel (matmul_panel_avx512.cpp); GemmFn
// contract with the tokens packed by pack_panel_tokens. Worth it from about kPanelMinTokens tokens (measured).
void gemm_f32_panels(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, int64_t y_stride);
inline constexpr int64_t kPanelMinTokens = 16;
inline constexpr int kPanelRowBlock = 32;
// The tokens as gemm_f32_panels reads them (act): tiles of 12 tokens [tile][k][12], the whole row
// at once up to 1536 columns, per chunk of 256 columns beyond; packed once per call by the driver.
size_t panel_act_bytes(int64_t n_tokens, int64_t cols);
void pack_panel_tokens(const float* x, int64_t n_tokens, int64_t cols, int64_t t_begin, int64_t t_end, void* out);
inline constexpr int64_t kPanelTileTokens = 12;

// `decode` (activation conversion, gemm for few tokens, its row block) with the f32-panel prefill.
constexpr TypeKernel with_f32_panels(TypeKernel decode) {
  decode.gemm_many = gemm_f32_panels;
  decode.many_min_tokens = kPanelMinTokens;
  decode.many_row_block = kPanelRowBlock;
  decode.many_act_bytes = panel_act_bytes;
  decode.pack_many = pack_panel_tokens;
  decode.many_pack_tokens = kPanelTileTokens;
  return decode;
}

// Q4_0 / Q8_0 x ActGroup32 activations with VNNI for batches of tokens, rows interleaved in strips
// of 16 (matmul_strips_avx512.cpp). GemmFn contract with converted activations (signed codes; bias
// -offset times the block's code sum). Instantiated for Q4_0 and Q8_0.
template <GgmlType kType>
void gemm_strips(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act, size_t act_stride,
                 int64_t n_tokens, float* y, int64_t y_stride);
// The same for matrices interleaved at load (weight_interleave.h), every token count. Instantiated
// for Q4_0, Q5_0, Q8_0 and Q4_K (activations with code offset 1).
template <GgmlType kType>
void gemm_interleaved(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                      size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride);
inline constexpr int64_t kStripMinTokens = 2;  // 1 token: the tiles stream weights ~10% faster
inline constexpr int kStripRowBlock = 16;

const TypeKernel* k_quant_kernel(GgmlType type, bool vnni);  // matmul_k_avx512.cpp
const TypeKernel* float_kernel(GgmlType type);              // matmul_float_avx512.cpp

}  // namespace chimera::engine::matmul_detail::avx512
