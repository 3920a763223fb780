// Token masks: the fast path (trie walks, plain-string token sets, suffix trie) against the plain
// reference (every token's bytes through the parse state) on random walks through several schemas,
// with and without a token budget, on a synthetic vocabulary with JSON-shaped pieces and on the
// real Gemma 3 and Llama 3 vocabularies when they are present; and the budget's promise: whatever
// is sampled, the output is complete when the tokens run out.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "engine/grammar/grammar_mask.h"
#include "engine/grammar/json_schema_compiler.h"
#include "engine/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

const std::vector<std::string>& schemas() {
  static const std::vector<std::string> kSchemas = {
      "json",
      R"({"type":"object","properties":{"name":{"type":"string"},"n":{"type":"integer","minimum":-40,"maximum":900},
         "x":{"type":"number"},"ok":{"type":"boolean"},"tags":{"type":"array","items":{"type":"string","maxLength":6},
         "maxItems":3},"kind":{"enum":["alpha","beta","alphabet"]}},"required":["name","n"],"additionalProperties":false})",
      R"({"type":"object","properties":{"short":{"type":"string","minLength":3,"maxLength":5},
         "when":{"type":"string","format":"date-time"},"any":{}},"required":["short","when","any"]})",
      R"({"anyOf":[{"type":"array","items":{"type":"integer"}},{"type":"object","additionalProperties":{"type":"null"}}]})",
  };
  return kSchemas;
}

std::shared_ptr<const Grammar> grammar_for(const std::string& schema) {
  auto g = grammar_for_output_schema(schema);
  EXPECT_TRUE(g.ok()) << g.status().message();
  return *g;
}

// A synthetic SentencePiece vocabulary plus pieces shaped like JSON tokens of real vocabularies:
// quotes inside and at the ends, escapes, whitespace runs, digits with punctuation, partial UTF-8.
std::shared_ptr<const Tokenizer> json_shaped_vocab() {
  VocabData v = synthetic_vocab("gemma3", 512);
  const std::vector<std::string> pieces = {"\",",
                                           "\":",
                                           "\"}",
                                           "\"]",
                                           "{\"",
                                           "[\"",
                                           "\",\"",
                                           "\":\"",
                                           "abc\"",
                                           "ab\",",
                                           "x\":1",
                                           "\\n",
                                           "\\\"",
                                           "\\u00",
                                           "\\u00e9",
                                           "a\\",
                                           "\xE2\x96\x81\"",
                                           "\n\xE2\x96\x81\xE2\x96\x81",
                                           "}\n",
                                           "},{",
                                           "]}",
                                           "12",
                                           "0.5",
                                           "-3",
                                           "e+",
                                           "true",
                                           "false,",
                                           "null",
                                           "nul",
                                           "\xC3",
                                           "\xA9\"",
                                           "caf\xC3",
                                           "\xE2\x82\xAC",
                                           "\t",
                                           "\x01",
                                           "alph",
                                           "alphabet\"",
                                           "beta\"}",
                                           "2024-",
                                           "T12:",
                                           "Z\"",
                                           "\xF0\x9F\xA4\x96",
                                           "\xE2\x96\x81\xE2\x96\x81\xE2\x96\x81"};
  for (const std::string& p : pieces) {
    v.tokens.push_back(p);
    v.scores.push_back(-1000.0f);
    v.token_types.push_back(static_cast<int32_t>(TokenType::kNormal));
  }
  auto tok = Tokenizer::from_vocab(std::move(v));
  EXPECT_TRUE(tok.ok()) << tok.status().message();
  return *tok;
}

std::shared_ptr<const Tokenizer> real_vocab(const std::string& name) {
  const std::string dir = testing::vocab_dir_if_present();
  if (dir.empty()) return nullptr;
  auto data = import_hf_tokenizer_json(dir + "/" + name + "/tokenizer.json");
  if (!data.ok()) return nullptr;
  auto tok = Tokenizer::from_vocab(std::move(*data));
  return tok.ok() ? *tok : nullptr;
}

int32_t random_allowed(const TokenMask& mask, std::mt19937_64& rng) {
  std::vector<int32_t> allowed;
  for (int32_t t = 0; t < mask.size(); ++t) {
    if (mask.test(t)) allowed.push_back(t);
  }
  return allowed.empty() ? -1 : allowed[rng() % allowed.size()];
}

std::string first_difference(const TokenMask& a, const TokenMask& b, const GrammarVocabulary& v) {
  for (int32_t t = 0; t < a.size(); ++t) {
    if (a.test(t) != b.test(t)) {
      return fmt::format("token {} ({:?}): fast {} reference {}", t, std::string(v.bytes(t)),
                         a.test(t), b.test(t));
    }
  }
  return "none";
}

// Walks each schema with random allowed tokens, comparing the two masks at every step.
void compare_masks(const Tokenizer& tok, int steps_per_schema, uint64_t seed) {
  auto vocab = GrammarVocabulary::build(tok, tok.n_vocab());
  std::mt19937_64 rng(seed);
  double fast_ms = 0, reference_ms = 0;
  int compared = 0;
  for (const std::string& schema : schemas()) {
    auto grammar = grammar_for(schema);
    auto constraint = GrammarConstraint::create(grammar, vocab);
    ASSERT_TRUE(constraint.ok());
    for (int step = 0; step < steps_per_schema && !(*constraint)->ended(); ++step) {
      // Budgets: none, tight (closing), and below what the rest needs (the fallback).
      const int64_t left = step % 3 == 0 ? INT64_MAX / 2 : 1 + static_cast<int64_t>(rng() % 12);
      const auto t0 = std::chrono::steady_clock::now();
      ASSERT_TRUE((*constraint)->compute_mask(left).is_ok());
      const auto t1 = std::chrono::steady_clock::now();
      TokenMask reference;
      const uint64_t budget = static_cast<uint64_t>(left - 1);
      ASSERT_TRUE(reference_token_mask(*grammar, *vocab, (*constraint)->state(), budget, reference)
                      .is_ok());
      const auto t2 = std::chrono::steady_clock::now();
      fast_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
      reference_ms += std::chrono::duration<double, std::milli>(t2 - t1).count();
      ++compared;
      ASSERT_TRUE((*constraint)->mask() == reference)
          << schema << " step " << step << " budget " << budget << ": "
          << first_difference((*constraint)->mask(), reference, *vocab);
      // Walk on with an unbudgeted token now and then, so that states deep inside strings occur.
      ASSERT_TRUE((*constraint)->compute_mask(step % 2 ? INT64_MAX / 2 : left).is_ok());
      const int32_t token = random_allowed((*constraint)->mask(), rng);
      ASSERT_GE(token, 0);
      ASSERT_TRUE((*constraint)->accept(token).is_ok());
    }
  }
  std::printf("[ masks    ] %d states, %d tokens: fast %.3f ms a mask, reference %.3f ms\n",
              compared, tok.n_vocab(), fast_ms / compared, reference_ms / compared);
}

TEST(GrammarMask, FastPathEqualsReferenceOnAJsonShapedSyntheticVocabulary) {
  compare_masks(*json_shaped_vocab(), 120, 7);
}

TEST(GrammarMask, FastPathEqualsReferenceOnASyntheticByteLevelVocabulary) {
  auto tok = Tokenizer::from_vocab(synthetic_vocab("llama", 700));
  ASSERT_TRUE(tok.ok());
  compare_masks(**tok, 80, 11);
}

TEST(GrammarMask, FastPathEqualsReferenceOnTheRealGemma3Vocabulary) {
  auto tok = real_vocab("gemma3");
  if (!tok) GTEST_SKIP() << "the Gemma 3 vocabulary is not present (scripts/fetch-vocab.sh)";
  compare_masks(*tok, 12, 3);
}

TEST(GrammarMask, FastPathEqualsReferenceOnTheRealLlama3Vocabulary) {
  auto tok = real_vocab("llama3_1");
  if (!tok) GTEST_SKIP() << "the Llama 3.1 vocabulary is not present (scripts/fetch-vocab.sh)";
  compare_masks(*tok, 10, 5);
}

TEST(GrammarMask, AnyTokensSampledWithinTheBudgetEndInACompleteOutput) {
  auto tok = json_shaped_vocab();
  auto vocab = GrammarVocabulary::build(*tok, tok->n_vocab());
  std::mt19937_64 rng(99);
  for (const std::string& schema : schemas()) {
    auto grammar = grammar_for(schema);
    for (int seed = 0; seed < 30; ++seed) {
      auto constraint = GrammarConstraint::create(grammar, vocab);
      ASSERT_TRUE(constraint.ok());
      const int64_t limit = 60 + seed;  // every schema here can be written in 60 one-byte tokens
      std::string text;
      for (int64_t left = limit; left > 0 && !(*constraint)->ended(); --left) {
        ASSERT_TRUE((*constraint)->compute_mask(left).is_ok());
        const int32_t token = random_allowed((*constraint)->mask(), rng);
        ASSERT_TRUE((*constraint)->accept(token).is_ok());
        text += vocab->bytes(token);
      }
      EXPECT_TRUE((*constraint)->complete()) << schema << ": " << text;
    }
  }
}

TEST(GrammarMask, EndOfGenerationOnlyWhenCompleteAndControlTokensNever) {
  auto tok = json_shaped_vocab();
  auto vocab =
      GrammarVocabulary::build(*tok, tok->n_vocab() + 5);  // a model head wider than the vocabulary
  ASSERT_FALSE(vocab->end_of_generation().empty());
  auto created = GrammarConstraint::create(json_object_grammar(), vocab);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<GrammarConstraint> constraint = std::move(created).value();
  ASSERT_TRUE(constraint->compute_mask(1000).is_ok());
  std::vector<float> start(static_cast<size_t>(vocab->n_vocab()), 0.5f);
  constraint->apply(start.data(), vocab->n_vocab());  // words with a few bits set, most with none
  for (int32_t t = 0; t < vocab->n_vocab(); ++t)
    EXPECT_EQ(std::isfinite(start[static_cast<size_t>(t)]), constraint->mask().test(t));
  for (int32_t eog : vocab->end_of_generation()) EXPECT_FALSE(constraint->mask().test(eog));
  for (int32_t t = tok->n_vocab(); t < vocab->n_vocab(); ++t)
    EXPECT_FALSE(constraint->mask().test(t));
  for (int32_t t = 0; t < tok->n_vocab(); ++t) {
    if (vocab->bytes(t).empty()) {
      EXPECT_FALSE(constraint->mask().test(t)) << "token " << t;
    }
  }
  for (char c : std::string("{}")) {
    auto id = tok->find_token(std::string(1, c));
    ASSERT_TRUE(id.has_value());
    ASSERT_TRUE(constraint->accept(*id).is_ok());
  }
  ASSERT_TRUE(constraint->compute_mask(1000).is_ok());
  EXPECT_EQ(constraint->mask().count(), static_cast<int64_t>(vocab->end_of_generation().size()));
  std::vector<float> logits(static_cast<size_t>(vocab->n_vocab()), 1.0f);
  constraint->apply(logits.data(), vocab->n_vocab());
  for (int32_t t = 0; t < vocab->n_vocab(); ++t)
    EXPECT_EQ(std::isfinite(logits[static_cast<size_t>(t)]), constraint->mask().test(t));
}

}  // namespace
}  // namespace chimera::engine
