// Concurrency statistics against values computed by hand (the arithmetic is in each comment; the
// t quantiles are the published table values t(0.975, 2) = 4.302653, t(0.975, 6) = 2.446912 and
// t(0.80, 6) = 0.905755).
#include "lab/concurrency.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace chimera::lab {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(Concurrency, LogRatioEstimateIsTheGeometricMeanWithALogScaleTInterval) {
  // logs {0, ln 2, 2 ln 2}: mean ln 2 -> geometric mean 2; sd ln 2;
  // half-width t(0.975, 2) ln 2 / sqrt 3 = 4.302653 * 0.693147 / 1.732051 = 1.721880;
  // CI 2 exp(-1.721880) = 0.357462 to 2 exp(1.721880) = 11.19000.
  std::vector<double> ratios = {1.0, 2.0, 4.0};
  RatioEstimate r = log_ratio_estimate(ratios);
  EXPECT_EQ(r.n, 3u);
  EXPECT_NEAR(r.estimate, 2.0, 1e-12);
  ASSERT_TRUE(r.ci.has_value());
  EXPECT_NEAR(r.ci->lower, 0.357462, 1e-5);
  EXPECT_NEAR(r.ci->upper, 11.19000, 1e-4);
}

TEST(Concurrency, LogRatioEstimateSkipsNonPositiveValuesAndNeedsTwoForAnInterval) {
  std::vector<double> ratios = {0.0, -1.0, NAN, 1.5};
  RatioEstimate r = log_ratio_estimate(ratios);
  EXPECT_EQ(r.n, 1u);
  EXPECT_DOUBLE_EQ(r.estimate, 1.5);
  EXPECT_FALSE(r.ci.has_value());
  EXPECT_TRUE(std::isnan(log_ratio_estimate(std::vector<double>{}).estimate));
}

TEST(Concurrency, JainFairness) {
  EXPECT_DOUBLE_EQ(jain_fairness(std::vector<double>{1, 1}), 1.0);
  // (1 + 0.5)^2 / (2 (1 + 0.25)) = 2.25 / 2.5 = 0.9
  EXPECT_DOUBLE_EQ(jain_fairness(std::vector<double>{1, 0.5}), 0.9);
  // One of four agents gets everything: 1 / 4.
  EXPECT_DOUBLE_EQ(jain_fairness(std::vector<double>{1, 0, 0, 0}), 0.25);
  EXPECT_DOUBLE_EQ(jain_fairness(std::vector<double>{3}), 1.0);
  EXPECT_TRUE(std::isnan(jain_fairness(std::vector<double>{})));
}

TEST(Concurrency, BalanceRatioIsTheSumOfAgentTimesOverTheWall) {
  // The prior system's figure: agents of 3 s and 4 s in a 4 s wall read 7 / 4 = 1.75.
  EXPECT_DOUBLE_EQ(balance_ratio(std::vector<int64_t>{3 * kSecond, 4 * kSecond}, 4 * kSecond),
                   1.75);
  EXPECT_TRUE(std::isnan(balance_ratio(std::vector<int64_t>{kSecond}, 0)));
}

AgentWalls walls(const char* name, double solo_s, double conc_s, int64_t tokens = 100) {
  AgentWalls w;
  w.agent = name;
  w.solo_ns = static_cast<int64_t>(solo_s * 1e9);
  w.concurrent_ns = static_cast<int64_t>(conc_s * 1e9);
  w.solo_ok = w.concurrent_ok = true;
  w.solo_tokens = w.concurrent_tokens = tokens;
  return w;
}

RepetitionWalls repetition(int64_t index, double conc_wall_s, std::vector<AgentWalls> agents) {
  RepetitionWalls r;
  r.repetition = index;
  for (const auto& a : agents) r.sequential_ns += a.solo_ns;
  r.concurrent_ns = static_cast<int64_t>(conc_wall_s * 1e9);
  r.agents = std::move(agents);
  return r;
}

TEST(Concurrency, AnalysisOfKnownWalls) {
  std::vector<RepetitionWalls> reps = {
      // Serialised: the same 2 s of work takes 2 s either way. Speedup 1, balance (2+2)/2 = 2.
      repetition(0, 2.0, {walls("a", 1, 2), walls("b", 1, 2)}),
      // Perfectly parallel: speedup 2, balance (1+1)/1 = 2.
      repetition(1, 1.0, {walls("a", 1, 1), walls("b", 1, 1)}),
      // Unfair: a kept its solo speed, b took twice as long: fairness of {1, 0.5} = 0.9,
      // speedup 2 / 2 = 1, balance (1+2)/2 = 1.5.
      repetition(2, 2.0, {walls("a", 1, 1), walls("b", 1, 2)}),
  };
  // A repetition with a failed agent is left out of the wall statistics.
  RepetitionWalls failed = repetition(3, 5.0, {walls("a", 1, 1), walls("b", 1, 5)});
  failed.agents[1].concurrent_ok = false;
  reps.push_back(failed);

  ConcurrencyAnalysis a = analyze_concurrency(2, reps, {}, {});
  EXPECT_EQ(a.repetitions, 4u);
  EXPECT_EQ(a.repetitions_complete, 3u);
  // Speedups {1, 2, 1}: geometric mean 2^(1/3) = 1.259921; efficiency half of it.
  EXPECT_NEAR(a.speedup.estimate, 1.259921, 1e-6);
  EXPECT_NEAR(a.efficiency, 0.629961, 1e-6);
  ASSERT_TRUE(a.speedup.ci && a.efficiency_ci);
  EXPECT_NEAR(a.efficiency_ci->upper, a.speedup.ci->upper / 2, 1e-12);
  // Balance {2, 2, 1.5}: mean 1.833333. Fairness {1, 1, 0.9}: mean 0.966667.
  EXPECT_NEAR(a.balance_ratio.mean, 1.833333, 1e-6);
  EXPECT_NEAR(a.fairness.mean, 0.966667, 1e-6);
  // Slowdown of b: {2, 1, 2} -> geometric mean 4^(1/3) = 1.587401; of a: {2, 1, 1} -> 1.259921.
  ASSERT_EQ(a.agents_slowdown.size(), 2u);
  EXPECT_EQ(a.agents_slowdown[1].agent, "b");
  EXPECT_NEAR(a.agents_slowdown[1].slowdown.estimate, 1.587401, 1e-6);
  EXPECT_NEAR(a.agents_slowdown[0].slowdown.estimate, 1.259921, 1e-6);
  // Aggregate tok/s: solo 200 tokens / 2 s = 100 each time; concurrent 200 / {2, 1, 2} s =
  // {100, 200, 100}: mean 133.333.
  EXPECT_NEAR(a.solo_aggregate_tps.mean, 100.0, 1e-9);
  EXPECT_NEAR(a.concurrent_aggregate_tps.mean, 133.333333, 1e-5);
  EXPECT_NEAR(a.sequential_wall_s.mean, 2.0, 1e-9);
  EXPECT_NEAR(a.concurrent_wall_s.mean, 5.0 / 3.0, 1e-9);
}

TEST(Concurrency, ContentionWhenConcurrentCallsDecodeSlower) {
  std::vector<double> solo = {10, 10.5, 9.5, 10};
  std::vector<double> concurrent = {5, 5.5, 4.5, 5};
  ContentionVerdict v = contention_test(solo, concurrent);
  EXPECT_EQ(v.kind, ContentionKind::kContention);
  ASSERT_TRUE(v.welch.has_value());
  // Difference 5 - 10 = -5; se = sqrt(2 * (1/6) / 4) = 0.288675; t = -17.3205.
  EXPECT_NEAR(v.welch->difference, -5.0, 1e-12);
  EXPECT_NEAR(v.welch->t, -17.3205, 1e-4);
  EXPECT_LT(v.welch->p, 0.001);
  EXPECT_NE(v.sentence.find("50.0% slower"), std::string::npos) << v.sentence;
}

TEST(Concurrency, NoContentionReportsTheMinimumDetectableDifference) {
  std::vector<double> solo = {10, 11, 9, 10};
  std::vector<double> concurrent = {10, 9, 11, 10};
  ContentionVerdict v = contention_test(solo, concurrent);
  EXPECT_EQ(v.kind, ContentionKind::kNone);
  // se = sqrt(2 * (2/3) / 4) = 0.577350, df = 6:
  // (2.446912 + 0.905755) * 0.577350 = 1.935663.
  EXPECT_NEAR(v.minimum_detectable_tps, 1.935663, 1e-4);
  EXPECT_NE(v.sentence.find("no significant contention"), std::string::npos) << v.sentence;
  EXPECT_NE(v.sentence.find("1.94 tok/s"), std::string::npos) << v.sentence;
}

TEST(Concurrency, TheRelativeChangeCiAgreesWithTheVerdict) {
  // Four calls per phase, means 20% apart with large spread: whatever the verdict, the printed CI
  // of the change excludes 0 exactly when the Welch test rejects (a bootstrap interval, too narrow
  // at n = 4, once printed "-19.1% (95% CI -37.4% to -0.2%)" beside "no significant contention").
  std::vector<double> solo = {37.4, 30.0, 44.8, 37.4};
  for (double spread : {0.5, 3.0, 6.0, 9.0, 12.0}) {
    std::vector<double> concurrent = {30.3 - spread, 30.3, 30.3 + spread, 30.3};
    ContentionVerdict v = contention_test(solo, concurrent);
    ASSERT_TRUE(v.welch.has_value());
    ASSERT_TRUE(v.relative_change.has_value()) << spread;
    const bool ci_excludes_zero = v.relative_change->upper < 0 || v.relative_change->lower > 0;
    EXPECT_EQ(ci_excludes_zero, v.welch->p < 0.05) << "spread " << spread << ": " << v.sentence;
    EXPECT_EQ(v.kind == ContentionKind::kNone, !ci_excludes_zero) << v.sentence;
  }
}

TEST(Concurrency, ContentionNeedsTwoCallsPerPhase) {
  ContentionVerdict v = contention_test(std::vector<double>{10}, std::vector<double>{5, 6});
  EXPECT_EQ(v.kind, ContentionKind::kInsufficient);
  EXPECT_NE(v.sentence.find("1 solo"), std::string::npos) << v.sentence;
}

TEST(Concurrency, CallPercentilesAndFailuresComeFromTheCalls) {
  auto call = [](int64_t ttft_ms, bool ok) {
    llm::CallRecord r;
    r.ok = ok;
    if (!ok) {
      r.error = "connection refused";
      return r;
    }
    r.t_request_ns = 1'000'000'000;
    r.t_first_token_ns = r.t_request_ns + ttft_ms * 1'000'000;
    for (int i = 0; i < 5; ++i) {
      r.chunk_times_ns.push_back(r.t_first_token_ns + i * 10'000'000);
      r.chunk_token_counts.push_back(1);
    }
    r.t_done_ns = r.chunk_times_ns.back();
    r.token_count = 5;
    r.token_count_source = llm::TokenCountSource::kEngine;
    return r;
  };
  std::vector<llm::CallRecord> solo = {call(100, true), call(200, true), call(300, true)};
  std::vector<llm::CallRecord> conc = {call(400, true), call(0, false)};
  std::vector<const llm::CallRecord*> solo_p, conc_p;
  for (auto& r : solo) solo_p.push_back(&r);
  for (auto& r : conc) conc_p.push_back(&r);
  ConcurrencyAnalysis a = analyze_concurrency(2, {}, solo_p, conc_p);
  EXPECT_NEAR(a.solo_ttft_ms.p50, 200.0, 1e-9);
  EXPECT_EQ(a.concurrent_ttft_ms.n, 1u);  // the failed call is a failure, not a zero
  EXPECT_EQ(a.concurrent_calls.failed, 1);
  // ITL: 10 ms between every token.
  EXPECT_NEAR(a.solo_itl_ms.p99, 10.0, 1e-9);
  EXPECT_EQ(a.contention.kind, ContentionKind::kInsufficient);
}

}  // namespace
}  // namespace chimera::lab
