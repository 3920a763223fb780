// Metrics from CallRecords, in ARCHITECTURE.md's vocabulary, each with its provenance.
//
// Per call:
//   ttft_ms        client clock, request sent -> first token                        measured
//   e2e_ms         client clock, request sent -> done                               measured
//   load_ms        server load_duration                                             measured
//   prefill_ms     server prompt_eval_duration                                      measured
//   decode_ms      server eval_duration; else client first -> last token            measured /
//   derived prefill_tps    server prompt_eval_count / prompt_eval_duration measured
//                  else prompt tokens / client TTFT (a lower bound: TTFT includes
//                  queueing and network)                                           derived
//   decode_tps     server eval_count / eval_duration (the server timed exactly that
//                  work); else tokens after the first / client first -> last token  measured /
//                  derived
//   itl_ms         one value per generated token after the first, from chunk arrival
//                  times. A chunk carrying k > 1 tokens has its interval split into
//                  k equal parts (derived); tokens whose share of time is unknowable
//                  (extra tokens in the first chunk, or calls whose tokens per chunk are
//                  unknown) are excluded and counted, never counted as one token.
//   server_ttft_ms load_ms + prefill_ms: the server's view of TTFT                  derived
//   ttft_residual_ms ttft_ms - server_ttft_ms: queueing, network, client overhead    derived
// A call on a model with dummy weights tags every figure "synthetic" instead.
// Failed calls (ok == false) are excluded from every statistic and counted as failures.
// A server value that is not usable (rejected when the record was built, see
// llm::validate_server_timings, or not positive in a record from elsewhere) never becomes a
// figure: the metric falls back to the client clock where one can stand in (decode_ms, decode_tps,
// prefill_tps), and is otherwise unavailable for that call, with the reason in
// CallMetrics::unavailable. No metric is ever 0 for want of a value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lab/stats.h"
#include "llm/types.h"
#include "util/provenance.h"

namespace chimera::lab {

inline constexpr std::string_view kTtftMs = "ttft_ms";
inline constexpr std::string_view kE2eMs = "e2e_ms";
inline constexpr std::string_view kLoadMs = "load_ms";
inline constexpr std::string_view kPrefillMs = "prefill_ms";
inline constexpr std::string_view kDecodeMs = "decode_ms";
inline constexpr std::string_view kPrefillTps = "prefill_tps";
inline constexpr std::string_view kDecodeTps = "decode_tps";
inline constexpr std::string_view kItlMs = "itl_ms";
inline constexpr std::string_view kServerTtftMs = "server_ttft_ms";
inline constexpr std::string_view kTtftResidualMs = "ttft_residual_ms";

struct MetricInfo {
  std::string_view name;
  std::string_view unit;   // "ms", "tok/s"
  bool higher_is_better;
  std::string_view meaning;
};
// Every metric in the order tables print them.
const std::vector<MetricInfo>& metric_catalog();
const MetricInfo* find_metric(std::string_view name);

struct MetricValue {
  double value = 0;
  Provenance provenance = Provenance::kMeasured;
  std::string source;  // "client clock", "server eval fields", "client clocks", ...
};

struct CallMetrics {
  bool ok = false;
  std::map<std::string, MetricValue, std::less<>> values;  // scalar metrics present for this call
  std::vector<double> itl_ms;     // one value per attributed token interval
  Provenance itl_provenance = Provenance::kMeasured;
  int64_t itl_split_chunks = 0;       // multi-token chunks whose interval was divided
  int64_t itl_excluded_tokens = 0;    // tokens with no attributable interval
  std::string itl_note;               // why tokens were excluded, when they were
  int64_t generated_tokens = 0;
  llm::TokenCountSource token_count_source = llm::TokenCountSource::kNone;
  std::optional<int64_t> prompt_tokens;
  // Metrics this call does not have because a value they need was invalid (never for a metric
  // the backend simply does not report): metric name -> why.
  std::map<std::string, std::string, std::less<>> unavailable;
  // Metrics taken from the client clock because the server's value was rejected.
  std::vector<std::string> client_fallbacks;

  const MetricValue* find(std::string_view name) const;
};

CallMetrics compute_call_metrics(const llm::CallRecord& record);

// One metric over the successful calls of an arm.
struct MetricSummary {
  std::string name;
  std::string unit;
  bool higher_is_better = false;
  // Over every value: per call, except itl_ms where it is every token interval.
  Summary summary;
  // One value per successful call that has the metric (itl_ms: that call's mean ITL). Confidence
  // intervals and A/B tests use these, since calls, not tokens, are the independent units.
  std::vector<double> per_call;
  std::optional<Interval> ci;  // t-based CI of the mean of per_call
  Provenance provenance = Provenance::kMeasured;  // the weakest over the calls used
  std::string source;          // e.g. "server eval fields" or "client clocks (2 of 5 calls)"
};

struct ArmMetrics {
  int64_t calls = 0;
  int64_t ok = 0;
  int64_t failed = 0;
  std::map<std::string, int64_t> failures_by_reason;  // error code name ("timeout") -> count
  std::map<std::string, std::string> failure_examples;  // error code name -> first message seen
  int64_t generated_tokens = 0;                       // over successful calls
  int64_t prompt_tokens = 0;
  int64_t model_load_calls = 0;       // calls whose TTFT includes loading the model
  int64_t prompt_truncated_calls = 0; // calls whose prompt did not fit num_ctx
  int64_t itl_split_chunks = 0;
  int64_t itl_excluded_tokens = 0;
  // Successful calls whose server statistics were (partly) rejected, with the first reason seen;
  // per metric, how many calls lack it for that reason.
  int64_t invalid_server_timing_calls = 0;
  std::string invalid_server_timing_example;
  std::map<std::string, int64_t> unavailable_calls;
  std::map<std::string, int64_t> client_fallback_calls;
  // Calls (failed ones included) that got a "not now" answer (429/503) and were retried.
  int64_t retried_calls = 0;
  int64_t retries = 0;
  double retry_wait_s = 0;
  bool synthetic = false;
  std::vector<MetricSummary> metrics;  // catalog order, only metrics with at least one value

  const MetricSummary* find(std::string_view name) const;
};

ArmMetrics summarize_calls(std::span<const llm::CallRecord* const> records, double ci_level = 0.95);
ArmMetrics summarize_calls(std::span<const llm::CallRecord> records, double ci_level = 0.95);

// Orders provenance by strength, for "the weakest over the calls": measured > derived > synthetic >
// expected.
Provenance weakest(Provenance a, Provenance b);

}  // namespace chimera::lab
