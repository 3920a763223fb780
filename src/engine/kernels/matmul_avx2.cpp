// AVX2 matmul kernels for the 32-value block types (Q4_0, Q5_0, Q4_1, Q5_1, Q8_0, MXFP4) and the float
// types, and the path's kernel table. Two weight blocks per 256-bit register (one per 128-bit
// lane), over the same ActGroup32 activation layout as the AVX-512 path; u8 x s8 dots through
// vpmaddubsw + vpmaddwd.
#include "engine/kernels/matmul_avx2.h"

#include "engine/quant/quant.h"

namespace chimera::engine::matmul_detail::avx2 {
namespace {

// ---------------------------------------------------------------------------------------------------
// Activations (ActGroup32, see matmul_kernels.h): d = amax / 127 in f32, codes rounded to nearest even.

template <int kOffset, bool kUnsigned>
void convert_group32(const float* x, void* out, int64_t cols) {
  const int64_t nb = cols / 32;
  auto* groups = static_cast<ActGroup32*>(out);
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t g = 0; g < (nb + 3) / 4; ++g) {
    ActGroup32& G = groups[g];
    #pragma GCC unroll 16
    for (int b = 0; b < 4; ++b) {
      const int64_t block = 4 * g + b;
      if (block >= nb) {
        _mm_store_si128(reinterpret_cast<__m128i*>(G.lo + 16 * b), _mm_setzero_si128());
        _mm_store_si128(reinterpret_cast<__m128i*>(G.hi + 16 * b), _mm_setzero_si128());
        _mm_store_ps(G.d + 4 * b, _mm_setzero_ps());
        _mm_store_si128(reinterpret_cast<__m128i*>(G.bias + 4 * b), _mm_setzero_si128());
        continue;
      }
      const float* xb = x + 32 * block;
      __m256 v[4];
      __m256 a = _mm256_setzero_ps();
      #pragma GCC unroll 16
      for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_loadu_ps(xb + 8 * i);
        a = _mm256_max_ps(a, _mm256_and_ps(v[i], sign_mask));
      }
      __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
      m = _mm_max_ps(m, _mm_movehl_ps(m, m));
      m = _mm_max_ss(m, _mm_movehdup_ps(m));
      const float d = _mm_cvtss_f32(m) / 127.0f;
      const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
      __m256i q[4];
      #pragma GCC unroll 16
      for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));
      // packs interleave the 128-bit lanes; the dword permutation restores value order.
      __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      bytes = _mm256_permutevar8x32_epi32(bytes, order);
      if constexpr (kUnsigned) bytes = _mm256_xor_si256(bytes, _mm256_set1_epi8(static_cast<char>(0x80)));
      _mm_store_si128(reinterpret_cast<__m128i*>(G.lo + 16 * b), _mm256_castsi256_si128(bytes));
      _mm_store_si128(reinterpret_cast<__m128i*>(G.hi + 16 * b), _mm256_extracti128_si256(bytes, 1));
      _mm_store_ps(G.d + 4 * b, _mm_set1_ps(d));
      int sum = 0;
      if constexpr (kOffset != 0) {
        const __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        sum = _mm_cvtsi128_si32(s4);
      }
      _mm_store_si128(reinterpret_cast<__m128i*>(G.bias + 4 * b), _mm_setr_epi32(-kOffset * sum, 0, 0, 0));
    }
  }
}

// 0xFF in byte i where bit i of m is set.
inline __m256i bits_to_bytes(uint32_t m) {
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(m)), spread);
  return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

// ---------------------------------------------------------------------------------------------------
// Weights: a pair of blocks (2h, 2h+1) of a 4-block group; `second` false when block 2h+1 is missing.

enum class Weights32 { kQ4_0, kQ5_0, kQ8_0, kQ4_1, kQ5_1, kMXFP4 };

// MXFP4's doubled E2M1 values plus 12 (all unsigned, 0..24; activations carry the offset 12), per
// 128-bit lane for vpshufb.
inline __m256i mxfp4_unsigned_table() {
  return _mm256_broadcastsi128_si256(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
}

struct CodePair {
  __m256i lo, hi;
  __m256 d;
  __m256 m;  // Q4_1 / Q5_1: the blocks' offsets m (value = d * code + m); unused otherwise
};

// Where the parts of each type's block are (quant.h): bytes, codes, high bits (Q5_*), offset m
// (*_1).
struct Layout32 {
  int block_bytes, qs_offset, qh_offset, m_offset;  // -1: no such part
};
constexpr Layout32 layout_of(Weights32 type) {
  switch (type) {
    case Weights32::kQ4_0:
      return {18, 2, -1, -1};
    case Weights32::kQ5_0:
      return {22, 6, 2, -1};
    case Weights32::kQ4_1:
      return {20, 4, -1, 2};
    case Weights32::kQ5_1:
      return {24, 8, 4, 2};
    case Weights32::kMXFP4:  // {u8 e; u8 qs[16]}: no f16 scale (load() reads e itself)
      return {17, 1, -1, -1};
    case Weights32::kQ8_0:
      break;
  }
  return {34, 2, -1, -1};
}

// Both f16 fields at `offset` of the pair's blocks, block 2h in the low lane.
inline __m256 load_pair_f16(const uint8_t* b0, int offset, int stride, bool second) {
  uint16_t h0, h1 = 0;
  __builtin_memcpy(&h0, b0 + offset, 2);
  if (second) __builtin_memcpy(&h1, b0 + stride + offset, 2);
  return _mm256_set_m128(_mm_set1_ps(half_to_float(h1)), _mm_set1_ps(half_to_float(h0)));
}

template <Weights32 kType>
struct Kernel32 {
  static constexpr int kTileRows = 2, kTileTokens = 2;
  static constexpr Layout32 kLayout = layout_of(kType);
  static constexpr int kBlockBytes = kLayout.block_bytes;
  // *_1 types: unsigned codes with no fixed offset; m times the activations' code sum (minus the
  // bias of activations converted with offset 1) is added per block instead.
  static constexpr bool kHasMin = kLayout.m_offset >= 0;

  static CodePair load(const uint8_t* b0, bool second) {
    if constexpr (kType == Weights32::kMXFP4) {
      const float d1 = second ? mxfp4_half_scale(b0[kBlockBytes]) : 0.0f;
      const __m256 d = _mm256_set_m128(_mm_set1_ps(d1), _mm_set1_ps(mxfp4_half_scale(b0[0])));
      const __m256i qs = load_pair16(b0 + kLayout.qs_offset, kBlockBytes, second);
      const __m256i nibble = _mm256_set1_epi8(0x0F), table = mxfp4_unsigned_table();
      return {_mm256_shuffle_epi8(table, _mm256_and_si256(qs, nibble)),
              _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(qs, 4), nibble)), d,
              _mm256_setzero_ps()};
    }
    const __m256 d = load_pair_f16(b0, 0, kBlockBytes, second);
    __m256 m = _mm256_setzero_ps();
    if constexpr (kHasMin) m = load_pair_f16(b0, kLayout.m_offset, kBlockBytes, second);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    if constexpr (kType == Weights32::kQ8_0) {
      return {load_pair16(b0 + 2, kBlockBytes, second), load_pair16(b0 + 18, kBlockBytes, second),
              d, m};
    } else {
      const __m256i qs = load_pair16(b0 + kLayout.qs_offset, kBlockBytes, second);
      __m256i lo = _mm256_and_si256(qs, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), nibble);
      if constexpr (kLayout.qh_offset >= 0) {
        uint32_t qh0, qh1 = 0;
        __builtin_memcpy(&qh0, b0 + kLayout.qh_offset, 4);
        if (second) __builtin_memcpy(&qh1, b0 + kBlockBytes + kLayout.qh_offset, 4);
        const __m256i sixteen = _mm256_set1_epi8(16);
        lo = _mm256_or_si256(lo, _mm256_and_si256(bits_to_bytes((qh0 & 0xFFFF) | (qh1 << 16)), sixteen));
        hi = _mm256_or_si256(hi, _mm256_and_si256(bits_to_bytes((qh0 >> 16) | (qh1 & 0xFFFF0000u)), sixteen));
      }
      return {lo, hi, d, m};
    }
  }

  static __m256i pair_dot(const CodePair& w, const ActGroup32& a, int h) {
    const __m256i alo = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.lo + 32 * h));
    const __m256i ahi = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.hi + 32 * h));
    if constexpr (kType == Weights32::kQ8_0) {
      // |w| x (a with w's sign): every vpmaddubsw pair stays below 2 * 127 * 127.
      return _mm256_add_epi32(dot_u8s8(_mm256_sign_epi8(w.lo, w.lo), _mm256_sign_epi8(alo, w.lo)),
                              dot_u8s8(_mm256_sign_epi8(w.hi, w.hi), _mm256_sign_epi8(ahi, w.hi)));
    } else if constexpr (kHasMin) {
      return _mm256_add_epi32(dot_u8s8(w.lo, alo), dot_u8s8(w.hi, ahi));
    } else {
      const __m256i bias = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.bias + 8 * h));
      return _mm256_add_epi32(bias, _mm256_add_epi32(dot_u8s8(w.lo, alo), dot_u8s8(w.hi, ahi)));
    }
  }

  template <int R, int T>
  static void tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int64_t cols,
                   float* y, int64_t y_stride) {
    const int64_t nb = cols / 32;
    __m256 sum[R][T];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) sum[r][t] = _mm256_setzero_ps();
    }
    const StripPrefetcher<R> prefetcher(w, row_bytes);
    for (int64_t g = 0; g < (nb + 3) / 4; ++g) {
      if constexpr (T == 1) prefetcher.template advance<4 * kBlockBytes>(static_cast<size_t>(g * 4 * kBlockBytes));
      #pragma GCC unroll 16
      for (int h = 0; h < 2; ++h) {
        const int64_t first = 4 * g + 2 * h;
        if (first >= nb) break;
        const bool second = first + 1 < nb;
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const CodePair wp = load(w + r * row_bytes + first * kBlockBytes, second);
          #pragma GCC unroll 16
          for (int t = 0; t < T; ++t) {
            const ActGroup32& a = reinterpret_cast<const ActGroup32*>(act + t * act_stride)[g];
            const __m256 da = _mm256_load_ps(a.d + 8 * h);
            sum[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pair_dot(wp, a, h)),
                                        _mm256_mul_ps(wp.d, da), sum[r][t]);
            if constexpr (kHasMin) {
              // bias = -(code sum) in dword 0 of each lane: sum += m * d_a * code sum.
              const __m256i bias =
                  _mm256_load_si256(reinterpret_cast<const __m256i*>(a.bias + 8 * h));
              sum[r][t] =
                  _mm256_fnmadd_ps(_mm256_cvtepi32_ps(bias), _mm256_mul_ps(wp.m, da), sum[r][t]);
            }
          }
        }
      }
    }
    store_sums<R, T>(sum, y, y_stride);
  }
};

size_t row_bytes32(int64_t cols) { return act_group32_row_bytes(cols); }

template <Weights32 kType, int kOffset>
constexpr TypeKernel make_kernel32() {
  return TypeKernel{row_bytes32, convert_group32<kOffset, false>, gemm_tiled<Kernel32<kType>>, Kernel32<kType>::kTileRows};
}

const TypeKernel kQ4_0 = make_kernel32<Weights32::kQ4_0, 8>();
const TypeKernel kQ5_0 = make_kernel32<Weights32::kQ5_0, 16>();
const TypeKernel kQ8_0 = make_kernel32<Weights32::kQ8_0, 0>();
// Offset 1: the activations' bias is minus each block's code sum, for the m terms.
const TypeKernel kQ4_1 = make_kernel32<Weights32::kQ4_1, 1>();
const TypeKernel kQ5_1 = make_kernel32<Weights32::kQ5_1, 1>();
const TypeKernel kMXFP4 = make_kernel32<Weights32::kMXFP4, 12>();

// ---------------------------------------------------------------------------------------------------
// F32 / F16 / BF16 weights with f32 activations; columns past the last multiple of 8 in scalar code.

enum class FloatWeights { kF32, kF16, kBF16 };

template <FloatWeights kType>
struct FloatKernel {
  static constexpr int kTileRows = 4, kTileTokens = 2;

  static __m256 load(const uint8_t* row, int64_t col) {
    if constexpr (kType == FloatWeights::kF32) {
      return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + col);
    } else {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + col));
      if constexpr (kType == FloatWeights::kF16) return _mm256_cvtph_ps(h);
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }

  static float load_one(const uint8_t* row, int64_t col) {
    if constexpr (kType == FloatWeights::kF32) return reinterpret_cast<const float*>(row)[col];
    const uint16_t h = reinterpret_cast<const uint16_t*>(row)[col];
    if constexpr (kType == FloatWeights::kF16) return half_to_float(h);
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
  }

  template <int R, int T>
  static void tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int64_t cols,
                   float* y, int64_t y_stride) {
    __m256 sum[R][T];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) sum[r][t] = _mm256_setzero_ps();
    }
    constexpr size_t kWeightBytes = kType == FloatWeights::kF32 ? 4 : 2;
    const StripPrefetcher<R> prefetcher(w, row_bytes);
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      if constexpr (T == 1) prefetcher.template advance<8 * kWeightBytes>(static_cast<size_t>(c) * kWeightBytes);
      __m256 wv[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) wv[r] = load(w + r * row_bytes, c);
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const __m256 a = _mm256_loadu_ps(reinterpret_cast<const float*>(act + t * act_stride) + c);
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) sum[r][t] = _mm256_fmadd_ps(wv[r], a, sum[r][t]);
      }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        float s = hsum(sum[r][t]);
        const float* a = reinterpret_cast<const float*>(act + t * act_stride);
        for (int64_t k = c; k < cols; ++k) s += load_one(w + r * row_bytes, k) * a[k];
        y[t * y_stride + r] = s;
      }
    }
  }
};

const TypeKernel kF32{nullptr, nullptr, gemm_tiled<FloatKernel<FloatWeights::kF32>>, 4};
const TypeKernel kF16{nullptr, nullptr, gemm_tiled<FloatKernel<FloatWeights::kF16>>, 4};
const TypeKernel kBF16{nullptr, nullptr, gemm_tiled<FloatKernel<FloatWeights::kBF16>>, 4};

}  // namespace
}  // namespace chimera::engine::matmul_detail::avx2

namespace chimera::engine::matmul_detail {

const TypeKernel* avx2_kernel(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0: return &avx2::kQ4_0;
    case GgmlType::kQ5_0: return &avx2::kQ5_0;
    case GgmlType::kQ8_0: return &avx2::kQ8_0;
    case GgmlType::kQ4_1: return &avx2::kQ4_1;
    case GgmlType::kQ5_1: return &avx2::kQ5_1;
    case GgmlType::kMXFP4: return &avx2::kMXFP4;
    case GgmlType::kF32: return &avx2::kF32;
    case GgmlType::kF16: return &avx2::kF16;
    case GgmlType::kBF16: return &avx2::kBF16;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K: return avx2::k_quant_kernel(type);
    default: return nullptr;
  }
}

}  // namespace chimera::engine::matmul_detail
