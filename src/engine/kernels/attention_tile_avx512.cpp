// AVX-512 prefill attention over an F16 KV cache: up to 16 query rows (consecutive tokens x the
// heads of one GQA group) against blocks of 16 keys. Each key block is converted and transposed
// once (d-major, 16 keys per zmm) so the 16 rows' scores accumulate with broadcast FMAs and no
// horizontal sums; values stay row-major for the p·V accumulation. Online softmax as
// attention_portable. Compiled with AVX-512 flags; called only when CPUID allows.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/kernels/attention.h"
#include "engine/kernels/exp_avx512.h"

// GCC 12 warns inside its own reduce intrinsics (_mm512_reduce_*_ps start from an undefined
// vector).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace chimera::engine::detail {
namespace {

constexpr int kRows = kAttentionMaxQueries;  // 16
constexpr int kBlock = 16;
constexpr int kMaxHeadDim = 512;

using avx512_math::exp_ps;

// n rows of f16 -> f32 row-major [16][hd]; rows j >= n are zero.
void convert_block(const uint8_t* base, size_t row_bytes, int n, int hd, float* out) {
  for (int j = 0; j < kBlock; ++j) {
    const auto* src = reinterpret_cast<const uint16_t*>(base + static_cast<size_t>(j) * row_bytes);
    for (int d = 0; d < hd; d += 16) {
      __m512 v =
          j < n ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + d)))
                : _mm512_setzero_ps();
      _mm512_store_ps(out + j * hd + d, v);
    }
  }
}

}  // namespace

void attention_tile_f16_avx512(const KvHeadView& kv, const AttentionTile& tile) {
  const int hd = tile.head_dim;
  const int rows = tile.n_tokens * tile.n_q;
  constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
  alignas(64) float qt[kMaxHeadDim * kRows];      // queries, d-major: qt[d * 16 + row]
  alignas(64) float block[kBlock * kMaxHeadDim];  // keys, then values, of the block: row-major f32
  alignas(64) float acc[kRows * kMaxHeadDim];
  alignas(64) float probs[kBlock][kRows];  // probs[j][row]
  alignas(64) float rescale[kRows];
  alignas(64) int32_t first[kRows], last[kRows];  // key range per row, relative to `lo`

  int64_t lo = tile.first_pos[0], hi = tile.last_pos[0];
  for (int t = 1; t < tile.n_tokens; ++t) {
    lo = std::min(lo, tile.first_pos[t]);
    hi = std::max(hi, tile.last_pos[t]);
  }
  std::memset(qt, 0, sizeof(float) * static_cast<size_t>(hd) * kRows);
  for (int r = 0; r < kRows; ++r) {  // padding rows: an empty range, never valid
    first[r] = 1;
    last[r] = 0;
  }
  for (int r = 0; r < rows; ++r) {
    const int t = r / tile.n_q, i = r % tile.n_q;
    const float* q = tile.q + t * tile.q_token_stride + i * hd;
    for (int d = 0; d < hd; ++d) qt[d * kRows + r] = q[d];
    first[r] = static_cast<int32_t>(tile.first_pos[t] - lo);
    last[r] = static_cast<int32_t>(tile.last_pos[t] - lo);
  }
  std::memset(acc, 0, sizeof(float) * static_cast<size_t>(hd) * kRows);
  const __m512i row_first = _mm512_load_si512(first), row_last = _mm512_load_si512(last);
  __m512 running_max = _mm512_set1_ps(kMinusInf), running_sum = _mm512_setzero_ps();

  for (int64_t pos = lo; pos <= hi;) {
    const int64_t cell = pos % kv.n_cells;
    const int n = static_cast<int>(std::min<int64_t>({kBlock, hi - pos + 1, kv.n_cells - cell}));
    const int32_t offset = static_cast<int32_t>(pos - lo);
    convert_block(kv.k + static_cast<size_t>(cell) * kv.row_bytes, kv.row_bytes, n, hd, block);

    // s[j] holds key j's score for every row (lane = row): broadcast key elements, no horizontal
    // sums.
    __m512 s[kBlock];
#pragma GCC unroll 16
    for (int j = 0; j < kBlock; ++j) s[j] = _mm512_setzero_ps();
    for (int d = 0; d < hd; ++d) {
      const __m512 q = _mm512_load_ps(qt + d * kRows);
#pragma GCC unroll 16
      for (int j = 0; j < kBlock; ++j)
        s[j] = _mm512_fmadd_ps(_mm512_set1_ps(block[j * hd + d]), q, s[j]);
    }
    // Mask per key: the rows whose range (causal end, sliding start) holds this key.
    __mmask16 valid[kBlock];
    __m512 block_max = running_max;
    for (int j = 0; j < kBlock; ++j) {
      const __m512i key = _mm512_set1_epi32(offset + j);
      valid[j] = j < n ? _mm512_cmp_epi32_mask(row_first, key, _MM_CMPINT_LE) &
                             _mm512_cmp_epi32_mask(key, row_last, _MM_CMPINT_LE)
                       : static_cast<__mmask16>(0);
      block_max = _mm512_mask_max_ps(block_max, valid[j], block_max, s[j]);
    }
    // Rows with no key yet keep max -inf: their rescale is 1 and their probabilities 0.
    const __mmask16 live = _mm512_cmp_ps_mask(block_max, _mm512_set1_ps(kMinusInf), _CMP_NEQ_OQ);
    const __m512 factor = _mm512_mask_mov_ps(_mm512_set1_ps(1.0f), live,
                                             exp_ps(_mm512_sub_ps(running_max, block_max)));
    __m512 sum = _mm512_mul_ps(running_sum, factor);
    for (int j = 0; j < kBlock; ++j) {
      const __m512 p = _mm512_maskz_mov_ps(valid[j], exp_ps(_mm512_sub_ps(s[j], block_max)));
      sum = _mm512_add_ps(sum, p);
      _mm512_store_ps(probs[j], p);
    }
    running_sum = sum;
    running_max = block_max;
    _mm512_store_ps(rescale, factor);
    for (int r = 0; r < rows; ++r) {
      if (rescale[r] == 1.0f) continue;
      const __m512 f = _mm512_set1_ps(rescale[r]);
      float* a = acc + r * hd;
      for (int d = 0; d < hd; d += 16)
        _mm512_store_ps(a + d, _mm512_mul_ps(_mm512_load_ps(a + d), f));
    }

    convert_block(kv.v + static_cast<size_t>(cell) * kv.row_bytes, kv.row_bytes, n, hd, block);
    for (int d = 0; d < hd; d += 16) {
      __m512 a[kRows];
#pragma GCC unroll 16
      for (int r = 0; r < kRows; ++r) a[r] = _mm512_load_ps(acc + r * hd + d);
      for (int j = 0; j < n; ++j) {
        const __m512 v = _mm512_load_ps(block + j * hd + d);
#pragma GCC unroll 16
        for (int r = 0; r < kRows; ++r)
          a[r] = _mm512_fmadd_ps(_mm512_set1_ps(probs[j][r]), v, a[r]);
      }
#pragma GCC unroll 16
      for (int r = 0; r < kRows; ++r) _mm512_store_ps(acc + r * hd + d, a[r]);
    }
    pos += n;
  }
  alignas(64) float sums[kRows], maxes[kRows];
  _mm512_store_ps(sums, running_sum);
  _mm512_store_ps(maxes, running_max);
  for (int r = 0; r < rows; ++r) {
    const int t = r / tile.n_q, i = r % tile.n_q;
    float* out = tile.out + t * tile.out_token_stride + i * hd;
    const __m512 inv = _mm512_set1_ps(softmax_inverse_sum(sums[r], maxes[r], tile.sink, i));
    for (int d = 0; d < hd; d += 16)
      _mm512_storeu_ps(out + d, _mm512_mul_ps(_mm512_load_ps(acc + r * hd + d), inv));
  }
}

}  // namespace chimera::engine::detail
