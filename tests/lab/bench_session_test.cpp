// A bench session end to end below the CLI: calls and hardware samples land in the results store as
// the run goes, the summary at the end, and reading the session back gives the same statistics.
#include "lab/bench_session.h"

#include <gtest/gtest.h>

#include "fake_backend.h"
#include "support/test_support.h"

namespace chimera::lab {
namespace {

using chimera::testing::TempDir;
using testing::FakeBackend;
using testing::FakeTiming;

BenchSessionOptions options_for(const std::string& db) {
  BenchSessionOptions o;
  o.backend_spec = "fake://test/m";
  o.command_line = "chimera bench -b fake://test/m --runs 4 --vs temperature=0.2";
  o.plan.prompts = {"p0", "p1"};
  o.plan.runs = 4;
  o.plan.warmup = 1;
  o.plan.base.model = "m";
  o.plan.vs = llm::Options{};
  o.plan.vs->temperature = 0.2;
  o.db_path = db;
  o.monitor.period_ms = 5;
  o.monitor.gpu = false;
  return o;
}

TEST(BenchSession, StoresEveryCallAsItCompletesAndReadsBackTheSameReport) {
  TempDir dir;
  FakeBackend backend;
  backend.work_ms = 2;  // long enough for the 5 ms sampler to take a few samples
  backend.timing = [](const llm::Request& r, int64_t i) {
    return FakeTiming{(r.options.temperature ? 60.0 : 90.0) + 4 * testing::noise(9, i), 15, 6};
  };
  BenchSessionOptions options = options_for(dir.file("results.db"));
  int64_t stored_when_called = -1;
  std::unique_ptr<ResultsStore> reader;
  options.on_progress = [&](int64_t done, int64_t total, const MeasuredCall& call) {
    EXPECT_EQ(total, 2 + 2 * 4 * 2);
    EXPECT_FALSE(call.meta.arm.empty());
    if (done == 5) {  // mid-run, from a second connection: the fifth call is already committed
      auto opened = ResultsStore::open(*options.db_path);
      ASSERT_TRUE(opened.ok());
      reader = std::move(*opened);
      auto sessions = reader->list_sessions();
      ASSERT_TRUE(sessions.ok());
      auto calls = reader->calls((*sessions)[0].id);
      stored_when_called = calls.ok() ? static_cast<int64_t>(calls->size()) : -2;
    }
  };
  auto result = run_bench_session(backend, options);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(stored_when_called, 5);
  EXPECT_TRUE(result->store_warnings.empty());
  ASSERT_TRUE(result->report.session_id);
  EXPECT_EQ(result->calls.size(), 18u);
  EXPECT_GE(result->samples.size(), 2u);
  EXPECT_EQ(result->report.header.arms.size(), 2u);
  EXPECT_FALSE(result->report.header.cpu.empty());
  EXPECT_FALSE(result->report.header.build.empty());

  auto store = ResultsStore::open(*options.db_path);
  ASSERT_TRUE(store.ok());
  auto row = (*store)->session(*result->report.session_id);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->status, "completed");
  EXPECT_EQ(row->calls, 16);  // warm-ups excluded
  EXPECT_NE(row->summary_json.find("\"comparisons\""), std::string::npos);
  auto samples = (*store)->hw_samples(*result->report.session_id);
  ASSERT_TRUE(samples.ok());
  EXPECT_EQ(samples->size(), result->samples.size());

  auto loaded = load_bench_session(**store, *result->report.session_id);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_FALSE(loaded->report.cancelled);
  EXPECT_EQ(loaded->report.header.command_line, options.command_line);
  ASSERT_EQ(loaded->report.arms.size(), 2u);
  for (size_t a = 0; a < 2; ++a) {
    const ArmMetrics& live = result->report.arms[a].metrics;
    const ArmMetrics& back = loaded->report.arms[a].metrics;
    ASSERT_EQ(live.metrics.size(), back.metrics.size());
    for (size_t m = 0; m < live.metrics.size(); ++m) {
      EXPECT_EQ(live.metrics[m].name, back.metrics[m].name);
      EXPECT_DOUBLE_EQ(live.metrics[m].summary.mean, back.metrics[m].summary.mean);
      EXPECT_DOUBLE_EQ(live.metrics[m].summary.p99, back.metrics[m].summary.p99);
    }
  }
  ASSERT_EQ(loaded->report.comparisons.size(), result->report.comparisons.size());
  for (size_t i = 0; i < loaded->report.comparisons.size(); ++i) {
    EXPECT_EQ(loaded->report.comparisons[i].verdict, result->report.comparisons[i].verdict);
  }
  EXPECT_EQ(loaded->report.hardware.samples, result->samples.size());
}

TEST(BenchSession, AnInterruptedRunIsStoredAsInterrupted) {
  TempDir dir;
  FakeBackend backend;
  BenchSessionOptions options = options_for(dir.file("results.db"));
  int calls = 0;
  options.on_progress = [&](int64_t, int64_t, const MeasuredCall&) { ++calls; };
  options.should_stop = [&] { return calls >= 4; };
  auto result = run_bench_session(backend, options);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->report.cancelled);
  auto store = ResultsStore::open(*options.db_path);
  auto row = (*store)->session(*result->report.session_id);
  EXPECT_EQ(row->status, "interrupted");
  EXPECT_EQ((*store)->calls(row->id)->size(), 4u);
}

TEST(BenchSession, EveryCallFailingIsAFailedSessionWithFailuresCounted) {
  TempDir dir;
  FakeBackend backend;
  backend.fail = [](int64_t) { return true; };
  BenchSessionOptions options = options_for(dir.file("results.db"));
  options.plan.vs.reset();
  auto result = run_bench_session(backend, options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->report.arms[0].metrics.failed, 8);
  EXPECT_TRUE(result->report.arms[0].metrics.metrics.empty());
  auto store = ResultsStore::open(*options.db_path);
  EXPECT_EQ((*store)->session(*result->report.session_id)->status, "failed");
}

TEST(BenchSession, WithoutAStoreNothingIsWritten) {
  FakeBackend backend;
  BenchSessionOptions options = options_for("");
  options.db_path.reset();
  options.monitor_hardware = false;
  auto result = run_bench_session(backend, options);
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->report.session_id.has_value());
  EXPECT_TRUE(result->samples.empty());
  EXPECT_EQ(result->report.hardware.gpu_status, "not monitored (--no-hwmon)");
}

}  // namespace
}  // namespace chimera::lab
