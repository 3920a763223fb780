// Which tokens may come next under a grammar, and the per-sequence object the samplers use.
//
// A token is allowed when its bytes continue some parse and, with `byte_budget` set, the parse it
// leaves can still be completed in that many bytes (every byte has a one-byte token in the
// vocabularies this engine reads, so bytes bound tokens): output is valid JSON even when the token
// limit or the context cuts generation short, also with a model of random weights (the session and
// the scheduler then report done_reason "stop": the document is complete, not cut). When no token
// fits the budget (the schema needs more than the limit leaves), the tokens that leave the fewest
// bytes to write are allowed. End-of-generation tokens are allowed exactly when the match is
// complete.
//
// Two implementations that must agree token for token (tests compare them):
//  - compute_token_mask: walks the vocabulary trie with the parse state, refusing a whole subtree
//    at its first impossible byte; inside a JSON string, the precomputed plain tokens are allowed
//    at once and only the tokens with special bytes are walked (grammar_vocab.h);
//  - reference_token_mask: every token's bytes through GrammarState::advance, one by one.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "engine/grammar/grammar.h"
#include "engine/grammar/grammar_state.h"
#include "engine/grammar/grammar_vocab.h"
#include "util/status.h"

namespace chimera::engine {

inline constexpr uint64_t kNoByteBudget = std::numeric_limits<uint64_t>::max();

class TokenMask {
 public:
  void reset(int32_t n_tokens);
  void set(int32_t token) {
    words_[static_cast<size_t>(token) >> 6] |= uint64_t{1} << (token & 63);
  }
  bool test(int32_t token) const {
    return (words_[static_cast<size_t>(token) >> 6] >> (token & 63)) & 1u;
  }
  void set_words(const std::vector<uint64_t>& bits);  // OR of a bitset of the same size
  uint64_t word(size_t index) const { return words_[index]; }
  int64_t count() const;
  bool none() const;
  int32_t size() const { return n_tokens_; }
  bool operator==(const TokenMask&) const = default;

 private:
  std::vector<uint64_t> words_;
  int32_t n_tokens_ = 0;
};

// Scratch a mask computation reuses: one parse state per trie depth.
struct MaskScratch {
  std::vector<GrammarState> levels;
  GrammarState subset;
};

Status compute_token_mask(const Grammar& grammar, const GrammarVocabulary& vocab,
                          const GrammarState& state, uint64_t byte_budget, MaskScratch& scratch,
                          TokenMask& out);
Status reference_token_mask(const Grammar& grammar, const GrammarVocabulary& vocab,
                            const GrammarState& state, uint64_t byte_budget, TokenMask& out);

// One sequence's constraint: its parse state, advanced by each accepted token, and the mask of the
// next one. Not thread-safe; sequences each own one (the grammar and vocabulary are shared).
class GrammarConstraint {
 public:
  static Result<std::unique_ptr<GrammarConstraint>> create(
      std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocabulary> vocab);
  // `tokens_left`: tokens that may still be generated, this one included.
  Status compute_mask(int64_t tokens_left);
  const TokenMask& mask() const { return mask_; }
  // Sets the logits of the tokens the last mask refuses to -infinity (n_logits may exceed the
  // vocabulary: those ids are refused too).
  void apply(float* logits, int32_t n_logits) const;
  // Advances by a sampled token; fails when the grammar cannot take it.
  Status accept(int32_t token);
  bool complete() const { return state_.accepting(); }
  bool ended() const { return ended_; }
  const GrammarState& state() const { return state_; }

 private:
  GrammarConstraint(std::shared_ptr<const Grammar> grammar,
                    std::shared_ptr<const GrammarVocabulary> vocab, GrammarState initial);

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const GrammarVocabulary> vocab_;
  GrammarState state_, next_;
  bool ended_ = false;
  TokenMask mask_;
  MaskScratch scratch_;
};

// The step the session and the server's scheduler both take: mask the refused tokens, sample,
// advance the constraint. `tokens_left` counts this token.
Result<int32_t> sample_constrained(Sampler& sampler, GrammarConstraint& constraint, float* logits,
                                   int32_t n_logits, std::span<const int32_t> history,
                                   int64_t tokens_left);

}  // namespace chimera::engine
