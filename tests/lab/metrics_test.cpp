// Metrics from hand-built CallRecords: every expected value is worked out by hand in the comments.
#include "lab/metrics.h"

#include <gtest/gtest.h>

#include <vector>

namespace chimera::lab {
namespace {

constexpr int64_t kMs = 1'000'000;  // ns per ms

// An Ollama-style call: request at t = 1000 ms, one token per NDJSON line at 1200, 1250, 1300,
// 1360 ms, done at 1400 ms; the server reports load 50 ms, prefill 100 ms for 20 prompt tokens and
// eval 150 ms for 4 tokens.
llm::CallRecord ollama_call() {
  llm::CallRecord r;
  r.ok = true;
  r.t_request_ns = 1000 * kMs;
  r.t_first_byte_ns = 1190 * kMs;
  r.t_first_token_ns = 1200 * kMs;
  r.chunk_times_ns = {1200 * kMs, 1250 * kMs, 1300 * kMs, 1360 * kMs};
  r.t_done_ns = 1400 * kMs;
  r.token_count = 4;
  r.token_count_source = llm::TokenCountSource::kServer;
  r.server.load_ns = 50 * kMs;
  r.server.prompt_eval_ns = 100 * kMs;
  r.server.prompt_eval_count = 20;
  r.server.eval_ns = 150 * kMs;
  r.server.eval_count = 4;
  return r;
}

TEST(CallMetrics, ServerAndClientClocksOfAnOllamaCall) {
  CallMetrics m = compute_call_metrics(ollama_call());
  ASSERT_TRUE(m.find(kTtftMs));
  EXPECT_DOUBLE_EQ(m.find(kTtftMs)->value, 200);
  EXPECT_EQ(m.find(kTtftMs)->provenance, Provenance::kMeasured);
  EXPECT_DOUBLE_EQ(m.find(kE2eMs)->value, 400);
  EXPECT_DOUBLE_EQ(m.find(kLoadMs)->value, 50);
  EXPECT_DOUBLE_EQ(m.find(kPrefillMs)->value, 100);
  EXPECT_DOUBLE_EQ(m.find(kDecodeMs)->value, 150);
  // 20 tokens / 0.1 s and 4 tokens / 0.15 s, from the server's own fields.
  EXPECT_DOUBLE_EQ(m.find(kPrefillTps)->value, 200);
  EXPECT_NEAR(m.find(kDecodeTps)->value, 26.6666667, 1e-6);
  EXPECT_EQ(m.find(kDecodeTps)->provenance, Provenance::kMeasured);
  // Dual clocks: the server accounts for 50 + 100 = 150 ms of the 200 ms TTFT; 50 ms is elsewhere.
  EXPECT_DOUBLE_EQ(m.find(kServerTtftMs)->value, 150);
  EXPECT_EQ(m.find(kServerTtftMs)->provenance, Provenance::kDerived);
  EXPECT_DOUBLE_EQ(m.find(kTtftResidualMs)->value, 50);
  EXPECT_EQ(m.find(kTtftResidualMs)->provenance, Provenance::kDerived);
  // One token per line (4 server tokens in 4 chunks): intervals 50, 50, 60 ms, measured.
  ASSERT_EQ(m.itl_ms.size(), 3u);
  EXPECT_DOUBLE_EQ(m.itl_ms[0], 50);
  EXPECT_DOUBLE_EQ(m.itl_ms[2], 60);
  EXPECT_EQ(m.itl_provenance, Provenance::kMeasured);
  EXPECT_EQ(m.itl_excluded_tokens, 0);
}

TEST(CallMetrics, MultiTokenChunksAreSplitNeverCountedAsOneToken) {
  // An SSE stream whose chunks carry 2, 1, 3, 1 tokens at 100, 200, 350, 400 ms after the request.
  llm::CallRecord r;
  r.ok = true;
  r.t_request_ns = 5 * kMs;
  r.chunk_times_ns = {105 * kMs, 205 * kMs, 355 * kMs, 405 * kMs};
  r.chunk_token_counts = {2, 1, 3, 1};
  r.t_first_token_ns = 105 * kMs;
  r.t_done_ns = 410 * kMs;
  r.token_count = 7;
  r.token_count_source = llm::TokenCountSource::kServer;
  CallMetrics m = compute_call_metrics(r);
  // The first chunk's second token has no interval (excluded, counted); the 100 ms interval before
  // the 1-token chunk is one ITL; the 150 ms before the 3-token chunk becomes three of 50 ms; then 50.
  std::vector<double> expected = {100, 50, 50, 50, 50};
  ASSERT_EQ(m.itl_ms.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_DOUBLE_EQ(m.itl_ms[i], expected[i]) << i;
  EXPECT_EQ(m.itl_excluded_tokens, 1);
  EXPECT_EQ(m.itl_split_chunks, 1);
  EXPECT_EQ(m.itl_provenance, Provenance::kDerived);
  // No server timings: decode rate from client clocks = tokens after the first chunk's (7 - 2 = 5)
  // over first -> last token (405 - 105 = 300 ms) = 16.67 tok/s, derived.
  ASSERT_TRUE(m.find(kDecodeTps));
  EXPECT_NEAR(m.find(kDecodeTps)->value, 5 / 0.3, 1e-9);
  EXPECT_EQ(m.find(kDecodeTps)->provenance, Provenance::kDerived);
  EXPECT_DOUBLE_EQ(m.find(kDecodeMs)->value, 300);
  EXPECT_EQ(m.find(kDecodeMs)->provenance, Provenance::kDerived);
  EXPECT_FALSE(m.find(kLoadMs));
  EXPECT_FALSE(m.find(kPrefillMs));
  EXPECT_FALSE(m.find(kServerTtftMs));
  EXPECT_FALSE(m.find(kTtftResidualMs));
}

TEST(CallMetrics, UnknownTokensPerChunkExcludeTheCallFromItl) {
  // 10 tokens (server usage) arrived in 4 chunks with no per-chunk counts: which interval belongs
  // to which token cannot be known, so no ITL values are invented.
  llm::CallRecord r;
  r.ok = true;
  r.t_request_ns = 1;
  r.chunk_times_ns = {100 * kMs, 200 * kMs, 300 * kMs, 400 * kMs};
  r.t_first_token_ns = 100 * kMs;
  r.t_done_ns = 400 * kMs;
  r.token_count = 10;
  r.token_count_source = llm::TokenCountSource::kServer;
  CallMetrics m = compute_call_metrics(r);
  EXPECT_TRUE(m.itl_ms.empty());
  EXPECT_EQ(m.itl_excluded_tokens, 9);
  EXPECT_NE(m.itl_note.find("unknown"), std::string::npos);
  // The decode rate is still known: 9 tokens after the first in 300 ms = 30 tok/s, derived.
  EXPECT_NEAR(m.find(kDecodeTps)->value, 30.0, 1e-9);
}

TEST(CallMetrics, PrefillRateFallsBackToClientTtftAndSaysSo) {
  llm::CallRecord r = ollama_call();
  r.server = {};
  r.prompt_tokens = 30;
  CallMetrics m = compute_call_metrics(r);
  // 30 prompt tokens / 0.2 s client TTFT = 150 tok/s, derived (a lower bound).
  ASSERT_TRUE(m.find(kPrefillTps));
  EXPECT_DOUBLE_EQ(m.find(kPrefillTps)->value, 150);
  EXPECT_EQ(m.find(kPrefillTps)->provenance, Provenance::kDerived);
  EXPECT_NE(m.find(kPrefillTps)->source.find("TTFT"), std::string::npos);
}

TEST(CallMetrics, DummyWeightModelsAreTaggedSynthetic) {
  llm::CallRecord r = ollama_call();
  r.synthetic_model = true;
  CallMetrics m = compute_call_metrics(r);
  for (const auto& [name, value] : m.values) EXPECT_EQ(value.provenance, Provenance::kSynthetic) << name;
  EXPECT_EQ(m.itl_provenance, Provenance::kSynthetic);
}

TEST(ArmSummary, FailedCallsAreCountedNotAveraged) {
  std::vector<llm::CallRecord> records;
  for (int i = 0; i < 3; ++i) {
    llm::CallRecord r = ollama_call();
    r.t_first_token_ns += i * 10 * kMs;  // TTFT 200, 210, 220 ms
    records.push_back(r);
  }
  // A timed-out call with a partial stream and a refused connection: neither may become a zero or
  // a tiny TTFT in the statistics.
  llm::CallRecord timed_out = ollama_call();
  timed_out.ok = false;
  timed_out.t_first_token_ns = timed_out.t_request_ns + 1 * kMs;
  timed_out.error_code = ErrorCode::kTimeout;
  timed_out.error = "read timed out after 600 s";
  llm::CallRecord refused;
  refused.ok = false;
  refused.error_code = ErrorCode::kUnavailable;
  refused.error = "connection refused";
  records.push_back(timed_out);
  records.push_back(refused);

  ArmMetrics arm = summarize_calls(records);
  EXPECT_EQ(arm.calls, 5);
  EXPECT_EQ(arm.ok, 3);
  EXPECT_EQ(arm.failed, 2);
  EXPECT_EQ(arm.failures_by_reason.at("timeout"), 1);
  EXPECT_EQ(arm.failures_by_reason.at("unavailable"), 1);
  EXPECT_EQ(arm.failure_examples.at("unavailable"), "connection refused");
  const MetricSummary* ttft = arm.find(kTtftMs);
  ASSERT_TRUE(ttft);
  EXPECT_EQ(ttft->summary.n, 3u);
  EXPECT_DOUBLE_EQ(ttft->summary.mean, 210);
  EXPECT_DOUBLE_EQ(ttft->summary.min, 200);
  // t CI with 2 df: 210 +- 4.302653 * 10 / sqrt(3) (qt(.975, 2) = 4.302653).
  ASSERT_TRUE(ttft->ci);
  EXPECT_NEAR(ttft->ci->upper, 210 + 4.302653 * 10 / std::sqrt(3.0), 1e-4);
  EXPECT_EQ(ttft->provenance, Provenance::kMeasured);
  EXPECT_EQ(arm.generated_tokens, 12);  // 4 per successful call
}

TEST(ArmSummary, ItlPercentilesPoolTokensWhileTestsUseCallMeans) {
  std::vector<llm::CallRecord> records = {ollama_call(), ollama_call()};
  ArmMetrics arm = summarize_calls(records);
  const MetricSummary* itl = arm.find(kItlMs);
  ASSERT_TRUE(itl);
  EXPECT_EQ(itl->summary.n, 6u);        // 3 intervals per call
  ASSERT_EQ(itl->per_call.size(), 2u);  // one mean per call: (50 + 50 + 60) / 3
  EXPECT_NEAR(itl->per_call[0], 160.0 / 3, 1e-9);
  EXPECT_DOUBLE_EQ(itl->summary.max, 60);
}

TEST(ArmSummary, ProvenanceIsTheWeakestAcrossCalls) {
  llm::CallRecord with_server = ollama_call();
  llm::CallRecord without = ollama_call();
  without.server = {};
  std::vector<llm::CallRecord> records = {with_server, without};
  ArmMetrics arm = summarize_calls(records);
  const MetricSummary* decode = arm.find(kDecodeTps);
  ASSERT_TRUE(decode);
  EXPECT_EQ(decode->provenance, Provenance::kDerived);
  EXPECT_NE(decode->source.find("1 of 2"), std::string::npos) << decode->source;
  EXPECT_EQ(arm.find(kLoadMs)->summary.n, 1u);  // only the call that reported it
}

TEST(ArmSummary, NoSuccessfulCallsGivesNoMetrics) {
  llm::CallRecord refused;
  refused.error_code = ErrorCode::kUnavailable;
  std::vector<llm::CallRecord> records = {refused};
  ArmMetrics arm = summarize_calls(records);
  EXPECT_EQ(arm.failed, 1);
  EXPECT_TRUE(arm.metrics.empty());
}

}  // namespace
}  // namespace chimera::lab
