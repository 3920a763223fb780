// AVX2 matmul kernels for the K-quants against ActBlockK activations in natural value order (32 bytes
// of Q4_K/Q5_K codes give values 64c..64c+31 in their low nibbles and 64c+32..64c+63 in the high ones,
// and Q6_K unpacks to natural order too). vpmaddubsw pair sums are scaled by the sub-block scales with
// vpmaddwd and accumulated in int32; mins and the Q6_K offset go through the 16-value group sums.
#include <type_traits>

#include "engine/kernels/matmul_avx2.h"
#include "engine/quant/quant.h"

namespace chimera::engine::matmul_detail::avx2 {
namespace {

void convert_k(const float* x, void* out, int64_t cols) {
  auto* blocks = static_cast<ActBlockK*>(out);
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < cols / 256; ++b) {
    const float* xb = x + 256 * b;
    ActBlockK& A = blocks[b];
    __m256 a = _mm256_setzero_ps();
    for (int i = 0; i < 32; ++i) a = _mm256_max_ps(a, _mm256_and_ps(_mm256_loadu_ps(xb + 8 * i), sign_mask));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127.0f;
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    for (int k = 0; k < 8; ++k) {  // 32 values at a time
      __m256i q[4];
      #pragma GCC unroll 16
      for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + 32 * k + 8 * i), id));
      __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      _mm256_store_si256(reinterpret_cast<__m256i*>(A.qs + 32 * k), _mm256_permutevar8x32_epi32(bytes, order));
      for (int half = 0; half < 2; ++half) {
        const __m256i s = _mm256_add_epi32(q[2 * half], q[2 * half + 1]);
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        A.bsums[2 * k + half] = static_cast<int16_t>(_mm_cvtsi128_si32(s4));
      }
    }
    A.d = d;
  }
}

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

template <bool kQ5>
struct KernelK4 {
  static constexpr int kTileRows = 2, kTileTokens = 2;
  using Block = std::conditional_t<kQ5, BlockQ5_K, BlockQ4_K>;

  template <int R, int T>
  static void tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int64_t cols,
                   float* y, int64_t y_stride) {
    __m256 sum[R][T];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) sum[r][t] = _mm256_setzero_ps();
    }
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m128i duplicate = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const StripPrefetcher<R> prefetcher(w, row_bytes);
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      if constexpr (T == 1) prefetcher.template advance<sizeof(Block)>(static_cast<size_t>(sb) * sizeof(Block));
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const Block& x = reinterpret_cast<const Block*>(w + r * row_bytes)[sb];
        uint64_t sc8, m8;
        unpack_k4_scales(x.scales, &sc8, &m8);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(_mm_cvtsi64_si128(static_cast<int64_t>(m8)), duplicate));
        __m256i acc[T];
        #pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_si256();
        #pragma GCC unroll 16
        for (int c = 0; c < 4; ++c) {
          const __m256i q = load32(x.qs + 32 * c);
          __m256i lo = _mm256_and_si256(q, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nibble);
          if constexpr (kQ5) {
            const __m256i qh = load32(x.qh);
            const __m256i one = _mm256_set1_epi8(1);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
          }
          const __m256i s_lo = _mm256_set1_epi16(static_cast<int16_t>((sc8 >> (16 * c)) & 0xFF));
          const __m256i s_hi = _mm256_set1_epi16(static_cast<int16_t>((sc8 >> (16 * c + 8)) & 0xFF));
          #pragma GCC unroll 16
          for (int t = 0; t < T; ++t) {
            const ActBlockK& a = reinterpret_cast<const ActBlockK*>(act + t * act_stride)[sb];
            const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load32(a.qs + 64 * c)), s_lo);
            const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load32(a.qs + 64 * c + 32)), s_hi);
            acc[t] = _mm256_add_epi32(acc[t], _mm256_add_epi32(p_lo, p_hi));
          }
        }
        const float d = half_to_float(x.d), dmin = half_to_float(x.dmin);
        #pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const ActBlockK& a = reinterpret_cast<const ActBlockK*>(act + t * act_stride)[sb];
          const __m256i m = _mm256_madd_epi16(load32(a.bsums), mins);
          sum[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), _mm256_set1_ps(d * a.d), sum[r][t]);
          sum[r][t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(dmin * a.d), sum[r][t]);
        }
      }
    }
    store_sums<R, T>(sum, y, y_stride);
  }
};

struct KernelQ6K {
  static constexpr int kTileRows = 2, kTileTokens = 2;

  template <int R, int T>
  static void tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int64_t cols,
                   float* y, int64_t y_stride) {
    __m256 sum[R][T];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) sum[r][t] = _mm256_setzero_ps();
    }
    const __m256i nibble = _mm256_set1_epi8(0x0F), two_bits = _mm256_set1_epi8(0x03);
    const StripPrefetcher<R> prefetcher(w, row_bytes);
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      if constexpr (T == 1) prefetcher.template advance<sizeof(BlockQ6_K)>(static_cast<size_t>(sb) * sizeof(BlockQ6_K));
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const BlockQ6_K& x = reinterpret_cast<const BlockQ6_K*>(w + r * row_bytes)[sb];
        __m256i acc[T];
        #pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_si256();
        #pragma GCC unroll 16
        for (int h = 0; h < 2; ++h) {
          const __m256i qh = load32(x.qh + 32 * h);
          const __m256i ql0 = load32(x.ql + 64 * h), ql1 = load32(x.ql + 64 * h + 32);
          // Values 128h + 32i .. +31, in natural order.
          const __m256i v[4] = {
              _mm256_or_si256(_mm256_and_si256(ql0, nibble), _mm256_slli_epi16(_mm256_and_si256(qh, two_bits), 4)),
              _mm256_or_si256(_mm256_and_si256(ql1, nibble), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits), 4)),
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), nibble), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two_bits), 4)),
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), nibble), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two_bits), 4))};
          #pragma GCC unroll 16
          for (int i = 0; i < 4; ++i) {
            const int g = 8 * h + 2 * i;  // the 16-value groups of the vector's two 128-bit lanes
            const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(x.scales[g + 1]), _mm_set1_epi16(x.scales[g]));
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
              const ActBlockK& a = reinterpret_cast<const ActBlockK*>(act + t * act_stride)[sb];
              const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(v[i], load32(a.qs + 128 * h + 32 * i)), scale);
              acc[t] = _mm256_add_epi32(acc[t], p);
            }
          }
        }
        // Codes are value + 32: subtract 32 * sum_g sc_g * bsum_g.
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
        const float d = half_to_float(x.d);
        #pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const ActBlockK& a = reinterpret_cast<const ActBlockK*>(act + t * act_stride)[sb];
          const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load32(a.bsums), sc16), 5);
          sum[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[t], offset)), _mm256_set1_ps(d * a.d), sum[r][t]);
        }
      }
    }
    store_sums<R, T>(sum, y, y_stride);
  }
};

size_t row_bytes_k(int64_t cols) { return act_block_k_row_bytes(cols); }

const TypeKernel kQ4_K{row_bytes_k, convert_k, gemm_tiled<KernelK4<false>>, 2};
const TypeKernel kQ5_K{row_bytes_k, convert_k, gemm_tiled<KernelK4<true>>, 2};
const TypeKernel kQ6_K{row_bytes_k, convert_k, gemm_tiled<KernelQ6K>, 2};

}  // namespace

const TypeKernel* k_quant_kernel(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_K: return &kQ4_K;
    case GgmlType::kQ5_K: return &kQ5_K;
    case GgmlType::kQ6_K: return &kQ6_K;
    default: return nullptr;
  }
}

}  // namespace chimera::engine::matmul_detail::avx2
