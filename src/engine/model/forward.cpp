#include "engine/model/forward.h"

#include <algorithm>
#include <cmath>

#include "engine/kernels/attention.h"
#include "engine/kernels/ops.h"
#include "engine/kernels/weight_interleave.h"
#include "engine/model/model_weights.h"
#include "engine/quant/quant.h"

namespace chimera::engine {
namespace {

// Below this many floats of element-wise work a pool dispatch costs more than it saves.
constexpr int64_t kMinParallelWork = 16 * 1024;

}  // namespace

ForwardPass::ForwardPass(std::shared_ptr<const Model> model, KvCache& cache, ThreadPool& pool,
                         int32_t n_batch_max)
    : model_(std::move(model)),
      config_(model_->config()),
      weights_(model_->weights()),
      cache_(cache),
      pool_(pool),
      n_batch_max_(n_batch_max) {
  const size_t n = static_cast<size_t>(n_batch_max);
  const size_t d = static_cast<size_t>(config_.n_embd);
  const size_t q_width =
      static_cast<size_t>(config_.max_n_head()) * static_cast<size_t>(config_.head_dim);
  const size_t kv_width =
      static_cast<size_t>(config_.max_n_head_kv()) * static_cast<size_t>(config_.head_dim);
  x_.resize(n * d);
  norm_.resize(n * d);
  proj_.resize(n * d);
  q_.resize(n * q_width);
  attn_.resize(n * q_width);
  k_.resize(n * kv_width);
  v_.resize(n * kv_width);
  gate_.resize(n * static_cast<size_t>(config_.max_n_ff()));
  up_.resize(gate_.size());
  if (config_.max_n_expert() > 0) {
    const size_t used = static_cast<size_t>(config_.max_n_expert_used());
    router_logits_.resize(n * static_cast<size_t>(config_.max_n_expert()));
    expert_first_.resize(static_cast<size_t>(config_.max_n_expert()) + 1);
    routes_.resize(n * used);
    expert_rows_.resize(n * used);
    expert_x_.resize(n * d);
    // One-row decode runs all its routed experts in one dispatch (forward_moe.cpp): room for k rows.
    expert_y_.resize(std::max(n, used) * d);
    gate_.resize(std::max(n, used) * static_cast<size_t>(config_.max_n_ff()));
    up_.resize(gate_.size());
  }
  output_rows_.reserve(n);
  tiles_.reserve(n);

  const int half = config_.n_rot / 2;
  for (const RopeConfig& rc : config_.distinct_ropes()) {
    RopeTable table;
    table.config = rc;
    table.inv_freq.resize(static_cast<size_t>(half));
    for (int i = 0; i < half; ++i) {
      // theta_i = p * freq_scale * base^(-2i/n_rot) / rope_freqs[i]  (engine-reference.md §3.3);
      // YaRN mixes the scaled and unscaled angle by pair (model_config.h RopeConfig).
      double scale = rc.freq_scale;
      if (rc.yarn) {
        const double y = (i - rc.yarn_low) / std::max(0.001, double{rc.yarn_high} - rc.yarn_low);
        const double ramp = 1.0 - std::clamp(y, 0.0, 1.0);
        scale = rc.freq_scale * (1.0 - ramp) + ramp;
      }
      double f = scale * std::pow(static_cast<double>(rc.freq_base), -2.0 * i / config_.n_rot);
      if (rc.use_freq_factors) f /= weights_.rope_freqs[static_cast<size_t>(i)];
      table.inv_freq[static_cast<size_t>(i)] = f;
    }
    table.cos.resize(n * static_cast<size_t>(half));
    table.sin.resize(n * static_cast<size_t>(half));
    ropes_.push_back(std::move(table));
  }
  for (const LayerConfig& lc : config_.layers) {
    for (size_t r = 0; r < ropes_.size(); ++r) {
      if (ropes_[r].config == lc.rope) layer_rope_.push_back(static_cast<int>(r));
    }
  }
}

template <typename F>
void ForwardPass::for_rows(int64_t n_rows, int64_t work_per_row, F&& body) {
  if (pool_.size() == 1 || n_rows < 2 || n_rows * work_per_row < kMinParallelWork) {
    body(int64_t{0}, n_rows);
    return;
  }
  pool_.parallel_for(n_rows, [&](int64_t begin, int64_t end, int) { body(begin, end); });
}

KernelPath one_token_kernel_path(const ModelWeights& weights) {
  const KernelPath path = active_kernel_path();
  if (path < KernelPath::kAvx512 || kernel_path_forced()) return path;
  auto is_float = [](const WeightMatrix& m) {
    return m.type == GgmlType::kF32 || m.type == GgmlType::kF16 || m.type == GgmlType::kBF16;
  };
  if (!is_float(weights.output)) return path;
  for (const LayerWeights& layer : weights.layers) {
    for (const WeightMatrix* m : layer.matrices()) {
      if (m->data != nullptr && !is_float(*m)) return path;
    }
  }
  return KernelPath::kAvx2;
}

void ForwardPass::run(std::span<const BatchToken> batch, float* logits) {
  const int64_t n = static_cast<int64_t>(batch.size());
  const KernelPathLimit limit(n == 1 ? one_token_kernel_path(weights_) : active_kernel_path());
  output_rows_.clear();
  for (int64_t t = 0; t < n; ++t) {
    if (batch[static_cast<size_t>(t)].want_logits) output_rows_.push_back(static_cast<int32_t>(t));
  }
  embed(batch);
  fill_rope_tables(batch);
  for (int layer = 0; layer < config_.n_layer; ++layer) {
    attention_block(layer, batch);
    bool last = layer == config_.n_layer - 1;
    int64_t rows = last ? static_cast<int64_t>(output_rows_.size()) : n;
    if (rows > 0) ffn_block(layer, rows);
  }
  const int64_t n_out = static_cast<int64_t>(output_rows_.size());
  if (n_out == 0) return;
  // After the last layer only the output rows remain, compacted to the front of x_.
  const int64_t d = config_.n_embd;
  for_rows(n_out, d, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      rms_norm(&x_[static_cast<size_t>(t * d)], weights_.output_norm.data(),
               &norm_[static_cast<size_t>(t * d)], d, config_.rms_eps);
    }
  });
  // The next token starts with layer 0's q/k/v.
  const LayerWeights& first = weights_.layers.front();
  const WeightMatrix next_qkv[] = {first.wq, first.wk, first.wv};
  matmul(weights_.output, norm_.data(), n_out, logits, pool_, matmul_scratch_, next_qkv);
  if (config_.final_logit_softcap > 0.0f) {
    const float cap = config_.final_logit_softcap;
    const int64_t total = n_out * config_.n_vocab;
    for (int64_t i = 0; i < total; ++i) logits[i] = cap * std::tanh(logits[i] / cap);
  }
}

void ForwardPass::embed(std::span<const BatchToken> batch) {
  const int64_t d = config_.n_embd;
  const WeightMatrix& e = weights_.token_embd;
  for_rows(static_cast<int64_t>(batch.size()), d, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* x = &x_[static_cast<size_t>(t * d)];
      dequantize_weight_row(e, batch[static_cast<size_t>(t)].token, x);
      // Gemma: sqrt(n_embd) in f32, as llama.cpp (engine-reference.md §3.1 step 1).
      if (config_.embedding_scale != 1.0f) scale(x, config_.embedding_scale, d);
    }
  });
}

void ForwardPass::fill_rope_tables(std::span<const BatchToken> batch) {
  const int half = config_.n_rot / 2;
  for (RopeTable& table : ropes_) {
    for_rows(static_cast<int64_t>(batch.size()), 8 * half, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const double pos = batch[static_cast<size_t>(t)].pos;
        const double mscale = table.config.mscale;  // YaRN's magnitude; 1 otherwise
        float* c = &table.cos[static_cast<size_t>(t * half)];
        float* s = &table.sin[static_cast<size_t>(t * half)];
        for (int i = 0; i < half; ++i) {
          double theta = pos * table.inv_freq[static_cast<size_t>(i)];
          c[i] = static_cast<float>(std::cos(theta) * mscale);
          s[i] = static_cast<float>(std::sin(theta) * mscale);
        }
      }
    });
  }
}

void ForwardPass::apply_rope(float* head, const RopeTable& table, int64_t row) const {
  const int half = config_.n_rot / 2;
  const float* c = &table.cos[static_cast<size_t>(row * half)];
  const float* s = &table.sin[static_cast<size_t>(row * half)];
  if (config_.rope_style == RopeStyle::kNeox) {  // pairs (i, i + n_rot/2)
    float* lo = head;
    float* hi = head + half;
    for (int i = 0; i < half; ++i) {
      float x0 = lo[i], x1 = hi[i];
      lo[i] = x0 * c[i] - x1 * s[i];
      hi[i] = x0 * s[i] + x1 * c[i];
    }
  } else {  // adjacent pairs (2i, 2i+1)
    for (int i = 0; i < half; ++i) {
      float x0 = head[2 * i], x1 = head[2 * i + 1];
      head[2 * i] = x0 * c[i] - x1 * s[i];
      head[2 * i + 1] = x0 * s[i] + x1 * c[i];
    }
  }
}

void ForwardPass::attention_block(int layer, std::span<const BatchToken> batch) {
  const LayerConfig& lc = config_.layers[static_cast<size_t>(layer)];
  const LayerWeights& lw = weights_.layers[static_cast<size_t>(layer)];
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t d = config_.n_embd;
  for_rows(n, d, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      rms_norm(&x_[static_cast<size_t>(t * d)], lw.attn_norm.data(),
               &norm_[static_cast<size_t>(t * d)], d, config_.rms_eps);
    }
  });
  // One dispatch for the three (activations converted once per layout). Each call names the next
  // one's matrices, for the workers to prefetch in decode (matmul.h).
  const WeightMatrix qkv[] = {lw.wq, lw.wk, lw.wv};
  float* const qkv_out[] = {q_.data(), k_.data(), v_.data()};
  matmul_multi(qkv, norm_.data(), n, qkv_out, pool_, matmul_scratch_, {&lw.wo, 1});
  prepare_qkv(layer, batch);

  // In the last layer only the rows whose logits are wanted go on (engine-reference.md §3.3): their
  // attention, and below the output projection and FFN. Their K/V were cached above like all
  // others.
  const bool last = layer == config_.n_layer - 1;
  const int64_t rows = last ? static_cast<int64_t>(output_rows_.size()) : n;
  if (rows == 0) return;
  run_attention(layer, batch);
  if (last && rows < n) gather_output_rows();

  const WeightMatrix gate_up[] = {lw.ffn_gate, lw.ffn_up};
  matmul(lw.wo, attn_.data(), rows, proj_.data(), pool_, matmul_scratch_,
         lc.is_moe() ? std::span<const WeightMatrix>{&lw.ffn_router, 1}
                     : std::span<const WeightMatrix>{gate_up});
  for_rows(rows, 2 * d, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* o = &proj_[static_cast<size_t>(t * d)];
      if (lc.output_bias) add(o, lw.bo.data(), d);
      if (lc.post_attention_norm) rms_norm(o, lw.post_attention_norm.data(), o, d, config_.rms_eps);
      add(&x_[static_cast<size_t>(t * d)], o, d);
    }
  });
}

void ForwardPass::prepare_qkv(int layer, std::span<const BatchToken> batch) {
  const LayerConfig& lc = config_.layers[static_cast<size_t>(layer)];
  const LayerWeights& lw = weights_.layers[static_cast<size_t>(layer)];
  const RopeTable& rope = ropes_[static_cast<size_t>(layer_rope_[static_cast<size_t>(layer)])];
  const int hd = config_.head_dim;
  const int64_t q_width = int64_t{lc.n_head} * hd;
  const int64_t kv_width = int64_t{lc.n_head_kv} * hd;
  const size_t row_bytes = cache_.row_bytes();
  const bool f16 = cache_.type() == GgmlType::kF16;
  for_rows(
      static_cast<int64_t>(batch.size()), 4 * (q_width + 2 * kv_width),
      [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          const BatchToken& token = batch[static_cast<size_t>(t)];
          float* q = &q_[static_cast<size_t>(t * q_width)];
          float* k = &k_[static_cast<size_t>(t * kv_width)];
          float* v = &v_[static_cast<size_t>(t * kv_width)];
          if (lc.qkv_bias) {  // right after the projections, before QK-norm and RoPE (qwen2)
            add(q, lw.bq.data(), q_width);
            add(k, lw.bk.data(), kv_width);
            add(v, lw.bv.data(), kv_width);
          }
          for (int h = 0; h < lc.n_head; ++h) {
            float* head = q + h * hd;
            if (lc.qk_norm) rms_norm(head, lw.attn_q_norm.data(), head, hd, config_.rms_eps);
            apply_rope(head, rope, t);
          }
          scale(q, config_.attention_scale, q_width);
          const int64_t cell = cache_.cell_of(layer, token.pos);
          for (int h = 0; h < lc.n_head_kv; ++h) {
            float* head = k + h * hd;
            if (lc.qk_norm) rms_norm(head, lw.attn_k_norm.data(), head, hd, config_.rms_eps);
            apply_rope(head, rope, t);
            uint8_t* k_dst = cache_.k(layer, token.seq, h) + static_cast<size_t>(cell) * row_bytes;
            uint8_t* v_dst = cache_.v(layer, token.seq, h) + static_cast<size_t>(cell) * row_bytes;
            if (f16) {
              f32_to_f16_row(head, reinterpret_cast<uint16_t*>(k_dst), hd);
              f32_to_f16_row(v + h * hd, reinterpret_cast<uint16_t*>(v_dst), hd);
            } else {
              quantize_row_q8_0(head, reinterpret_cast<BlockQ8_0*>(k_dst), hd);
              quantize_row_q8_0(v + h * hd, reinterpret_cast<BlockQ8_0*>(v_dst), hd);
            }
          }
        }
      });
}

void ForwardPass::run_attention(int layer, std::span<const BatchToken> batch) {
  const LayerConfig& lc = config_.layers[static_cast<size_t>(layer)];
  const int hd = config_.head_dim;
  const int64_t q_width = int64_t{lc.n_head} * hd;
  const bool last = layer == config_.n_layer - 1;
  const bool compact = last && output_rows_.size() < batch.size();
  const int64_t n_rows =
      compact ? static_cast<int64_t>(output_rows_.size()) : static_cast<int64_t>(batch.size());
  const int group = lc.n_head / lc.n_head_kv;
  const int64_t cells = cache_.cells(layer);
  const std::vector<float>& sinks = weights_.layers[static_cast<size_t>(layer)].attn_sinks;
  auto sink_of = [&](int first_head) { return sinks.empty() ? nullptr : &sinks[first_head]; };
  auto token_of = [&](int64_t i) {
    return compact ? static_cast<int64_t>(output_rows_[static_cast<size_t>(i)]) : i;
  };
  auto first_pos = [&](const BatchToken& token) -> int64_t {
    // Sliding layers: a key at p0 is masked for the query at p1 when p1 - p0 >= window (§3.1 2f).
    return lc.is_sliding() ? std::max<int64_t>(0, token.pos - lc.sliding_window + 1) : 0;
  };
  auto kv_view = [&](const BatchToken& token, int kv_head) {
    return KvHeadView{cache_.k(layer, token.seq, kv_head), cache_.v(layer, token.seq, kv_head),
                      cells, cache_.row_bytes(), cache_.type()};
  };

  // Prefill: runs of consecutive positions of one sequence become tiles of up to 16 query rows
  // (tokens x GQA group) that share every key block they load.
  tiles_.clear();
  const int tokens_per_tile = group <= kAttentionMaxQueries ? kAttentionMaxQueries / group : 1;
  bool multi_token = false;
  for (int64_t i = 0; i < n_rows;) {
    int64_t end = i + 1;
    const BatchToken& head = batch[static_cast<size_t>(token_of(i))];
    while (end < n_rows && end - i < tokens_per_tile && token_of(end) == token_of(end - 1) + 1) {
      const BatchToken& next = batch[static_cast<size_t>(token_of(end))];
      if (next.seq != head.seq || next.pos != head.pos + (end - i)) break;
      ++end;
    }
    multi_token |= end - i > 1;
    tiles_.push_back({static_cast<int32_t>(i), static_cast<int32_t>(end - i)});
    i = end;
  }
  next_item_.store(0, std::memory_order_relaxed);
  if (multi_token) {
    const int64_t n_items = static_cast<int64_t>(tiles_.size()) * lc.n_head_kv;
    auto work = [&](int, int) {
      int64_t first[kAttentionMaxQueries], last_pos[kAttentionMaxQueries];
      for (;;) {
        const int64_t item = next_item_.fetch_add(1, std::memory_order_relaxed);
        if (item >= n_items) break;
        const Tile& tile = tiles_[static_cast<size_t>(item / lc.n_head_kv)];
        const int kv_head = static_cast<int>(item % lc.n_head_kv);
        const int64_t t0 = token_of(tile.begin);
        for (int k = 0; k < tile.count; ++k) {
          const BatchToken& token = batch[static_cast<size_t>(t0 + k)];
          first[k] = first_pos(token);
          last_pos[k] = token.pos;
        }
        AttentionTile at;
        at.q = &q_[static_cast<size_t>(t0 * q_width + int64_t{kv_head} * group * hd)];
        at.n_tokens = tile.count;
        at.n_q = group;
        at.q_token_stride = q_width;
        at.head_dim = hd;
        at.first_pos = first;
        at.last_pos = last_pos;
        at.out = &attn_[static_cast<size_t>(tile.begin * q_width + int64_t{kv_head} * group * hd)];
        at.out_token_stride = q_width;
        at.sink = sink_of(kv_head * group);
        attention_tile(kv_view(batch[static_cast<size_t>(t0)], kv_head), at);
      }
    };
    pool_.run(work);
    return;
  }

  // Decode: one token per sequence. Query heads per work item: the whole GQA group (keys read once
  // for all of them) unless that leaves threads idle.
  int per_item = group;
  while (per_item > kAttentionMaxQueries && per_item % 2 == 0) per_item /= 2;
  if (per_item > kAttentionMaxQueries) per_item = 1;
  while (per_item > 1 && per_item % 2 == 0 && n_rows * (lc.n_head / per_item) < 2 * pool_.size()) {
    per_item /= 2;
  }
  const int items_per_row = lc.n_head / per_item;
  const int64_t n_items = n_rows * items_per_row;
  auto work = [&](int, int) {
    for (;;) {
      const int64_t item = next_item_.fetch_add(1, std::memory_order_relaxed);
      if (item >= n_items) break;
      const int64_t i = item / items_per_row;
      const int first_head = static_cast<int>(item % items_per_row) * per_item;
      const BatchToken& token = batch[static_cast<size_t>(token_of(i))];
      AttentionQuery query;
      query.q = &q_[static_cast<size_t>(token_of(i) * q_width + first_head * hd)];
      query.n_q = per_item;
      query.q_stride = hd;
      query.head_dim = hd;
      query.last_pos = token.pos;
      query.first_pos = first_pos(token);
      query.out = &attn_[static_cast<size_t>(i * q_width + first_head * hd)];
      query.out_stride = hd;
      query.sink = sink_of(first_head);
      attention(kv_view(token, first_head / group), query);
    }
  };
  if (n_items == 1 || pool_.size() == 1) {
    work(0, 1);
  } else {
    pool_.run(work);
  }
}

void ForwardPass::gather_output_rows() {
  const size_t d = static_cast<size_t>(config_.n_embd);
  for (size_t i = 0; i < output_rows_.size(); ++i) {
    size_t from = static_cast<size_t>(output_rows_[i]);
    if (from != i) std::copy_n(&x_[from * d], d, &x_[i * d]);
  }
}

void ForwardPass::gated_activation(float* gate, const float* up, int64_t n_rows, int64_t ff) {
  for_rows(n_rows, 4 * ff, [&](int64_t begin, int64_t end) {
    float* g = gate + begin * ff;
    const int64_t count = (end - begin) * ff;
    switch (config_.activation) {
      case Activation::kGeluTanh:
        gelu_tanh(g, count);
        mul(g, up + begin * ff, count);
        break;
      case Activation::kSilu:
        silu(g, count);
        mul(g, up + begin * ff, count);
        break;
      case Activation::kSwigluOai:
        swiglu_oai(g, up + begin * ff, count);
        break;
    }
  });
}

void ForwardPass::ffn_block(int layer, int64_t n_rows) {
  const LayerConfig& lc = config_.layers[static_cast<size_t>(layer)];
  const LayerWeights& lw = weights_.layers[static_cast<size_t>(layer)];
  const int64_t d = config_.n_embd;
  const int64_t ff = lc.n_ff;
  for_rows(n_rows, d, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      rms_norm(&x_[static_cast<size_t>(t * d)], lw.ffn_norm.data(),
               &norm_[static_cast<size_t>(t * d)], d, config_.rms_eps);
    }
  });
  const bool last = layer + 1 == config_.n_layer;
  const LayerWeights& following = weights_.layers[static_cast<size_t>(last ? 0 : layer + 1)];
  const WeightMatrix next_qkv[] = {following.wq, following.wk, following.wv};
  const std::span<const WeightMatrix> next =
      last ? std::span<const WeightMatrix>{&weights_.output, 1}
           : std::span<const WeightMatrix>{next_qkv};
  if (lc.is_moe()) {
    moe_ffn(layer, n_rows, next);
  } else {
    const WeightMatrix gate_up[] = {lw.ffn_gate, lw.ffn_up};
    float* const gate_up_out[] = {gate_.data(), up_.data()};
    matmul_multi(gate_up, norm_.data(), n_rows, gate_up_out, pool_, matmul_scratch_,
                 {&lw.ffn_down, 1});
    gated_activation(gate_.data(), up_.data(), n_rows, ff);
    matmul(lw.ffn_down, gate_.data(), n_rows, proj_.data(), pool_, matmul_scratch_, next);
  }
  for_rows(n_rows, 2 * d, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* o = &proj_[static_cast<size_t>(t * d)];
      if (lc.post_ffn_norm) rms_norm(o, lw.post_ffw_norm.data(), o, d, config_.rms_eps);
      add(&x_[static_cast<size_t>(t * d)], o, d);
    }
  });
}

}  // namespace chimera::engine
