// Dummy-weight model synthesizer: writes a GGUF with the real shapes, metadata, tokenizer and
// quantization mixture of a Gemma 3, Llama 3.x, Qwen2.5, Qwen3, Qwen3-MoE or gpt-oss model, filled
// with deterministic random weights. Used by `chimera model synth`, by tests that need a model, and
// by `chimera run` when no model is available. The file is marked unmistakably: general.name
// contains "dummy weights" and chimera.synthetic = true.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "util/status.h"

namespace chimera::engine {

class GgufWriter;
struct VocabData;

// The weight mixtures `--type` accepts, named as llama-quantize names them.
// MXFP4_MOE: 3-D expert tensors MXFP4, every other quantizable tensor Q8_0 (llama.cpp's ftype 38).
enum class SynthFileType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K_M, kQ6_K, kMXFP4_MOE, kQ4_1, kQ5_1, kQ5_K_M };
std::optional<SynthFileType> synth_file_type_from_name(std::string_view name);  // "q4_k_m", "Q8_0"
std::string_view synth_file_type_name(SynthFileType type);                      // "Q4_K_M"
// llama.cpp's llama_ftype value written to general.file_type (0, 1, 32, 7, 2, 15, 18, 38, 3, 9, 17).
uint32_t llama_ftype_of(SynthFileType type);

struct SynthOptions {
  std::string arch = "gemma3";  // gemma3 | llama | qwen2 | qwen3 | qwen3moe | gpt-oss
  // gemma3: 270m, 1b, 4b. llama: 3.2-1b, 3.1-8b. qwen2: 0.5b, 1.5b, 7b. qwen3: 0.6b, 1.7b, 4b, 8b.
  // qwen3moe: 30b-a3b. gpt-oss: 20b. "tiny" is a small test shape for every arch.
  std::string size = "1b";
  SynthFileType type = SynthFileType::kQ8_0;
  // "gemma3", "llama3_1", "llama3", "qwen3", "qwen2_5", "gptoss" (real vocabularies from
  // vocab_dir()), "synthetic:N", or empty for the arch's own vocabulary (gemma3 -> gemma3, llama ->
  // llama3_1, qwen2 -> qwen2_5, qwen3 and qwen3moe -> qwen3, gpt-oss -> gptoss; Qwen and gpt-oss
  // vocabularies padded to the model's rows).
  std::string vocab;
  std::string vocab_dir;  // where <name>/tokenizer.json live; empty = util vocab_dir()
  uint64_t seed = 42;
  // Explicit dimensions override the preset; 0 keeps the preset's value.
  int64_t n_layers = 0, d_model = 0, d_ff = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int64_t context_length = 0, sliding_window = 0;  // sliding_window: archs that have one
  int n_threads = 2;
  std::function<void(uint64_t bytes_done, uint64_t bytes_total)> progress;
};

// Hyper-parameters after applying preset, overrides and vocabulary.
struct SynthShape {
  std::string arch;
  std::string preset;        // "1b", "3.2-1b", "tiny" (+ "custom" when dims were overridden)
  std::string display_name;  // general.name, contains "dummy weights"
  std::string size_label;    // general.size_label, e.g. "1B"
  int64_t n_layers = 0, d_model = 0, d_ff = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int64_t context_length = 0, sliding_window = 0;  // sliding_window 0 = none (llama)
  int64_t n_vocab = 0;
  bool tied_output = true;
  float rms_eps = 1e-6f;
  float rope_base = 10000.0f;
  float rope_linear_factor = 0.0f;  // gemma3 4b: 8 (global layers); 0 = no rope.scaling keys
  float llama3_rope_factor = 0.0f;  // llama 3.1/3.2: rope_freqs tensor from this factor; 0 = none
  int64_t llama3_rope_original_ctx = 8192;
  bool qk_norm = false;         // attn_q_norm / attn_k_norm (gemma3, qwen3, qwen3moe)
  bool qkv_bias = false;        // attn_{q,k,v}.bias (qwen2)
  bool sandwich_norms = false;  // post_attention_norm / post_ffw_norm (gemma3)
  int64_t n_expert = 0, n_expert_used = 0, n_ff_expert = 0;  // qwen3moe, gpt-oss; 0: dense FFN
  // gpt-oss: attention sinks, attn_output / router / expert biases, the pre-FFN norm stored as
  // post_attention_norm, YaRN rope (factor, original context; 0: none), experts always MXFP4.
  bool attn_sinks = false, output_bias = false, moe_biases = false, mxfp4_experts = false;
  std::string ffn_norm = "ffn_norm";
  float yarn_factor = 0.0f;
  int64_t yarn_original_ctx = 0;
};

// One tensor of the plan: name, ggml shape, chosen type (llama.cpp's mixture rule, engine-reference
// §2.4).
struct SynthTensor {
  std::string name;
  std::vector<int64_t> ne;
  GgmlType type = GgmlType::kF32;
};

struct SynthPlan {
  SynthShape shape;
  std::vector<SynthTensor> tensors;  // in the order llama-quantize writes them
  uint64_t parameter_count = 0;
  uint64_t tensor_bytes = 0;
};

// The vocabularies scripts/fetch-vocab.sh installs under vocab_dir(), by name: gemma3, llama3_1,
// llama3, qwen3, qwen2_5, gptoss. `--vocab NAME` of synth and tokenize accepts these.
std::vector<std::string_view> fetched_vocabularies();

// Resolves preset + overrides + vocabulary size (loading the vocabulary) into shapes and types.
Result<SynthPlan> plan_synth(const SynthOptions& options);
// The same, also handing back the loaded vocabulary (when vocab_out is not null).
Result<SynthPlan> plan_synth_with_vocab(const SynthOptions& options, VocabData* vocab_out);
// The type llama.cpp's quantizer gives tensor `name` of shape `ne` in block `layer` (-1 outside the
// blocks) for this mixture: 1-D tensors stay F32; see engine-reference.md §2.4 and llama-quant.cpp.
GgmlType synth_tensor_type(SynthFileType type, std::string_view name,
                           const std::vector<int64_t>& ne, int layer, int n_layers,
                           bool tied_output);

// Writes the model to `path` (atomically). Deterministic: the same options give the same bytes.
Result<SynthPlan> synthesize_model(const SynthOptions& options, const std::string& path);
// The same, into memory (small test models).
Result<std::vector<uint8_t>> synthesize_model_to_memory(const SynthOptions& options);

// The llama3 rope frequency divisors (engine-reference.md §3.2 item 4), head_dim/2 values.
std::vector<float> llama3_rope_factors(int64_t head_dim, float base, float factor,
                                       float low_freq_factor, float high_freq_factor,
                                       int64_t original_context);

}  // namespace chimera::engine
