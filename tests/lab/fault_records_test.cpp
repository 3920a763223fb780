// Records of calls to a broken server (tests/llm/support/fault_server.h) through everything lab/
// does with them: per-call metrics, arm statistics, the console/JSON/CSV outputs and the results
// store. A call with invalid server timings never shows a metric as 0 (it is unavailable, or taken
// from the client clock); text that is not UTF-8 never makes a writer throw, reads as U+FFFD, and
// keeps its exact bytes in the JSON form and the store.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lab/bench_output.h"
#include "lab/bench_report.h"
#include "lab/metrics.h"
#include "lab/record_json.h"
#include "lab/store.h"
#include "llm/backend.h"
#include "llm/support/fault_server.h"
#include "support/test_support.h"
#include "util/json_text.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

using chimera::testing::contains;

using chimera::testing::Fault;
using chimera::testing::FaultServer;
using chimera::testing::TempDir;
using chimera::testing::Wire;

// Calls ok, fault, ok through the backend, as measured calls of arm A.
std::vector<MeasuredCall> three_calls(Wire wire, Fault fault) {
  FaultServer server(wire);
  server.script({Fault::kNone, fault, Fault::kNone});
  auto backend = llm::make_backend(server.spec());
  EXPECT_TRUE(backend.ok());
  std::vector<MeasuredCall> calls;
  for (int i = 0; i < 3; ++i) {
    llm::Request request;
    request.prompt = "Say hello.";
    request.read_timeout_ms = 1'000;
    MeasuredCall c;
    c.meta.seq = i;
    c.record = (*backend)->generate(request);
    calls.push_back(std::move(c));
  }
  return calls;
}

BenchReport report_of(const std::vector<MeasuredCall>& calls) {
  BenchHeader h;
  h.backend = "fault";
  h.mode = "sequential";
  return analyze(h, calls, HwSummary{});
}

// The server's figures that no metric may turn into a number: every metric of the call is
// positive (ttft_residual_ms excepted: it may be negative by nature) and finite.
void expect_no_zero_metrics(const CallMetrics& m, const std::string& what) {
  for (const auto& [name, v] : m.values) {
    if (name == kTtftResidualMs) continue;
    EXPECT_GT(v.value, 0) << what << " " << name;
    EXPECT_TRUE(std::isfinite(v.value)) << what << " " << name;
  }
}

class InvalidTimings : public ::testing::TestWithParam<std::tuple<Wire, Fault>> {};

TEST_P(InvalidTimings, NoMetricIsZeroAndEveryOutputSaysWhy) {
  const auto [wire, fault] = GetParam();
  std::vector<MeasuredCall> calls = three_calls(wire, fault);
  ASSERT_EQ(calls.size(), 3u);
  for (const MeasuredCall& c : calls) ASSERT_TRUE(c.record.ok) << c.record.error;
  const llm::CallRecord& faulted = calls[1].record;
  CallMetrics m = compute_call_metrics(faulted);
  expect_no_zero_metrics(m, std::string(fault_name(fault)));
  // Decoding is still measured, from the client's clock, since the stream itself was fine.
  ASSERT_NE(m.find(kDecodeMs), nullptr);
  EXPECT_EQ(m.find(kDecodeMs)->provenance, Provenance::kDerived);
  EXPECT_EQ(m.find(kDecodeMs)->source, "client clocks");
  // The server-only figures are unavailable, with the server's own field named.
  ASSERT_EQ(m.find(kPrefillMs), nullptr);
  ASSERT_EQ(m.unavailable.count(std::string(kPrefillMs)), 1u);
  EXPECT_TRUE(contains(m.unavailable.at(std::string(kPrefillMs)),
                       wire == Wire::kOllama ? "prompt_eval_duration" : "timings.prompt_ms"))
      << m.unavailable.at(std::string(kPrefillMs));

  BenchReport report = report_of(calls);
  ASSERT_EQ(report.arms.size(), 1u);
  EXPECT_EQ(report.arms[0].metrics.invalid_server_timing_calls, 1);
  EXPECT_GE(report.arms[0].metrics.unavailable_calls.at(std::string(kPrefillMs)), 1);
  // The arm's prefill_ms covers the two good calls only.
  ASSERT_NE(report.arms[0].metrics.find(kPrefillMs), nullptr);
  EXPECT_EQ(report.arms[0].metrics.find(kPrefillMs)->per_call.size(), 2u);
  for (const MetricSummary& s : report.arms[0].metrics.metrics) {
    if (s.name == kTtftResidualMs) continue;
    for (double v : s.per_call) EXPECT_GT(v, 0) << s.name;
  }

  nlohmann::json json = nlohmann::json::parse(json_text(render_json(report, calls, {})));
  const nlohmann::json& metrics = json["calls"][1]["metrics"];
  EXPECT_FALSE(metrics.contains(kPrefillMs)) << metrics.dump();
  EXPECT_TRUE(metrics["unavailable"].contains(kPrefillMs)) << metrics.dump();
  EXPECT_GT(metrics[std::string(kDecodeMs)]["value"].get<double>(), 0);
  EXPECT_FALSE(json["calls"][1]["record"]["server"]["rejected"].empty());

  std::string csv = render_csv(report, calls);
  std::vector<std::string> lines = split(csv, '\n');
  std::vector<std::string> header = split(lines[0], ',');
  size_t prefill = std::find(header.begin(), header.end(), "prefill_ms") - header.begin();
  std::vector<std::string> row = split(lines[2], ',');  // the faulted call (seq 1)
  ASSERT_GT(row.size(), prefill);
  EXPECT_EQ(row[prefill], "") << lines[2];
  EXPECT_TRUE(contains(lines[2], "prefill_ms unavailable")) << lines[2];

  std::string console = render_console(report);
  EXPECT_TRUE(contains(console, "invalid server timings in 1 call")) << console;
  EXPECT_TRUE(contains(console, "prefill_ms unavailable in 1")) << console;
}

INSTANTIATE_TEST_SUITE_P(
    EveryTimingFault, InvalidTimings,
    ::testing::Combine(::testing::Values(Wire::kOllama, Wire::kOpenAI),
                       ::testing::Values(Fault::kZeroStats, Fault::kNegativeStats, Fault::kNanStats,
                                         Fault::kOverflowStats, Fault::kWrongTypeStats,
                                         Fault::kContradictoryStats)),
    [](const auto& info) { return chimera::testing::fault_case_name(info.param); });

TEST(InvalidTimings, RecordsFromElsewhereAreCheckedToo) {
  // A record stored before validation existed: eval_duration 0, prompt_eval_duration -5.
  llm::CallRecord r;
  r.ok = true;
  r.t_request_ns = 1'000'000'000;
  r.t_first_token_ns = 1'100'000'000;
  r.chunk_times_ns = {1'100'000'000, 1'150'000'000, 1'200'000'000};
  r.chunk_count = 3;
  r.t_done_ns = 1'250'000'000;
  r.token_count = 3;
  r.token_count_source = llm::TokenCountSource::kServer;
  r.server.eval_ns = 0;
  r.server.eval_count = 3;
  r.server.prompt_eval_ns = -5;
  r.server.load_ns = 0;  // a model that was resident: a real zero
  CallMetrics m = compute_call_metrics(r);
  ASSERT_NE(m.find(kDecodeMs), nullptr);
  EXPECT_DOUBLE_EQ(m.find(kDecodeMs)->value, 100.0);  // client: first to last chunk
  EXPECT_EQ(m.find(kDecodeMs)->provenance, Provenance::kDerived);
  EXPECT_EQ(m.find(kPrefillMs), nullptr);
  EXPECT_TRUE(contains(m.unavailable.at(std::string(kPrefillMs)), "-5, not positive"));
  ASSERT_NE(m.find(kLoadMs), nullptr);
  EXPECT_EQ(m.find(kLoadMs)->value, 0.0);
}

TEST(InvalidUtf8, EveryWriterTakesItAndTheBytesSurvive) {
  for (Wire wire : {Wire::kOllama, Wire::kOpenAI}) {
    std::vector<MeasuredCall> calls = three_calls(wire, Fault::kInvalidUtf8);
    const std::string raw = calls[1].record.text;
    ASSERT_FALSE(is_valid_utf8(raw));
    BenchReport report = report_of(calls);
    std::string json_out;
    ASSERT_NO_THROW(json_out = json_text(render_json(report, calls, {}), 2));
    EXPECT_TRUE(is_valid_utf8(json_out));
    nlohmann::json parsed = nlohmann::json::parse(json_out);
    const nlohmann::json& record = parsed["calls"][1]["record"];
    EXPECT_EQ(record["text"].get<std::string>(), utf8_replace_invalid(raw));
    EXPECT_TRUE(contains(record["text"].get<std::string>(), "\xEF\xBF\xBD"));
    auto back = call_record_from_json(record);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->text, raw);  // lossless
    EXPECT_TRUE(is_valid_utf8(render_csv(report, calls)));
    EXPECT_TRUE(is_valid_utf8(render_console(report)));

    TempDir dir;
    auto store = ResultsStore::open(dir.file("results.db"));
    ASSERT_TRUE(store.ok()) << store.status().message();
    SessionInfo info;
    info.command = "bench";
    auto session = (*store)->begin_session(info);
    ASSERT_TRUE(session.ok());
    for (const MeasuredCall& c : calls) {
      auto id = (*store)->add_call(*session, 0, c.meta, c.record);
      ASSERT_TRUE(id.ok()) << id.status().message();
    }
    auto stored = (*store)->calls(*session);
    ASSERT_TRUE(stored.ok());
    ASSERT_EQ(stored->size(), 3u);
    EXPECT_EQ((*stored)[1].call.record.text, raw);
    EXPECT_EQ((*stored)[0].call.record.text, "Hello, world.");
    // Other readers of the file (sqlite3, pandas) find UTF-8 in every text column.
    SQLite::Database db(dir.file("results.db"));
    SQLite::Statement q(db, "SELECT text, error, extra_json FROM calls");
    while (q.executeStep()) {
      for (int i = 0; i < 3; ++i) {
        if (!q.getColumn(i).isNull()) {
          EXPECT_TRUE(is_valid_utf8(q.getColumn(i).getString()));
        }
      }
    }
  }
}

TEST(FailedCalls, AreWrittenWithTheirReasonsAndNeverAsZeros) {
  std::vector<MeasuredCall> calls = three_calls(Wire::kOllama, Fault::kRandomBytes);
  ASSERT_FALSE(calls[1].record.ok);
  BenchReport report = report_of(calls);
  EXPECT_EQ(report.arms[0].metrics.failed, 1);
  EXPECT_EQ(report.arms[0].metrics.ok, 2);
  nlohmann::json json = nlohmann::json::parse(json_text(render_json(report, calls, {})));
  EXPECT_TRUE(json["calls"][1]["metrics"].empty());
  std::string error = json["calls"][1]["record"]["error"].get<std::string>();
  EXPECT_TRUE(contains(error, "body byte")) << error;
  EXPECT_TRUE(is_valid_utf8(error));
}

}  // namespace
}  // namespace chimera::lab
