// Tiny dummy-weight gemma3 / llama / qwen2 / qwen3 / qwen3moe GGUF files for engine tests, written
// with GgufWriter directly: a few layers, small dims, global and sliding layers, GQA, any weight
// type. Random weights are scaled so activations stay O(1) through the layers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "util/status.h"

namespace chimera::engine {
class GgufWriter;
class Model;
struct VocabData;
}  // namespace chimera::engine

namespace chimera::testing {

struct TinyModelSpec {
  // "gemma3", "llama", "qwen2" (q/k/v biases), "qwen3" (QK-norm), "qwen3moe" (QK-norm, experts)
  std::string arch = "gemma3";
  engine::GgmlType type = engine::GgmlType::kF32;  // layer matrices
  std::optional<engine::GgmlType> embd_type;       // token_embd; default: `type`
  bool untied_output = false;                      // write output.weight (of `type`)
  int n_embd = 256;                                // K-quants need rows that are multiples of 256
  int n_layer = 4;
  int n_head = 4;
  int n_head_kv = 2;
  int head_dim = 64;
  int n_ff = 512;
  int n_vocab = 384;
  int context_length = 2048;
  int sliding_window = 8;  // gemma3
  std::vector<bool> sliding_pattern = {true, false, true,
                                       false};  // gemma3: per layer; empty = none
  float rope_base = 10000.0f;                   // llama base; gemma3 global base
  float rope_base_local = 10000.0f;             // gemma3
  std::optional<float> rope_scale_linear;       // writes rope.scaling.type linear + factor
  bool rope_freqs = false;                      // llama: write a rope_freqs tensor
  float eps = 1e-6f;
  int n_expert = 4;       // qwen3moe
  int n_expert_used = 2;  // qwen3moe
  int n_ff_expert = 256;  // qwen3moe (K-quants need multiples of 256)
  bool synthetic = true;
  uint64_t seed = 1;
  std::vector<std::string> omit_keys;  // metadata keys not to write (quirk tests)
  std::vector<std::string> omit_tensors;
  std::function<void(engine::GgufWriter&)> extra;  // more metadata / tensors
  std::function<void(engine::VocabData&)>
      edit_vocab;  // change the synthetic vocabulary before writing
};

Status write_tiny_model(const TinyModelSpec& spec, const std::string& path);
// Writes the model and loads it: what a test suite's SetUpTestSuite does. On failure the test fails
// (ADD_FAILURE with the status) and the result is null.
std::shared_ptr<const engine::Model> write_and_load_tiny_model(const TinyModelSpec& spec,
                                                               const std::string& path);

// All-position logits from the engine (n_vocab floats per token), the prompt prefilled n_batch
// tokens at a time (1: the decode path) into one sequence.
std::vector<float> engine_logits(std::shared_ptr<const engine::Model> model,
                                 const std::vector<int32_t>& tokens, int n_batch, int n_threads,
                                 engine::GgmlType kv_type = engine::GgmlType::kF16);

}  // namespace chimera::testing
