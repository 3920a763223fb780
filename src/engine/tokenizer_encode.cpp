// The common front end of encoding (engine-reference.md §4): special-token partition, BOS/EOS, and the
// dispatch of raw fragments to the SentencePiece or byte-level BPE encoder.
#include <algorithm>

#include "engine/tokenizer_impl.h"

namespace chimera::engine {

namespace tokenizer_detail {

void partition_special(const TokenizerState& state, std::string_view text, bool parse_special,
                       std::vector<Fragment>& out) {
  if (text.empty()) return;
  thread_local std::vector<SpecialMatcher::Match> matches;
  thread_local std::vector<SpecialMatcher::Match> accepted;
  thread_local std::vector<uint8_t> claimed;
  matches.clear();
  auto allowed = [&](int32_t id) {
    // Without parse_special only user-defined tokens are matched (llama.cpp skips CONTROL/UNKNOWN).
    TokenType type = state.types[static_cast<size_t>(id)];
    return parse_special || (type != TokenType::kControl && type != TokenType::kUnknown);
  };
  state.specials.find_all(text, allowed, matches);
  if (matches.empty()) {
    out.push_back({-1, 0, static_cast<uint32_t>(text.size())});
    return;
  }
  // llama.cpp takes one candidate at a time, longest text first, and splits every raw fragment at
  // its occurrences from left to right. Sorting the occurrences by (candidate rank, offset) and
  // accepting those that do not overlap an earlier acceptance reproduces that exactly.
  std::sort(matches.begin(), matches.end(), [&](const auto& a, const auto& b) {
    uint32_t ra = state.special_priority[static_cast<size_t>(a.id)];
    uint32_t rb = state.special_priority[static_cast<size_t>(b.id)];
    return ra != rb ? ra < rb : a.offset < b.offset;
  });
  claimed.assign(text.size(), 0);
  accepted.clear();
  int32_t current = -1;
  uint32_t current_end = 0;  // a candidate's next search starts after its previous match
  for (const auto& m : matches) {
    if (m.id != current) {
      current = m.id;
      current_end = 0;
    }
    if (m.offset < current_end) continue;
    if (std::any_of(claimed.begin() + m.offset, claimed.begin() + m.offset + m.length,
                    [](uint8_t c) { return c != 0; })) {
      continue;
    }
    std::fill(claimed.begin() + m.offset, claimed.begin() + m.offset + m.length, uint8_t{1});
    accepted.push_back(m);
    current_end = m.offset + m.length;
  }
  std::sort(accepted.begin(), accepted.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
  uint32_t pos = 0;
  for (const auto& m : accepted) {
    if (m.offset > pos) out.push_back({-1, pos, m.offset - pos});
    out.push_back({m.id, m.offset, m.length});
    pos = m.offset + m.length;
  }
  if (pos < text.size()) out.push_back({-1, pos, static_cast<uint32_t>(text.size()) - pos});
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
      tokenizer_detail::encode_spm_fragment(s, raw, s.vocab.add_space_prefix && previous_was_special,
                                            out);
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
