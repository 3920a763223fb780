// Internal to the matmul_*avx2.cpp files (compiled with AVX2/FMA/F16C flags; never include this from a
// portable file): helpers shared by the AVX2 kernels.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "engine/kernels/matmul_kernels.h"

namespace chimera::engine::matmul_detail::avx2 {

// sum over each dword of u8 x s8 products (pairs through vpmaddubsw, callers keep |pair| < 32768).
static inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int R, int T>
static inline void store_sums(const __m256 (&sum)[R][T], float* y, int64_t y_stride) {
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(sum[r][t]);
  }
}

static inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// Block pair (2b, 2b+1) of 16-byte loads into one 256-bit register; a missing second block is zero.
static inline __m256i load_pair16(const uint8_t* p, int stride, bool second) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i hi = second ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + stride)) : _mm_setzero_si128();
  return _mm256_set_m128i(hi, lo);
}

const TypeKernel* k_quant_kernel(GgmlType type);  // matmul_k_avx2.cpp

}  // namespace chimera::engine::matmul_detail::avx2
