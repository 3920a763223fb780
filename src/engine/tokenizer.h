// Tokenizers read from GGUF `tokenizer.ggml.*` arrays (engine-reference.md §4): SentencePiece-style BPE
// with byte fallback (Gemma, model "llama") and byte-level BPE with the Llama 3 pre-tokenizer ("gpt2").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace chimera::engine {

class GgufFile;

enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

// Everything a GGUF stores about a vocabulary; also what `model synth` writes.
struct VocabData {
  std::string model;  // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string pre;    // pre-tokenizer id, e.g. "llama-bpe"; empty for SentencePiece
  std::vector<std::string> tokens;
  std::vector<float> scores;           // may be empty for gpt2
  std::vector<int32_t> token_types;    // TokenType values
  std::vector<std::string> merges;     // "left right", rank = index (gpt2)
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, eot_id = -1, eom_id = -1;
  std::vector<int32_t> eos_ids;        // extra end-of-generation ids (tokenizer.ggml.eos_token_ids)
  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = false;
  std::string chat_template;           // Jinja text, informational
};

class Tokenizer {
 public:
  static Result<std::shared_ptr<const Tokenizer>> from_vocab(VocabData vocab);
  static Result<std::shared_ptr<const Tokenizer>> from_gguf(const GgufFile& file);

  // add_special: prepend BOS (and append EOS) as the vocabulary asks. parse_special: text such as
  // "<start_of_turn>" becomes its control token instead of being split as text.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // Concatenated bytes of the tokens (control tokens rendered only when render_special).
  std::string decode(std::span<const int32_t> tokens, bool render_special = false) const;
  // The raw bytes one token stands for (byte tokens give one byte; may be half a UTF-8 char).
  std::string token_to_bytes(int32_t token, bool render_special = false) const;

  int32_t n_vocab() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  bool add_bos() const;
  // End-of-generation: eos, eot, eom and the eos_token_ids list.
  bool is_end_of_generation(int32_t token) const;
  std::optional<int32_t> find_token(std::string_view piece) const;
  const VocabData& vocab() const;
  std::string_view model_name() const;  // "llama" or "gpt2"

  virtual ~Tokenizer() = default;

 protected:
  Tokenizer() = default;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Reads a Hugging Face tokenizer.json (+ tokenizer_config.json beside it when present) into the GGUF
// arrays llama.cpp's converter would write: for Gemma, SentencePiece-style pieces with score
// -(merge rank)-1 for merged pieces; for Llama 3, gpt2 tokens + merges and pre "llama-bpe".
Result<VocabData> import_hf_tokenizer_json(const std::string& tokenizer_json_path);

// A synthetic vocabulary of n tokens for tests that must not need npm data: byte tokens, specials and
// simple merged pieces, shaped as the given family ("gemma3" -> SentencePiece, "llama" -> gpt2).
VocabData synthetic_vocab(std::string_view family, int32_t n_tokens);

}  // namespace chimera::engine
