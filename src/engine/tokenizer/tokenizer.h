// src/engine/tokenizer/: text <-> token ids. tokenizer.h is the interface; tokenizer_impl.h holds
// the lookup tables and per-family encoders behind it (tokenizer_spm.cpp, tokenizer_bpe.cpp, the
// Llama 3 pre-tokenizer), built from a GGUF's tokenizer.ggml.* arrays (tokenizer_gguf.cpp) or an HF
// tokenizer.json (tokenizer_hf_import.cpp). chat_template.h renders chat messages into prompt text
// with the model family's special tokens. Tests compare ids with the real vocabularies' golden ids.
//
// Tokenizers read from GGUF `tokenizer.ggml.*` arrays (engine-reference.md §4): SentencePiece-style
// BPE with byte fallback (Gemma, model "llama") and byte-level BPE with the Llama 3 pre-tokenizer
// ("gpt2"). Encoding follows llama.cpp's llama-vocab.cpp so that prompts give the same ids as
// llama.cpp/Ollama.
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
class GgufWriter;

enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Everything a GGUF stores about a vocabulary; also what `model synth` writes.
struct VocabData {
  std::string model;  // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string
      pre;  // pre-tokenizer id: "llama-bpe" for Llama 3; "default" (or empty) for SentencePiece
  std::vector<std::string> tokens;
  std::vector<float> scores;  // SentencePiece merge priority (higher merges first); empty for gpt2
  std::vector<int32_t> token_types;  // TokenType values; empty means all kNormal
  std::vector<std::string> merges;   // "left right", rank = index (gpt2)
  // -1 = not set. read_vocab_from_gguf applies llama.cpp's SentencePiece defaults (bos 1, eos 2,
  // unk 0) when a "llama" file omits the keys.
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, eot_id = -1, eom_id = -1;
  std::vector<int32_t> eos_ids;  // extra end-of-generation ids (tokenizer.ggml.eos_token_ids)
  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = false;
  std::string chat_template;  // Jinja text, informational
};

class Tokenizer {
 public:
  // Validates the arrays (sizes, id ranges, token types, model and pre-tokenizer names) and builds
  // the lookup tables. Errors name the field and the offending value.
  static Result<std::shared_ptr<const Tokenizer>> from_vocab(VocabData vocab);
  // read_vocab_from_gguf + from_vocab. No Ollama quirk is applied here: the model loader fixes the
  // VocabData (engine/model/model_quirks.h) when it knows the architecture and token_embd's row
  // count.
  static Result<std::shared_ptr<const Tokenizer>> from_gguf(const GgufFile& file);

  // add_special: prepend BOS (and append EOS) as the vocabulary asks. parse_special: text such as
  // "<start_of_turn>" becomes its control token instead of being split as text (user-defined tokens
  // are always matched, as llama.cpp does).
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // Same, appending to `out` (callers that reuse a buffer avoid an allocation per call).
  void encode_into(std::string_view text, bool add_special, bool parse_special,
                   std::vector<int32_t>& out) const;
  // Concatenated bytes of the tokens (control tokens rendered only when render_special). Not
  // "cleaned": decode(encode(text)) == text for any text, byte for byte.
  std::string decode(std::span<const int32_t> tokens, bool render_special = false) const;
  // The raw bytes one token stands for (byte tokens give one byte; may be half a UTF-8 char).
  std::string token_to_bytes(int32_t token, bool render_special = false) const;
  // Same, appended to `out` (streaming without an allocation per token).
  void append_token_bytes(int32_t token, bool render_special, std::string& out) const;

  int32_t n_vocab() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  bool add_bos() const;
  // End-of-generation: eos, eot, eom, the eos_token_ids list, and tokens whose text llama.cpp
  // treats as end of turn (<|eot_id|>, <|eom_id|>, <|end_of_text|>, <end_of_turn>, <|im_end|>,
  // <|end|>,
  // <|endoftext|>, <EOT>).
  bool is_end_of_generation(int32_t token) const;
  std::optional<int32_t> find_token(std::string_view piece) const;
  // The stored piece (e.g. "▁world", "Ġworld", "<0x0A>"); empty for an id out of range.
  std::string_view token_text(int32_t token) const;
  TokenType token_type(int32_t token) const;  // kUndefined for an id out of range
  const VocabData& vocab() const;
  std::string_view model_name() const;  // "llama" or "gpt2"

  virtual ~Tokenizer() = default;

 protected:
  Tokenizer() = default;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Reads the tokenizer.ggml.* keys (and tokenizer.chat_template) of a GGUF file. Defaults for absent
// keys follow llama.cpp: add_bos true for "llama" and for the Llama 3 pre-tokenizer,
// add_space_prefix true for "llama", SentencePiece special ids bos 1 / eos 2 / unk 0.
Result<VocabData> read_vocab_from_gguf(const GgufFile& file);

// Writes exactly the keys llama.cpp's converter writes for this vocabulary: tokenizer.ggml.model,
// pre, tokens, scores ("llama" only), token_type, merges ("gpt2" only), the special ids that are
// set (u32), add_bos_token, add_eos_token, add_space_prefix ("llama" only), eos_token_ids when
// non-empty (as Ollama writes it) and tokenizer.chat_template when non-empty.
Status write_vocab_to_gguf(GgufWriter& writer, const VocabData& vocab);

// Reads a Hugging Face tokenizer.json (+ tokenizer_config.json beside it when present) into the
// GGUF arrays llama.cpp's converter would write: for Gemma, SentencePiece-style pieces with score
// -(merge rank)-1 for merged pieces; for Llama 3, gpt2 tokens + merges and pre "llama-bpe".
Result<VocabData> import_hf_tokenizer_json(const std::string& tokenizer_json_path);

// A synthetic vocabulary of n tokens for tests that must not need npm data: byte tokens, specials
// and simple merged pieces, shaped as the given family ("gemma3" -> SentencePiece, "llama" ->
// gpt2 with Llama 3's specials, "qwen" -> gpt2 with the qwen2 pre-tokenizer and ChatML specials,
// "gptoss" -> gpt2 with the gpt-4o pre-tokenizer and harmony specials).
VocabData synthetic_vocab(std::string_view family, int32_t n_tokens);

}  // namespace chimera::engine
