// Tokenizer construction from VocabData: validation with errors that name the field and value, and
// the lookup tables (piece index, byte tokens, merge ranks, special-token trie, end-of-generation
// set). This runs at every model load, so it avoids per-token allocations beyond the arrays
// themselves.
#include <algorithm>
#include <array>
#include <cstdio>

#include <fmt/format.h>

#include "engine/tokenizer/tokenizer_impl.h"

namespace chimera::engine {

namespace {

using tokenizer_detail::TokenizerState;

bool is_llama3_pre(std::string_view pre) {
  return pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3";
}
// llama.cpp's names for the Qwen pre-tokenizer (qwen2: Qwen2, Qwen2.5, Qwen3; deepseek-r1-qwen).
bool is_qwen2_pre(std::string_view pre) { return pre == "qwen2" || pre == "deepseek-r1-qwen"; }
// o200k (gpt-oss; llama.cpp also reads llama4's files with it).
bool is_o200k_pre(std::string_view pre) { return pre == "gpt-4o" || pre == "llama4"; }

Status validate(const VocabData& v) {
  if (v.model != "llama" && v.model != "gpt2") {
    return make_error(ErrorCode::kUnsupported,
                      "tokenizer.ggml.model '{}' is not supported; this build reads 'llama' "
                      "(SentencePiece, Gemma) and 'gpt2' (byte-level BPE, Llama 3)",
                      v.model);
  }
  if (v.model == "gpt2" && !v.pre.empty() && v.pre != "default" && !is_llama3_pre(v.pre) &&
      !is_qwen2_pre(v.pre) && !is_o200k_pre(v.pre)) {
    return make_error(ErrorCode::kUnsupported,
                      "tokenizer.ggml.pre '{}' is not supported; this build implements the Llama 3 "
                      "pre-tokenizer ('llama-bpe', also spelled 'llama3' or 'llama-v3'), Qwen's "
                      "('qwen2') and o200k ('gpt-4o')",
                      v.pre);
  }
  if (v.tokens.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "tokenizer.ggml.tokens is empty; a vocabulary needs at least one token");
  }
  if (v.tokens.size() > static_cast<size_t>(INT32_MAX)) {
    return make_error(ErrorCode::kOutOfRange, "tokenizer.ggml.tokens has {} entries; at most {}",
                      v.tokens.size(), INT32_MAX);
  }
  size_t n = v.tokens.size();
  if (!v.scores.empty() && v.scores.size() != n) {
    return make_error(ErrorCode::kInvalidArgument,
                      "tokenizer.ggml.scores has {} entries but tokenizer.ggml.tokens has {}; they "
                      "must match",
                      v.scores.size(), n);
  }
  if (!v.token_types.empty() && v.token_types.size() != n) {
    return make_error(ErrorCode::kInvalidArgument,
                      "tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {}; "
                      "they must match",
                      v.token_types.size(), n);
  }
  for (size_t i = 0; i < v.token_types.size(); ++i) {
    if (v.token_types[i] < 0 || v.token_types[i] > static_cast<int32_t>(TokenType::kByte)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "tokenizer.ggml.token_type[{}] is {}; valid types are 0..6 (1 normal, 2 "
                        "unknown, 3 control, 4 user-defined, 5 unused, 6 byte)",
                        i, v.token_types[i]);
    }
  }
  struct Named {
    const char* key;
    int32_t id;
  };
  for (Named special : {Named{"bos_token_id", v.bos_id}, Named{"eos_token_id", v.eos_id},
                        Named{"unknown_token_id", v.unk_id}, Named{"padding_token_id", v.pad_id},
                        Named{"eot_token_id", v.eot_id}, Named{"eom_token_id", v.eom_id}}) {
    if (special.id < -1 || special.id >= static_cast<int64_t>(n)) {
      return make_error(ErrorCode::kOutOfRange,
                        "tokenizer.ggml.{} is {} but the vocabulary has {} tokens (ids 0..{})",
                        special.key, special.id, n, n - 1);
    }
  }
  for (int32_t id : v.eos_ids) {
    if (id < 0 || id >= static_cast<int64_t>(n)) {
      return make_error(ErrorCode::kOutOfRange,
                        "tokenizer.ggml.eos_token_ids contains {} but the vocabulary has {} tokens",
                        id, n);
    }
  }
  return Status::ok();
}

void build_byte_tokens(TokenizerState& s) {
  const auto& cp = tokenizer_detail::byte_to_code_point();
  std::string text;
  for (int b = 0; b < 256; ++b) {
    int32_t id = -1;
    if (s.is_spm) {
      char piece[8];
      std::snprintf(piece, sizeof(piece), "<0x%02X>", b);
      id = s.index.find(piece);
      const char raw = static_cast<char>(b);
      if (id < 0) id = s.index.find(std::string_view(&raw, 1));
    } else {
      text.clear();
      tokenizer_detail::append_utf8(cp[static_cast<size_t>(b)], text);
      id = s.index.find(text);
    }
    s.byte_tokens[static_cast<size_t>(b)] = id;
  }
}

void build_merges(TokenizerState& s) {
  const auto& merges = s.vocab.merges;
  s.merges.reserve(merges.size());
  // Three piece lookups per merge (280k merges for Llama 3) are cache misses; doing them in batches
  // whose slots are prefetched first overlaps the misses instead of paying them one after another.
  constexpr size_t kBatch = 32;
  struct Item {
    std::string_view left, right;
    uint32_t left_hash, right_hash, joined_hash;
    int32_t left_id, right_id, result;
  };
  std::array<Item, kBatch> batch;
  for (size_t base = 0; base < merges.size(); base += kBatch) {
    size_t count = std::min(kBatch, merges.size() - base);
    for (size_t k = 0; k < count; ++k) {
      std::string_view merge = merges[base + k];
      // Searching from 1 lets a left part that is itself a space work, as llama.cpp does.
      size_t space = merge.find(' ', 1);
      Item& item = batch[k];
      if (space == std::string_view::npos) {
        item.left = {};
        item.right = {};
        continue;
      }
      item.left = merge.substr(0, space);
      item.right = merge.substr(space + 1);
      item.left_hash = tokenizer_detail::hash_bytes(item.left);
      item.right_hash = tokenizer_detail::hash_bytes(item.right);
      item.joined_hash = tokenizer_detail::hash_bytes(item.right, item.left_hash);
      s.index.prefetch(item.left_hash);
      s.index.prefetch(item.right_hash);
      s.index.prefetch(item.joined_hash);
    }
    for (size_t k = 0; k < count; ++k) {
      Item& item = batch[k];
      item.result = -1;
      if (item.left.empty()) continue;
      item.left_id = s.index.find(item.left, {}, item.left_hash);
      item.right_id = s.index.find(item.right, {}, item.right_hash);
      item.result = s.index.find(item.left, item.right, item.joined_hash);
      if (item.left_id >= 0 && item.right_id >= 0) s.merges.prefetch(item.left_id, item.right_id);
    }
    for (size_t k = 0; k < count; ++k) {
      const Item& item = batch[k];
      // A merge whose parts or result are not tokens can never fire on token symbols.
      if (item.result < 0 || item.left_id < 0 || item.right_id < 0) continue;
      s.merges.insert(item.left_id, item.right_id, static_cast<int32_t>(base + k), item.result);
    }
  }
}

void build_specials(TokenizerState& s) {
  const auto& tokens = s.vocab.tokens;
  std::vector<int32_t> ids;
  for (size_t id = 0; id < tokens.size(); ++id) {
    TokenType t = s.types[id];
    if ((t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown) &&
        !tokens[id].empty()) {
      ids.push_back(static_cast<int32_t>(id));
    }
  }
  // llama.cpp's cache_special_tokens order: longest text first (ties here: lower id first).
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    size_t la = tokens[static_cast<size_t>(a)].size();
    size_t lb = tokens[static_cast<size_t>(b)].size();
    return la != lb ? la > lb : a < b;
  });
  s.special_priority.assign(tokens.size(), UINT32_MAX);
  for (size_t rank = 0; rank < ids.size(); ++rank) {
    s.special_priority[static_cast<size_t>(ids[rank])] = static_cast<uint32_t>(rank);
  }
  s.specials.build(ids, tokens);
}

void build_end_of_generation(TokenizerState& s) {
  const VocabData& v = s.vocab;
  std::vector<int32_t>& eog = s.end_of_generation;
  for (int32_t id : {v.eos_id, v.eot_id, v.eom_id}) {
    if (id >= 0) eog.push_back(id);
  }
  eog.insert(eog.end(), v.eos_ids.begin(), v.eos_ids.end());
  // llama.cpp also ends generation on these texts wherever they are in the vocabulary.
  // And on Qwen's fill-in-the-middle pad and separators (llama.cpp adds its FIM pad/rep/sep ids).
  // Harmony (gpt-oss, engine-reference-models.md §6, pitfall 9): <|return|> and <|call|> end a
  // turn; <|end|> closes the analysis message before the final one, so it does not end generation.
  const bool harmony = s.index.find("<|return|>") >= 0 && s.index.find("<|call|>") >= 0;
  for (std::string_view text :
       {"<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|im_end|>", "<|end|>", "<|endoftext|>",
        "<EOT>", "<|end_of_text|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|return|>",
        "<|call|>"}) {
    if (harmony && text == "<|end|>") continue;
    int32_t id = s.index.find(text);
    if (id >= 0) eog.push_back(id);
  }
  if (harmony) std::erase(eog, s.index.find("<|end|>"));
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
}

}  // namespace

Result<std::shared_ptr<const Tokenizer>> Tokenizer::from_vocab(VocabData vocab) {
  CHIMERA_RETURN_IF_ERROR(validate(vocab));
  std::shared_ptr<Tokenizer> tokenizer(new Tokenizer());
  auto impl = std::make_shared<Impl>();
  impl->vocab = std::move(vocab);
  TokenizerState& s = *impl;
  s.is_spm = s.vocab.model == "llama";
  size_t n = s.vocab.tokens.size();
  s.types.resize(n, TokenType::kNormal);
  for (size_t i = 0; i < s.vocab.token_types.size(); ++i) {
    s.types[i] = static_cast<TokenType>(s.vocab.token_types[i]);
  }
  s.index.build(s.vocab.tokens);
  build_byte_tokens(s);
  if (!s.is_spm) {
    build_merges(s);
    // llama.cpp ignores merges (a word that is a token is one token) for Llama 3 only.
    s.ignore_merges = is_llama3_pre(s.vocab.pre);
    // o200k: HF's tokenizer.json sets ignore_merges too, and the package's ids follow it.
    s.ignore_merges = s.ignore_merges || is_o200k_pre(s.vocab.pre);
    const auto kind = is_qwen2_pre(s.vocab.pre)   ? tokenizer_detail::PreTokenizerKind::kQwen2
                      : is_o200k_pre(s.vocab.pre) ? tokenizer_detail::PreTokenizerKind::kO200k
                                                  : tokenizer_detail::PreTokenizerKind::kLlama3;
    CHIMERA_ASSIGN_OR_RETURN(s.pre_tokenizer, tokenizer_detail::Llama3PreTokenizer::create(kind));
  }
  build_specials(s);
  build_end_of_generation(s);
  tokenizer->impl_ = std::move(impl);
  return std::shared_ptr<const Tokenizer>(std::move(tokenizer));
}

int32_t Tokenizer::n_vocab() const { return static_cast<int32_t>(impl_->vocab.tokens.size()); }
int32_t Tokenizer::bos_id() const { return impl_->vocab.bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->vocab.eos_id; }
bool Tokenizer::add_bos() const { return impl_->vocab.add_bos; }
const VocabData& Tokenizer::vocab() const { return impl_->vocab; }
std::string_view Tokenizer::model_name() const { return impl_->vocab.model; }

bool Tokenizer::is_end_of_generation(int32_t token) const {
  const auto& eog = impl_->end_of_generation;
  return std::binary_search(eog.begin(), eog.end(), token);
}

std::optional<int32_t> Tokenizer::find_token(std::string_view piece) const {
  int32_t id = impl_->index.find(piece);
  if (id < 0) return std::nullopt;
  return id;
}

std::string_view Tokenizer::token_text(int32_t token) const {
  if (token < 0 || token >= n_vocab()) return {};
  return impl_->vocab.tokens[static_cast<size_t>(token)];
}

TokenType Tokenizer::token_type(int32_t token) const {
  if (token < 0 || token >= n_vocab()) return TokenType::kUndefined;
  return impl_->types[static_cast<size_t>(token)];
}

}  // namespace chimera::engine
