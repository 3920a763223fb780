// src/engine/model/: what a model is. model_config.h reads an architecture as data from GGUF
// metadata (the place to add an architecture); model_quirks.cpp fixes other tools' files at load
// time; model_weights.h maps tensors to matrices; model.cpp loads all of it; forward.h is the one
// generic transformer every architecture runs through. model_store.h resolves ollama:NAME[:TAG]
// from the local Ollama store, and synth.h writes dummy-weight GGUFs of the real shapes.
//
// An architecture as data (STYLE.md, "Configuration is data"): dims and per-layer settings read
// from GGUF metadata, interpreted by the one generic transformer in forward.cpp. Adding an
// architecture means teaching model_config.cpp its defaults, never writing a new forward pass.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace chimera::engine {

class GgufFile;

enum class Activation {
  kGeluTanh,
  kSilu,
  // gpt-oss (engine-reference-models.md §5 step 7): g = min(gate, 7), u = clamp(up, -7, 7),
  // g * sigmoid(1.702 g) * (u + 1).
  kSwigluOai,
};
enum class RopeStyle {
  kNormal,  // adjacent pairs (2i, 2i+1): llama (the converter permuted Q/K rows to match)
  kNeox,    // pairs (i, i + n_rot/2): gemma3, qwen2, qwen3, qwen3moe, gpt-oss
};

// How a mixture-of-experts layer turns router logits into expert weights.
enum class ExpertGating {
  // softmax over all experts, top-k by probability, the k weights renormalized to sum to 1
  // (Qwen3-MoE's norm_topk_prob; engine-reference-models.md §4). Equals a softmax over the k
  // logits, which is gpt-oss's rule (top-k of the raw logits, softmax over those k; §5 step 6), so
  // both architectures route with it.
  kSoftmaxTopKNormalized,
};

// A layer whose FFN is a routed mixture of experts (3-D ffn_{gate,up,down}_exps tensors and an
// ffn_gate_inp router) instead of one dense FFN.
struct MoeConfig {
  int n_expert = 0;       // 0: dense FFN
  int n_expert_used = 0;  // experts run per token
  int n_ff_expert = 0;    // hidden width of one expert
  ExpertGating gating = ExpertGating::kSoftmaxTopKNormalized;
  // ffn_gate_inp.bias added to the router logits, and ffn_{gate,up,down}_exps.bias to each
  // expert's projections (gpt-oss).
  bool biases = false;
  bool operator==(const MoeConfig&) const = default;
};

struct RopeConfig {
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;        // 1 / linear scaling factor (positions are multiplied by it)
  bool use_freq_factors = false;  // divide each frequency by the rope_freqs tensor (llama3 scaling)
  // YaRN as llama.cpp computes it (engine-reference-models.md §5, pitfall 8): pair i rotates by
  // pos * f_i * (freq_scale * (1 - r_i) + r_i), r_i = 1 - clamp((i - yarn_low) / (yarn_high -
  // yarn_low), 0, 1) (the ramp bounds floored / ceiled), and cos / sin are multiplied by mscale
  // (1 + 0.1 ln factor). Off (plain scaling, mscale 1) unless yarn.
  bool yarn = false;
  float yarn_low = 0.0f, yarn_high = 0.0f;
  float mscale = 1.0f;
  bool operator==(const RopeConfig&) const = default;
};

struct LayerConfig {
  int n_head = 0;
  int n_head_kv = 0;
  int n_ff = 0;
  int sliding_window = 0;  // 0: global attention; else the key window, current token included
  RopeConfig rope;
  bool qk_norm = false;              // RMSNorm over each q/k head (attn_q_norm / attn_k_norm)
  bool post_attention_norm = false;  // RMSNorm on the attention output before the residual add
  bool post_ffn_norm = false;        // RMSNorm on the FFN output before the residual add
  bool qkv_bias = false;             // attn_{q,k,v}.bias added after the projections (qwen2)
  bool output_bias = false;          // attn_output.bias added after the output projection
  // attn_sinks: a learned logit per query head that joins the softmax denominator only (gpt-oss,
  // engine-reference-models.md §5 step 4).
  bool attn_sinks = false;
  MoeConfig moe;  // n_expert 0: the dense FFN (ffn_gate / ffn_up / ffn_down)
  bool is_sliding() const { return sliding_window > 0; }
  bool is_moe() const { return moe.n_expert > 0; }
};

struct ModelConfig {
  std::string architecture;  // "gemma3", "llama", "qwen2", "qwen3", "qwen3moe", "gpt-oss"
  int n_embd = 0;
  int n_layer = 0;
  int n_vocab = 0;         // rows of token_embd (logits per token)
  int head_dim = 0;        // key length per head
  int value_dim = 0;       // value length per head
  int n_rot = 0;           // rotary dims per head
  int context_length = 0;  // training context
  float rms_eps = 1e-6f;
  float embedding_scale = 1.0f;      // gemma: sqrt(n_embd), in f32 as llama.cpp (§3.1 step 1)
  float attention_scale = 1.0f;      // multiplies q before q·k (softmax then uses 1.0)
  float final_logit_softcap = 0.0f;  // 0: none
  Activation activation = Activation::kSilu;
  RopeStyle rope_style = RopeStyle::kNormal;
  bool tied_output = false;  // LM head is token_embd
  // The RMSNorm weight applied before each FFN: blk.N.<name>.weight. gpt-oss names it
  // post_attention_norm (HF post_attention_layernorm; pitfall 3).
  std::string ffn_norm_tensor = "ffn_norm";
  std::vector<LayerConfig> layers;

  int max_n_head() const;
  int max_n_head_kv() const;
  int max_n_ff() const;  // dense FFN width, or an expert's, whichever is larger
  int max_n_expert() const;
  int max_n_expert_used() const;
  bool any_sliding() const;
  // Distinct rope settings across layers (a rope table is built once per batch for each).
  std::vector<RopeConfig> distinct_ropes() const;
};

// "gemma3, llama, qwen2, qwen3, qwen3moe, gpt-oss", for error messages.
std::string supported_architectures();

// Reads the text-model configuration. Quirks of files made by other tools are fixed here through
// model_quirks.cpp (engine-reference.md §1.6), and every fix is appended to `load_notes`.
// Errors name the file, the key and what is supported.
Result<ModelConfig> model_config_from_gguf(const GgufFile& file,
                                           std::vector<std::string>* load_notes);

}  // namespace chimera::engine
