// Small deterministic vocabularies shaped like the real ones, for tests and synthesized models that
// must not depend on the npm data: the same model types, special ids where the size allows, byte
// tokens, and merged pieces built so that common English words become single tokens.
#include <algorithm>
#include <cctype>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/tokenizer/tokenizer_impl.h"

namespace chimera::engine {

namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // '▁'

// Words whose pieces are added as merges (with and without a leading space marker).
constexpr std::string_view kWords[] = {
    "the",       "quick",      "brown",  "fox",   "jumps", "over",       "lazy", "dog",
    "hello",     "world",      "Hello",  "World", "token", "model",      "user", "system",
    "assistant", "and",        "of",     "to",    "in",    "is",         "it",   "that",
    "for",       "on",         "with",   "as",    "was",   "at",         "by",   "this",
    "from",      "are",        "be",     "or",    "an",    "not",        "have", "benchmark",
    "latency",   "throughput", "report", "data",  "test",  "caf\xC3\xA9"};

constexpr char kSingleChars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()[]{}<>/\\_=+*&%$#@";

struct Builder {
  VocabData v;
  // Views into v.tokens: valid because reserve() sizes the vector for every token up front.
  std::unordered_set<std::string_view> present;
  bool spm = false;
  int32_t capacity = 0;  // ids available for pieces (specials at the end excluded)

  void reserve(size_t n_total) {
    v.tokens.reserve(n_total);
    v.token_types.reserve(n_total);
    if (spm) v.scores.reserve(n_total);
    present.reserve(n_total);
  }
  bool full() const { return static_cast<int32_t>(v.tokens.size()) >= capacity; }
  int32_t add(std::string text, TokenType type, float score = 0.0f) {
    v.tokens.push_back(std::move(text));
    present.insert(v.tokens.back());
    v.token_types.push_back(static_cast<int32_t>(type));
    if (spm) v.scores.push_back(score);
    return static_cast<int32_t>(v.tokens.size() - 1);
  }
  // A merge of two existing pieces (SentencePiece: a scored piece; gpt2: a merge rule + token).
  void add_merge(const std::string& left, const std::string& right) {
    std::string joined = left + right;
    if (full() || present.count(joined) || !present.count(left) || !present.count(right)) return;
    if (spm) {
      // Score order is merge order: each new piece ranks below every earlier one.
      add(joined, TokenType::kNormal, -static_cast<float>(v.tokens.size()));
    } else {
      v.merges.push_back(left + " " + right);
      add(joined, TokenType::kNormal);
    }
  }
  // Adds the pieces of `units` left to right: u0+u1, (u0u1)+u2, ...
  void add_word(const std::vector<std::string>& units) {
    std::string prefix = units.empty() ? "" : units[0];
    for (size_t i = 1; i < units.size(); ++i) {
      add_merge(prefix, units[i]);
      prefix += units[i];
    }
  }
};

std::vector<std::string> utf8_chars(std::string_view text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    size_t len = std::min(tokenizer_detail::utf8_sequence_length(static_cast<uint8_t>(text[i])),
                          text.size() - i);
    out.emplace_back(text.substr(i, len));
    i += len;
  }
  return out;
}

// Byte-level units: each byte's stand-in code point.
std::vector<std::string> byte_level_units(std::string_view text) {
  std::vector<std::string> out;
  for (unsigned char b : text) {
    std::string unit;
    tokenizer_detail::append_utf8(tokenizer_detail::byte_to_code_point()[b], unit);
    out.push_back(unit);
  }
  return out;
}

// Fills the remaining ids with merged pieces: every pair of alphabet units, then pair + unit, so a
// large synthetic vocabulary looks like a real one (mostly normal pieces, few specials).
void fill_with_merges(Builder& b, const std::vector<std::string>& alphabet) {
  std::vector<std::string> pairs;
  for (const auto& x : alphabet) {
    for (const auto& y : alphabet) {
      if (b.full()) return;
      b.add_merge(x, y);
      pairs.push_back(x + y);
    }
  }
  for (const auto& xy : pairs) {
    for (const auto& z : alphabet) {
      if (b.full()) return;
      b.add_merge(xy, z);
    }
  }
}

VocabData sentencepiece_vocab(int32_t n) {
  Builder b;
  b.spm = true;
  bool specials_at_gemma_ids = n >= 512;  // room for ids 105/106 as in Gemma 3
  int32_t minimum = 4 + 3 + 256 + static_cast<int32_t>(sizeof(kSingleChars)) + 1;
  b.capacity = std::max(n, minimum);
  b.reserve(static_cast<size_t>(b.capacity) + 512);  // slack: mandatory tokens never reallocate
  b.add("<pad>", TokenType::kControl);
  b.add("<eos>", TokenType::kControl);
  b.add("<bos>", TokenType::kControl);
  b.add("<unk>", TokenType::kUnknown);
  int32_t n_unused = 0;
  if (specials_at_gemma_ids) {
    while (b.v.tokens.size() < 105)
      b.add(fmt::format("<unused{}>", n_unused++), TokenType::kControl);
  }
  b.add("<start_of_turn>", TokenType::kControl);
  int32_t end_of_turn = b.add("<end_of_turn>", TokenType::kControl);
  b.add("\n", TokenType::kUserDefined);  // Gemma 3: newline runs are user-defined tokens
  for (int byte = 0; byte < 256; ++byte) b.add(fmt::format("<0x{:02X}>", byte), TokenType::kByte);
  b.add(std::string(kSpaceMarker), TokenType::kNormal);
  std::vector<std::string> alphabet;
  for (const char* c = kSingleChars; *c != '\0'; ++c) {
    alphabet.emplace_back(1, *c);
    b.add(alphabet.back(), TokenType::kNormal);
  }
  b.add("\xC3\xA9", TokenType::kNormal);  // é
  for (std::string_view word : kWords) {
    b.add_word(utf8_chars(std::string(kSpaceMarker) + std::string(word)));
    b.add_word(utf8_chars(word));
  }
  fill_with_merges(b, alphabet);
  while (!b.full()) b.add(fmt::format("<unused{}>", n_unused++), TokenType::kControl);
  VocabData& v = b.v;
  v.model = "llama";
  v.pre = "default";
  v.pad_id = 0;
  v.eos_id = 1;
  v.bos_id = 2;
  v.unk_id = 3;
  v.eos_ids = {1, end_of_turn};
  v.add_bos = true;
  v.add_eos = false;
  v.add_space_prefix = false;
  return std::move(b.v);
}

// The fields of a byte-level vocabulary whose BOS is never prepended (Qwen, gpt-oss).
VocabData finish_unprefixed(Builder& b, const char* pre, int32_t bos, int32_t eos, int32_t pad) {
  VocabData& v = b.v;
  v.model = "gpt2";
  v.pre = pre;
  v.bos_id = bos;
  v.eos_id = eos;
  v.pad_id = pad;
  v.add_bos = false;
  v.add_eos = false;
  v.add_space_prefix = false;
  return std::move(b.v);
}

// Qwen's specials (engine-reference-models.md §6): ChatML control tokens, then the user-defined
// reasoning and tool tokens, after the byte-level pieces.
VocabData qwen_vocab(Builder& b) {
  int32_t base = static_cast<int32_t>(b.v.tokens.size());
  for (const char* text : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    b.add(text, TokenType::kControl);
  }
  for (const char* text : {"<tool_call>", "</tool_call>", "<think>", "</think>"}) {
    b.add(text, TokenType::kUserDefined);
  }
  // BOS and pad <|endoftext|>, EOS <|im_end|>
  return finish_unprefixed(b, "qwen2", base, base + 2, base);
}

// gpt-oss's harmony specials (engine-reference-models.md §6), as the converter writes them (all
// CONTROL; the loader makes the channel tokens USER_DEFINED, as llama.cpp does), after the pieces.
VocabData gptoss_vocab(Builder& b) {
  int32_t base = static_cast<int32_t>(b.v.tokens.size());
  for (const char* text : {"<|startoftext|>", "<|endoftext|>", "<|return|>", "<|constrain|>",
                           "<|channel|>", "<|start|>", "<|end|>", "<|message|>", "<|call|>"}) {
    b.add(text, TokenType::kControl);
  }
  // BOS <|startoftext|>, EOS <|return|>, pad <|endoftext|>
  return finish_unprefixed(b, "gpt-4o", base, base + 2, base + 1);
}

enum class ByteLevelFamily { kLlama3, kQwen, kGptOss };

VocabData byte_level_vocab(int32_t n, ByteLevelFamily family) {
  Builder b;
  const bool qwen = family == ByteLevelFamily::kQwen;
  // Llama 3 reserves 256 ids at the end
  int32_t n_special = qwen ? 7 : family == ByteLevelFamily::kGptOss ? 9 : n >= 1024 ? 256 : 10;
  int32_t minimum = 256 + 64 + n_special;
  n = std::max(n, minimum);
  b.capacity = n - n_special;
  b.reserve(static_cast<size_t>(n) + 512);
  // GPT-2 order: the printable bytes first, then the remapped ones (the order of their stand-ins).
  std::vector<std::pair<uint32_t, int>> by_code_point;
  for (int byte = 0; byte < 256; ++byte) {
    by_code_point.emplace_back(tokenizer_detail::byte_to_code_point()[static_cast<size_t>(byte)],
                               byte);
  }
  std::sort(by_code_point.begin(), by_code_point.end());
  std::vector<std::string> alphabet;
  for (const auto& [cp, byte] : by_code_point) {
    std::string unit;
    tokenizer_detail::append_utf8(cp, unit);
    b.add(unit, TokenType::kNormal);
    if (std::isalnum(byte)) alphabet.push_back(unit);
  }
  for (std::string_view word : kWords) {
    b.add_word(byte_level_units(" " + std::string(word)));
    b.add_word(byte_level_units(word));
  }
  b.add_word(byte_level_units("  "));
  b.add_word(byte_level_units("\n\n"));
  fill_with_merges(b, alphabet);
  while (!b.full()) b.add(fmt::format("[PAD{}]", b.v.tokens.size()), TokenType::kUnused);
  if (qwen) return qwen_vocab(b);
  if (family == ByteLevelFamily::kGptOss) return gptoss_vocab(b);
  int32_t base = static_cast<int32_t>(b.v.tokens.size());
  const char* named[] = {"<|begin_of_text|>",
                         "<|end_of_text|>",
                         "<|reserved_special_token_0|>",
                         "<|reserved_special_token_1|>",
                         "<|finetune_right_pad_id|>",
                         "<|reserved_special_token_2|>",
                         "<|start_header_id|>",
                         "<|end_header_id|>",
                         "<|eom_id|>",
                         "<|eot_id|>"};
  for (const char* text : named) b.add(text, TokenType::kControl);
  for (int32_t i = 10; i < n_special; ++i) {
    b.add(fmt::format("<|reserved_special_token_{}|>", i - 7), TokenType::kControl);
  }
  VocabData& v = b.v;
  v.model = "gpt2";
  v.pre = "llama-bpe";
  v.bos_id = base;
  v.eos_id = base + 9;  // <|eot_id|>, as Llama 3.1 instruct
  v.eot_id = base + 9;
  v.eom_id = base + 8;
  v.add_bos = true;
  v.add_eos = false;
  v.add_space_prefix = false;
  return std::move(b.v);
}

}  // namespace

VocabData synthetic_vocab(std::string_view family, int32_t n_tokens) {
  if (family == "gemma3" || family == "gemma" || family == "llama-spm") {
    return sentencepiece_vocab(n_tokens);
  }
  return byte_level_vocab(n_tokens, family.starts_with("qwen") ? ByteLevelFamily::kQwen
                                    : family == "gptoss"       ? ByteLevelFamily::kGptOss
                                                               : ByteLevelFamily::kLlama3);
}

}  // namespace chimera::engine
