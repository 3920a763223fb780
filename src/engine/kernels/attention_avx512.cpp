// AVX-512 attention over an F16 KV cache: the blocked online softmax of attention_portable with 16
// keys per block (one zmm of scores per query head), keys and values converted to f32 once per
// block and shared by the query heads of the GQA group. Compiled with AVX-512 flags; called only
// when CPUID allows.
#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "engine/kernels/attention.h"
#include "engine/kernels/exp_avx512.h"

// GCC 12 warns inside its own reduce intrinsics (_mm512_reduce_*_ps start from an undefined
// vector).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace chimera::engine::detail {
namespace {

using avx512_math::exp_ps;

constexpr int kBlock = 16;
constexpr int kMaxHeadDim = 512;

inline void convert_rows(const uint8_t* base, size_t row_bytes, int n, int hd, float* out) {
  for (int j = 0; j < n; ++j) {
    const auto* src = reinterpret_cast<const uint16_t*>(base + static_cast<size_t>(j) * row_bytes);
    float* dst = out + j * hd;
    for (int d = 0; d < hd; d += 16) {
      __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + d));
      _mm512_store_ps(dst + d, _mm512_cvtph_ps(h));
    }
  }
}

}  // namespace

void attention_f16_avx512(const KvHeadView& kv, const AttentionQuery& query) {
  const int hd = query.head_dim;
  const int nq = query.n_q;
  alignas(64) float rows[kBlock * kMaxHeadDim];
  alignas(64) float acc[kAttentionMaxQueries * kMaxHeadDim];
  alignas(64) float probs[kAttentionMaxQueries][kBlock];
  float running_max[kAttentionMaxQueries], running_sum[kAttentionMaxQueries];
  for (int i = 0; i < nq * hd; i += 16) _mm512_store_ps(acc + i, _mm512_setzero_ps());
  std::fill(running_max, running_max + nq, -std::numeric_limits<float>::infinity());
  std::fill(running_sum, running_sum + nq, 0.0f);

  for (int64_t pos = query.first_pos; pos <= query.last_pos;) {
    const int64_t cell = pos % kv.n_cells;
    const int n =
        static_cast<int>(std::min<int64_t>({kBlock, query.last_pos - pos + 1, kv.n_cells - cell}));
    const __mmask16 valid = static_cast<__mmask16>((1u << n) - 1);
    convert_rows(kv.k + static_cast<size_t>(cell) * kv.row_bytes, kv.row_bytes, n, hd, rows);
    for (int i = 0; i < nq; ++i) {
      const float* q = query.q + i * query.q_stride;
      alignas(64) float s[kBlock];
      for (int j = 0; j < n; ++j) {
        const float* k = rows + j * hd;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        int d = 0;
        for (; d + 32 <= hd; d += 32) {
          a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_load_ps(k + d), a0);
          a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d + 16), _mm512_load_ps(k + d + 16), a1);
        }
        if (d < hd) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_load_ps(k + d), a0);
        s[j] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
      }
      const __m512 minus_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
      __m512 scores = _mm512_mask_loadu_ps(minus_inf, valid, s);
      float block_max = std::max(running_max[i], _mm512_reduce_max_ps(scores));
      __m512 p = exp_ps(_mm512_sub_ps(scores, _mm512_set1_ps(block_max)));
      p = _mm512_maskz_mov_ps(valid, p);
      _mm512_store_ps(probs[i], p);
      float rescale = running_max[i] == -std::numeric_limits<float>::infinity()
                          ? 0.0f
                          : _mm512_cvtss_f32(exp_ps(_mm512_set1_ps(running_max[i] - block_max)));
      running_sum[i] = running_sum[i] * rescale + _mm512_reduce_add_ps(p);
      running_max[i] = block_max;
      if (rescale != 1.0f) {
        const __m512 r = _mm512_set1_ps(rescale);
        float* a = acc + i * hd;
        for (int d = 0; d < hd; d += 16)
          _mm512_store_ps(a + d, _mm512_mul_ps(_mm512_load_ps(a + d), r));
      }
    }
    convert_rows(kv.v + static_cast<size_t>(cell) * kv.row_bytes, kv.row_bytes, n, hd, rows);
    for (int i = 0; i < nq; ++i) {
      float* a = acc + i * hd;
      for (int d = 0; d < hd; d += 16) {
        __m512 sum = _mm512_load_ps(a + d);
        for (int j = 0; j < n; ++j) {
          sum =
              _mm512_fmadd_ps(_mm512_set1_ps(probs[i][j]), _mm512_load_ps(rows + j * hd + d), sum);
        }
        _mm512_store_ps(a + d, sum);
      }
    }
    pos += n;
  }
  for (int i = 0; i < nq; ++i) {
    const __m512 inv = _mm512_set1_ps(softmax_inverse_sum(running_sum[i], running_max[i], query.sink, i));
    float* o = query.out + i * query.out_stride;
    for (int d = 0; d < hd; d += 16)
      _mm512_storeu_ps(o + d, _mm512_mul_ps(_mm512_load_ps(acc + i * hd + d), inv));
  }
}

}  // namespace chimera::engine::detail
