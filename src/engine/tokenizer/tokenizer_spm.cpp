// SentencePiece-style BPE (model "llama"; Gemma 3), engine-reference.md §4.1: spaces become U+2581,
// UTF-8 characters are the initial symbols, and adjacent pairs whose concatenation is a vocabulary
// piece merge in order of that piece's score (highest first, leftmost on ties). Symbols that are
// not pieces fall back to <0xNN> byte tokens.
#include <algorithm>

#include "engine/tokenizer/tokenizer_impl.h"

namespace chimera::engine::tokenizer_detail {

namespace {

struct Symbol {
  uint32_t start;  // byte offset in the escaped text
  uint32_t n;      // byte length; 0 once merged into its left neighbour
  int32_t prev;
  int32_t next;
  int32_t id;  // vocabulary id of the text, -1 when it is not a piece
};

struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  uint32_t size;
  int32_t id;  // the merged piece
};

// Max-heap order of llama.cpp's llm_bigram_spm: higher score first, then the leftmost pair.
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 '▁'

// Length of the character at `offset`. A lead byte whose continuation bytes are missing counts as
// one byte. (llama.cpp takes the announced length regardless, so invalid UTF-8 can swallow the next
// characters, including a space marker that then decodes as "▁" instead of " "; for valid UTF-8 the
// two agree.)
size_t complete_utf8_length(std::string_view text, size_t offset) {
  size_t len = utf8_sequence_length(static_cast<uint8_t>(text[offset]));
  if (len > text.size() - offset) return 1;
  for (size_t k = 1; k < len; ++k) {
    if ((static_cast<uint8_t>(text[offset + k]) & 0xC0) != 0x80) return 1;
  }
  return len;
}

struct Scratch {
  std::string escaped;
  std::vector<Symbol> symbols;
  std::vector<Bigram> heap;
};

}  // namespace

void encode_spm_fragment(const TokenizerState& state, std::string_view text, bool add_space_prefix,
                         std::vector<int32_t>& out) {
  thread_local Scratch scratch;
  std::string& escaped = scratch.escaped;
  escaped.clear();
  if (add_space_prefix) escaped.append(kSpaceMarker);
  for (char c : text) {
    if (c == ' ') {
      escaped.append(kSpaceMarker);
    } else {
      escaped.push_back(c);
    }
  }
  if (escaped.empty()) return;

  std::vector<Symbol>& symbols = scratch.symbols;
  symbols.clear();
  for (size_t offset = 0; offset < escaped.size();) {
    size_t len = complete_utf8_length(escaped, offset);
    int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(offset), static_cast<uint32_t>(len), index - 1,
                       index + 1, state.index.find(std::string_view(escaped).substr(offset, len))});
    offset += len;
  }
  symbols.back().next = -1;

  std::vector<Bigram>& heap = scratch.heap;
  heap.clear();
  const std::string_view all(escaped);
  auto try_add_bigram = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    // Adjacent symbols are contiguous in the escaped text: the pair's text is one slice of it.
    uint32_t size = l.n + r.n;
    int32_t id = state.index.find(all.substr(l.start, size));
    if (id < 0) return;
    float score = state.vocab.scores.empty() ? 0.0f : state.vocab.scores[static_cast<size_t>(id)];
    heap.push_back({score, left, right, size, id});
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
    // Outdated: one side was merged away or grew since the pair was queued.
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
    if (symbol.id >= 0) {
      out.push_back(symbol.id);
      continue;
    }
    // Only unmerged characters can be missing from the vocabulary (every merge yields a piece).
    for (uint32_t b = 0; b < symbol.n; ++b) {
      int32_t byte_token = state.byte_tokens[static_cast<uint8_t>(escaped[symbol.start + b])];
      if (byte_token >= 0) {
        out.push_back(byte_token);
      } else if (state.vocab.unk_id >= 0) {
        out.push_back(state.vocab.unk_id);
      }
    }
  }
}

}  // namespace chimera::engine::tokenizer_detail
