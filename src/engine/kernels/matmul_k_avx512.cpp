// AVX-512 matmul kernels for the K-quants (Q4_K, Q5_K, Q6_K) against 8-bit activations in 256-value
// super-blocks (ActBlockK). Per super-block and row, the codes are unpacked with one 64-byte load per
// 128 values; per token, vpmaddubsw forms u8 x s8 pair sums and vpdpwssd (or vpmaddwd + add) multiplies
// them by the 16-bit sub-block scales and accumulates in int32, so f32 work is one FMA per super-block.
// The Q4_K/Q5_K mins and the Q6_K -32 offset go through the activations' 16-value group sums
// (engine-reference.md §2.3).
#include <cstring>
#include <type_traits>

#include "engine/kernels/matmul_avx512.h"
#include "engine/quant/quant.h"

namespace chimera::engine::matmul_detail::avx512 {
namespace {

// ---------------------------------------------------------------------------------------------------
// Activations. The code of natural value v goes where the weight code it multiplies comes out:
//  Q4_K/Q5_K: a 64-byte load of qs covers 128 values; low nibbles are values 0..31 and 64..95 of those
//             128, high nibbles 32..63 and 96..127. So each 128-value half is stored as
//             [0..31, 64..95, 32..63, 96..127].
//  Q6_K:      unpacking yields values in natural order.

template <bool kNibbleOrder>
void convert_k(const float* x, void* out, int64_t cols) {
  auto* blocks = static_cast<ActBlockK*>(out);
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  for (int64_t b = 0; b < cols / 256; ++b) {
    const float* xb = x + 256 * b;
    ActBlockK& A = blocks[b];
    __m512 amax_v = _mm512_setzero_ps();
    for (int c = 0; c < 16; ++c) amax_v = _mm512_max_ps(amax_v, _mm512_and_ps(_mm512_loadu_ps(xb + 16 * c), sign_mask));
    const float amax = _mm512_reduce_max_ps(amax_v);
    const float d = amax / 127.0f;
    const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    for (int c = 0; c < 16; ++c) {
      const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + 16 * c), id));
      int position = 16 * c;
      if constexpr (kNibbleOrder) {
        const int quarter = (c / 2) % 4;  // which 32-value quarter of its 128-value half
        if (quarter == 1) position += 32;       // 32..63 -> after 64..95
        else if (quarter == 2) position -= 32;  // 64..95 -> right after 0..31
      }
      _mm_store_si128(reinterpret_cast<__m128i*>(A.qs + position), _mm512_cvtsepi32_epi8(q));
      A.bsums[c] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    A.d = d;
  }
}

// ---------------------------------------------------------------------------------------------------
// Scale unpacking.

// 16-bit multipliers for the 4 pair-sum vectors of a Q4_K/Q5_K super-block: vector (k, half) covers
// sub-blocks (4k + half) in words 0..15 and (4k + 2 + half) in words 16..31.
struct K4Scales {
  __m512i v[4];
  __m256i mins;  // word g = min of the sub-block holding 16-value group g
};

inline __m512i lane_pick_words(__m512i bytes, int j0, int j1) {
  const __m512i index = _mm512_set_epi8(
      -128, static_cast<char>(j1), -128, static_cast<char>(j1), -128, static_cast<char>(j1), -128, static_cast<char>(j1),
      -128, static_cast<char>(j1), -128, static_cast<char>(j1), -128, static_cast<char>(j1), -128, static_cast<char>(j1),
      -128, static_cast<char>(j1), -128, static_cast<char>(j1), -128, static_cast<char>(j1), -128, static_cast<char>(j1),
      -128, static_cast<char>(j1), -128, static_cast<char>(j1), -128, static_cast<char>(j1), -128, static_cast<char>(j1),
      -128, static_cast<char>(j0), -128, static_cast<char>(j0), -128, static_cast<char>(j0), -128, static_cast<char>(j0),
      -128, static_cast<char>(j0), -128, static_cast<char>(j0), -128, static_cast<char>(j0), -128, static_cast<char>(j0),
      -128, static_cast<char>(j0), -128, static_cast<char>(j0), -128, static_cast<char>(j0), -128, static_cast<char>(j0),
      -128, static_cast<char>(j0), -128, static_cast<char>(j0), -128, static_cast<char>(j0), -128, static_cast<char>(j0));
  return _mm512_shuffle_epi8(bytes, index);
}

inline K4Scales expand_k4_scales(const uint8_t* packed) {
  uint64_t sc, m;
  unpack_k4_scales(packed, &sc, &m);
  const __m512i sb = _mm512_broadcast_i32x4(_mm_cvtsi64_si128(static_cast<int64_t>(sc)));
  K4Scales s;
  s.v[0] = lane_pick_words(sb, 0, 2);
  s.v[1] = lane_pick_words(sb, 1, 3);
  s.v[2] = lane_pick_words(sb, 4, 6);
  s.v[3] = lane_pick_words(sb, 5, 7);
  const __m256i mb = _mm256_broadcastsi128_si256(_mm_cvtsi64_si128(static_cast<int64_t>(m)));
  const __m256i pairs = _mm256_setr_epi8(0, -128, 0, -128, 1, -128, 1, -128, 2, -128, 2, -128, 3, -128, 3, -128,  //
                                         4, -128, 4, -128, 5, -128, 5, -128, 6, -128, 6, -128, 7, -128, 7, -128);
  s.mins = _mm256_shuffle_epi8(mb, pairs);
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Q4_K and Q5_K.

template <bool kVnni, bool kQ5>
struct KernelK4 {
  static constexpr int kTileRows = 4, kTileTokens = 4;
  using Block = std::conditional_t<kQ5, BlockQ5_K, BlockQ4_K>;

  template <int R, int T>
  static void tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int64_t cols,
                   float* y, int64_t y_stride) {
    __m512 sum[R][T];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) sum[r][t] = _mm512_setzero_ps();
    }
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    const StripPrefetcher<R> prefetcher(w, row_bytes);
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      if constexpr (T == 1) prefetcher.template advance<sizeof(Block)>(static_cast<size_t>(sb) * sizeof(Block));
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const Block& x = reinterpret_cast<const Block*>(w + r * row_bytes)[sb];
        const __m512i q0 = _mm512_loadu_si512(x.qs), q1 = _mm512_loadu_si512(x.qs + 64);
        __m512i codes[4] = {_mm512_and_si512(q0, nibble), _mm512_and_si512(_mm512_srli_epi16(q0, 4), nibble),
                            _mm512_and_si512(q1, nibble), _mm512_and_si512(_mm512_srli_epi16(q1, 4), nibble)};
        if constexpr (kQ5) {
          // Fifth bit of value l of sub-block j is bit j of qh[l]; vector i covers sub-blocks
          // (i/2)*4 + i%2 (bytes 0..31) and that + 2 (bytes 32..63).
          const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh)));
          const __m512i sixteen = _mm512_set1_epi8(16);
          #pragma GCC unroll 16
          for (int i = 0; i < 4; ++i) {
            const int j = (i / 2) * 4 + i % 2;
            const __m512i select = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << j)),
                                                      _mm256_set1_epi8(static_cast<char>(1 << (j + 2))), 1);
            codes[i] = _mm512_mask_add_epi8(codes[i], _mm512_test_epi8_mask(qh, select), codes[i], sixteen);
          }
        }
        const K4Scales scales = expand_k4_scales(x.scales);
        const __m512 d = _mm512_set1_ps(half_to_float(x.d));
        const __m512 dmin = _mm512_set1_ps(half_to_float(x.dmin));
        #pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const ActBlockK& a = reinterpret_cast<const ActBlockK*>(act + t * act_stride)[sb];
          __m512i acc = _mm512_setzero_si512();
          #pragma GCC unroll 16
          for (int i = 0; i < 4; ++i) {
            const __m512i pairs = _mm512_maddubs_epi16(codes[i], _mm512_load_si512(a.qs + 64 * i));
            acc = dot_s16<kVnni>(acc, pairs, scales.v[i]);
          }
          const __m256i mins = _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(a.bsums)), scales.mins);
          const __m512 da = _mm512_set1_ps(a.d);
          sum[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(d, da), sum[r][t]);
          sum[r][t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(_mm512_zextsi256_si512(mins)), _mm512_mul_ps(dmin, da), sum[r][t]);
        }
      }
    }
    store_sums<R, T>(sum, y, y_stride);
  }
};

// ---------------------------------------------------------------------------------------------------
// Q6_K: 6-bit codes 0..63 (value - 32), 16 int8 scales of 16 values each.

template <bool kVnni>
struct KernelQ6K {
  static constexpr int kTileRows = 4, kTileTokens = 4;
  template <int R, int T>
  static void tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int64_t cols,
                   float* y, int64_t y_stride) {
    __m512 sum[R][T];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) sum[r][t] = _mm512_setzero_ps();
    }
    const __m512i nibble = _mm512_set1_epi8(0x0F), top_bits = _mm512_set1_epi8(0x30);
    // Per 16-bit word: bits 4..5 of each byte receive the 2 high bits of the matching value. Lower 256
    // bits serve values l (qh bits 0-1, shift left 4) / l + 64 (bits 4-5, no shift); upper 256 bits
    // values l + 32 (bits 2-3, left 2) / l + 96 (bits 6-7, right 2).
    const __m512i shift_a = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shift_b = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    // pshufb indices picking sign-extended scale word i (lane i) or 4 + i.
    const __m512i pick_a = _mm512_set_epi8(7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4,
                                           3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
    const __m512i pick_b = _mm512_add_epi8(pick_a, _mm512_set1_epi8(8));
    const StripPrefetcher<R> prefetcher(w, row_bytes);
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      if constexpr (T == 1) prefetcher.template advance<sizeof(BlockQ6_K)>(static_cast<size_t>(sb) * sizeof(BlockQ6_K));
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const BlockQ6_K& x = reinterpret_cast<const BlockQ6_K*>(w + r * row_bytes)[sb];
        __m512i codes[4], scale[4];
        const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        #pragma GCC unroll 16
        for (int h = 0; h < 2; ++h) {
          const __m512i ql = _mm512_loadu_si512(x.ql + 64 * h);
          const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh + 32 * h)));
          const __m512i high_a = _mm512_and_si512(_mm512_sllv_epi16(qh, shift_a), top_bits);
          const __m512i high_b = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_b), top_bits);
          codes[2 * h] = _mm512_ternarylogic_epi32(ql, nibble, high_a, 0xEA);  // (ql & 15) | high
          codes[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), nibble, high_b, 0xEA);
          const __m512i words = _mm512_broadcast_i32x4(h == 0 ? _mm256_castsi256_si128(sc16) : _mm256_extracti128_si256(sc16, 1));
          scale[2 * h] = _mm512_shuffle_epi8(words, pick_a);
          scale[2 * h + 1] = _mm512_shuffle_epi8(words, pick_b);
        }
        // sum sc_g * (q - 32) * a = sum sc_g q a - 32 sum_g sc_g bsum_g: fold -32 into the scales.
        const __m512i offset_scales = _mm512_zextsi256_si512(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16, 5)));
        const __m512 d = _mm512_set1_ps(half_to_float(x.d));
        #pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const ActBlockK& a = reinterpret_cast<const ActBlockK*>(act + t * act_stride)[sb];
          __m512i acc = dot_s16<kVnni>(_mm512_setzero_si512(),
                                       _mm512_zextsi256_si512(_mm256_load_si256(reinterpret_cast<const __m256i*>(a.bsums))),
                                       offset_scales);
          #pragma GCC unroll 16
          for (int i = 0; i < 4; ++i) {
            const __m512i pairs = _mm512_maddubs_epi16(codes[i], _mm512_load_si512(a.qs + 64 * i));
            acc = dot_s16<kVnni>(acc, pairs, scale[i]);
          }
          sum[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(d, _mm512_set1_ps(a.d)), sum[r][t]);
        }
      }
    }
    store_sums<R, T>(sum, y, y_stride);
  }
};

template <typename Kernel, bool kNibbleOrder>
constexpr TypeKernel make_k_kernel() {
  return with_f32_panels({act_block_k_row_bytes, convert_k<kNibbleOrder>, gemm_tiled<Kernel>, 4});
}

const TypeKernel kQ4_K[2] = {make_k_kernel<KernelK4<false, false>, true>(), make_k_kernel<KernelK4<true, false>, true>()};
const TypeKernel kQ5_K[2] = {make_k_kernel<KernelK4<false, true>, true>(), make_k_kernel<KernelK4<true, true>, true>()};
const TypeKernel kQ6_K[2] = {make_k_kernel<KernelQ6K<false>, false>(), make_k_kernel<KernelQ6K<true>, false>()};

}  // namespace

const TypeKernel* k_quant_kernel(GgmlType type, bool vnni) {
  const int v = vnni ? 1 : 0;
  switch (type) {
    case GgmlType::kQ4_K: return &kQ4_K[v];
    case GgmlType::kQ5_K: return &kQ5_K[v];
    case GgmlType::kQ6_K: return &kQ6_K[v];
    default: return nullptr;
  }
}

}  // namespace chimera::engine::matmul_detail::avx512
