// The solo-vs-concurrent protocol of `chimera agents` against test backends of known behaviour
// (shared_server_backend.h): a server that serialises the work gives a speedup whose CI contains 1
// while the prior system's balance ratio reads about 2; a perfectly parallel one gives about 2; an
// endpoint that dies mid-run fails its agent's calls (never zeros) while the other agent finishes.
#include "agent/multi_agent.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "agent/shared_server_backend.h"

namespace chimera::agent {
namespace {

using testing::SharedServerBackend;

class MultiAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto role = find_role("data-collector");
    ASSERT_TRUE(role.ok()) << role.status().message();
    role_ = *role;
    auto profile = find_profile("baseline");
    ASSERT_TRUE(profile.ok());
    profile_ = *profile;
    settings_.repetitions = 6;
    // 40 tokens x 5 ms: 200 ms of service per call, long beside the scheduling delays of a busy
    // two-core machine.
    settings_.num_predict = 40;
    settings_.warmup_num_predict = 2;
    settings_.today_iso = "2026-11-26";
    // These backends keep no prompt cache, so the priming pass would only add calls to count
    // (its own test below).
    settings_.prime = false;
  }

  MultiAgentResult run(std::vector<llm::Backend*> backends) {
    std::vector<AgentSpec> agents;
    for (size_t i = 0; i < backends.size(); ++i) {
      agents.push_back({"agent" + std::to_string(i + 1), role_, profile_, backends[i]});
    }
    MultiAgentRunner runner(std::move(agents), settings_, ingest_, facts_);
    runner.on_call([this](const lab::MeasuredCall& c) { stored_.push_back(c); });
    return runner.run();
  }

  lab::ConcurrencyAnalysis analyze(const MultiAgentResult& r) {
    auto solo = r.phase_calls(false), conc = r.phase_calls(true);
    return lab::analyze_concurrency(static_cast<int>(r.agents.size()), r.repetitions, solo, conc);
  }

  Role role_;
  Profile profile_;
  MultiAgentSettings settings_;
  IngestResult ingest_;
  FactsTable facts_;
  std::vector<lab::MeasuredCall> stored_;
};

TEST_F(MultiAgentTest, SerialisingServerSpeedupContainsOneWhileBalanceRatioReadsTwo) {
  SharedServerBackend server(SharedServerBackend::Mode::kShared, 5.0);
  MultiAgentResult r = run({&server, &server});
  ASSERT_EQ(r.repetitions.size(), 6u);
  lab::ConcurrencyAnalysis a = analyze(r);
  EXPECT_EQ(a.repetitions_complete, 6u);
  ASSERT_TRUE(a.speedup.ci.has_value());
  EXPECT_TRUE(a.speedup.ci->contains(1.0))
      << "speedup " << a.speedup.estimate << " CI " << a.speedup.ci->lower << "-"
      << a.speedup.ci->upper << " per repetition " << ::testing::PrintToString(a.speedup.values);
  EXPECT_NEAR(a.speedup.estimate, 1.0, 0.1);
  EXPECT_NEAR(a.efficiency, 0.5, 0.05);
  // Both agents are busy for the whole concurrent wall: the prior system's ratio reads ~2.
  EXPECT_GT(a.balance_ratio.mean, 1.8);
  EXPECT_LE(a.balance_ratio.mean, 2.0 + 1e-9);
  // Each agent is slowed about twice, equally: fair, and the per-call decode rate halves.
  for (const auto& s : a.agents_slowdown) EXPECT_NEAR(s.slowdown.estimate, 2.0, 0.2) << s.agent;
  EXPECT_GT(a.fairness.mean, 0.95);
  EXPECT_EQ(a.contention.kind, lab::ContentionKind::kContention) << a.contention.sentence;
}

TEST_F(MultiAgentTest, PerfectlyParallelServerSpeedupIsAboutTwo) {
  SharedServerBackend server(SharedServerBackend::Mode::kParallel, 5.0);
  MultiAgentResult r = run({&server, &server});
  lab::ConcurrencyAnalysis a = analyze(r);
  EXPECT_EQ(a.repetitions_complete, 6u);
  // About 2: the concurrent wall is the longer of two varied calls, so a little under.
  EXPECT_GT(a.speedup.estimate, 1.75) << ::testing::PrintToString(a.speedup.values);
  EXPECT_LT(a.speedup.estimate, 2.1) << ::testing::PrintToString(a.speedup.values);
  ASSERT_TRUE(a.speedup.ci.has_value());
  EXPECT_FALSE(a.speedup.ci->contains(1.0));
  EXPECT_NEAR(a.efficiency, 1.0, 0.13);
  EXPECT_GT(a.balance_ratio.mean, 1.8);  // the same reading as the serialising server's
  EXPECT_NE(a.contention.kind, lab::ContentionKind::kContention) << a.contention.sentence;
  // Aggregate tokens/s doubles when the agents run together.
  EXPECT_GT(a.concurrent_aggregate_tps.mean, 1.7 * a.solo_aggregate_tps.mean);
}

TEST_F(MultiAgentTest, PrimingGivesBothPhasesTheSameCachedPrompts) {
  // A perfectly parallel server with a prompt cache: a prompt seen before costs a quarter of the
  // work. Without priming, repetition 1 runs its solo phase cold and its concurrent phase from the
  // cache the solo phase filled: a "speedup" far above 2 that is the cache, not concurrency.
  settings_.repetitions = 3;
  auto speedups = [&](bool prime) {
    settings_.prime = prime;
    SharedServerBackend server(SharedServerBackend::Mode::kParallel, 5.0);
    server.jitter = 0.02;
    server.cached_work = 0.25;
    MultiAgentResult r = run({&server, &server});
    return analyze(r).speedup.values;
  };
  std::vector<double> unprimed = speedups(false);
  ASSERT_EQ(unprimed.size(), 3u);
  EXPECT_GT(unprimed[0], 3.0) << ::testing::PrintToString(unprimed);
  std::vector<double> primed = speedups(true);
  ASSERT_EQ(primed.size(), 3u);
  for (double s : primed) {
    EXPECT_GT(s, 1.6) << ::testing::PrintToString(primed);
    EXPECT_LT(s, 2.2) << ::testing::PrintToString(primed);
  }
  // The priming calls are stored as warm-up calls, outside every statistic.
  size_t priming = 0;
  for (const auto& c : stored_) priming += c.meta.warmup && c.meta.concurrency == 2 ? 1 : 0;
  EXPECT_EQ(priming, 3u * 2u * static_cast<size_t>(role_.calls_per_execution()));
}

TEST_F(MultiAgentTest, CallsAreStoredPerAgentWithPhaseAndOneOrder) {
  settings_.repetitions = 2;
  SharedServerBackend server(SharedServerBackend::Mode::kParallel, 0.5);
  MultiAgentResult r = run({&server, &server});
  // 2 warm-ups + 2 repetitions x 2 phases x 2 agents x 1 call.
  ASSERT_EQ(r.calls.size(), 10u);
  ASSERT_EQ(stored_.size(), r.calls.size());
  std::set<int64_t> seqs;
  int solo = 0, concurrent = 0;
  for (const auto& c : stored_) {
    seqs.insert(c.meta.seq);
    EXPECT_TRUE(c.meta.arm == "agent1" || c.meta.arm == "agent2") << c.meta.arm;
    if (c.meta.warmup) continue;
    (c.meta.concurrency == 2 ? concurrent : solo)++;
  }
  EXPECT_EQ(seqs.size(), stored_.size());  // one order across agents, no duplicates
  EXPECT_EQ(solo, 4);
  EXPECT_EQ(concurrent, 4);
  // Repetition 0 runs solo first, repetition 1 concurrent first.
  ASSERT_EQ(r.repetitions.size(), 2u);
  EXPECT_FALSE(r.repetitions[0].concurrent_first);
  EXPECT_TRUE(r.repetitions[1].concurrent_first);
  // The same seed in both phases of a repetition.
  std::map<std::pair<std::string, int64_t>, std::set<int64_t>> seeds;
  for (const auto& c : stored_) {
    if (!c.meta.warmup)
      seeds[{c.meta.arm, c.meta.repetition}].insert(*c.record.options_requested.seed);
  }
  for (const auto& [key, s] : seeds) EXPECT_EQ(s.size(), 1u) << key.first << " rep " << key.second;
}

TEST_F(MultiAgentTest, OneAgentIsItsOwnConcurrentPhase) {
  settings_.repetitions = 2;
  SharedServerBackend server(SharedServerBackend::Mode::kShared, 0.5);
  MultiAgentResult r = run({&server});
  EXPECT_EQ(r.calls.size(), 3u);  // warm-up + one call per repetition
  lab::ConcurrencyAnalysis a = analyze(r);
  EXPECT_DOUBLE_EQ(a.speedup.estimate, 1.0);
  EXPECT_EQ(a.concurrent_calls.ok, 2);
}

TEST_F(MultiAgentTest, AKilledEndpointFailsItsAgentsCallsAndTheOtherFinishes) {
  settings_.repetitions = 4;
  SharedServerBackend alive(SharedServerBackend::Mode::kParallel, 0.5, "alive");
  SharedServerBackend dying(SharedServerBackend::Mode::kParallel, 0.5, "dying");
  dying.fail_after = 3;  // warm-up + repetition 0 (solo, concurrent), then it is gone
  MultiAgentResult r = run({&alive, &dying});
  ASSERT_EQ(r.repetitions.size(), 4u);
  lab::ConcurrencyAnalysis a = analyze(r);
  EXPECT_EQ(a.repetitions_complete, 1u);  // only repetition 0 has comparable walls
  int failed = 0, ok_agent1 = 0;
  for (const auto& c : r.calls) {
    if (c.meta.warmup) continue;
    if (c.meta.arm == "agent2" && !c.record.ok) {
      ++failed;
      EXPECT_EQ(c.record.token_count, 0);
      EXPECT_NE(c.record.error.find("connection refused"), std::string::npos);
      EXPECT_GT(c.record.t_request_ns, 0);  // when it failed is known
    }
    if (c.meta.arm == "agent1") ok_agent1 += c.record.ok;
  }
  EXPECT_EQ(failed, 6);     // repetitions 1-3, both phases
  EXPECT_EQ(ok_agent1, 8);  // every call of the other agent succeeded
  // Failed calls are failures in the statistics, never zeros.
  EXPECT_EQ(a.solo_calls.failed + a.concurrent_calls.failed, 6);
  EXPECT_EQ(a.concurrent_calls.ok + a.solo_calls.ok, 10);
  const AgentPhaseRun* last = r.final_run(1);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->repetition, 0);
  EXPECT_FALSE(r.runs.back().execution.ok && r.runs.back().agent == 1);
}

}  // namespace
}  // namespace chimera::agent

namespace chimera::agent {
namespace {

// The report agent of `chimera run` as a role: its two calls (analysis, then report) per
// execution, each recorded with its kind, and the report validated.
TEST_F(MultiAgentTest, TheReporterRoleRunsChimeraRunsTwoCalls) {
  auto reporter = find_role("reporter");
  ASSERT_TRUE(reporter.ok());
  role_ = *reporter;
  settings_.repetitions = 2;
  SharedServerBackend server(SharedServerBackend::Mode::kParallel, 0.2);
  MultiAgentResult r = run({&server, &server});
  // 2 warm-ups + 2 repetitions x 2 phases x 2 agents x 2 calls.
  ASSERT_EQ(r.calls.size(), 2u + 16u);
  int analysis = 0, report = 0;
  for (const auto& c : r.calls) {
    if (c.meta.warmup) continue;
    (c.meta.prompt_index == kAnalysisCall ? analysis : report)++;
  }
  EXPECT_EQ(analysis, 8);
  EXPECT_EQ(report, 8);
  for (const auto& run : r.runs) {
    ASSERT_EQ(run.calls.size(), 2u);
    EXPECT_EQ(r.calls[run.calls[0]].meta.prompt_index, kAnalysisCall);
    EXPECT_EQ(r.calls[run.calls[1]].meta.prompt_index, kReportCall);
    EXPECT_TRUE(run.execution.ok);
    EXPECT_FALSE(run.execution.analysis_text.empty());
  }
}

}  // namespace
}  // namespace chimera::agent
