// The mixture-of-experts FFN of ForwardPass (forward.h): route each row (router logits, plus the
// router bias where the model has one), then run every expert some row chose over just those rows,
// reading only those experts' slabs of the 3-D tensors (engine-reference-models.md §4, §5).
#include <algorithm>
#include <cmath>

#include "engine/kernels/ops.h"
#include "engine/model/forward.h"
#include "engine/model/model_weights.h"

namespace chimera::engine {
namespace {

// Qwen3-MoE and gpt-oss routing (engine-reference-models.md §4, §5, pitfall 7): softmax over all
// experts, the k most probable, their probabilities renormalized to sum to 1, which is a softmax
// over the k chosen logits. Ties go to the lower expert id. Writes k (expert, weight) pairs.
template <typename Route>
void route_softmax_top_k(const float* logits, int n_expert, int k, Route* out) {
  for (int j = 0; j < k; ++j) out[j] = {-1, 0.0f};
  for (int e = 0; e < n_expert; ++e) {
    // Insertion into the sorted top k (k is 8 of 128: cheaper than sorting all).
    int j = k;
    while (j > 0 && (out[j - 1].expert < 0 || logits[e] > logits[out[j - 1].expert])) --j;
    if (j == k) continue;
    for (int m = k - 1; m > j; --m) out[m] = out[m - 1];
    out[j] = {static_cast<int32_t>(e), 0.0f};
  }
  const float max_logit = logits[out[0].expert];
  double sum = 0.0;
  for (int j = 0; j < k; ++j) {
    out[j].weight = std::exp(logits[out[j].expert] - max_logit);
    sum += out[j].weight;
  }
  for (int j = 0; j < k; ++j) out[j].weight = static_cast<float>(out[j].weight / sum);
}

// Adds one bias vector of `width` to each of n_rows rows.
void add_row_bias(float* rows, const float* bias, int64_t n_rows, int64_t width) {
  for (int64_t r = 0; r < n_rows; ++r) add(rows + r * width, bias, width);
}

}  // namespace

void ForwardPass::moe_ffn(int layer, int64_t n_rows, std::span<const WeightMatrix> next) {
  const LayerConfig& lc = config_.layers[static_cast<size_t>(layer)];
  const LayerWeights& lw = weights_.layers[static_cast<size_t>(layer)];
  const int64_t d = config_.n_embd;
  const int64_t ff = lc.moe.n_ff_expert;
  const int n_expert = lc.moe.n_expert, k = lc.moe.n_expert_used;
  matmul(lw.ffn_router, norm_.data(), n_rows, router_logits_.data(), pool_, matmul_scratch_);
  const int64_t n_routes = n_rows * k;
  for (int64_t t = 0; t < n_rows; ++t) {
    if (lc.moe.biases)
      add(&router_logits_[static_cast<size_t>(t * n_expert)], lw.router_bias.data(), n_expert);
    route_softmax_top_k(&router_logits_[static_cast<size_t>(t * n_expert)], n_expert, k,
                        &routes_[static_cast<size_t>(t * k)]);
  }
  // Routes grouped by expert with a counting sort (rows stay in order, nothing allocated), so each
  // chosen expert runs once over all of its rows and no other expert's weights are read.
  std::fill_n(expert_first_.begin(), n_expert + 1, 0);
  for (int64_t r = 0; r < n_routes; ++r)
    ++expert_first_[static_cast<size_t>(routes_[static_cast<size_t>(r)].expert) + 1];
  for (int e = 0; e < n_expert; ++e)
    expert_first_[static_cast<size_t>(e) + 1] += expert_first_[static_cast<size_t>(e)];
  for (int64_t r = 0; r < n_routes; ++r) {
    int32_t& slot = expert_first_[static_cast<size_t>(routes_[static_cast<size_t>(r)].expert)];
    expert_rows_[static_cast<size_t>(slot++)] = static_cast<int32_t>(r);
  }
  std::fill_n(proj_.begin(), static_cast<size_t>(n_rows * d), 0.0f);
  if (n_rows == 1 && 2 * k <= kMaxExpertsOneDispatch) {
    moe_ffn_one_row(layer, next);
    return;
  }
  for (int64_t first = 0; first < n_routes;) {
    const int32_t expert =
        routes_[static_cast<size_t>(expert_rows_[static_cast<size_t>(first)])].expert;
    int64_t end = first + 1;
    while (end < n_routes &&
           routes_[static_cast<size_t>(expert_rows_[static_cast<size_t>(end)])].expert == expert) {
      ++end;
    }
    const int64_t count = end - first;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t row = expert_rows_[static_cast<size_t>(first + i)] / k;
      std::copy_n(&norm_[static_cast<size_t>(row * d)], d, &expert_x_[static_cast<size_t>(i * d)]);
    }
    const WeightMatrix gate = lw.gate_exps.expert(expert), up = lw.up_exps.expert(expert);
    const WeightMatrix down = lw.down_exps.expert(expert);
    const WeightMatrix gate_up[] = {gate, up};
    float* const gate_up_out[] = {gate_.data(), up_.data()};
    matmul_multi(gate_up, expert_x_.data(), count, gate_up_out, pool_, matmul_scratch_, {&down, 1});
    if (lc.moe.biases) {
      add_row_bias(gate_.data(), &lw.gate_exps_bias[static_cast<size_t>(expert * ff)], count, ff);
      add_row_bias(up_.data(), &lw.up_exps_bias[static_cast<size_t>(expert * ff)], count, ff);
    }
    gated_activation(gate_.data(), up_.data(), count, ff);
    // Prefetch the next chosen expert's gate/up while this one's down projection finishes.
    WeightMatrix following[2];
    std::span<const WeightMatrix> after = next;
    if (end < n_routes) {
      const int32_t e = routes_[static_cast<size_t>(expert_rows_[static_cast<size_t>(end)])].expert;
      following[0] = lw.gate_exps.expert(e);
      following[1] = lw.up_exps.expert(e);
      after = following;
    }
    matmul(down, gate_.data(), count, expert_y_.data(), pool_, matmul_scratch_, after);
    if (lc.moe.biases) {
      add_row_bias(expert_y_.data(), &lw.down_exps_bias[static_cast<size_t>(expert * d)], count, d);
    }
    for (int64_t i = 0; i < count; ++i) {
      const int32_t route = expert_rows_[static_cast<size_t>(first + i)];
      const int64_t row = route / k;
      const float w = routes_[static_cast<size_t>(route)].weight;
      float* o = &proj_[static_cast<size_t>(row * d)];
      const float* y = &expert_y_[static_cast<size_t>(i * d)];
      for (int64_t c = 0; c < d; ++c) o[c] += w * y[c];
    }
    first = end;
  }
}

// One row (decode): its k experts are k different ones, so their gate and up projections go in one
// dispatch (2k matrices of one input) and their down projections in another (k matrices, each of its
// own expert's activations), instead of 3 dispatches per expert: 3 per layer rather than 3k, which
// in decode is most of the MoE layer's thread wake-ups and barrier waits.
void ForwardPass::moe_ffn_one_row(int layer, std::span<const WeightMatrix> next) {
  const LayerConfig& lc = config_.layers[static_cast<size_t>(layer)];
  const LayerWeights& lw = weights_.layers[static_cast<size_t>(layer)];
  const int64_t d = config_.n_embd;
  const int64_t ff = lc.moe.n_ff_expert;
  const int k = lc.moe.n_expert_used;
  WeightMatrix gate_up[kMaxExpertsOneDispatch], downs[kMaxExpertsOneDispatch];
  float* gate_up_out[kMaxExpertsOneDispatch];
  float* down_out[kMaxExpertsOneDispatch];
  const float* down_in[kMaxExpertsOneDispatch];
  for (int j = 0; j < k; ++j) {
    const int32_t e = routes_[static_cast<size_t>(j)].expert;
    gate_up[2 * j] = lw.gate_exps.expert(e);
    gate_up[2 * j + 1] = lw.up_exps.expert(e);
    gate_up_out[2 * j] = &gate_[static_cast<size_t>(j * ff)];
    gate_up_out[2 * j + 1] = &up_[static_cast<size_t>(j * ff)];
    downs[j] = lw.down_exps.expert(e);
    down_in[j] = &gate_[static_cast<size_t>(j * ff)];
    down_out[j] = &expert_y_[static_cast<size_t>(j * d)];
  }
  const size_t n = static_cast<size_t>(k);
  matmul_multi({gate_up, 2 * n}, norm_.data(), 1, {gate_up_out, 2 * n}, pool_, matmul_scratch_, {downs, n});
  if (lc.moe.biases) {
    for (int j = 0; j < k; ++j) {
      const size_t e = static_cast<size_t>(routes_[static_cast<size_t>(j)].expert);
      add(gate_up_out[2 * j], &lw.gate_exps_bias[e * static_cast<size_t>(ff)], ff);
      add(gate_up_out[2 * j + 1], &lw.up_exps_bias[e * static_cast<size_t>(ff)], ff);
    }
  }
  gated_activation(gate_.data(), up_.data(), k, ff);
  matmul_each({downs, n}, {down_in, n}, 1, {down_out, n}, pool_, matmul_scratch_, next);
  // Summed in expert order, as the batched path sums them, so a row's output does not depend on
  // whether it was decoded alone or in a batch.
  int order[kMaxExpertsOneDispatch];
  for (int j = 0; j < k; ++j) {
    int i = j;
    for (; i > 0 && routes_[static_cast<size_t>(order[i - 1])].expert > routes_[static_cast<size_t>(j)].expert; --i) {
      order[i] = order[i - 1];
    }
    order[i] = j;
  }
  float* o = proj_.data();
  for (int m = 0; m < k; ++m) {
    const int j = order[m];
    float* y = down_out[j];
    if (lc.moe.biases) {
      add(y, &lw.down_exps_bias[static_cast<size_t>(routes_[static_cast<size_t>(j)].expert) * static_cast<size_t>(d)], d);
    }
    const float w = routes_[static_cast<size_t>(j)].weight;
    for (int64_t c = 0; c < d; ++c) o[c] += w * y[c];
  }
}

}  // namespace chimera::engine
