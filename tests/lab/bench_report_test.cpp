// From calls to findings: an A/A run finds no difference, an A/B run with a real 30 % TTFT gain finds
// it with the right sign and size, verdict sentences follow their numbers, throughput per load level
// is computed by hand, and the header survives its JSON form.
#include "lab/bench_report.h"

#include <gtest/gtest.h>

#include "fake_backend.h"

namespace chimera::lab {
namespace {

using testing::FakeBackend;
using testing::FakeTiming;

BenchHeader header_for(const BenchRun& run) {
  BenchHeader h;
  h.backend = "fake://test";
  h.arms = run.prepared.arms;
  h.mode = "sequential";
  return h;
}

BenchRun run_ab(FakeBackend& backend, int runs, llm::Options vs) {
  BenchPlan plan;
  plan.prompts = {"p0", "p1"};
  plan.runs = runs;
  plan.warmup = 1;
  plan.vs = vs;
  return BenchRunner(backend, plan).run();
}

TEST(BenchReport, AnAaRunReportsNoSignificantDifference) {
  FakeBackend backend;
  // Both arms draw from one distribution: TTFT 100 +- 10 ms, ITL 20 +- 2 ms.
  backend.timing = [](const llm::Request&, int64_t i) {
    return FakeTiming{100 + 20 * testing::noise(1, i), 20 + 4 * testing::noise(2, i), 16};
  };
  llm::Options same;  // --vs with nothing changed
  BenchRun run = run_ab(backend, 10, same);
  BenchReport report = analyze(header_for(run), run.calls, HwSummary{});
  ASSERT_EQ(report.arms.size(), 2u);
  EXPECT_EQ(report.arms[0].metrics.ok, 20);
  EXPECT_EQ(report.arms[0].warmup_calls, 1);
  ASSERT_FALSE(report.comparisons.empty());
  for (const Comparison& c : report.comparisons) {
    EXPECT_FALSE(c.significant) << c.verdict;
    EXPECT_EQ(c.verdict.rfind("no significant difference in " + c.metric, 0), 0u) << c.verdict;
  }
}

TEST(BenchReport, AnAbRunFindsAThirtyPercentTtftGain) {
  FakeBackend backend;
  // B (temperature set) answers 30 % sooner; decoding is identical in both arms.
  backend.timing = [](const llm::Request& r, int64_t i) {
    double ttft = (r.options.temperature ? 70.0 : 100.0) * (1 + 0.1 * testing::noise(3, i));
    return FakeTiming{ttft, 20 + 4 * testing::noise(4, i), 16};
  };
  llm::Options vs;
  vs.temperature = 0.2;
  BenchRun run = run_ab(backend, 10, vs);
  BenchReport report = analyze(header_for(run), run.calls, HwSummary{});
  const Comparison* ttft = nullptr;
  const Comparison* decode = nullptr;
  for (const Comparison& c : report.comparisons) {
    if (c.metric == kTtftMs) ttft = &c;
    if (c.metric == kDecodeTps) decode = &c;
  }
  ASSERT_TRUE(ttft && decode);
  EXPECT_TRUE(ttft->significant);
  EXPECT_LT(ttft->welch->difference, 0);
  ASSERT_TRUE(ttft->relative_ci);
  EXPECT_TRUE(ttft->relative_ci->contains(-0.30)) << ttft->relative_ci->lower << " "
                                                  << ttft->relative_ci->upper;
  EXPECT_LT(*ttft->hedges_g, -2.0);  // a large effect
  ASSERT_TRUE(ttft->paired);
  EXPECT_EQ(ttft->paired->n, 20u);
  EXPECT_EQ(ttft->verdict.rfind("B's ttft_ms is lower by 3", 0), 0u) << ttft->verdict;
  EXPECT_NE(ttft->verdict.find(": better"), std::string::npos) << ttft->verdict;
  EXPECT_FALSE(decode->significant) << decode->verdict;
}

TEST(BenchReport, VerdictSentencesComeFromTheirNumbers) {
  Comparison c;
  c.metric = "decode_tps";
  c.higher_is_better = true;
  c.n_a = c.n_b = 5;
  c.mean_a = 50;
  c.mean_b = 51;
  c.welch = WelchResult{};
  c.welch->p = 0.41;
  EXPECT_EQ(verdict_sentence(c, 0.05, 0.95), "no significant difference in decode_tps (p = 0.41)");

  c.metric = "ttft_ms";
  c.higher_is_better = false;
  c.mean_a = 100;
  c.mean_b = 69;
  c.welch->p = 0.003;
  c.relative_ci = Interval{-0.40, -0.22, 0.95};
  EXPECT_EQ(verdict_sentence(c, 0.05, 0.95),
            "B's ttft_ms is lower by 31% (95% CI 22\u201340%; p = 0.003): better");

  c.metric = "decode_tps";
  c.higher_is_better = true;
  c.mean_a = 50;
  c.mean_b = 45;
  c.welch->p = 0.0004;
  c.relative_ci = Interval{-0.16, -0.04, 0.95};
  EXPECT_EQ(verdict_sentence(c, 0.05, 0.95),
            "B's decode_tps is lower by 10% (95% CI 4.0\u201316%; p < 0.001): worse");

  c.welch.reset();
  c.n_b = 1;
  EXPECT_EQ(verdict_sentence(c, 0.05, 0.95),
            "too few successful calls to compare decode_tps (A n = 5, B n = 1; need 2 each)");
}

TEST(BenchReport, FailedCallsAreCountedPerArmAndLeftOutOfComparisons) {
  FakeBackend backend;
  backend.fail = [](int64_t i) { return i == 4 || i == 7; };  // after the warm-up pair
  llm::Options vs;
  vs.temperature = 0.2;
  BenchRun run = run_ab(backend, 3, vs);
  BenchReport report = analyze(header_for(run), run.calls, HwSummary{});
  int64_t failed = report.arms[0].metrics.failed + report.arms[1].metrics.failed;
  EXPECT_EQ(failed, 2);
  for (const Comparison& c : report.comparisons) {
    EXPECT_EQ(c.n_a + c.n_b, 10u) << c.metric;  // 12 measured calls, 2 failed
  }
}

TEST(BenchReport, ThroughputPerLoadLevelByHand) {
  // Two arms at concurrency 2: four calls each, 10 tokens each. Arm A's requests start at 0, 0, 1,
  // 1 s and end at 1, 1, 2, 2 s: wall 2 s, 4 requests / 2 s = 2 req/s, 40 tokens / 2 s = 20 tok/s.
  std::vector<MeasuredCall> calls;
  const int64_t s = 1'000'000'000;
  for (int i = 0; i < 4; ++i) {
    MeasuredCall c;
    c.meta.arm = "A";
    c.meta.concurrency = 2;
    c.record.ok = true;
    c.record.t_request_ns = s + (i / 2) * s;
    c.record.t_first_token_ns = c.record.t_request_ns + s / 10 * (i + 1);  // TTFT 100..400 ms
    c.record.t_done_ns = c.record.t_request_ns + s;
    c.record.token_count = 10;
    c.record.token_count_source = llm::TokenCountSource::kServer;
    calls.push_back(c);
  }
  MeasuredCall failed;
  failed.meta.arm = "A";
  failed.meta.concurrency = 2;
  failed.record.ok = false;
  failed.record.error_code = ErrorCode::kTimeout;
  calls.push_back(failed);
  BenchHeader h;
  h.concurrency = {2};
  h.mode = "closed loop";
  BenchReport report = analyze(h, calls, HwSummary{});
  ASSERT_EQ(report.load.size(), 1u);
  const LoadRow& row = report.load[0];
  EXPECT_EQ(row.requests, 5);
  EXPECT_EQ(row.ok, 4);
  EXPECT_EQ(row.failed, 1);
  EXPECT_DOUBLE_EQ(row.wall_s, 2.0);
  EXPECT_DOUBLE_EQ(row.request_throughput_rps, 2.0);
  EXPECT_DOUBLE_EQ(row.output_tps, 20.0);
  // TTFTs 100, 200, 300, 400 ms: p50 = 250, p99 = 300 + 0.97 * 100 = 397 (h = 3 * 0.99 = 2.97).
  EXPECT_DOUBLE_EQ(*row.ttft_p50_ms, 250);
  EXPECT_NEAR(*row.ttft_p99_ms, 397, 1e-9);
}

TEST(BenchReport, HeaderSurvivesItsJsonForm) {
  FakeBackend backend;
  llm::Options vs;
  vs.temperature = 0.2;
  BenchRun run = run_ab(backend, 1, vs);
  BenchHeader h = header_for(run);
  h.prompts = {"a", "b"};
  h.concurrency = {1, 4};
  h.seed_base = 99;
  h.warnings = {"w"};
  h.started_unix_ms = 1'760'000'000'000;
  auto back = header_from_json(header_to_json(h));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->arms.size(), 2u);
  EXPECT_EQ(back->arms[1].options, h.arms[1].options);
  EXPECT_EQ(back->arms[1].lines.size(), h.arms[1].lines.size());
  EXPECT_EQ(back->prompts, h.prompts);
  EXPECT_EQ(back->concurrency, h.concurrency);
  EXPECT_EQ(back->seed_base, 99u);
  EXPECT_EQ(back->warnings, h.warnings);
  EXPECT_EQ(header_to_json(*back), header_to_json(h));
}

}  // namespace
}  // namespace chimera::lab
