// Internal to src/engine/tokenizer/tokenizer_*.cpp: lookup tables a Tokenizer is built from, and
// the per-family encoders. Not part of the engine's interface.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace chimera::engine::tokenizer_detail {

// 32-bit FNV-1a: short keys, good enough spread for the open-addressing tables below. Hashing b
// with seed hash_bytes(a) gives hash_bytes(a + b), so a concatenation is hashed without building
// it.
inline uint32_t hash_bytes(std::string_view bytes, uint32_t seed = 2166136261u) {
  uint32_t h = seed;
  for (unsigned char c : bytes) h = (h ^ c) * 16777619u;
  return h;
}

// Piece text -> token id. Open addressing over ids; the keys are copied into one contiguous arena
// so that a lookup touches a slot and a few arena bytes, not a std::string object and its heap
// block. Later duplicates win, as in llama.cpp's token_to_id map.
class PieceIndex {
 public:
  void build(const std::vector<std::string>& pieces);
  int32_t find(std::string_view piece) const { return find(piece, {}, hash_bytes(piece)); }
  // The id of left + right, given hash_bytes(left + right). -1 when absent.
  int32_t find(std::string_view left, std::string_view right, uint32_t hash) const;
  // Bulk lookups (the merges at load time) prefetch their slots first to overlap cache misses.
  void prefetch(uint32_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & mask_]);
  }

 private:
  struct Slot {
    uint32_t hash = 0;
    int32_t id = -1;
  };
  std::string_view piece(int32_t id) const {
    return std::string_view(arena_).substr(
        offsets_[static_cast<size_t>(id)],
        offsets_[static_cast<size_t>(id) + 1] - offsets_[static_cast<size_t>(id)]);
  }
  std::vector<Slot> slots_;
  uint32_t mask_ = 0;
  std::string arena_;
  std::vector<uint32_t> offsets_;  // n + 1 entries
};

// (left id, right id) -> merge rank and the merged token, for byte-level BPE.
class MergeTable {
 public:
  struct Entry {
    uint64_t key = ~uint64_t{0};
    int32_t rank = -1;
    int32_t result = -1;
  };
  void reserve(size_t n_merges);
  void insert(int32_t left, int32_t right, int32_t rank, int32_t result);  // first insert wins
  const Entry* find(int32_t left, int32_t right) const;
  void prefetch(int32_t left, int32_t right) const;
  size_t size() const { return size_; }

 private:
  static uint64_t key_of(int32_t left, int32_t right) {
    return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  }
  std::vector<Entry> slots_;
  uint64_t mask_ = 0;
  size_t size_ = 0;
};

// Finds the special (control / user-defined / unknown) token texts in a string: a byte trie, walked
// from each position.
class SpecialMatcher {
 public:
  // `ids` are the candidates; `texts` is the vocabulary.
  void build(const std::vector<int32_t>& ids, const std::vector<std::string>& texts);
  bool empty() const { return nodes_.size() <= 1; }
  // Calls on_match(id) for every occurrence (overlapping ones included) of every candidate that
  // `allowed` accepts.
  template <typename Allowed, typename OnMatch>
  void for_each_match(std::string_view text, const Allowed& allowed, const OnMatch& on_match) const;

 private:
  struct Node {
    uint32_t first_edge = 0;  // edges_[first_edge, first_edge + n_edges) sorted by byte
    uint16_t n_edges = 0;
    int32_t token = -1;  // a special ends here
  };
  struct Edge {
    uint8_t byte;
    uint32_t child;
  };
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  std::array<int32_t, 256> root_child_{};  // -1 when no special starts with this byte
  uint32_t child(uint32_t node, uint8_t byte) const;
};

template <typename Allowed, typename OnMatch>
void SpecialMatcher::for_each_match(std::string_view text, const Allowed& allowed,
                                    const OnMatch& on_match) const {
  if (empty()) return;
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  for (size_t start = 0; start < text.size(); ++start) {
    int32_t first = root_child_[bytes[start]];
    if (first < 0) continue;
    uint32_t node = static_cast<uint32_t>(first);
    size_t pos = start + 1;
    while (true) {
      int32_t token = nodes_[node].token;
      if (token >= 0 && allowed(token)) on_match(token);
      if (pos >= text.size()) break;
      uint32_t next = child(node, bytes[pos]);
      if (next == 0) break;
      node = next;
      ++pos;
    }
  }
}

// The Llama 3 pre-tokenizer regex (PCRE2, UTF + UCP + JIT). One compiled pattern, shared by
// threads.
// The byte-level pre-tokenizers: "llama-bpe" (Llama 3: digits in runs of up to 3) and "qwen2"
// (the same pattern with every digit a word of its own, engine-reference-models.md §6).
// "gpt-4o" (o200k: gpt-oss) splits words by letter case and keeps contractions on them.
enum class PreTokenizerKind { kLlama3, kQwen2, kO200k };

class Llama3PreTokenizer {
 public:
  static Result<std::unique_ptr<Llama3PreTokenizer>> create(
      PreTokenizerKind kind = PreTokenizerKind::kLlama3);
  ~Llama3PreTokenizer();
  Llama3PreTokenizer(const Llama3PreTokenizer&) = delete;
  Llama3PreTokenizer& operator=(const Llama3PreTokenizer&) = delete;
  // Splits `text` into words (offset, length) covering it entirely, in order. Invalid UTF-8 bytes
  // never match the pattern and come out as words of their own.
  void split(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>& words) const;

 private:
  Llama3PreTokenizer() = default;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

// Everything Tokenizer::Impl holds; free functions in the tokenizer_*.cpp files take it.
struct TokenizerState {
  VocabData vocab;
  bool is_spm = false;  // model "llama"
  std::vector<TokenType> types;
  PieceIndex index;
  // SentencePiece: <0xNN> tokens. Byte-level BPE: the token of bytes_to_unicode(byte).
  std::array<int32_t, 256> byte_tokens{};
  // Byte-level BPE.
  MergeTable merges;
  std::unique_ptr<Llama3PreTokenizer> pre_tokenizer;
  bool ignore_merges = true;
  // Special tokens tried by the partition, longest text first (ties: lower id first).
  SpecialMatcher specials;
  std::vector<uint32_t> special_priority;  // per token id: rank in that order (UINT32_MAX = none)
  std::vector<int32_t> end_of_generation;  // sorted
};

// Encoders for one raw-text fragment (no special tokens inside).
void encode_spm_fragment(const TokenizerState& state, std::string_view text, bool add_space_prefix,
                         std::vector<int32_t>& out);
void encode_bpe_fragment(const TokenizerState& state, std::string_view text,
                         std::vector<int32_t>& out);

// A piece of the input after special-token partition: raw text, or one token.
struct Fragment {
  int32_t token = -1;   // >= 0: a special token
  uint32_t offset = 0;  // raw text range when token < 0
  uint32_t length = 0;
};
// llama.cpp's tokenizer_st_partition: candidates tried longest text first, each matched left to
// right inside the raw text that longer candidates left.
void partition_special(const TokenizerState& state, std::string_view text, bool parse_special,
                       std::vector<Fragment>& out);

// GPT-2's bytes_to_unicode: the code point standing for each byte, and the reverse (-1 = none).
const std::array<uint32_t, 256>& byte_to_code_point();
int byte_from_code_point(uint32_t code_point);
// Appends the UTF-8 encoding of a code point.
void append_utf8(uint32_t code_point, std::string& out);
// Length of the UTF-8 sequence a lead byte announces, from its high nibble as llama.cpp's
// unicode_len_utf8 does (continuation bytes count as 1; callers clamp to what is left).
inline size_t utf8_sequence_length(uint8_t lead) {
  static constexpr uint8_t kByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kByHighNibble[lead >> 4];
}

}  // namespace chimera::engine::tokenizer_detail

namespace chimera::engine {
struct Tokenizer::Impl : tokenizer_detail::TokenizerState {};
}  // namespace chimera::engine
