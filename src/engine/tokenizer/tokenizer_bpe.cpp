// Byte-level BPE (model "gpt2", pre "llama-bpe"; Llama 3), engine-reference.md §4.2: the Llama 3
// regex splits the text into words; each word's bytes map through GPT-2's bytes_to_unicode; a word
// that is itself a vocabulary entry is one token (ignore_merges); otherwise adjacent symbols merge
// by merge rank (lowest first, leftmost on ties).
#include <algorithm>

#include "engine/tokenizer/tokenizer_impl.h"

namespace chimera::engine::tokenizer_detail {

namespace {

struct Symbol {
  uint32_t n;  // bytes of the original word covered; 0 once merged into its left neighbour
  int32_t prev;
  int32_t next;
  int32_t id;
};

struct Bigram {
  int32_t rank;
  int32_t left;
  int32_t right;
  uint32_t size;
  int32_t id;
};

// Max-heap order giving llama.cpp's llm_bigram_bpe: lowest rank first, then the leftmost pair.
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

// The UTF-8 text of each byte's stand-in code point, precomputed (1 or 2 bytes each).
struct MappedBytes {
  char text[256][2];
  uint8_t length[256];
  MappedBytes() {
    const auto& cp = byte_to_code_point();
    for (int b = 0; b < 256; ++b) {
      std::string s;
      append_utf8(cp[static_cast<size_t>(b)], s);
      length[b] = static_cast<uint8_t>(s.size());
      for (size_t i = 0; i < s.size(); ++i) text[b][i] = s[i];
    }
  }
};

struct Scratch {
  std::vector<std::pair<uint32_t, uint32_t>> words;
  std::string mapped;
  std::vector<Symbol> symbols;
  std::vector<Bigram> heap;
};

void encode_word(const TokenizerState& state, std::string_view word, Scratch& scratch,
                 std::vector<int32_t>& out) {
  static const MappedBytes kMapped;
  if (state.ignore_merges) {
    std::string& mapped = scratch.mapped;
    mapped.clear();
    for (unsigned char b : word) mapped.append(kMapped.text[b], kMapped.length[b]);
    int32_t whole = state.index.find(mapped);
    if (whole >= 0) {
      out.push_back(whole);
      return;
    }
  }
  // One initial symbol per byte: each byte maps to exactly one code point.
  std::vector<Symbol>& symbols = scratch.symbols;
  symbols.clear();
  for (size_t i = 0; i < word.size(); ++i) {
    int32_t index = static_cast<int32_t>(i);
    symbols.push_back({1, index - 1, index + 1, state.byte_tokens[static_cast<uint8_t>(word[i])]});
  }
  symbols.back().next = -1;

  std::vector<Bigram>& heap = scratch.heap;
  heap.clear();
  auto try_add_bigram = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    if (l.id < 0 || r.id < 0) return;
    const MergeTable::Entry* merge = state.merges.find(l.id, r.id);
    if (merge == nullptr) return;
    heap.push_back({merge->rank, left, right, l.n + r.n, merge->result});
    std::push_heap(heap.begin(), heap.end(), BigramLess{});
  };
  for (size_t i = 1; i < symbols.size(); ++i) {
    try_add_bigram(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  }
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramLess{});
    Bigram bigram = heap.back();
    heap.pop_back();
    Symbol& left = symbols[static_cast<size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<size_t>(bigram.right)];
    // Symbols only grow, so "same text as when queued" is "same total size".
    if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) continue;
    left.n += right.n;
    left.id = bigram.id;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;
    try_add_bigram(left.prev, bigram.left);
    try_add_bigram(bigram.left, left.next);
  }
  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& symbol = symbols[static_cast<size_t>(i)];
    if (symbol.id >= 0) out.push_back(symbol.id);
    // A byte whose stand-in is not in the vocabulary has no token at all (llama.cpp drops it too).
  }
}

}  // namespace

void encode_bpe_fragment(const TokenizerState& state, std::string_view text,
                         std::vector<int32_t>& out) {
  if (text.empty()) return;
  thread_local Scratch scratch;
  scratch.words.clear();
  state.pre_tokenizer->split(text, scratch.words);
  for (const auto& [offset, length] : scratch.words) {
    encode_word(state, text.substr(offset, length), scratch, out);
  }
}

}  // namespace chimera::engine::tokenizer_detail
