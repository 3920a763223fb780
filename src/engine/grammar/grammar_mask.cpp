#include "engine/grammar/grammar_mask.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>

namespace chimera::engine {
namespace {

constexpr uint64_t kInfinite = std::numeric_limits<uint64_t>::max();

bool string_at_boundary(const Grammar& g, const GrammarState& state, size_t i) {
  return g.elements[state.top(i).pos].op == GrammarOp::kString &&
         state.terminal(i).sub == json_string::kBoundary;
}

// One pass of the fast mask at a fixed budget. Returns the fewest bytes-to-complete over every
// token the grammar accepts (within the budget or not), for the over-budget fallback.
class FastPass {
 public:
  FastPass(const Grammar& g, const GrammarVocabulary& v, const GrammarState& state, uint64_t budget,
           MaskScratch& scratch, TokenMask& out)
      : g_(g), v_(v), state_(state), budget_(budget), scratch_(scratch), out_(out) {}

  Result<uint64_t> run() {
    if (state_.accepting()) {
      for (int32_t t : v_.end_of_generation()) out_.set(t);
      best_ = 0;
    }
    std::vector<size_t> general;
    for (size_t i = 0; i < state_.stack_count(); ++i) {
      if (string_at_boundary(g_, state_, i)) {
        CHIMERA_RETURN_IF_ERROR(string_stack(i));
      } else {
        general.push_back(i);
      }
    }
    if (!general.empty()) {
      state_.keep_only(general, scratch_.subset);
      CHIMERA_RETURN_IF_ERROR(
          walk(v_.trie(), scratch_.subset, [&](uint32_t begin, uint32_t end, uint64_t) {
            for (uint32_t e = begin; e < end; ++e) out_.set(v_.trie_tokens()[e]);
          }));
    }
    return best_;
  }

 private:
  // Inside a string, between characters.
  Status string_stack(size_t i) {
    const GrammarElement& e = g_.elements[state_.top(i).pos];
    const uint32_t count = state_.top(i).count;
    const uint64_t base = state_.stack_min_bytes(g_, i);
    const bool count_free = e.max == kUnbounded && count >= e.min;
    if (count_free) {
      // Plain tokens leave the stack as it is; one suffix walk judges all tokens sharing a suffix.
      best_ = std::min(best_, base);
      if (base <= budget_) out_.set_words(v_.plain_bits());
      CHIMERA_RETURN_IF_ERROR(state_.after_plain_chars(g_, i, 0, scratch_.subset));
      return walk(v_.suffix_trie(), scratch_.subset, [&](uint32_t begin, uint32_t end, uint64_t) {
        for (uint32_t s = begin; s < end; ++s) out_.set(v_.suffixes()[s].token);
      });
    }
    // Counted strings (minLength / maxLength): each token's characters count.
    const uint64_t short_by = count < e.min ? e.min - count : 0;
    for (int32_t t : v_.plain_tokens()) {
      const uint32_t chars = v_.plain_chars(t);
      if (e.max != kUnbounded && uint64_t{count} + chars > e.max) continue;
      const uint64_t after = base - std::min<uint64_t>(chars, short_by);
      best_ = std::min(best_, after);
      if (after <= budget_) out_.set(t);
    }
    GrammarState& start = scratch_.subset;
    if (scratch_.levels.size() < 2) scratch_.levels.resize(2);
    for (const GrammarVocabulary::Suffix& s : v_.suffixes()) {
      if (e.max != kUnbounded && uint64_t{count} + s.prefix_chars > e.max) continue;
      CHIMERA_RETURN_IF_ERROR(state_.after_plain_chars(g_, i, s.prefix_chars, start));
      const std::string_view rest = v_.bytes(s.token).substr(s.offset);
      const GrammarState* current = &start;
      for (size_t k = 0; k < rest.size() && !current->dead(); ++k) {
        GrammarState& next = scratch_.levels[k % 2];
        CHIMERA_RETURN_IF_ERROR(current->advance(g_, static_cast<uint8_t>(rest[k]), next));
        current = &next;
      }
      if (current->dead()) continue;
      const uint64_t after = current->min_bytes_to_complete(g_);
      best_ = std::min(best_, after);
      if (after <= budget_) out_.set(s.token);
    }
    return Status::ok();
  }

  // Depth-first over the trie with one parse state per depth; `allow(begin, end, min)` is called
  // for the entries of every node whose bytes the state accepts within the budget.
  template <typename Allow>
  Status walk(const ByteTrie& trie, const GrammarState& start, Allow allow) {
    if (scratch_.levels.size() < static_cast<size_t>(trie.max_depth) + 1)
      scratch_.levels.resize(trie.max_depth + 1u);
    const auto& nodes = trie.nodes;
    size_t i = 1;
    while (i < nodes.size()) {
      const ByteTrie::Node& node = nodes[i];
      const GrammarState& parent = node.depth == 1 ? start : scratch_.levels[node.depth - 1];
      GrammarState& here = scratch_.levels[node.depth];
      CHIMERA_RETURN_IF_ERROR(parent.advance(g_, node.byte, here));
      if (here.dead()) {
        i = node.skip;
        continue;
      }
      if (node.entry_end > node.entry_begin) {
        const uint64_t after = here.min_bytes_to_complete(g_);
        best_ = std::min(best_, after);
        if (after <= budget_) allow(node.entry_begin, node.entry_end, after);
      }
      i = here.stack_count() == 0 ? node.skip : i + 1;
    }
    return Status::ok();
  }

  const Grammar& g_;
  const GrammarVocabulary& v_;
  const GrammarState& state_;
  uint64_t budget_;
  MaskScratch& scratch_;
  TokenMask& out_;
  uint64_t best_ = kInfinite;
};

Status no_token_error() {
  return make_error(
      ErrorCode::kInternal,
      "constrained decoding: no token of this vocabulary can continue the output here");
}

}  // namespace

void TokenMask::reset(int32_t n_tokens) {
  n_tokens_ = n_tokens;
  words_.assign((static_cast<size_t>(n_tokens) + 63) / 64, 0);
}

void TokenMask::set_words(const std::vector<uint64_t>& bits) {
  for (size_t w = 0; w < words_.size() && w < bits.size(); ++w) words_[w] |= bits[w];
}

int64_t TokenMask::count() const {
  int64_t n = 0;
  for (uint64_t w : words_) n += std::popcount(w);
  return n;
}

bool TokenMask::none() const {
  return std::all_of(words_.begin(), words_.end(), [](uint64_t w) { return w == 0; });
}

Status compute_token_mask(const Grammar& grammar, const GrammarVocabulary& vocab,
                          const GrammarState& state, uint64_t byte_budget, MaskScratch& scratch,
                          TokenMask& out) {
  out.reset(vocab.n_vocab());
  CHIMERA_ASSIGN_OR_RETURN(uint64_t best,
                           FastPass(grammar, vocab, state, byte_budget, scratch, out).run());
  if (out.none() && best != kInfinite) {
    CHIMERA_RETURN_IF_ERROR(FastPass(grammar, vocab, state, best, scratch, out).run().status());
  }
  if (out.none()) return no_token_error();
  return Status::ok();
}

Status reference_token_mask(const Grammar& grammar, const GrammarVocabulary& vocab,
                            const GrammarState& state, uint64_t byte_budget, TokenMask& out) {
  const int32_t n = vocab.n_vocab();
  std::vector<uint64_t> after(static_cast<size_t>(n), kInfinite);  // bytes left after each token
  std::vector<bool> end_of_generation(static_cast<size_t>(n), false);
  for (int32_t t : vocab.end_of_generation()) end_of_generation[static_cast<size_t>(t)] = true;
  GrammarState a, b;
  for (int32_t t = 0; t < n; ++t) {
    const std::string_view bytes = vocab.bytes(t);
    if (bytes.empty()) {
      if (end_of_generation[static_cast<size_t>(t)] && state.accepting())
        after[static_cast<size_t>(t)] = 0;
      continue;
    }
    const GrammarState* current = &state;
    for (size_t k = 0; k < bytes.size() && !current->dead(); ++k) {
      GrammarState& next = (k % 2 == 0) ? a : b;
      CHIMERA_RETURN_IF_ERROR(current->advance(grammar, static_cast<uint8_t>(bytes[k]), next));
      current = &next;
    }
    if (!current->dead()) after[static_cast<size_t>(t)] = current->min_bytes_to_complete(grammar);
  }
  const uint64_t best = *std::min_element(after.begin(), after.end());
  if (best == kInfinite) return no_token_error();
  const uint64_t limit =
      std::any_of(after.begin(), after.end(), [&](uint64_t m) { return m <= byte_budget; })
          ? byte_budget
          : best;
  out.reset(n);
  for (int32_t t = 0; t < n; ++t) {
    if (after[static_cast<size_t>(t)] <= limit) out.set(t);
  }
  return Status::ok();
}

GrammarConstraint::GrammarConstraint(std::shared_ptr<const Grammar> grammar,
                                     std::shared_ptr<const GrammarVocabulary> vocab,
                                     GrammarState initial)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), state_(std::move(initial)) {}

Result<std::unique_ptr<GrammarConstraint>> GrammarConstraint::create(
    std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocabulary> vocab) {
  if (!grammar || !vocab)
    return make_error(ErrorCode::kInvalidArgument, "grammar constraint: no grammar or vocabulary");
  CHIMERA_ASSIGN_OR_RETURN(GrammarState initial, GrammarState::initial(*grammar));
  return std::unique_ptr<GrammarConstraint>(
      new GrammarConstraint(std::move(grammar), std::move(vocab), std::move(initial)));
}

Status GrammarConstraint::compute_mask(int64_t tokens_left) {
  if (ended_) {  // benchmarks with ignore_eos: after the end, only end tokens
    mask_.reset(vocab_->n_vocab());
    for (int32_t t : vocab_->end_of_generation()) mask_.set(t);
    return mask_.none() ? no_token_error() : Status::ok();
  }
  const uint64_t budget = tokens_left <= 0 ? 0 : static_cast<uint64_t>(tokens_left - 1);
  return compute_token_mask(*grammar_, *vocab_, state_, budget, scratch_, mask_);
}

void GrammarConstraint::apply(float* logits, int32_t n_logits) const {
  const int32_t n = std::min(n_logits, mask_.size());
  // A word at a time: most words are all refused (outside strings) or all allowed (inside them).
  for (int32_t base = 0; base < n; base += 64) {
    const uint64_t word = mask_.word(static_cast<size_t>(base) >> 6);
    const int32_t end = std::min(n, base + 64);
    if (word == ~uint64_t{0} && end - base == 64) continue;
    if (word == 0) {
      std::fill(logits + base, logits + end, -INFINITY);
      continue;
    }
    for (int32_t t = base; t < end; ++t) {
      if (!((word >> (t - base)) & 1u)) logits[t] = -INFINITY;
    }
  }
  for (int32_t t = n; t < n_logits; ++t) logits[t] = -INFINITY;
}

Status GrammarConstraint::accept(int32_t token) {
  if (token < 0 || token >= vocab_->n_vocab()) {
    return make_error(ErrorCode::kInvalidArgument, "token {} is outside the vocabulary", token);
  }
  const std::string_view bytes = vocab_->bytes(token);
  if (bytes.empty()) {
    const auto& eog = vocab_->end_of_generation();
    if (std::find(eog.begin(), eog.end(), token) != eog.end() && (state_.accepting() || ended_)) {
      ended_ = true;
      return Status::ok();
    }
    return make_error(ErrorCode::kInternal, "constrained decoding: token {} is not allowed here",
                      token);
  }
  if (ended_)
    return make_error(ErrorCode::kInternal, "constrained decoding: token {} after the end", token);
  for (char c : bytes) {
    CHIMERA_RETURN_IF_ERROR(state_.advance(*grammar_, static_cast<uint8_t>(c), next_));
    std::swap(state_, next_);
    if (state_.dead()) {
      return make_error(ErrorCode::kInternal,
                        "constrained decoding: token {} ({:?}) does not continue the output", token,
                        std::string(bytes));
    }
  }
  return Status::ok();
}

Result<int32_t> sample_constrained(Sampler& sampler, GrammarConstraint& constraint, float* logits,
                                   int32_t n_logits, std::span<const int32_t> history,
                                   int64_t tokens_left) {
  CHIMERA_RETURN_IF_ERROR(constraint.compute_mask(tokens_left));
  constraint.apply(logits, n_logits);
  const int32_t token = sampler.sample(logits, history);
  // The sampler draws only among finite logits; a refused token here would be a sampler bug.
  if (token < 0 || token >= constraint.mask().size() || !constraint.mask().test(token)) {
    return make_error(ErrorCode::kInternal,
                      "constrained decoding: the sampler drew refused token {}", token);
  }
  CHIMERA_RETURN_IF_ERROR(constraint.accept(token));
  return token;
}

}  // namespace chimera::engine
