// The ONE place where quirks of GGUF files made by other tools are fixed (engine-reference.md §1.6,
// ARCHITECTURE.md "quirks ... are fixed in one place at load time"). Each fix appends a sentence to
// the model's load notes so a user can see what was assumed. Internal to the engine.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace chimera::engine {

class GgufFile;

// Hyper-parameters as the file states them, before architecture defaults and fixes.
struct RawHyperparams {
  std::string architecture;
  std::optional<int64_t> context_length, n_embd, n_layer;
  std::vector<int64_t> n_ff, n_head, n_head_kv;  // one value, or one per layer; empty when absent
  std::optional<int64_t> key_length, value_length, rope_dims, sliding_window;
  std::optional<double> rms_eps;
  std::optional<double> rope_base;         // <a>.rope.freq_base
  std::optional<double> rope_base_global;  // <a>.rope.global.freq_base (some Ollama gemma3 files)
  std::optional<double> rope_base_local;   // <a>.rope.local.freq_base or <a>.rope.freq_base_swa
  std::optional<std::string> rope_scaling_type;
  std::optional<double> rope_scaling_factor;  // <a>.rope.scaling.factor or legacy rope.scale_linear
  std::optional<int64_t> rope_scaling_original_context;  // <a>.rope.scaling.original_context_length
  std::optional<double> final_logit_softcap, attn_logit_softcap;
  std::optional<double> attention_scale;                        // <a>.attention.scale
  std::optional<int64_t> n_expert, n_expert_used, n_ff_expert;  // MoE: expert_count, ...
  std::optional<std::vector<bool>> sliding_window_pattern;      // per layer: true = local (sliding)
  // The same key as one integer n: layer i slides unless i % n == n - 1 (llama.cpp set_swa_pattern)
  std::optional<int64_t> sliding_window_period;
  bool has_vision_parts =
      false;  // v.* / mm.* tensors or <a>.mm.tokens_per_image: an Ollama gemma3 blob
};

// Reads every key above from the file (types of any integer width accepted).
RawHyperparams read_raw_hyperparams(const GgufFile& file);

// Fills what Ollama-made files omit and drops what they state wrongly (gemma3: eps, rope bases,
// linear rope scaling 8 on >= 131072-context files, final soft-capping; llama: nothing here).
void apply_hyperparam_quirks(RawHyperparams& raw, std::vector<std::string>* notes);

// Fixes the vocabulary: arrays longer than token_embd's rows are truncated (gemma3 multimodal
// tokens); llama3 files that end generation on <|end_of_text|> get <|eot_id|> as EOS/EOT and a
// pre-tokenizer; gemma3 files that do not stop on <end_of_turn> get it as EOT. Returns true when
// `vocab` changed.
bool apply_vocab_quirks(const std::string& architecture, int64_t n_embedding_rows, VocabData& vocab,
                        std::vector<std::string>* notes);

}  // namespace chimera::engine
