#include "engine/tiny_model.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "engine/engine.h"
#include "engine/gguf/gguf.h"
#include "engine/model/model_config.h"
#include "engine/quant/quant.h"
#include "engine/tokenizer/tokenizer.h"

namespace chimera::testing {
namespace {

using engine::GgmlType;
using engine::GgufWriter;

class Builder {
 public:
  Builder(const TinyModelSpec& spec, GgufWriter& writer)
      : spec_(spec), writer_(writer), rng_(spec.seed) {}

  bool omitted_key(const std::string& key) const {
    return std::find(spec_.omit_keys.begin(), spec_.omit_keys.end(), key) != spec_.omit_keys.end();
  }
  bool omitted_tensor(const std::string& name) const {
    return std::find(spec_.omit_tensors.begin(), spec_.omit_tensors.end(), name) !=
           spec_.omit_tensors.end();
  }
  void u32(const std::string& key, uint32_t v) {
    if (!omitted_key(key)) writer_.set_u32(key, v);
  }
  void f32(const std::string& key, float v) {
    if (!omitted_key(key)) writer_.set_f32(key, v);
  }

  // rows x cols values ~ N(0, std), quantized row by row.
  Status matrix(const std::string& name, int64_t cols, int64_t rows, GgmlType type, double std_dev,
                double mean = 0.0, int64_t n_expert = 1) {
    if (omitted_tensor(name)) return Status::ok();
    std::normal_distribution<float> dist(static_cast<float>(mean), static_cast<float>(std_dev));
    const int64_t rows_per_expert = rows;
    rows *= n_expert;
    std::vector<float> values(static_cast<size_t>(cols * rows));
    for (auto& v : values) v = dist(rng_);
    size_t row_bytes = *engine::ggml_row_bytes(type, cols);
    std::vector<uint8_t> data(row_bytes * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      engine::quantize_row(type, &values[static_cast<size_t>(r * cols)],
                           &data[static_cast<size_t>(r) * row_bytes], cols);
    }
    std::vector<int64_t> ne = n_expert > 1 ? std::vector<int64_t>{cols, rows_per_expert, n_expert}
                              : rows == 1  ? std::vector<int64_t>{cols}
                                           : std::vector<int64_t>{cols, rows};
    return writer_.add_tensor(name, ne, type, std::move(data));
  }
  Status norm(const std::string& name, int64_t n) {
    return matrix(name, n, 1, GgmlType::kF32, 0.1, 1.0);
  }

 private:
  const TinyModelSpec& spec_;
  GgufWriter& writer_;
  std::mt19937_64 rng_;
};

}  // namespace

Status write_tiny_model(const TinyModelSpec& spec, const std::string& path) {
  GgufWriter w;
  Builder b(spec, w);
  const std::string a = spec.arch + ".";
  const bool gemma = spec.arch == "gemma3";
  const bool qwen = spec.arch.starts_with("qwen");
  const bool qk_norm = gemma || spec.arch.starts_with("qwen3");
  const bool qkv_bias = spec.arch == "qwen2";
  const bool moe = spec.arch == "qwen3moe";
  if (!b.omitted_key("general.architecture")) w.set_string("general.architecture", spec.arch);
  w.set_string("general.name",
               fmt::format("tiny-{}-{}", spec.arch, engine::ggml_type_name(spec.type)));
  if (spec.synthetic) w.set_bool("chimera.synthetic", true);
  w.set_u32("general.quantization_version", 2);
  b.u32(a + "context_length", static_cast<uint32_t>(spec.context_length));
  b.u32(a + "embedding_length", static_cast<uint32_t>(spec.n_embd));
  b.u32(a + "block_count", static_cast<uint32_t>(spec.n_layer));
  b.u32(a + "feed_forward_length", static_cast<uint32_t>(spec.n_ff));
  b.u32(a + "attention.head_count", static_cast<uint32_t>(spec.n_head));
  b.u32(a + "attention.head_count_kv", static_cast<uint32_t>(spec.n_head_kv));
  b.u32(a + "attention.key_length", static_cast<uint32_t>(spec.head_dim));
  b.u32(a + "attention.value_length", static_cast<uint32_t>(spec.head_dim));
  b.f32(a + "attention.layer_norm_rms_epsilon", spec.eps);
  b.f32(a + "rope.freq_base", spec.rope_base);
  if (spec.rope_scale_linear) {
    if (!b.omitted_key(a + "rope.scaling.type")) w.set_string(a + "rope.scaling.type", "linear");
    b.f32(a + "rope.scaling.factor", *spec.rope_scale_linear);
  }
  if (moe) {
    b.u32(a + "expert_count", static_cast<uint32_t>(spec.n_expert));
    b.u32(a + "expert_used_count", static_cast<uint32_t>(spec.n_expert_used));
    b.u32(a + "expert_feed_forward_length", static_cast<uint32_t>(spec.n_ff_expert));
  }
  if (gemma) {
    b.u32(a + "attention.sliding_window", static_cast<uint32_t>(spec.sliding_window));
    b.f32(a + "rope.local.freq_base", spec.rope_base_local);
    if (!spec.sliding_pattern.empty() && !b.omitted_key(a + "attention.sliding_window_pattern")) {
      w.set_bool_array(a + "attention.sliding_window_pattern", spec.sliding_pattern);
    }
  }
  engine::VocabData vocab = engine::synthetic_vocab(gemma  ? "gemma3"
                                                    : qwen ? "qwen"
                                                           : "llama",
                                                    spec.n_vocab);
  if (spec.edit_vocab) spec.edit_vocab(vocab);
  CHIMERA_RETURN_IF_ERROR(engine::write_vocab_to_gguf(w, vocab));
  if (spec.extra) spec.extra(w);

  const GgmlType embd_type = spec.embd_type.value_or(spec.type);
  const int64_t d = spec.n_embd;
  CHIMERA_RETURN_IF_ERROR(
      b.matrix("token_embd.weight", d, spec.n_vocab, embd_type, gemma ? 0.1 : 1.0));
  CHIMERA_RETURN_IF_ERROR(b.norm("output_norm.weight", d));
  if (spec.untied_output) {
    CHIMERA_RETURN_IF_ERROR(
        b.matrix("output.weight", d, spec.n_vocab, spec.type, 1.0 / std::sqrt(d)));
  }
  if (spec.rope_freqs) {
    // llama3-like divisors: 1 for high frequencies rising to 8 for the lowest.
    std::vector<float> freqs(static_cast<size_t>(spec.head_dim / 2));
    for (size_t i = 0; i < freqs.size(); ++i)
      freqs[i] = 1.0f + 7.0f * static_cast<float>(i) / static_cast<float>(freqs.size());
    std::vector<uint8_t> bytes(freqs.size() * 4);
    std::memcpy(bytes.data(), freqs.data(), bytes.size());
    CHIMERA_RETURN_IF_ERROR(w.add_tensor("rope_freqs.weight", {static_cast<int64_t>(freqs.size())},
                                         GgmlType::kF32, std::move(bytes)));
  }
  const int64_t q_width = int64_t{spec.n_head} * spec.head_dim;
  const int64_t kv_width = int64_t{spec.n_head_kv} * spec.head_dim;
  for (int i = 0; i < spec.n_layer; ++i) {
    auto name = [&](const char* part) { return fmt::format("blk.{}.{}.weight", i, part); };
    CHIMERA_RETURN_IF_ERROR(b.norm(name("attn_norm"), d));
    CHIMERA_RETURN_IF_ERROR(b.matrix(name("attn_q"), d, q_width, spec.type, 1.0 / std::sqrt(d)));
    CHIMERA_RETURN_IF_ERROR(b.matrix(name("attn_k"), d, kv_width, spec.type, 1.0 / std::sqrt(d)));
    CHIMERA_RETURN_IF_ERROR(b.matrix(name("attn_v"), d, kv_width, spec.type, 1.0 / std::sqrt(d)));
    CHIMERA_RETURN_IF_ERROR(
        b.matrix(name("attn_output"), q_width, d, spec.type, 1.0 / std::sqrt(q_width)));
    CHIMERA_RETURN_IF_ERROR(b.norm(name("ffn_norm"), d));
    if (moe) {
      const int64_t ff = spec.n_ff_expert, e = spec.n_expert;
      // The router is F32 in real files; wide enough logits that the top-k is not a near-tie.
      CHIMERA_RETURN_IF_ERROR(b.matrix(name("ffn_gate_inp"), d, e, GgmlType::kF32, 0.25));
      CHIMERA_RETURN_IF_ERROR(
          b.matrix(name("ffn_gate_exps"), d, ff, spec.type, 1.0 / std::sqrt(d), 0.0, e));
      CHIMERA_RETURN_IF_ERROR(
          b.matrix(name("ffn_up_exps"), d, ff, spec.type, 1.0 / std::sqrt(d), 0.0, e));
      CHIMERA_RETURN_IF_ERROR(
          b.matrix(name("ffn_down_exps"), ff, d, spec.type, 1.0 / std::sqrt(ff), 0.0, e));
    } else {
      CHIMERA_RETURN_IF_ERROR(
          b.matrix(name("ffn_gate"), d, spec.n_ff, spec.type, 1.0 / std::sqrt(d)));
      CHIMERA_RETURN_IF_ERROR(
          b.matrix(name("ffn_up"), d, spec.n_ff, spec.type, 1.0 / std::sqrt(d)));
      CHIMERA_RETURN_IF_ERROR(
          b.matrix(name("ffn_down"), spec.n_ff, d, spec.type, 1.0 / std::sqrt(spec.n_ff)));
    }
    if (qkv_bias) {
      auto bias = [&](const char* part) { return fmt::format("blk.{}.{}.bias", i, part); };
      CHIMERA_RETURN_IF_ERROR(b.matrix(bias("attn_q"), q_width, 1, GgmlType::kF32, 0.3));
      CHIMERA_RETURN_IF_ERROR(b.matrix(bias("attn_k"), kv_width, 1, GgmlType::kF32, 0.3));
      CHIMERA_RETURN_IF_ERROR(b.matrix(bias("attn_v"), kv_width, 1, GgmlType::kF32, 0.3));
    }
    if (qk_norm) {
      CHIMERA_RETURN_IF_ERROR(b.norm(name("attn_q_norm"), spec.head_dim));
      CHIMERA_RETURN_IF_ERROR(b.norm(name("attn_k_norm"), spec.head_dim));
    }
    if (gemma) {
      CHIMERA_RETURN_IF_ERROR(b.norm(name("post_attention_norm"), d));
      CHIMERA_RETURN_IF_ERROR(b.norm(name("post_ffw_norm"), d));
    }
  }
  return w.write(path);
}

std::shared_ptr<const engine::Model> write_and_load_tiny_model(const TinyModelSpec& spec,
                                                               const std::string& path) {
  if (Status written = write_tiny_model(spec, path); !written.is_ok()) {
    ADD_FAILURE() << "write_tiny_model " << path << ": " << written.to_string();
    return nullptr;
  }
  auto model = engine::Model::load(path);
  if (!model.ok()) {
    ADD_FAILURE() << "Model::load " << path << ": " << model.status().to_string();
    return nullptr;
  }
  return *model;
}

std::vector<float> engine_logits(std::shared_ptr<const engine::Model> model,
                                 const std::vector<int32_t>& tokens, int n_batch, int n_threads,
                                 engine::GgmlType kv_type) {
  engine::ContextOptions options;
  options.n_ctx_per_seq = std::max<int32_t>(64, static_cast<int32_t>(tokens.size()));
  options.n_batch = n_batch;
  options.num_thread = n_threads;
  options.kv_type = kv_type;
  auto context = engine::Context::create(model, options);
  EXPECT_TRUE(context.ok()) << context.status().to_string();
  const size_t n_vocab = static_cast<size_t>(model->config().n_vocab);
  std::vector<float> logits(tokens.size() * n_vocab);
  for (size_t begin = 0; begin < tokens.size(); begin += static_cast<size_t>(n_batch)) {
    std::vector<engine::BatchToken> batch;
    for (size_t i = begin; i < std::min(tokens.size(), begin + static_cast<size_t>(n_batch)); ++i) {
      batch.push_back({tokens[i], 0, static_cast<int32_t>(i), true});
    }
    Status s = (*context)->decode(batch, logits.data() + begin * n_vocab);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
  }
  return logits;
}

}  // namespace chimera::testing
