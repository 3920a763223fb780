// AVX2 attention over an F16 KV cache: the blocked online softmax of attention_portable, 8 keys per
// block (one ymm of scores per query head), keys and values converted to f32 once per block (F16C)
// and shared by the query heads of the GQA group. Compiled with AVX2 flags; called only when CPUID
// allows.
#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "engine/kernels/attention.h"

namespace chimera::engine::detail {
namespace {

constexpr int kBlock = 8;
constexpr int kMaxHeadDim = 512;

// e^x for x <= 0, as exp_ps in attention_avx512.cpp, with 2^n built in the exponent bits.
inline __m256 exp_ps(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));  // keeps 2^n a normal float
  __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f));
  __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 f = _mm256_sub_ps(t, n);
  __m256 p = _mm256_set1_ps(1.5403530393381606e-4f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3333558146428443e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.6181291076284772e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5504108664821580e-2f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022650695910071e-1f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9314718055994531e-1f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline void convert_rows(const uint8_t* base, size_t row_bytes, int n, int hd, float* out) {
  for (int j = 0; j < n; ++j) {
    const auto* src = reinterpret_cast<const uint16_t*>(base + static_cast<size_t>(j) * row_bytes);
    float* dst = out + j * hd;
    for (int d = 0; d < hd; d += 8) {
      __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + d));
      _mm256_store_ps(dst + d, _mm256_cvtph_ps(h));
    }
  }
}

}  // namespace

void attention_f16_avx2(const KvHeadView& kv, const AttentionQuery& query) {
  const int hd = query.head_dim;
  const int nq = query.n_q;
  alignas(32) float rows[kBlock * kMaxHeadDim];
  alignas(32) float acc[kAttentionMaxQueries * kMaxHeadDim];
  alignas(32) float probs[kAttentionMaxQueries][kBlock];
  float running_max[kAttentionMaxQueries], running_sum[kAttentionMaxQueries];
  std::fill(acc, acc + nq * hd, 0.0f);
  std::fill(running_max, running_max + nq, -std::numeric_limits<float>::infinity());
  std::fill(running_sum, running_sum + nq, 0.0f);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);

  for (int64_t pos = query.first_pos; pos <= query.last_pos;) {
    const int64_t cell = pos % kv.n_cells;
    const int n =
        static_cast<int>(std::min<int64_t>({kBlock, query.last_pos - pos + 1, kv.n_cells - cell}));
    const __m256 valid = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane));
    convert_rows(kv.k + static_cast<size_t>(cell) * kv.row_bytes, kv.row_bytes, n, hd, rows);
    for (int i = 0; i < nq; ++i) {
      const float* q = query.q + i * query.q_stride;
      alignas(32) float s[kBlock];
      for (int j = 0; j < kBlock; ++j) s[j] = -std::numeric_limits<float>::infinity();
      float block_max = running_max[i];
      for (int j = 0; j < n; ++j) {
        const float* k = rows + j * hd;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int d = 0;
        for (; d + 16 <= hd; d += 16) {
          a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_load_ps(k + d), a0);
          a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), _mm256_load_ps(k + d + 8), a1);
        }
        if (d < hd) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_load_ps(k + d), a0);
        s[j] = hsum(_mm256_add_ps(a0, a1));
        block_max = std::max(block_max, s[j]);
      }
      __m256 p = exp_ps(_mm256_sub_ps(_mm256_load_ps(s), _mm256_set1_ps(block_max)));
      p = _mm256_and_ps(p, valid);
      _mm256_store_ps(probs[i], p);
      float rescale = running_max[i] == -std::numeric_limits<float>::infinity()
                          ? 0.0f
                          : _mm256_cvtss_f32(exp_ps(_mm256_set1_ps(running_max[i] - block_max)));
      running_sum[i] = running_sum[i] * rescale + hsum(p);
      running_max[i] = block_max;
      if (rescale != 1.0f) {
        const __m256 r = _mm256_set1_ps(rescale);
        float* a = acc + i * hd;
        for (int d = 0; d < hd; d += 8)
          _mm256_store_ps(a + d, _mm256_mul_ps(_mm256_load_ps(a + d), r));
      }
    }
    convert_rows(kv.v + static_cast<size_t>(cell) * kv.row_bytes, kv.row_bytes, n, hd, rows);
    for (int i = 0; i < nq; ++i) {
      float* a = acc + i * hd;
      for (int d = 0; d < hd; d += 8) {
        __m256 sum = _mm256_load_ps(a + d);
        for (int j = 0; j < n; ++j) {
          sum =
              _mm256_fmadd_ps(_mm256_set1_ps(probs[i][j]), _mm256_load_ps(rows + j * hd + d), sum);
        }
        _mm256_store_ps(a + d, sum);
      }
    }
    pos += n;
  }
  for (int i = 0; i < nq; ++i) {
    const __m256 inv = _mm256_set1_ps(softmax_inverse_sum(running_sum[i], running_max[i], query.sink, i));
    float* o = query.out + i * query.out_stride;
    for (int d = 0; d < hd; d += 8)
      _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_load_ps(acc + i * hd + d), inv));
  }
}

}  // namespace chimera::engine::detail
