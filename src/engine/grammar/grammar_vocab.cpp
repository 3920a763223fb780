#include "engine/grammar/grammar_vocab.h"

#include <algorithm>

#include "engine/grammar/grammar_state.h"
#include "engine/tokenizer/tokenizer.h"

namespace chimera::engine {
namespace {

// Longer tokens are never allowed under a grammar (no real vocabulary has one).
constexpr size_t kMaxTokenBytes = 4096;

// Builds a trie over (key, entry) pairs; `entries` receives the entries in node order.
template <typename Entry>
ByteTrie build_trie(std::vector<std::pair<std::string_view, Entry>> items,
                    std::vector<Entry>& entries) {
  std::stable_sort(items.begin(), items.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  ByteTrie trie;
  trie.nodes.push_back({});
  std::vector<uint32_t> path = {0};
  std::string_view previous;
  entries.clear();
  entries.reserve(items.size());
  for (const auto& [key, entry] : items) {
    if (key.empty()) continue;
    size_t shared = 0;
    while (shared < previous.size() && shared < key.size() && previous[shared] == key[shared])
      ++shared;
    while (path.size() - 1 > shared) {
      trie.nodes[path.back()].skip = static_cast<uint32_t>(trie.nodes.size());
      path.pop_back();
    }
    for (size_t d = shared; d < key.size(); ++d) {
      ByteTrie::Node node;
      node.byte = static_cast<uint8_t>(key[d]);
      node.depth = static_cast<uint16_t>(d + 1);
      path.push_back(static_cast<uint32_t>(trie.nodes.size()));
      trie.nodes.push_back(node);
    }
    ByteTrie::Node& last = trie.nodes[path.back()];
    if (last.entry_begin == last.entry_end)
      last.entry_begin = static_cast<uint32_t>(entries.size());
    entries.push_back(entry);
    last.entry_end = static_cast<uint32_t>(entries.size());
    trie.max_depth = std::max<uint16_t>(trie.max_depth, static_cast<uint16_t>(key.size()));
    previous = key;
  }
  while (!path.empty()) {
    trie.nodes[path.back()].skip = static_cast<uint32_t>(trie.nodes.size());
    path.pop_back();
  }
  return trie;
}

// Where a token's run of plain string characters ends, and how many characters it holds: a
// character is plain when it needs no escape and is complete within the token.
struct PlainRun {
  size_t end = 0;
  uint32_t chars = 0;
};
PlainRun plain_run(std::string_view bytes) {
  PlainRun run;
  uint16_t sub = json_string::kBoundary;
  size_t char_start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    if (sub == json_string::kBoundary) {
      char_start = i;
      if (b == '\\') return {i, run.chars};
    }
    bool completed = false;
    uint16_t next = 0;
    if (!json_string::step(sub, b, next, completed)) return {char_start, run.chars};
    sub = next;
    if (completed) ++run.chars;
  }
  if (sub != json_string::kBoundary) return {char_start, run.chars};
  run.end = bytes.size();
  return run;
}

}  // namespace

std::shared_ptr<const GrammarVocabulary> GrammarVocabulary::build(const Tokenizer& tokenizer,
                                                                  int32_t n_vocab) {
  auto v = std::make_shared<GrammarVocabulary>();
  v->n_vocab_ = std::max(n_vocab, 0);
  const auto n = static_cast<size_t>(v->n_vocab_);
  const int32_t known = std::min(v->n_vocab_, tokenizer.n_vocab());
  v->offsets_.reserve(n + 1);
  v->offsets_.push_back(0);
  for (int32_t t = 0; t < v->n_vocab_; ++t) {
    if (t < known) {
      const size_t before = v->arena_.size();
      tokenizer.append_token_bytes(t, /*render_special=*/false, v->arena_);
      if (v->arena_.size() - before > kMaxTokenBytes) v->arena_.resize(before);
      if (v->arena_.size() == before && tokenizer.is_end_of_generation(t))
        v->end_of_generation_.push_back(t);
    }
    v->offsets_.push_back(static_cast<uint32_t>(v->arena_.size()));
  }

  std::vector<std::pair<std::string_view, int32_t>> keys;
  keys.reserve(n);
  for (int32_t t = 0; t < v->n_vocab_; ++t) keys.emplace_back(v->bytes(t), t);
  v->trie_ = build_trie(keys, v->trie_tokens_);

  v->plain_bits_.assign((n + 63) / 64, 0);
  v->plain_chars_.assign(n, 0);
  std::vector<std::pair<std::string_view, Suffix>> suffix_keys;
  for (int32_t t = 0; t < v->n_vocab_; ++t) {
    const std::string_view bytes = v->bytes(t);
    if (bytes.empty()) continue;
    const PlainRun run = plain_run(bytes);
    if (run.end == bytes.size()) {
      v->plain_bits_[static_cast<size_t>(t) >> 6] |= uint64_t{1} << (t & 63);
      v->plain_tokens_.push_back(t);
      v->plain_chars_[static_cast<size_t>(t)] =
          static_cast<uint16_t>(std::min<uint32_t>(run.chars, 65535));
    } else {
      suffix_keys.emplace_back(bytes.substr(run.end),
                               Suffix{t, static_cast<uint32_t>(run.end), run.chars});
    }
  }
  v->suffix_trie_ = build_trie(suffix_keys, v->suffixes_);
  return v;
}

size_t GrammarVocabulary::memory_bytes() const {
  return arena_.capacity() + offsets_.capacity() * 4 +
         trie_.nodes.capacity() * sizeof(ByteTrie::Node) + trie_tokens_.capacity() * 4 +
         plain_bits_.capacity() * 8 + plain_tokens_.capacity() * 4 + plain_chars_.capacity() * 2 +
         suffix_trie_.nodes.capacity() * sizeof(ByteTrie::Node) +
         suffixes_.capacity() * sizeof(Suffix);
}

}  // namespace chimera::engine
