// What constrained decoding needs to know about a vocabulary, computed once per model so that a
// decoding step never scans the text of 262k tokens:
//  - each token's bytes (as the text streamer emits them);
//  - a byte trie of all tokens in depth-first order with skip links, so a mask walks only the
//    prefixes the grammar can still take and skips a refused subtree in one jump;
//  - for JSON string bodies, the largest state by far: the "plain" tokens (only characters that
//    need no escape, whole UTF-8 characters) with their character counts, and for the others the
//    byte where their plain run ends, with a trie of those suffixes. Inside a string, a mask is the
//    plain set plus a walk of the (few) suffixes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace chimera::engine {

class Tokenizer;

// A byte trie in depth-first order. Node i's children follow it; skip is the index past its
// subtree. Tokens whose bytes end at node i are entries[entry_begin, entry_end).
struct ByteTrie {
  struct Node {
    uint32_t skip = 0;
    uint32_t entry_begin = 0, entry_end = 0;
    uint16_t depth = 0;  // bytes from the root (root's children have depth 1)
    uint8_t byte = 0;
  };
  std::vector<Node> nodes;  // nodes[0] is the root (no byte)
  uint16_t max_depth = 0;
};

class GrammarVocabulary {
 public:
  // `n_vocab`: the ids a model can sample (the tokenizer may know fewer: those are never allowed).
  static std::shared_ptr<const GrammarVocabulary> build(const Tokenizer& tokenizer,
                                                        int32_t n_vocab);

  int32_t n_vocab() const { return n_vocab_; }
  std::string_view bytes(int32_t token) const {
    return std::string_view(arena_).substr(
        offsets_[static_cast<size_t>(token)],
        offsets_[static_cast<size_t>(token) + 1] - offsets_[static_cast<size_t>(token)]);
  }
  const std::vector<int32_t>& end_of_generation() const { return end_of_generation_; }

  const ByteTrie& trie() const { return trie_; }
  const std::vector<int32_t>& trie_tokens() const { return trie_tokens_; }

  // JSON string bodies.
  const std::vector<uint64_t>& plain_bits() const { return plain_bits_; }  // one bit per token
  const std::vector<int32_t>& plain_tokens() const { return plain_tokens_; }
  // Characters of each plain token (0 for the others); saturates at 65535.
  uint16_t plain_chars(int32_t token) const { return plain_chars_[static_cast<size_t>(token)]; }
  struct Suffix {
    int32_t token = 0;
    uint32_t offset = 0;        // where the plain run ends in the token's bytes
    uint32_t prefix_chars = 0;  // characters before it
  };
  // Tokens with bytes that are not plain string characters, by suffix (in suffix_trie order).
  const ByteTrie& suffix_trie() const { return suffix_trie_; }
  const std::vector<Suffix>& suffixes() const { return suffixes_; }

  size_t memory_bytes() const;

 private:
  int32_t n_vocab_ = 0;
  std::string arena_;
  std::vector<uint32_t> offsets_;
  std::vector<int32_t> end_of_generation_;
  ByteTrie trie_;
  std::vector<int32_t> trie_tokens_;
  std::vector<uint64_t> plain_bits_;
  std::vector<int32_t> plain_tokens_;
  std::vector<uint16_t> plain_chars_;
  ByteTrie suffix_trie_;
  std::vector<Suffix> suffixes_;
};

}  // namespace chimera::engine
