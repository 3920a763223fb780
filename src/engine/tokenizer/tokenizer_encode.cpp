// The common front end of encoding (engine-reference.md §4): special-token partition, BOS/EOS, and
// the dispatch of raw fragments to the SentencePiece or byte-level BPE encoder.
#include <algorithm>

#include "engine/tokenizer/tokenizer_impl.h"

namespace chimera::engine {

namespace tokenizer_detail {

void partition_special(const TokenizerState& state, std::string_view text, bool parse_special,
                       std::vector<Fragment>& out) {
  if (text.empty()) return;
  // Which candidates occur at all (one trie pass). Usually none, or a handful of the thousands.
  thread_local std::vector<uint8_t> seen;
  thread_local std::vector<int32_t> present;
  present.clear();
  if (seen.size() < state.types.size()) seen.assign(state.types.size(), 0);
  auto allowed = [&](int32_t id) {
    // Without parse_special only user-defined tokens are matched (llama.cpp skips CONTROL/UNKNOWN).
    TokenType type = state.types[static_cast<size_t>(id)];
    return parse_special || (type != TokenType::kControl && type != TokenType::kUnknown);
  };
  state.specials.for_each_match(text, allowed, [&](int32_t id) {
    if (seen[static_cast<size_t>(id)] == 0) {
      seen[static_cast<size_t>(id)] = 1;
      present.push_back(id);
    }
  });
  for (int32_t id : present) seen[static_cast<size_t>(id)] = 0;
  size_t first_out = out.size();
  out.push_back({-1, 0, static_cast<uint32_t>(text.size())});
  if (present.empty()) return;

  // Then llama.cpp's order: one candidate at a time, longest text first, split every raw fragment
  // at its occurrences from left to right.
  std::sort(present.begin(), present.end(), [&](int32_t a, int32_t b) {
    return state.special_priority[static_cast<size_t>(a)] <
           state.special_priority[static_cast<size_t>(b)];
  });
  thread_local std::vector<Fragment> current;
  thread_local std::vector<Fragment> next;
  current.assign(out.begin() + static_cast<std::ptrdiff_t>(first_out), out.end());
  for (int32_t id : present) {
    std::string_view special = state.vocab.tokens[static_cast<size_t>(id)];
    next.clear();
    for (const Fragment& fragment : current) {
      if (fragment.token >= 0) {
        next.push_back(fragment);
        continue;
      }
      std::string_view raw = text.substr(fragment.offset, fragment.length);
      size_t pos = 0;
      for (size_t hit = raw.find(special); hit != std::string_view::npos;
           hit = raw.find(special, pos)) {
        if (hit > pos) {
          next.push_back(
              {-1, fragment.offset + static_cast<uint32_t>(pos), static_cast<uint32_t>(hit - pos)});
        }
        next.push_back({id, fragment.offset + static_cast<uint32_t>(hit),
                        static_cast<uint32_t>(special.size())});
        pos = hit + special.size();
      }
      if (pos < raw.size()) {
        next.push_back({-1, fragment.offset + static_cast<uint32_t>(pos),
                        static_cast<uint32_t>(raw.size() - pos)});
      }
    }
    current.swap(next);
  }
  out.resize(first_out);
  out.insert(out.end(), current.begin(), current.end());
}

}  // namespace tokenizer_detail

void Tokenizer::encode_into(std::string_view text, bool add_special, bool parse_special,
                            std::vector<int32_t>& out) const {
  using tokenizer_detail::Fragment;
  const Impl& s = *impl_;
  thread_local std::vector<Fragment> fragments;
  fragments.clear();
  tokenizer_detail::partition_special(s, text, parse_special, fragments);

  if (add_special && s.vocab.add_bos && s.vocab.bos_id >= 0) out.push_back(s.vocab.bos_id);
  // SentencePiece with add_space_prefix puts a space before the first raw fragment and before any
  // raw fragment that follows a special token (llama.cpp's is_prev_special).
  bool previous_was_special = true;
  for (const Fragment& fragment : fragments) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
      previous_was_special = true;
      continue;
    }
    std::string_view raw = text.substr(fragment.offset, fragment.length);
    if (s.is_spm) {
      tokenizer_detail::encode_spm_fragment(s, raw,
                                            s.vocab.add_space_prefix && previous_was_special, out);
    } else {
      tokenizer_detail::encode_bpe_fragment(s, raw, out);
    }
    previous_was_special = false;
  }
  if (add_special && s.vocab.add_eos && s.vocab.eos_id >= 0) out.push_back(s.vocab.eos_id);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode_into(text, add_special, parse_special, out);
  return out;
}

}  // namespace chimera::engine
