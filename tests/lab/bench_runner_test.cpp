// The bench runner, checked on the requests a Backend receives: ABAB alternation, one seed per pair,
// equal work in both arms, warm-ups first, and the closed- and open-loop load modes.
#include "lab/bench_runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "fake_backend.h"

namespace chimera::lab {
namespace {

using testing::FakeBackend;

BenchPlan ab_plan(int runs, int warmup, std::vector<std::string> prompts) {
  BenchPlan plan;
  plan.prompts = std::move(prompts);
  plan.runs = runs;
  plan.warmup = warmup;
  plan.base.model = "m";
  llm::Options vs;
  vs.temperature = 0.2;
  plan.vs = vs;
  return plan;
}

char arm_of(const llm::Request& r) { return r.options.temperature ? 'B' : 'A'; }

TEST(BenchRunner, AbRunsAlternateTheFirstArmAndShareSeedAndPromptPerPair) {
  FakeBackend backend;
  BenchRunner runner(backend, ab_plan(3, 1, {"p0", "p1"}));
  EXPECT_EQ(runner.total_calls(), 2 + 2 * 3 * 2);
  BenchRun run = runner.run();
  std::vector<llm::Request> got = backend.requests();
  ASSERT_EQ(got.size(), 14u);
  std::string order;
  for (const auto& r : got) order += arm_of(r);
  // Warm-up pair, then pairs AB BA AB BA AB BA.
  EXPECT_EQ(order, "AB" "AB" "BA" "AB" "BA" "AB" "BA");
  std::set<int64_t> seeds;
  for (size_t i = 0; i < got.size(); i += 2) {
    ASSERT_TRUE(got[i].options.seed.has_value());
    EXPECT_EQ(got[i].options.seed, got[i + 1].options.seed) << "pair at " << i;
    EXPECT_EQ(got[i].prompt, got[i + 1].prompt);
    seeds.insert(*got[i].options.seed);
  }
  EXPECT_EQ(seeds.size(), 7u);  // each pair (and the warm-up) its own seed
  // Same work in both arms: the bench's default length, and ignore_eos where supported.
  for (const auto& r : got) {
    EXPECT_EQ(r.options.num_predict, kBenchDefaultNumPredict);
    EXPECT_TRUE(r.ignore_eos);
    EXPECT_EQ(r.model, "m");
  }
  // Prompts cycle within a repetition; the first two calls are warm-ups, excluded later.
  ASSERT_EQ(run.calls.size(), 14u);
  EXPECT_TRUE(run.calls[0].meta.warmup);
  EXPECT_TRUE(run.calls[1].meta.warmup);
  EXPECT_FALSE(run.calls[2].meta.warmup);
  EXPECT_EQ(run.calls[2].meta.pair_index, 0);
  EXPECT_EQ(run.calls[4].meta.pair_index, 1);
  EXPECT_EQ(run.calls[4].meta.prompt_index, 1);
  EXPECT_EQ(run.calls[6].meta.repetition, 1);
  EXPECT_EQ(run.calls[4].meta.arm, "B");  // pair 1 starts with B
  for (size_t i = 0; i < run.calls.size(); ++i) EXPECT_EQ(run.calls[i].meta.seq, (int64_t)i);
}

TEST(BenchRunner, UserSeedIsUsedByBothArmsAndSingleArmSendsOnlyWhatWasAsked) {
  FakeBackend backend;
  BenchPlan plan = ab_plan(2, 0, {"p"});
  plan.arm_a.seed = 7;
  plan.arm_a.num_predict = 32;
  BenchRunner runner(backend, plan);
  runner.run();
  for (const auto& r : backend.requests()) {
    EXPECT_EQ(r.options.seed, 7);
    EXPECT_EQ(r.options.num_predict, 32);
  }

  FakeBackend single_backend;
  BenchPlan single;
  single.prompts = {"p"};
  single.runs = 3;
  single.warmup = 0;
  single.arm_a.top_k = 40;
  BenchRunner single_runner(single_backend, single);
  BenchRun run = single_runner.run();
  ASSERT_EQ(single_backend.requests().size(), 3u);
  for (const auto& r : single_backend.requests()) {
    EXPECT_FALSE(r.options.seed.has_value());  // no A/B pairing: the seed stays the backend's
    EXPECT_EQ(r.options.top_k, 40);
  }
  EXPECT_EQ(run.calls[0].meta.pair_index, -1);
  // The header's "sent vs default" lines say where each value came from.
  const ArmSpec& arm = run.prepared.arms.at(0);
  auto line = [&](std::string_view name) {
    for (const OptionLine& l : arm.lines) {
      if (l.name == name) return l;
    }
    return OptionLine{};
  };
  EXPECT_EQ(line("top_k").source, "sent (flag)");
  EXPECT_EQ(line("num_predict").source, "sent (bench default)");
  EXPECT_EQ(line("num_predict").value, "128");
  EXPECT_EQ(line("temperature").source, "backend default");
}

TEST(BenchRunner, WarnsWhenTheArmsCannotDoTheSameWork) {
  FakeBackend backend;
  backend.caps.ignore_eos = false;
  BenchPlan plan = ab_plan(1, 0, {"p"});
  plan.vs->num_predict = 256;
  PreparedPlan prepared = prepare_plan(plan, backend.capabilities());
  EXPECT_FALSE(prepared.ignore_eos);
  std::string all;
  for (const auto& w : prepared.warnings) all += w + "\n";
  EXPECT_NE(all.find("end-of-sequence"), std::string::npos) << all;
  EXPECT_NE(all.find("different lengths"), std::string::npos) << all;
  for (const OptionLine& line : prepared.arms[1].lines) {
    if (line.name == "num_predict" || line.name == "temperature") {
      EXPECT_EQ(line.source, "sent (--vs)") << line.name;
    }
  }
}

TEST(BenchRunner, FailedCallsAreKeptAsFailuresAndTheRunGoesOn) {
  FakeBackend backend;
  backend.fail = [](int64_t i) { return i % 3 == 2; };
  BenchPlan plan;
  plan.prompts = {"p"};
  plan.runs = 6;
  plan.warmup = 0;
  std::vector<int64_t> seen;
  std::vector<int64_t> progress;
  BenchRunner runner(backend, plan);
  runner.on_call([&](const MeasuredCall& c) { seen.push_back(c.meta.seq); });
  runner.on_progress([&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 6);
    progress.push_back(done);
  });
  BenchRun run = runner.run();
  ASSERT_EQ(run.calls.size(), 6u);
  EXPECT_FALSE(run.calls[2].record.ok);
  EXPECT_FALSE(run.calls[5].record.ok);
  EXPECT_TRUE(run.calls[3].record.ok);
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(progress.back(), 6);
}

TEST(BenchRunner, StopsEarlyWhenAsked) {
  FakeBackend backend;
  BenchPlan plan;
  plan.prompts = {"p"};
  plan.runs = 50;
  plan.warmup = 0;
  BenchRunner runner(backend, plan);
  int calls = 0;
  runner.on_call([&](const MeasuredCall&) { ++calls; });
  runner.should_stop([&] { return calls >= 3; });
  BenchRun run = runner.run();
  EXPECT_TRUE(run.cancelled);
  EXPECT_EQ(run.calls.size(), 3u);
}

TEST(BenchRunner, ClosedLoopKeepsConcurrencyWorkersBusyAtEachLevel) {
  FakeBackend backend;
  backend.work_ms = 15;
  BenchPlan plan;
  plan.prompts = {"p0", "p1", "p2"};
  plan.runs = 1;
  plan.warmup = 1;
  plan.concurrency = {1, 4};
  BenchRunner runner(backend, plan);
  // Level 1: max(3, 4) = 4 requests; level 4: max(3, 16) = 16; plus one warm-up.
  EXPECT_EQ(runner.total_calls(), 1 + 4 + 16);
  BenchRun run = runner.run();
  ASSERT_EQ(run.levels.size(), 2u);
  EXPECT_EQ(run.levels[0].concurrency, 1);
  EXPECT_EQ(run.levels[0].calls.size(), 4u);
  EXPECT_EQ(run.levels[1].calls.size(), 16u);
  EXPECT_GT(run.levels[1].wall_ns, 0);
  for (const MeasuredCall& c : run.levels[1].calls) EXPECT_EQ(c.meta.concurrency, 4);
  EXPECT_LE(backend.max_in_flight(), 4);
  EXPECT_GE(backend.max_in_flight(), 2);  // calls really overlapped
  // Every request index of a level was issued exactly once.
  std::set<int64_t> indices;
  for (const MeasuredCall& c : run.levels[1].calls) {
    indices.insert(c.meta.repetition * 3 + c.meta.prompt_index);
  }
  EXPECT_EQ(indices.size(), 16u);
}

TEST(BenchRunner, PoissonArrivalsAreSeededWithTheRequestedMeanGap) {
  auto a = poisson_offsets_ns(4000, 5.0, 1);
  auto again = poisson_offsets_ns(4000, 5.0, 1);
  auto other = poisson_offsets_ns(4000, 5.0, 2);
  EXPECT_EQ(a, again);
  EXPECT_NE(a, other);
  EXPECT_EQ(a[0], 0);
  // Mean gap 1 / 5 s = 200 ms; with 3999 exponential gaps the sample mean is within ~3 % (3 sd).
  double mean_gap_s = static_cast<double>(a.back()) / 1e9 / 3999.0;
  EXPECT_NEAR(mean_gap_s, 0.2, 0.2 * 0.05);
  // Exponential gaps: the sd equals the mean (coefficient of variation 1), unlike a fixed rate.
  std::vector<double> gaps;
  for (size_t i = 1; i < a.size(); ++i) gaps.push_back((a[i] - a[i - 1]) / 1e9);
  EXPECT_NEAR(sample_sd(gaps) / mean(gaps), 1.0, 0.1);
}

TEST(BenchRunner, OpenLoopSendsAtScheduledTimesWithoutWaitingForCompletions) {
  FakeBackend backend;
  backend.work_ms = 30;
  BenchPlan plan;
  plan.prompts = {"p"};
  plan.runs = 12;
  plan.warmup = 0;
  plan.rates_rps = {400.0};  // mean gap 2.5 ms, far below the 30 ms a call takes
  BenchRunner runner(backend, plan);
  BenchRun run = runner.run();
  ASSERT_EQ(run.levels.size(), 1u);
  ASSERT_EQ(run.levels[0].calls.size(), 12u);
  EXPECT_EQ(run.levels[0].rate_rps, 400.0);
  for (const MeasuredCall& c : run.levels[0].calls) {
    EXPECT_EQ(c.meta.rate_rps, 400.0);
    EXPECT_EQ(c.meta.concurrency, 0);
  }
  EXPECT_GE(backend.max_in_flight(), 2);  // a closed loop of 1 would never overlap
}

}  // namespace
}  // namespace chimera::lab
