// The tuner's loop on a backend of known behaviour: what it sends in which order, what the race
// drops, what a resumed study makes, and how it ranks.
#include "lab/tune_study.h"

#include <gtest/gtest.h>

#include <set>

#include "lab/fake_backend.h"
#include "lab/tune_analysis.h"

namespace chimera::lab {
namespace {

using testing::FakeBackend;
using testing::FakeTiming;

// Decode is twice as fast with num_thread=2; temperature does nothing; num_ctx=99999 fails (as a
// context too large for memory would); +-5% noise from the call index.
std::unique_ptr<FakeBackend> threads_backend() {
  auto backend = std::make_unique<FakeBackend>();
  backend->timing = [](const llm::Request& r, int64_t index) {
    FakeTiming t;
    double itl = r.options.num_thread.value_or(1) >= 2 ? 10.0 : 20.0;
    t.itl_ms = itl * (1.0 + 0.1 * testing::noise(7, index));
    t.ttft_ms = 50 * (1.0 + 0.1 * testing::noise(11, index));
    t.tokens = static_cast<int>(r.options.num_predict.value_or(8));
    return t;
  };
  return backend;
}

StudySpec spec_for(std::vector<std::string> params, Strategy strategy, int repeat) {
  StudySpec spec;
  spec.name = "test";
  spec.backend = "fake://test";
  for (const auto& p : params) spec.axes.push_back(*parse_param(p));
  spec.strategy = strategy;
  spec.repeat = repeat;
  spec.objectives = {*parse_objective("decode_tps")};
  spec.prompts = {"one", "two"};
  spec.num_predict = 8;
  return spec;
}

struct Outcome {
  StudyRun run;
  TuneAnalysis analysis;
  std::vector<Configuration> configs;
};

Outcome study(FakeBackend& backend, const StudySpec& spec, std::vector<MeasuredCall> stored = {},
              std::function<bool()> stop = {}) {
  Outcome o;
  o.configs = *expand_space(spec.axes, SpaceFacts{});
  PromptWorkload workload(spec, true);
  TuneStudy s(backend, workload, spec, o.configs);
  s.resume_from(std::move(stored));
  if (stop) s.should_stop(stop);
  o.run = s.run();
  AnalysisInput in;
  in.spec = &spec;
  in.configs = &o.configs;
  in.calls = &o.run.calls;
  in.calls_per_sample = workload.calls_per_sample();
  in.rounds = o.run.rounds;
  in.not_tried = o.run.not_tried;
  o.analysis = analyze_study(in);
  return o;
}

TEST(TuneStudy, GridRunsEachLoadAsOneBlockAfterAWarmUp) {
  auto backend = threads_backend();
  StudySpec spec = spec_for({"num_thread=1,2", "temperature=0.2,0.8"}, Strategy::kGrid, 3);
  Outcome o = study(*backend, spec);
  // 4 configurations x 3 samples x 2 prompts, and one warm-up per load (2 loads).
  EXPECT_EQ(o.run.measured_calls, 24);
  auto requests = backend->requests();
  ASSERT_EQ(requests.size(), 26u);
  // The thread count changes exactly once: each load is one contiguous block.
  int changes = 0;
  for (size_t i = 1; i < requests.size(); ++i) {
    changes += requests[i].options.num_thread != requests[i - 1].options.num_thread;
  }
  EXPECT_EQ(changes, 1);
  // Each block begins with its warm-up, which the statistics exclude.
  EXPECT_TRUE(o.run.calls[0].meta.warmup);
  EXPECT_TRUE(o.run.calls[13].meta.warmup);
  EXPECT_EQ(o.analysis.warmup_calls, 2);
  // Every configuration's n-th call sends the same seed and the same fixed length.
  std::set<int64_t> seeds_of_first_calls;
  for (const MeasuredCall& c : o.run.calls) {
    if (c.meta.warmup) continue;
    EXPECT_EQ(c.record.token_count, 8);
    if (c.meta.repetition == 0 && c.meta.prompt_index == 0) {
      seeds_of_first_calls.insert(*backend->requests()[static_cast<size_t>(c.meta.seq)].options.seed);
    }
  }
  EXPECT_EQ(seeds_of_first_calls.size(), 1u);
}

TEST(TuneStudy, RankingTiesTheEquivalentAndSeparatesTheReal) {
  auto backend = threads_backend();
  StudySpec spec = spec_for({"num_thread=1,2", "temperature=0.2,0.8"}, Strategy::kGrid, 5);
  Outcome o = study(*backend, spec);
  ASSERT_EQ(o.analysis.tied.size(), 2u);
  for (const ConfigResult& r : o.analysis.configs) {
    bool two = r.config.options.num_thread == 2;
    EXPECT_EQ(r.status == ConfigStatus::kBest || r.status == ConfigStatus::kTiedForBest, two)
        << r.config.label << " " << config_status_name(r.status);
    if (!two) {
      // The slower configurations' CIs lie wholly below the best's.
      EXPECT_LT(r.objectives[0].ci->upper, o.analysis.configs.front().objectives[0].ci->lower);
    }
  }
  ASSERT_EQ(o.analysis.effects.size(), 1u);
  const EffectsResult& fx = *o.analysis.effects[0].effects;
  EXPECT_TRUE(fx.factors[0].measurable);   // num_thread
  EXPECT_FALSE(fx.factors[1].measurable);  // temperature
  EXPECT_NEAR(fx.factors[0].levels[0].estimate / fx.mean, 0.66, 0.1);  // about 2x on ~1.5x mean
}

TEST(TuneStudy, ANoisyRateNeverGetsANegativeLowerBound) {
  // Two samples whose decode rates differ tenfold: the t-interval of their mean reaches far below
  // zero, which no tok/s can be; the reported bound stops at 0 and the upper bound is untouched.
  auto backend = std::make_unique<FakeBackend>();
  backend->timing = [](const llm::Request& r, int64_t index) {
    FakeTiming t;
    t.itl_ms = index <= 2 ? 1.0 : 10.0;  // the warm-up and the first sample fast, the second slow
    t.ttft_ms = 5;
    t.tokens = static_cast<int>(r.options.num_predict.value_or(8));
    return t;
  };
  StudySpec spec = spec_for({"temperature=0.2"}, Strategy::kGrid, 2);
  Outcome o = study(*backend, spec);
  ASSERT_EQ(o.analysis.configs.size(), 1u);
  const MetricEstimate& e = o.analysis.configs[0].objectives[0];
  ASSERT_TRUE(e.ci.has_value());
  ASSERT_EQ(e.values.size(), 2u);
  EXPECT_EQ(e.ci->lower, 0.0);
  EXPECT_GT(e.ci->upper, 2 * e.mean);
}

TEST(TuneStudy, RaceDropsTheSlowEarlyAndSpendsFewerCalls) {
  auto grid_backend = threads_backend();
  auto race_backend = threads_backend();
  StudySpec grid = spec_for({"num_thread=1,2", "temperature=0.2,0.8"}, Strategy::kGrid, 8);
  StudySpec race = grid;
  race.strategy = Strategy::kRace;
  Outcome g = study(*grid_backend, grid);
  Outcome r = study(*race_backend, race);
  ASSERT_FALSE(r.run.rounds.empty());
  std::set<std::string> dropped;
  for (const auto& e : r.run.rounds[0].decision.eliminated) dropped.insert(e.config);
  EXPECT_EQ(dropped, (std::set<std::string>{"c01", "c02"}));  // the num_thread=1 ones
  EXPECT_EQ(std::set<std::string>(r.analysis.tied.begin(), r.analysis.tied.end()),
            std::set<std::string>(g.analysis.tied.begin(), g.analysis.tied.end()));
  EXPECT_LT(r.run.measured_calls, g.run.measured_calls);
  // Round 1: 2 samples of each of 4; then 4 and 8 samples of the 2 left: 16 + 2 x 6 x 2 = 40 of 64.
  EXPECT_EQ(r.run.measured_calls, 40);
}

TEST(TuneStudy, AResumedStudyMakesOnlyTheMissingCalls) {
  StudySpec spec = spec_for({"num_thread=1,2", "temperature=0.2,0.8"}, Strategy::kRace, 4);
  auto first = threads_backend();
  // Stop after an odd number of calls: in the middle of a sample of two prompts, as kill -9 would.
  Outcome interrupted =
      study(*first, spec, {}, [&] { return first->requests().size() >= 15; });
  ASSERT_TRUE(interrupted.run.cancelled);
  std::vector<MeasuredCall> stored = interrupted.run.calls;
  auto second = threads_backend();
  Outcome resumed = study(*second, spec, stored);
  EXPECT_FALSE(resumed.run.cancelled);
  // Every (configuration, sample, call) exactly once over both runs.
  std::set<std::tuple<std::string, int64_t, int64_t>> seen;
  int64_t measured_total = 0;
  for (const MeasuredCall& c : resumed.run.calls) {
    if (c.meta.warmup) continue;
    ++measured_total;
    EXPECT_TRUE(seen.insert({c.meta.arm, c.meta.repetition, c.meta.prompt_index}).second)
        << "repeated: " << c.meta.arm << " sample " << c.meta.repetition << " call "
        << c.meta.prompt_index;
  }
  // The same study uninterrupted makes the same measured calls.
  auto whole = threads_backend();
  Outcome uninterrupted = study(*whole, spec);
  EXPECT_EQ(measured_total, uninterrupted.run.measured_calls);
  // The noise follows the backend's call index, which the resumed run's extra warm-up shifts: the
  // figures differ a little, the conclusion does not.
  EXPECT_EQ(std::set<std::string>(resumed.analysis.tied.begin(), resumed.analysis.tied.end()),
            std::set<std::string>(uninterrupted.analysis.tied.begin(),
                                  uninterrupted.analysis.tied.end()));
}

TEST(TuneStudy, AFailingConfigurationIsRecordedAndTheStudyGoesOn) {
  auto backend = threads_backend();
  backend->fail = [backend = backend.get()](int64_t index) {
    return backend->requests()[static_cast<size_t>(index)].options.num_ctx == 99999;
  };
  StudySpec spec = spec_for({"num_ctx=512,99999"}, Strategy::kGrid, 3);
  Outcome o = study(*backend, spec);
  EXPECT_EQ(o.run.failed, (std::vector<std::string>{"c02"}));
  const ConfigResult* failed = nullptr;
  for (const auto& r : o.analysis.configs) {
    if (r.config.label == "c02") failed = &r;
  }
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->status, ConfigStatus::kFailed);
  EXPECT_EQ(failed->rank, 0);
  EXPECT_NE(failed->failure.find("connection refused"), std::string::npos);
  EXPECT_EQ(o.analysis.best, "c01");
  // It was given up on after two failed samples, not measured three times.
  EXPECT_EQ(failed->calls_failed, 4);
}

TEST(TuneStudy, RandomSearchSpendsItsBudgetOnADrawnSubset) {
  auto backend = threads_backend();
  StudySpec spec = spec_for({"num_thread=1,2", "temperature=0.2,0.4,0.6,0.8"}, Strategy::kRandom, 2);
  spec.budget = 13;  // 3 configurations x 2 samples x 2 prompts = 12 fit
  Outcome o = study(*backend, spec);
  EXPECT_EQ(o.run.measured_calls, 12);
  EXPECT_EQ(o.run.not_tried.size(), 5u);
  int not_tried = 0;
  for (const auto& r : o.analysis.configs) not_tried += r.status == ConfigStatus::kNotTried;
  EXPECT_EQ(not_tried, 5);
}

TEST(TuneStudy, ATruncatedPromptIsReportedNotRanked) {
  auto backend = std::make_unique<FakeBackend>();
  backend->timing = [](const llm::Request&, int64_t index) {
    FakeTiming t;
    t.itl_ms = 10 * (1 + 0.05 * testing::noise(3, index));
    return t;
  };
  StudySpec spec = spec_for({"num_ctx=64,4096"}, Strategy::kGrid, 2);
  PromptWorkload workload(spec, true);
  auto configs = *expand_space(spec.axes, SpaceFacts{});
  TuneStudy s(*backend, workload, spec, configs);
  s.on_call([](const MeasuredCall&) {});
  StudyRun run = s.run();
  for (MeasuredCall& c : run.calls) c.record.prompt_truncated = c.record.options_requested.num_ctx == 64;
  AnalysisInput in;
  in.spec = &spec;
  in.configs = &configs;
  in.calls = &run.calls;
  in.calls_per_sample = 2;
  TuneAnalysis a = analyze_study(in);
  EXPECT_EQ(a.best, "c02");
  EXPECT_EQ(a.configs.back().status, ConfigStatus::kTruncated);
}

}  // namespace
}  // namespace chimera::lab
