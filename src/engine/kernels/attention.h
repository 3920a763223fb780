// Attention of a few query heads that share one KV head (GQA) over a run of cached positions
// (engine-reference.md §3.1 step 2f, §3.3): scores = q·k (q already scaled), softmax in f32 with
// the max subtracted, out = Σ p·v. The causal and sliding-window masks are expressed by the
// position range. Attention sinks (gpt-oss, engine-reference-models.md §5 step 4) add e^(S_h - m)
// to head h's softmax denominator only, once per row after the online softmax: no value, no scale.
// attention_reference is the plain two-pass version in double; attention() dispatches to a blocked
// online-softmax kernel (AVX-512 or AVX2 for F16 KV, portable otherwise).
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/gguf/ggml_type.h"

namespace chimera::engine {

// One (layer, sequence, KV head) of the cache: position p is row p % n_cells of k and of v.
struct KvHeadView {
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  int64_t n_cells = 0;
  size_t row_bytes = 0;
  GgmlType type = GgmlType::kF16;  // F16 or Q8_0
};

struct AttentionQuery {
  const float* q = nullptr;  // n_q heads, head i at q + i * q_stride
  int n_q = 1;
  int64_t q_stride = 0;
  int head_dim = 0;
  int64_t first_pos = 0;  // keys at positions first_pos..last_pos (inclusive) are attended
  int64_t last_pos = 0;   // must satisfy last_pos - first_pos < n_cells
  float* out = nullptr;   // n_q heads of head_dim, head i at out + i * out_stride
  int64_t out_stride = 0;
  const float* sink = nullptr;  // null, or head i's sink logit at sink[i]
};

// 1 / (the softmax denominator) of a row whose keys gave running max m and sum Σ e^(s - m): with a
// sink logit S, e^(S - m) joins the sum (S far above every score: the row's weights go to 0).
// static: the ISA-specific kernel files each get their own copy.
static inline float softmax_inverse_sum(float sum, float max, const float* sink, int head) {
  if (sink != nullptr) sum += __builtin_expf(sink[head] - max);
  return 1.0f / sum;
}

inline constexpr int kAttentionMaxQueries = 16;  // per call; callers split larger groups

void attention(const KvHeadView& kv, const AttentionQuery& query);
void attention_reference(const KvHeadView& kv, const AttentionQuery& query);

// Prefill: several consecutive query tokens of one sequence that share a KV head, so each block of
// keys is loaded once for n_tokens x n_q query rows. Token t's heads are at q + t * q_token_stride
// (head i at + i * head_dim) and attend keys first_pos[t]..last_pos[t]; outputs likewise.
struct AttentionTile {
  const float* q = nullptr;
  int n_tokens = 1;
  int n_q = 1;
  int64_t q_token_stride = 0;
  int head_dim = 0;
  const int64_t* first_pos = nullptr;
  const int64_t* last_pos = nullptr;
  float* out = nullptr;
  int64_t out_token_stride = 0;
  const float* sink = nullptr;  // null, or head i's sink logit at sink[i] (the same every token)
};
// n_tokens * n_q <= kAttentionMaxQueries, and the union of the key ranges must fit in n_cells.
void attention_tile(const KvHeadView& kv, const AttentionTile& tile);

namespace detail {
void attention_portable(const KvHeadView& kv, const AttentionQuery& query);
void attention_f16_avx512(const KvHeadView& kv,
                          const AttentionQuery& query);                      // attention_avx512.cpp
void attention_f16_avx2(const KvHeadView& kv, const AttentionQuery& query);  // attention_avx2.cpp
void attention_tile_f16_avx512(const KvHeadView& kv,
                               const AttentionTile& tile);  // attention_tile_avx512.cpp
}  // namespace detail

}  // namespace chimera::engine
