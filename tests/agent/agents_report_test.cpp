// The reports of `chimera agents` on runs of known behaviour: the verdict a serialising server
// deserves (no faster, while the balance ratio reads about 2), the failures of a dead endpoint with
// when they happened, and the per-agent timeline.
#include "agent/agents_report.h"

#include <gtest/gtest.h>

#include "agent/agents_outputs.h"
#include "agent/shared_server_backend.h"
#include "report/svg_timeline.h"

namespace chimera::agent {
namespace {

using testing::SharedServerBackend;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

class AgentsReportTest : public ::testing::Test {
 protected:
  AgentsRun run_with(std::vector<llm::Backend*> backends, int repetitions) {
    auto role = find_role("insight");
    auto profile = find_profile("baseline");
    EXPECT_TRUE(role.ok() && profile.ok());
    std::vector<AgentSpec> agents;
    for (size_t i = 0; i < backends.size(); ++i) {
      agents.push_back(
          {"agent" + std::to_string(i + 1) + "-insight", *role, *profile, backends[i]});
    }
    MultiAgentSettings settings;
    settings.repetitions = repetitions;
    settings.num_predict = 30;
    settings.warmup_num_predict = 2;
    settings.today_iso = "2026-11-26";
    settings.prime = false;  // these backends keep no prompt cache
    AgentsRun run;
    run.start_ns = monotonic_ns();
    run.today_iso = settings.today_iso;
    run.model_label = "tiny.gguf";
    run.synthetic = true;
    run.repetitions = repetitions;
    for (auto* b : backends) run.endpoints.push_back({b->name(), "", 0, "", {}, {}});
    MultiAgentRunner runner(std::move(agents), settings, ingest_, facts_);
    AgentsLevel level;
    level.agents = static_cast<int>(backends.size());
    level.result = runner.run();
    level.analysis =
        lab::analyze_concurrency(level.agents, level.result.repetitions,
                                 level.result.phase_calls(false), level.result.phase_calls(true));
    run.levels.push_back(std::move(level));
    return run;
  }
  IngestResult ingest_;
  FactsTable facts_;
};

TEST_F(AgentsReportTest, SerialisingServerIsReportedAsNoFasterWhateverTheBalanceRatio) {
  SharedServerBackend server(SharedServerBackend::Mode::kShared, 5.0);
  AgentsRun run = run_with({&server, &server}, 4);
  const lab::ConcurrencyAnalysis& a = run.levels[0].analysis;
  ASSERT_TRUE(a.speedup.ci && a.speedup.ci->contains(1.0)) << a.speedup.estimate;
  std::string md = combined_report_markdown(run);
  EXPECT_TRUE(contains(md, "no faster together than one after another")) << md;
  EXPECT_TRUE(contains(md, "that figure is a balance ratio")) << md;
  EXPECT_TRUE(contains(md, "Per-call decode rate, concurrent vs solo: contention: per-call decode rate")) << md;
  EXPECT_TRUE(contains(md, "Dummy weights")) << md;
  EXPECT_TRUE(contains(md, "No call failed.")) << md;
  std::string agent = agent_report_markdown(run, run.levels[0], 0, ingest_);
  EXPECT_TRUE(contains(agent, "# Agent Report: agent1-insight")) << agent;
  EXPECT_TRUE(contains(agent, "a slowdown of")) << agent;
  // The fake's text has no Recommendations or Risks heading: the role check says so.
  EXPECT_TRUE(contains(agent,
                       "Sections the role asks for that the text lacks: Executive Summary, "
                       "Recommendations, Risks"))
      << agent;
}

TEST_F(AgentsReportTest, ADeadEndpointsFailuresAreListedWithTheirTimes) {
  SharedServerBackend alive(SharedServerBackend::Mode::kParallel, 0.5, "alive");
  SharedServerBackend dying(SharedServerBackend::Mode::kParallel, 0.5, "dying");
  dying.fail_after = 1;  // only its warm-up succeeds
  AgentsRun run = run_with({&alive, &dying}, 2);
  std::vector<FailedCall> failed = failed_calls(run);
  ASSERT_EQ(failed.size(), 4u);  // 2 repetitions x 2 phases
  for (const auto& f : failed) {
    EXPECT_EQ(f.agent, "agent2-insight");
    EXPECT_EQ(f.endpoint, "fake://dying");
    EXPECT_GT(f.at_s, 0);
    EXPECT_GT(f.unix_ms, 0);
  }
  EXPECT_LE(failed[0].at_s, failed[1].at_s);  // in the order they happened
  std::string md = combined_report_markdown(run);
  EXPECT_TRUE(contains(md, "4 calls failed")) << md;
  EXPECT_TRUE(contains(md, "The first failure:")) << md;
  EXPECT_TRUE(contains(md, "connection refused")) << md;
  EXPECT_TRUE(contains(md, "no speedup: none of the 2 repetitions finished")) << md;

  report::TimelineSpec timeline = agents_timeline(run, run.levels[0]);
  ASSERT_EQ(timeline.lanes.size(), 2u);
  size_t failed_spans = 0;
  for (const auto& s : timeline.lanes[1].spans) failed_spans += s.failed;
  EXPECT_EQ(failed_spans, 4u);
  EXPECT_EQ(timeline.lanes[0].spans.size(), 5u);  // warm-up + 2 x 2
  EXPECT_EQ(timeline.bands.size(), 2u);           // the concurrent phases
}

}  // namespace
}  // namespace chimera::agent
