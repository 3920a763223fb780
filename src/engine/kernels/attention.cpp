#include "engine/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/kernels/matmul.h"
#include "engine/quant/quant.h"

namespace chimera::engine {
namespace {

constexpr int kBlock = 16;  // keys per online-softmax step
constexpr int kMaxHeadDim = 512;

const uint8_t* row(const uint8_t* base, const KvHeadView& kv, int64_t pos) {
  return base + static_cast<size_t>(pos % kv.n_cells) * kv.row_bytes;
}

}  // namespace

void attention_reference(const KvHeadView& kv, const AttentionQuery& query) {
  const int hd = query.head_dim;
  const int64_t n_keys = query.last_pos - query.first_pos + 1;
  std::vector<float> k(static_cast<size_t>(hd)), v(static_cast<size_t>(hd));
  std::vector<double> scores(static_cast<size_t>(n_keys)), out(static_cast<size_t>(hd));
  for (int i = 0; i < query.n_q; ++i) {
    const float* q = query.q + i * query.q_stride;
    double max_score = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < n_keys; ++j) {
      dequantize_row(kv.type, row(kv.k, kv, query.first_pos + j), k.data(), hd);
      double s = 0.0;
      for (int d = 0; d < hd; ++d) s += static_cast<double>(q[d]) * k[static_cast<size_t>(d)];
      scores[static_cast<size_t>(j)] = s;
      max_score = std::max(max_score, s);
    }
    double sum = 0.0;
    for (auto& s : scores) {
      s = std::exp(s - max_score);
      sum += s;
    }
    if (query.sink != nullptr) sum += std::exp(static_cast<double>(query.sink[i]) - max_score);
    std::fill(out.begin(), out.end(), 0.0);
    for (int64_t j = 0; j < n_keys; ++j) {
      dequantize_row(kv.type, row(kv.v, kv, query.first_pos + j), v.data(), hd);
      double p = scores[static_cast<size_t>(j)] / sum;
      for (int d = 0; d < hd; ++d) out[static_cast<size_t>(d)] += p * v[static_cast<size_t>(d)];
    }
    float* o = query.out + i * query.out_stride;
    for (int d = 0; d < hd; ++d) o[d] = static_cast<float>(out[static_cast<size_t>(d)]);
  }
}

namespace detail {

// Blocked online softmax (flash-attention style): each block of keys is converted to f32 once and
// used by every query head of the group; running max/sum rescale the accumulators.
void attention_portable(const KvHeadView& kv, const AttentionQuery& query) {
  const int hd = query.head_dim;
  const int nq = query.n_q;
  float keys[kBlock * kMaxHeadDim];
  float acc[kAttentionMaxQueries * kMaxHeadDim];
  float scores[kAttentionMaxQueries][kBlock];
  float running_max[kAttentionMaxQueries], running_sum[kAttentionMaxQueries];
  std::fill(acc, acc + nq * hd, 0.0f);
  std::fill(running_max, running_max + nq, -std::numeric_limits<float>::infinity());
  std::fill(running_sum, running_sum + nq, 0.0f);

  for (int64_t pos = query.first_pos; pos <= query.last_pos;) {
    int64_t cell = pos % kv.n_cells;
    int n =
        static_cast<int>(std::min<int64_t>({kBlock, query.last_pos - pos + 1, kv.n_cells - cell}));
    for (int j = 0; j < n; ++j) {
      dequantize_row(kv.type, kv.k + static_cast<size_t>(cell + j) * kv.row_bytes, keys + j * hd,
                     hd);
    }
    for (int i = 0; i < nq; ++i) {
      const float* q = query.q + i * query.q_stride;
      float block_max = running_max[i];
      for (int j = 0; j < n; ++j) {
        const float* k = keys + j * hd;
        float s = 0.0f;
        for (int d = 0; d < hd; ++d) s += q[d] * k[d];
        scores[i][j] = s;
        block_max = std::max(block_max, s);
      }
      float rescale = std::exp(running_max[i] - block_max);  // 0 on the first block (-inf)
      float sum = running_sum[i] * rescale;
      for (int j = 0; j < n; ++j) {
        scores[i][j] = std::exp(scores[i][j] - block_max);
        sum += scores[i][j];
      }
      running_max[i] = block_max;
      running_sum[i] = sum;
      float* a = acc + i * hd;
      for (int d = 0; d < hd; ++d) a[d] *= rescale;
    }
    for (int j = 0; j < n; ++j) {  // reuse `keys` for the values of this block
      dequantize_row(kv.type, kv.v + static_cast<size_t>(cell + j) * kv.row_bytes, keys + j * hd,
                     hd);
    }
    for (int i = 0; i < nq; ++i) {
      float* a = acc + i * hd;
      for (int j = 0; j < n; ++j) {
        const float p = scores[i][j];
        const float* v = keys + j * hd;
        for (int d = 0; d < hd; ++d) a[d] += p * v[d];
      }
    }
    pos += n;
  }
  for (int i = 0; i < nq; ++i) {
    const float inv = softmax_inverse_sum(running_sum[i], running_max[i], query.sink, i);
    float* o = query.out + i * query.out_stride;
    for (int d = 0; d < hd; ++d) o[d] = acc[i * hd + d] * inv;
  }
}

}  // namespace detail

void attention(const KvHeadView& kv, const AttentionQuery& query) {
  const KernelPath path = active_kernel_path();
  const bool f16 = kv.type == GgmlType::kF16 && query.head_dim <= kMaxHeadDim;
  if (f16 && (path == KernelPath::kAvx512 || path == KernelPath::kAvx512Vnni) &&
      query.head_dim % 16 == 0) {
    detail::attention_f16_avx512(kv, query);
  } else if (f16 && path != KernelPath::kScalar && query.head_dim % 8 == 0) {
    detail::attention_f16_avx2(kv, query);
  } else {
    detail::attention_portable(kv, query);
  }
}

void attention_tile(const KvHeadView& kv, const AttentionTile& tile) {
  const KernelPath path = active_kernel_path();
  if (kv.type == GgmlType::kF16 &&
      (path == KernelPath::kAvx512 || path == KernelPath::kAvx512Vnni) && tile.head_dim % 16 == 0 &&
      tile.head_dim <= kMaxHeadDim) {
    detail::attention_tile_f16_avx512(kv, tile);
    return;
  }
  for (int t = 0; t < tile.n_tokens; ++t) {
    AttentionQuery query;
    query.q = tile.q + t * tile.q_token_stride;
    query.n_q = tile.n_q;
    query.q_stride = tile.head_dim;
    query.head_dim = tile.head_dim;
    query.first_pos = tile.first_pos[t];
    query.last_pos = tile.last_pos[t];
    query.out = tile.out + t * tile.out_token_stride;
    query.out_stride = tile.head_dim;
    query.sink = tile.sink;
    attention(kv, query);
  }
}

}  // namespace chimera::engine
