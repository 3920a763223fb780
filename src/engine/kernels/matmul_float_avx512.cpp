// AVX-512 matmul kernels for F32, F16 and BF16 weights against the f32 activations as they are (no
// activation rounding): weights are widened to f32 16 at a time (vcvtph2ps / shift) and accumulated with
// FMA, R rows x T tokens per tile so each widened weight vector feeds T tokens.
#include "engine/kernels/matmul_avx512.h"

namespace chimera::engine::matmul_detail::avx512 {
namespace {

enum class FloatWeights { kF32, kF16, kBF16 };

template <FloatWeights kType>
struct FloatKernel {
  static constexpr int kTileRows = 4, kTileTokens = 4;
  static __m512 load(const uint8_t* row, int64_t col) {
    if constexpr (kType == FloatWeights::kF32) {
      return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + col);
    } else if constexpr (kType == FloatWeights::kF16) {
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const uint16_t*>(row) + col)));
    } else {
      const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const uint16_t*>(row) + col)));
      return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
    }
  }

  static __m512 load_masked(const uint8_t* row, int64_t col, __mmask16 mask) {
    if constexpr (kType == FloatWeights::kF32) {
      return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + col);
    } else if constexpr (kType == FloatWeights::kF16) {
      return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(row) + col));
    } else {
      const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(row) + col));
      return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
    }
  }

  template <int R, int T>
  static void tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int64_t cols,
                   float* y, int64_t y_stride) {
    __m512 sum[R][T];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) sum[r][t] = _mm512_setzero_ps();
    }
    // Full vectors with plain loads (a masked load costs an extra ALU uop), then one masked tail.
    constexpr size_t kWeightBytes = kType == FloatWeights::kF32 ? 4 : 2;
    const StripPrefetcher<R> prefetcher(w, row_bytes);
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
      if constexpr (T == 1) prefetcher.template advance<16 * kWeightBytes>(static_cast<size_t>(c) * kWeightBytes);
      __m512 wv[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) wv[r] = load(w + r * row_bytes, c);
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const __m512 a = _mm512_loadu_ps(reinterpret_cast<const float*>(act + t * act_stride) + c);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) sum[r][t] = _mm512_fmadd_ps(wv[r], a, sum[r][t]);
      }
    }
    if (c < cols) {
      const __mmask16 mask = static_cast<__mmask16>((1u << (cols - c)) - 1);
      __m512 wv[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) wv[r] = load_masked(w + r * row_bytes, c, mask);
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const __m512 a = _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(act + t * act_stride) + c);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) sum[r][t] = _mm512_fmadd_ps(wv[r], a, sum[r][t]);
      }
    }
    store_sums<R, T>(sum, y, y_stride);
  }
};

const TypeKernel kF32 = with_f32_panels({nullptr, nullptr, gemm_tiled<FloatKernel<FloatWeights::kF32>>, 4});
const TypeKernel kF16 = with_f32_panels({nullptr, nullptr, gemm_tiled<FloatKernel<FloatWeights::kF16>>, 4});
const TypeKernel kBF16 = with_f32_panels({nullptr, nullptr, gemm_tiled<FloatKernel<FloatWeights::kBF16>>, 4});

}  // namespace

const TypeKernel* float_kernel(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return &kF32;
    case GgmlType::kF16: return &kF16;
    case GgmlType::kBF16: return &kBF16;
    default: return nullptr;
  }
}

}  // namespace chimera::engine::matmul_detail::avx512
