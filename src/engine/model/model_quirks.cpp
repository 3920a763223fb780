#include "engine/model/model_quirks.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/gguf/gguf.h"
#include "util/strings.h"

namespace chimera::engine {
namespace {

std::vector<int64_t> int_or_array(const GgufFile& file, const std::string& key) {
  if (auto v = file.get_int(key)) return {*v};
  if (!file.has(key)) return {};
  auto array = file.get_int_array(key);
  return array.ok() ? *array : std::vector<int64_t>{};
}

void note(std::vector<std::string>* notes, std::string text) {
  if (notes != nullptr) notes->push_back(std::move(text));
}

}  // namespace

RawHyperparams read_raw_hyperparams(const GgufFile& file) {
  RawHyperparams raw;
  raw.architecture = std::string(file.get_string("general.architecture").value_or(""));
  const std::string a = raw.architecture + ".";
  auto get_int = [&](const char* key) { return file.get_int(a + key); };
  auto get_float = [&](const char* key) { return file.get_float(a + key); };

  raw.context_length = get_int("context_length");
  raw.n_embd = get_int("embedding_length");
  raw.n_layer = get_int("block_count");
  raw.n_ff = int_or_array(file, a + "feed_forward_length");
  raw.n_head = int_or_array(file, a + "attention.head_count");
  raw.n_head_kv = int_or_array(file, a + "attention.head_count_kv");
  raw.key_length = get_int("attention.key_length");
  raw.value_length = get_int("attention.value_length");
  raw.rope_dims = get_int("rope.dimension_count");
  raw.sliding_window = get_int("attention.sliding_window");
  raw.rms_eps = get_float("attention.layer_norm_rms_epsilon");
  raw.rope_base = get_float("rope.freq_base");
  raw.rope_base_global = get_float("rope.global.freq_base");
  raw.rope_base_local = get_float("rope.local.freq_base");
  if (!raw.rope_base_local) raw.rope_base_local = get_float("rope.freq_base_swa");
  if (auto type = file.get_string(a + "rope.scaling.type"))
    raw.rope_scaling_type = std::string(*type);
  raw.rope_scaling_factor = get_float("rope.scaling.factor");
  if (!raw.rope_scaling_factor) raw.rope_scaling_factor = get_float("rope.scale_linear");
  raw.rope_scaling_original_context = get_int("rope.scaling.original_context_length");
  raw.final_logit_softcap = get_float("final_logit_softcapping");
  raw.attn_logit_softcap = get_float("attn_logit_softcapping");
  raw.attention_scale = get_float("attention.scale");
  raw.n_expert = get_int("expert_count");
  raw.n_expert_used = get_int("expert_used_count");
  raw.n_ff_expert = get_int("expert_feed_forward_length");
  if (file.has(a + "attention.sliding_window_pattern")) {
    raw.sliding_window_period = get_int("attention.sliding_window_pattern");
    auto pattern = file.get_bool_array(a + "attention.sliding_window_pattern");
    if (!raw.sliding_window_period && pattern.ok()) raw.sliding_window_pattern = *pattern;
  }
  raw.has_vision_parts = file.has(a + "mm.tokens_per_image");
  for (const auto& t : file.tensors()) {
    if (starts_with(t.name, "v.") || starts_with(t.name, "mm.")) {
      raw.has_vision_parts = true;
      break;
    }
  }
  return raw;
}

void apply_hyperparam_quirks(RawHyperparams& raw, std::vector<std::string>* notes) {
  if (raw.architecture == "gemma3") {
    // Ollama's gemma3 converter omits eps and the global rope base, and writes the local base under
    // its own key (read above); llama.cpp's compat shim fills the same values.
    if (!raw.rms_eps) {
      raw.rms_eps = 1e-6;
      note(notes, "gemma3.attention.layer_norm_rms_epsilon missing: using 1e-6 (Gemma 3's value)");
    }
    if (!raw.rope_base && raw.rope_base_global) {
      raw.rope_base = raw.rope_base_global;
      note(notes, fmt::format("global rope base read from gemma3.rope.global.freq_base ({:g})",
                              *raw.rope_base));
    }
    if (!raw.rope_base) {
      raw.rope_base = 1e6;
      note(notes, "gemma3.rope.freq_base missing: using 1e6 for global layers (Gemma 3's value)");
    }
    if (!raw.rope_base_local) {
      raw.rope_base_local = 10000.0;  // llama.cpp hard-codes this for gemma3 local layers
    }
    // Gemma 3 4B/12B/27B train global layers with linear rope scaling 8; Ollama's files do not say
    // so. Decided by the trained context (131072) that only those sizes have, never by layer count.
    bool states_scaling = raw.rope_scaling_factor.has_value() || raw.rope_scaling_type.has_value();
    if (!states_scaling && raw.context_length && *raw.context_length >= 131072) {
      raw.rope_scaling_type = "linear";
      raw.rope_scaling_factor = 8.0;
      note(notes,
           fmt::format("rope scaling missing on a gemma3 file with context_length {}: linear "
                       "factor 8 injected for global layers (as Gemma 3 4B/12B/27B)",
                       *raw.context_length));
    }
    // Gemma 3 has no logit soft-capping; some Ollama 1B blobs say 30 (Gemma 2's value).
    if (raw.final_logit_softcap && *raw.final_logit_softcap != 0.0) {
      note(notes, fmt::format("gemma3.final_logit_softcapping {:g} ignored: Gemma 3 has none",
                              *raw.final_logit_softcap));
      raw.final_logit_softcap.reset();
    }
    if (raw.attn_logit_softcap && *raw.attn_logit_softcap != 0.0) {
      note(notes, fmt::format("gemma3.attn_logit_softcapping {:g} ignored: Gemma 3 has none",
                              *raw.attn_logit_softcap));
      raw.attn_logit_softcap.reset();
    }
  } else if (raw.architecture == "llama") {
    if (!raw.rms_eps) {
      raw.rms_eps = 1e-5;
      note(notes, "llama.attention.layer_norm_rms_epsilon missing: using 1e-5 (Llama's value)");
    }
  }
}

bool apply_vocab_quirks(const std::string& architecture, int64_t n_embedding_rows, VocabData& vocab,
                        std::vector<std::string>* notes) {
  bool changed = false;
  // Ollama's gemma3 files list multimodal tokens (<image_soft_token> ...) beyond token_embd's rows.
  if (n_embedding_rows > 0 && static_cast<int64_t>(vocab.tokens.size()) > n_embedding_rows) {
    note(notes, fmt::format("tokenizer has {} tokens but token_embd has {} rows: truncated to {}",
                            vocab.tokens.size(), n_embedding_rows, n_embedding_rows));
    size_t n = static_cast<size_t>(n_embedding_rows);
    vocab.tokens.resize(n);
    if (vocab.scores.size() > n) vocab.scores.resize(n);
    if (vocab.token_types.size() > n) vocab.token_types.resize(n);
    auto out_of_range = [&](int32_t id) { return id >= n_embedding_rows; };
    for (int32_t* id : {&vocab.bos_id, &vocab.eos_id, &vocab.unk_id, &vocab.pad_id, &vocab.eot_id,
                        &vocab.eom_id}) {
      if (out_of_range(*id)) *id = -1;
    }
    std::erase_if(vocab.eos_ids, out_of_range);
    changed = true;
  }
  auto find = [&](std::string_view piece) -> int32_t {
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
      if (vocab.tokens[i] == piece) return static_cast<int32_t>(i);
    }
    return -1;
  };
  auto is_eog = [&](int32_t id) {
    return id == vocab.eos_id || id == vocab.eot_id || id == vocab.eom_id ||
           std::find(vocab.eos_ids.begin(), vocab.eos_ids.end(), id) != vocab.eos_ids.end();
  };
  if (architecture == "llama" && vocab.model == "gpt2") {
    int32_t eot = find("<|eot_id|>");
    if (eot >= 0 && (vocab.eos_id != eot || vocab.eot_id != eot)) {
      // Llama 3 instruct files that stop on <|end_of_text|> never stop after an assistant turn.
      note(notes,
           fmt::format("llama3 vocabulary: EOS/EOT set to <|eot_id|> ({}) (file said EOS {}, "
                       "EOT {}); <|end_of_text|> and <|eom_id|> still end generation",
                       eot, vocab.eos_id, vocab.eot_id));
      for (int32_t id : {vocab.eos_id, find("<|end_of_text|>"), find("<|eom_id|>"), eot}) {
        if (id >= 0 &&
            std::find(vocab.eos_ids.begin(), vocab.eos_ids.end(), id) == vocab.eos_ids.end())
          vocab.eos_ids.push_back(id);
      }
      vocab.eos_id = eot;
      vocab.eot_id = eot;
      changed = true;
    }
    if (vocab.pre.empty() && eot >= 0) {
      vocab.pre = "llama-bpe";
      note(notes, "tokenizer.ggml.pre missing on a llama3 vocabulary: using llama-bpe");
      changed = true;
    }
  }
  if (architecture == "gemma3") {
    int32_t end_of_turn = find("<end_of_turn>");
    if (end_of_turn >= 0 && !is_eog(end_of_turn)) {
      if (vocab.eot_id < 0) {
        vocab.eot_id = end_of_turn;
      } else {
        vocab.eos_ids.push_back(end_of_turn);
      }
      note(notes, fmt::format("<end_of_turn> ({}) made an end-of-generation token", end_of_turn));
      changed = true;
    }
  }
  if (architecture == "gpt-oss" && !vocab.token_types.empty()) {
    // Harmony's message structure stays in the output text (the channel names the analysis and
    // final messages): llama.cpp marks these USER_DEFINED at load (§6, pitfall 9).
    int marked = 0;
    for (std::string_view text :
         {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", "<|end|>"}) {
      const int32_t id = find(text);
      if (id < 0 || static_cast<size_t>(id) >= vocab.token_types.size()) continue;
      auto& type = vocab.token_types[static_cast<size_t>(id)];
      if (type != static_cast<int32_t>(TokenType::kUserDefined)) {
        type = static_cast<int32_t>(TokenType::kUserDefined);
        ++marked;
      }
    }
    if (marked > 0) {
      note(notes, fmt::format("gpt-oss: {} harmony tokens (<|channel|>, <|message|>, <|start|>, "
                              "<|constrain|>, <|end|>) kept in output text (USER_DEFINED)",
                              marked));
      changed = true;
    }
  }
  return changed;
}

}  // namespace chimera::engine
