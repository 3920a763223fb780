#include "engine/model/model_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "engine/gguf/gguf.h"
#include "engine/model/model_quirks.h"

namespace chimera::engine {
namespace {

// Per-layer value from a key that may hold one value or one per layer.
Result<std::vector<int>> per_layer(const GgufFile& file, const std::string& key,
                                   const std::vector<int64_t>& values, int n_layer) {
  if (values.empty()) {
    return make_error(ErrorCode::kParseError, "{}: required key {} is missing", file.path(), key);
  }
  if (values.size() != 1 && values.size() != static_cast<size_t>(n_layer)) {
    return make_error(ErrorCode::kParseError,
                      "{}: {} has {} values; expected 1 or block_count ({})", file.path(), key,
                      values.size(), n_layer);
  }
  std::vector<int> out(static_cast<size_t>(n_layer));
  for (int i = 0; i < n_layer; ++i) {
    int64_t v = values.size() == 1 ? values[0] : values[static_cast<size_t>(i)];
    if (v <= 0 || v > (int64_t{1} << 24)) {
      return make_error(ErrorCode::kParseError,
                        "{}: {} has value {} (layer {}); expected 1..16777216", file.path(), key, v,
                        i);
    }
    out[static_cast<size_t>(i)] = static_cast<int>(v);
  }
  return out;
}

Result<int> positive_dim(const GgufFile& file, const std::string& key,
                         std::optional<int64_t> value) {
  if (!value)
    return make_error(ErrorCode::kParseError, "{}: required key {} is missing", file.path(), key);
  if (*value <= 0 || *value > (int64_t{1} << 24)) {
    return make_error(ErrorCode::kParseError, "{}: {} is {}; expected 1..16777216", file.path(),
                      key, *value);
  }
  return static_cast<int>(*value);
}

// The rope of a file's layers from <a>.rope.scaling.*: none, linear (Gemma 3 and Llama 3; llama3-
// style scaling arrives as the rope_freqs tensor instead, engine-reference.md §1.4) or yarn
// (gpt-oss, engine-reference-models.md §5: ext_factor 1, beta_fast 32, beta_slow 1, the attention
// factor cancelled so that cos and sin carry 1 + 0.1 ln factor, as llama.cpp's context sets them
// up).
Result<RopeConfig> rope_from_file(const GgufFile& file, const RawHyperparams& raw, double base,
                                  int n_rot, int64_t context_length) {
  RopeConfig rope;
  rope.freq_base = static_cast<float>(base);
  std::string type = raw.rope_scaling_type.value_or(raw.rope_scaling_factor ? "linear" : "none");
  if (type == "none") return rope;
  if (type != "linear" && type != "yarn") {
    return make_error(ErrorCode::kUnsupported,
                      "{}: {}.rope.scaling.type is '{}'; this build supports none, linear and yarn",
                      file.path(), raw.architecture, type);
  }
  double factor = raw.rope_scaling_factor.value_or(1.0);
  if (factor == 0.0) return rope;  // llama.cpp reads 0 as "no scaling"
  if (!(factor > 0.0)) {
    return make_error(ErrorCode::kParseError, "{}: {}.rope.scaling.factor is {}; expected > 0",
                      file.path(), raw.architecture, factor);
  }
  rope.freq_scale = static_cast<float>(1.0 / factor);
  if (type == "yarn") {
    const double original = static_cast<double>(
        raw.rope_scaling_original_context.value_or(context_length > 0 ? context_length : 4096));
    // The dimension pair whose wavelength fits `beta` turns in the original context
    // (ggml_rope_yarn_corr_dim), floored / ceiled and kept in range as ggml does.
    auto corr = [&](double beta) {
      return n_rot * std::log(original / (beta * 2.0 * M_PI)) / (2.0 * std::log(base));
    };
    rope.yarn = true;
    rope.yarn_low = static_cast<float>(std::max(0.0, std::floor(corr(32.0))));
    rope.yarn_high = static_cast<float>(std::min(n_rot - 1.0, std::ceil(corr(1.0))));
    rope.mscale = factor > 1.0 ? static_cast<float>(1.0 + 0.1 * std::log(factor)) : 1.0f;
  }
  return rope;
}

Status fill_gemma3(const GgufFile& file, const RawHyperparams& raw, ModelConfig& config,
                   std::vector<std::string>* notes) {
  config.embedding_scale = std::sqrt(static_cast<float>(config.n_embd));
  if (!raw.sliding_window || *raw.sliding_window <= 0) {
    return make_error(
        ErrorCode::kParseError,
        "{}: gemma3.attention.sliding_window is missing or not positive; Gemma 3 files "
        "state it (512 for 1B, 1024 otherwise)",
        file.path());
  }
  if (raw.sliding_window_pattern &&
      raw.sliding_window_pattern->size() != static_cast<size_t>(config.n_layer)) {
    return make_error(
        ErrorCode::kParseError,
        "{}: gemma3.attention.sliding_window_pattern has {} entries; expected one per "
        "layer ({})",
        file.path(), raw.sliding_window_pattern->size(), config.n_layer);
  }
  CHIMERA_ASSIGN_OR_RETURN(RopeConfig global, rope_from_file(file, raw, *raw.rope_base,
                                                             config.n_rot, config.context_length));
  RopeConfig local;  // unscaled (§3.1 step 5)
  local.freq_base = static_cast<float>(*raw.rope_base_local);
  for (int i = 0; i < config.n_layer; ++i) {
    LayerConfig& layer = config.layers[static_cast<size_t>(i)];
    // Five local layers then one global, unless the file lists the pattern (§3.1 step 5).
    bool sliding = raw.sliding_window_pattern
                       ? (*raw.sliding_window_pattern)[static_cast<size_t>(i)]
                       : (i % 6 != 5);
    layer.sliding_window = sliding ? static_cast<int>(*raw.sliding_window) : 0;
    layer.rope = sliding ? local : global;
    layer.post_attention_norm = true;
    layer.post_ffn_norm = true;
  }
  if (raw.attention_scale) {
    config.attention_scale = static_cast<float>(*raw.attention_scale);
  } else if (config.head_dim == 128) {
    // Gemma 3 27B (the only one with 128-wide heads) scales queries by 1/sqrt(d_model / n_head) =
    // 1/sqrt(168).
    int per_head = config.n_embd / config.layers[0].n_head;
    config.attention_scale = 1.0f / std::sqrt(static_cast<float>(per_head));
    if (notes != nullptr) {
      notes->push_back(
          fmt::format("attention scale 1/sqrt({}) assumed for 128-wide gemma3 heads "
                      "(Gemma 3 27B's query_pre_attn_scalar)",
                      per_head));
    }
  } else {
    config.attention_scale = 1.0f / std::sqrt(static_cast<float>(config.head_dim));
  }
  config.final_logit_softcap = 0.0f;
  return Status::ok();
}

// One rope for every layer (llama, qwen*): the file's base and linear scaling, or llama3-style
// divisors when the file carries a rope_freqs tensor. Plain 1/sqrt(head_dim) attention scale.
Status fill_single_rope(const GgufFile& file, const RawHyperparams& raw, ModelConfig& config,
                        std::vector<std::string>* notes) {
  config.embedding_scale = 1.0f;
  CHIMERA_ASSIGN_OR_RETURN(RopeConfig rope,
                           rope_from_file(file, raw, raw.rope_base.value_or(10000.0), config.n_rot,
                                          config.context_length));
  rope.use_freq_factors = file.find_tensor("rope_freqs.weight") != nullptr;
  for (auto& layer : config.layers) layer.rope = rope;
  config.attention_scale = raw.attention_scale
                               ? static_cast<float>(*raw.attention_scale)
                               : 1.0f / std::sqrt(static_cast<float>(config.head_dim));
  config.final_logit_softcap = static_cast<float>(raw.final_logit_softcap.value_or(0.0));
  if (raw.attn_logit_softcap && *raw.attn_logit_softcap != 0.0 && notes != nullptr) {
    notes->push_back(
        fmt::format("{}.attn_logit_softcapping {:g} ignored: the architecture has none",
                    raw.architecture, *raw.attn_logit_softcap));
  }
  return Status::ok();
}

// Every layer's FFN a routed mixture (engine-reference-models.md §4): expert count, experts per
// token and one expert's width (expert_feed_forward_length, else feed_forward_length / used, as
// llama.cpp).
Status fill_moe(const GgufFile& file, const RawHyperparams& raw, ModelConfig& config) {
  const std::string a = raw.architecture + ".";
  CHIMERA_ASSIGN_OR_RETURN(int n_expert, positive_dim(file, a + "expert_count", raw.n_expert));
  CHIMERA_ASSIGN_OR_RETURN(int n_used,
                           positive_dim(file, a + "expert_used_count", raw.n_expert_used));
  if (n_expert > 1024 || n_used > n_expert) {
    return make_error(ErrorCode::kParseError,
                      "{}: {}expert_count {} and expert_used_count {}: expected at most 1024 "
                      "experts and at most expert_count used per token",
                      file.path(), a, n_expert, n_used);
  }
  for (LayerConfig& layer : config.layers) {
    int n_ff_expert = layer.n_ff / n_used;
    if (raw.n_ff_expert) {
      CHIMERA_ASSIGN_OR_RETURN(
          n_ff_expert, positive_dim(file, a + "expert_feed_forward_length", raw.n_ff_expert));
    }
    layer.moe = MoeConfig{n_expert, n_used, n_ff_expert, ExpertGating::kSoftmaxTopKNormalized};
    layer.n_ff = n_ff_expert;
  }
  return Status::ok();
}

// gpt-oss (engine-reference-models.md §5): sliding-window layers by the file's pattern (an integer
// period, default 2: even layers slide; or one bool per layer), both kinds with the same rope (YaRN
// in the published files; the sliding layers' base may differ: rope.freq_base_swa), attention
// sinks, biases on the output projection and on the router and experts, and the pre-FFN norm
// stored as post_attention_norm.
Status fill_gpt_oss(const GgufFile& file, const RawHyperparams& raw, ModelConfig& config,
                    std::vector<std::string>* notes) {
  if (!raw.sliding_window || *raw.sliding_window <= 0) {
    return make_error(ErrorCode::kParseError,
                      "{}: gpt-oss.attention.sliding_window is missing or not positive; gpt-oss "
                      "files state it (128)",
                      file.path());
  }
  if (raw.sliding_window_pattern &&
      raw.sliding_window_pattern->size() != static_cast<size_t>(config.n_layer)) {
    return make_error(ErrorCode::kParseError,
                      "{}: gpt-oss.attention.sliding_window_pattern has {} entries; expected one "
                      "per layer ({}) or one integer period",
                      file.path(), raw.sliding_window_pattern->size(), config.n_layer);
  }
  const int64_t period = raw.sliding_window_period.value_or(2);
  if (period <= 0 || period > config.n_layer + 1) {
    return make_error(ErrorCode::kParseError,
                      "{}: gpt-oss.attention.sliding_window_pattern is {}; expected a period from "
                      "1 to block_count + 1",
                      file.path(), period);
  }
  CHIMERA_RETURN_IF_ERROR(fill_single_rope(file, raw, config, notes));
  RopeConfig local = config.layers[0].rope;
  if (raw.rope_base_local) local.freq_base = static_cast<float>(*raw.rope_base_local);
  for (int i = 0; i < config.n_layer; ++i) {
    LayerConfig& layer = config.layers[static_cast<size_t>(i)];
    const bool sliding = raw.sliding_window_pattern
                             ? (*raw.sliding_window_pattern)[static_cast<size_t>(i)]
                             : i % period < period - 1;
    layer.sliding_window = sliding ? static_cast<int>(*raw.sliding_window) : 0;
    if (sliding) layer.rope = local;
    layer.output_bias = true;
    layer.attn_sinks = true;
    layer.moe.biases = true;
  }
  config.ffn_norm_tensor = "post_attention_norm";
  return Status::ok();
}

// What an architecture is beyond the generic keys every file states (engine-reference-models.md
// §2-§4 for the qwen family, §5 for gpt-oss). Adding an architecture is adding a row here.
struct ArchitectureTraits {
  std::string_view name;
  Activation activation;
  RopeStyle rope_style;
  bool qk_norm;  // attn_q_norm / attn_k_norm per head, before RoPE
  bool moe;      // every layer's FFN is a mixture of experts
  Status (*fill)(const GgufFile&, const RawHyperparams&, ModelConfig&, std::vector<std::string>*);
};

constexpr ArchitectureTraits kArchitectures[] = {
    {"gemma3", Activation::kGeluTanh, RopeStyle::kNeox, true, false, fill_gemma3},
    {"llama", Activation::kSilu, RopeStyle::kNormal, false, false, fill_single_rope},
    {"qwen2", Activation::kSilu, RopeStyle::kNeox, false, false, fill_single_rope},
    {"qwen3", Activation::kSilu, RopeStyle::kNeox, true, false, fill_single_rope},
    {"qwen3moe", Activation::kSilu, RopeStyle::kNeox, true, true, fill_single_rope},
    {"gpt-oss", Activation::kSwigluOai, RopeStyle::kNeox, false, true, fill_gpt_oss},
};

const ArchitectureTraits* find_architecture(std::string_view name) {
  for (const auto& traits : kArchitectures) {
    if (traits.name == name) return &traits;
  }
  return nullptr;
}

}  // namespace

int ModelConfig::max_n_head() const {
  int n = 0;
  for (const auto& l : layers) n = std::max(n, l.n_head);
  return n;
}
int ModelConfig::max_n_head_kv() const {
  int n = 0;
  for (const auto& l : layers) n = std::max(n, l.n_head_kv);
  return n;
}
int ModelConfig::max_n_ff() const {
  int n = 0;
  for (const auto& l : layers) n = std::max(n, l.n_ff);
  return n;
}
int ModelConfig::max_n_expert() const {
  int n = 0;
  for (const auto& l : layers) n = std::max(n, l.moe.n_expert);
  return n;
}
int ModelConfig::max_n_expert_used() const {
  int n = 0;
  for (const auto& l : layers) n = std::max(n, l.moe.n_expert_used);
  return n;
}
bool ModelConfig::any_sliding() const {
  return std::any_of(layers.begin(), layers.end(),
                     [](const LayerConfig& l) { return l.is_sliding(); });
}
std::vector<RopeConfig> ModelConfig::distinct_ropes() const {
  std::vector<RopeConfig> out;
  for (const auto& l : layers) {
    if (std::find(out.begin(), out.end(), l.rope) == out.end()) out.push_back(l.rope);
  }
  return out;
}

std::string supported_architectures() {
  std::string out;
  for (const auto& traits : kArchitectures) {
    if (!out.empty()) out += ", ";
    out += traits.name;
  }
  return out;
}

Result<ModelConfig> model_config_from_gguf(const GgufFile& file,
                                           std::vector<std::string>* load_notes) {
  auto arch = file.get_string("general.architecture");
  if (!arch) {
    return make_error(ErrorCode::kParseError,
                      "{}: general.architecture is missing; this build supports {}", file.path(),
                      supported_architectures());
  }
  const ArchitectureTraits* traits = find_architecture(*arch);
  if (traits == nullptr) {
    return make_error(ErrorCode::kUnsupported,
                      "{}: architecture '{}' is not supported; this build "
                      "supports {}",
                      file.path(), *arch, supported_architectures());
  }
  RawHyperparams raw = read_raw_hyperparams(file);
  apply_hyperparam_quirks(raw, load_notes);
  const std::string a = raw.architecture + ".";

  ModelConfig config;
  config.architecture = raw.architecture;
  CHIMERA_ASSIGN_OR_RETURN(config.n_embd, positive_dim(file, a + "embedding_length", raw.n_embd));
  CHIMERA_ASSIGN_OR_RETURN(config.n_layer, positive_dim(file, a + "block_count", raw.n_layer));
  config.context_length =
      static_cast<int>(std::clamp<int64_t>(raw.context_length.value_or(0), 0, INT32_MAX));
  CHIMERA_ASSIGN_OR_RETURN(auto n_ff,
                           per_layer(file, a + "feed_forward_length", raw.n_ff, config.n_layer));
  CHIMERA_ASSIGN_OR_RETURN(auto n_head,
                           per_layer(file, a + "attention.head_count", raw.n_head, config.n_layer));
  std::vector<int> n_head_kv = n_head;
  if (!raw.n_head_kv.empty()) {
    CHIMERA_ASSIGN_OR_RETURN(
        n_head_kv, per_layer(file, a + "attention.head_count_kv", raw.n_head_kv, config.n_layer));
  }
  config.layers.resize(static_cast<size_t>(config.n_layer));
  for (int i = 0; i < config.n_layer; ++i) {
    LayerConfig& layer = config.layers[static_cast<size_t>(i)];
    layer.n_ff = n_ff[static_cast<size_t>(i)];
    layer.n_head = n_head[static_cast<size_t>(i)];
    layer.n_head_kv = n_head_kv[static_cast<size_t>(i)];
    if (layer.n_head % layer.n_head_kv != 0) {
      return make_error(ErrorCode::kParseError,
                        "{}: layer {} has {} heads and {} KV heads; the head "
                        "count must be a multiple of the KV head count",
                        file.path(), i, layer.n_head, layer.n_head_kv);
    }
  }
  if (raw.key_length) {
    CHIMERA_ASSIGN_OR_RETURN(config.head_dim,
                             positive_dim(file, a + "attention.key_length", raw.key_length));
  } else {
    config.head_dim = config.n_embd / n_head[0];
  }
  config.value_dim = config.head_dim;
  if (raw.value_length) {
    CHIMERA_ASSIGN_OR_RETURN(config.value_dim,
                             positive_dim(file, a + "attention.value_length", raw.value_length));
  }
  if (config.value_dim != config.head_dim) {
    return make_error(ErrorCode::kUnsupported,
                      "{}: key_length {} differs from value_length {}; this "
                      "build supports equal lengths (as every supported architecture has)",
                      file.path(), config.head_dim, config.value_dim);
  }
  if (config.head_dim > 512 || config.head_dim % 2 != 0) {
    return make_error(ErrorCode::kUnsupported,
                      "{}: head dimension {} is not supported; this build supports "
                      "even head dimensions up to 512",
                      file.path(), config.head_dim);
  }
  config.n_rot = config.head_dim;
  if (raw.rope_dims) {
    CHIMERA_ASSIGN_OR_RETURN(config.n_rot,
                             positive_dim(file, a + "rope.dimension_count", raw.rope_dims));
  }
  if (config.n_rot > config.head_dim || config.n_rot % 2 != 0) {
    return make_error(ErrorCode::kParseError,
                      "{}: rope.dimension_count {} must be even and at most the "
                      "head dimension {}",
                      file.path(), config.n_rot, config.head_dim);
  }
  config.rms_eps = static_cast<float>(raw.rms_eps.value_or(1e-6));

  const GgufTensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr) {
    return make_error(ErrorCode::kNotFound,
                      "{}: tensor token_embd.weight is missing; a {} model needs it", file.path(),
                      raw.architecture);
  }
  if (embd->ne.size() != 2 || embd->ne[0] != config.n_embd) {
    return make_error(ErrorCode::kParseError,
                      "{}: token_embd.weight has shape [{}]; expected [{}, n_vocab]", file.path(),
                      fmt::join(embd->ne, ", "), config.n_embd);
  }
  config.n_vocab = static_cast<int>(embd->ne[1]);
  config.tied_output = file.find_tensor("output.weight") == nullptr;

  config.activation = traits->activation;
  config.rope_style = traits->rope_style;
  for (int i = 0; i < config.n_layer; ++i) {
    LayerConfig& layer = config.layers[static_cast<size_t>(i)];
    layer.qk_norm = traits->qk_norm;
    // Biases are data: bound wherever the file has them (qwen2 always; llama.cpp accepts them on
    // llama and qwen3 too).
    layer.qkv_bias = file.find_tensor(fmt::format("blk.{}.attn_q.bias", i)) != nullptr;
  }
  if (traits->moe) CHIMERA_RETURN_IF_ERROR(fill_moe(file, raw, config));
  CHIMERA_RETURN_IF_ERROR(traits->fill(file, raw, config, load_notes));
  return config;
}

}  // namespace chimera::engine
