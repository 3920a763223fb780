// Sampler semantics on constructed logits (engine-reference.md §5): expected values are worked out
// by hand from the definitions, not taken from the sampler.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "engine/engine.h"

namespace chimera::engine {
namespace {

// Logits whose softmax is exactly `probs`.
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

std::map<int32_t, int> histogram(SamplingOptions options, const std::vector<float>& logits,
                                 int draws, std::vector<int32_t> history = {}) {
  options.seed = options.seed.value_or(7);
  Sampler sampler(options, static_cast<int32_t>(logits.size()));
  std::map<int32_t, int> counts;
  for (int i = 0; i < draws; ++i) {
    std::vector<float> copy = logits;  // sample() may modify its input
    ++counts[sampler.sample(copy.data(), history)];
  }
  return counts;
}

SamplingOptions plain() {
  SamplingOptions o;
  o.temperature = 1.0f;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.repeat_penalty = 1.0f;
  return o;
}

TEST(Sampler, TemperatureZeroIsArgmax) {
  SamplingOptions o = plain();
  o.temperature = 0.0f;
  std::vector<float> logits = {0.1f, 2.5f, -1.0f, 2.4f};
  auto counts = histogram(o, logits, 50);
  EXPECT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[1], 50);
}

TEST(Sampler, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::sin(i * 0.37));
  auto draw = [&](uint64_t seed) {
    SamplingOptions o = plain();
    o.seed = seed;
    Sampler sampler(o, 1000);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) {
      std::vector<float> copy = logits;
      out.push_back(sampler.sample(copy.data(), {}));
    }
    return out;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(Sampler, DrawsFollowTheSoftmax) {
  // p = 0.5, 0.3, 0.15, 0.05; 20000 draws: each frequency within 4 standard deviations.
  std::vector<double> probs = {0.5, 0.3, 0.15, 0.05};
  const int n = 20000;
  auto counts = histogram(plain(), logits_of(probs), n);
  for (size_t i = 0; i < probs.size(); ++i) {
    double sd = std::sqrt(n * probs[i] * (1 - probs[i]));
    EXPECT_NEAR(counts[static_cast<int32_t>(i)], n * probs[i], 4 * sd) << "token " << i;
  }
}

TEST(Sampler, TopKKeepsOnlyTheKMostLikely) {
  SamplingOptions o = plain();
  o.top_k = 2;
  auto counts = histogram(o, logits_of({0.1, 0.4, 0.05, 0.35, 0.1}), 4000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
  // Renormalised over the two: 0.4/0.75 = 0.533.
  EXPECT_NEAR(counts[1] / 4000.0, 0.4 / 0.75, 0.04);
  o.top_k = 1;
  EXPECT_EQ(histogram(o, logits_of({0.1, 0.4, 0.05, 0.35, 0.1}), 100)[1], 100);
}

TEST(Sampler, TopPKeepsTheShortestPrefixReachingP) {
  SamplingOptions o = plain();
  o.top_p = 0.7f;  // 0.5 < 0.7, 0.5 + 0.3 = 0.8 >= 0.7: keep tokens 0 and 1
  auto counts = histogram(o, logits_of({0.5, 0.3, 0.15, 0.05}), 4000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts[0] / 4000.0, 0.5 / 0.8, 0.04);
  o.top_p = 0.5f;  // the first token alone reaches 0.5
  EXPECT_EQ(histogram(o, logits_of({0.5, 0.3, 0.15, 0.05}), 200)[0], 200);
}

TEST(Sampler, TopPOverALargeVocabularyWithoutTopK) {
  // 5000 tokens: one with p = 0.6, the rest share 0.4 evenly. top_p 0.9 must keep the big one plus
  // enough small ones for 0.3 more: 0.3 / (0.4 / 4999) = 3749.25 -> 3750 small tokens.
  std::vector<double> probs(5000, 0.4 / 4999);
  probs[123] = 0.6;
  SamplingOptions o = plain();
  o.top_p = 0.9f;
  auto counts = histogram(o, logits_of(probs), 3000);
  EXPECT_NEAR(counts[123] / 3000.0, 0.6 / 0.9, 0.04);
  EXPECT_LE(counts.size(), 3751u);
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheBest) {
  SamplingOptions o = plain();
  o.min_p = 0.25f;  // threshold 0.25 * 0.5 = 0.125: keeps 0.5, 0.3, 0.15
  auto counts = histogram(o, logits_of({0.5, 0.3, 0.15, 0.05}), 4000);
  EXPECT_EQ(counts.count(3), 0u);
  EXPECT_EQ(counts.size(), 3u);
}

TEST(Sampler, HigherTemperatureFlattensTheDistribution) {
  SamplingOptions cold = plain(), hot = plain();
  cold.temperature = 0.25f;  // p ∝ p^4: 0.5^4 / (0.5^4 + 0.3^4 + ...) = 0.877
  hot.temperature = 2.0f;    // p ∝ sqrt(p): 0.707 / (0.707 + 0.548 + 0.387 + 0.224) = 0.379
  auto logits = logits_of({0.5, 0.3, 0.15, 0.05});
  EXPECT_NEAR(histogram(cold, logits, 8000)[0] / 8000.0, 0.877, 0.02);
  EXPECT_NEAR(histogram(hot, logits, 8000)[0] / 8000.0, 0.379, 0.02);
}

TEST(Sampler, RepeatPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingOptions o = plain();
  o.temperature = 0.0f;
  o.repeat_penalty = 2.0f;
  o.repeat_last_n = 64;
  // Token 0 (2.0) was just generated: 2.0 / 2 = 1.0 < 1.9, so greedy now picks token 1.
  std::vector<float> logits = {2.0f, 1.9f, -1.0f};
  Sampler sampler(o, 3);
  std::vector<int32_t> history = {0};
  EXPECT_EQ(sampler.sample(logits.data(), history), 1);
  EXPECT_FLOAT_EQ(logits[0], 1.0f);
  // A negative logit is multiplied: -1.0 * 2 = -2.0; a token repeated twice is penalised once.
  std::vector<float> negative = {-1.0f, -1.5f};
  Sampler sampler2(o, 2);
  std::vector<int32_t> twice = {0, 0};
  EXPECT_EQ(sampler2.sample(negative.data(), twice), 1);
  EXPECT_FLOAT_EQ(negative[0], -2.0f);
}

TEST(Sampler, RepeatPenaltyLooksOnlyAtTheLastNTokens) {
  SamplingOptions o = plain();
  o.temperature = 0.0f;
  o.repeat_penalty = 4.0f;
  o.repeat_last_n = 2;
  std::vector<float> logits = {2.0f, 1.9f, 1.8f};
  Sampler sampler(o, 3);
  std::vector<int32_t> history = {0, 1, 1};  // token 0 is outside the last 2
  EXPECT_EQ(sampler.sample(logits.data(), history), 0);
  EXPECT_FLOAT_EQ(logits[1], 1.9f / 4.0f);
  o.repeat_last_n = 0;  // off
  std::vector<float> again = {2.0f, 1.9f, 1.8f};
  Sampler off(o, 3);
  std::vector<int32_t> recent = {0};
  EXPECT_EQ(off.sample(again.data(), recent), 0);
  EXPECT_FLOAT_EQ(again[0], 2.0f);
}

}  // namespace
}  // namespace chimera::engine
