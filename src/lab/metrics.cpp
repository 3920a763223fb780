#include "lab/metrics.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "util/clock.h"

namespace chimera::lab {
namespace {

bool measured_count(llm::TokenCountSource source) {
  return source == llm::TokenCountSource::kServer || source == llm::TokenCountSource::kEngine;
}

// Tokens per streamed chunk when they can be known: given by the backend, or implied when a
// measured token total equals the number of text-carrying chunks. Empty when unknown.
std::vector<int32_t> tokens_per_chunk(const llm::CallRecord& r) {
  if (!r.chunk_token_counts.empty() && r.chunk_token_counts.size() == r.chunk_times_ns.size()) {
    return r.chunk_token_counts;
  }
  if (measured_count(r.token_count_source) &&
      r.token_count == static_cast<int64_t>(r.chunk_times_ns.size())) {
    return std::vector<int32_t>(r.chunk_times_ns.size(), 1);
  }
  return {};
}

void compute_itl(const llm::CallRecord& r, const std::vector<int32_t>& counts, CallMetrics& m) {
  const auto& times = r.chunk_times_ns;
  if (times.empty()) return;
  if (counts.empty()) {
    int64_t after_first = std::max<int64_t>(r.token_count - 1, 0);
    if (after_first > 0) {
      m.itl_excluded_tokens = after_first;
      m.itl_note = fmt::format("tokens per chunk unknown ({} tokens in {} chunks, count from {})",
                               r.token_count, times.size(),
                               llm::token_count_source_name(r.token_count_source));
    }
    return;
  }
  // Tokens that arrived with the first token have no interval of their own.
  if (counts[0] > 1) m.itl_excluded_tokens += counts[0] - 1;
  int64_t last_token_ns = counts[0] > 0 ? times[0] : 0;
  for (size_t i = 1; i < times.size(); ++i) {
    int32_t k = counts[i];
    if (k <= 0) continue;  // text without a whole token: its time folds into the next token's
    if (last_token_ns == 0) {  // no token before this chunk: these tokens start the stream
      m.itl_excluded_tokens += k - 1;
      last_token_ns = times[i];
      continue;
    }
    double interval_ms = ns_to_ms(times[i] - last_token_ns);
    if (k == 1) {
      m.itl_ms.push_back(interval_ms);
    } else {
      for (int32_t j = 0; j < k; ++j) m.itl_ms.push_back(interval_ms / k);
      ++m.itl_split_chunks;
    }
    last_token_ns = times[i];
  }
  if (m.itl_split_chunks > 0) m.itl_provenance = Provenance::kDerived;
  if (m.itl_excluded_tokens > 0 && m.itl_note.empty()) {
    m.itl_note = fmt::format("{} tokens arrived with the first token", m.itl_excluded_tokens);
  }
}

void put(CallMetrics& m, std::string_view name, double value, Provenance provenance,
         std::string source) {
  if (!std::isfinite(value)) {  // a figure that is not a number is no figure
    m.unavailable[std::string(name)] = "not a finite number";
    return;
  }
  m.values[std::string(name)] = MetricValue{value, provenance, std::move(source)};
}

}  // namespace

const std::vector<MetricInfo>& metric_catalog() {
  static const std::vector<MetricInfo> kCatalog = {
      {kTtftMs, "ms", false, "request sent to first token (client clock)"},
      {kPrefillMs, "ms", false, "prompt evaluation (server timer)"},
      {kPrefillTps, "tok/s", true, "prompt tokens / prefill time"},
      {kDecodeMs, "ms", false, "generation after the first token"},
      {kDecodeTps, "tok/s", true, "tokens after the first / time from first to last token"},
      {kItlMs, "ms", false, "inter-token latency, per token"},
      {kE2eMs, "ms", false, "request sent to done (client clock)"},
      {kLoadMs, "ms", false, "model load (server timer)"},
      {kServerTtftMs, "ms", false, "load + prefill: the server's view of TTFT"},
      {kTtftResidualMs, "ms", false, "ttft - (load + prefill): queueing, network, client"},
  };
  return kCatalog;
}

const MetricInfo* find_metric(std::string_view name) {
  for (const MetricInfo& info : metric_catalog()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

const MetricValue* CallMetrics::find(std::string_view name) const {
  auto it = values.find(name);
  return it == values.end() ? nullptr : &it->second;
}

const MetricSummary* ArmMetrics::find(std::string_view name) const {
  for (const MetricSummary& m : metrics) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

Provenance weakest(Provenance a, Provenance b) {
  auto rank = [](Provenance p) {
    switch (p) {
      case Provenance::kMeasured: return 0;
      case Provenance::kDerived: return 1;
      case Provenance::kSynthetic: return 2;
      case Provenance::kExpected: return 3;
    }
    return 3;
  };
  return rank(a) >= rank(b) ? a : b;
}

namespace {

// A server value the metrics may use: set and in range (a load may be 0: the model was resident).
// Otherwise nullopt, and `why` says what was wrong when something was (empty: not reported).
std::optional<int64_t> usable(const llm::ServerTimings& s, std::optional<int64_t> value,
                              std::string_view key, bool zero_ok, std::string& why) {
  if (value && (*value > 0 || (zero_ok && *value == 0))) return value;
  if (auto it = s.rejected.find(std::string(key)); it != s.rejected.end()) {
    why = "the server's " + it->second;
  } else if (value) {
    why = fmt::format("the server's {} is {}, not positive", key, *value);
  }
  return std::nullopt;
}

void unavailable(CallMetrics& m, std::string_view metric, const std::string& why) {
  if (!why.empty()) m.unavailable[std::string(metric)] = why;
}

}  // namespace

CallMetrics compute_call_metrics(const llm::CallRecord& r) {
  CallMetrics m;
  m.ok = r.ok;
  m.generated_tokens = r.token_count;
  m.token_count_source = r.token_count_source;
  const llm::ServerTimings& s = r.server;
  std::string why_load, why_prefill, why_decode, why_prompt_count, why_eval_count;
  const std::optional<int64_t> load_ns = usable(s, s.load_ns, "load_ns", true, why_load);
  const std::optional<int64_t> prefill_ns =
      usable(s, s.prompt_eval_ns, "prompt_eval_ns", false, why_prefill);
  const std::optional<int64_t> decode_ns = usable(s, s.eval_ns, "eval_ns", false, why_decode);
  const std::optional<int64_t> prompt_count =
      usable(s, s.prompt_eval_count, "prompt_eval_count", false, why_prompt_count);
  const std::optional<int64_t> eval_count =
      usable(s, s.eval_count, "eval_count", false, why_eval_count);
  m.prompt_tokens = prompt_count ? prompt_count : r.prompt_tokens;
  if (m.prompt_tokens && *m.prompt_tokens <= 0) m.prompt_tokens.reset();
  constexpr Provenance kMeasured = Provenance::kMeasured, kDerived = Provenance::kDerived;

  std::optional<double> ttft_ms;
  if (r.t_request_ns > 0 && r.t_first_token_ns > r.t_request_ns) {
    ttft_ms = ns_to_ms(r.t_first_token_ns - r.t_request_ns);
    put(m, kTtftMs, *ttft_ms, kMeasured, "client clock");
  } else if (r.t_first_token_ns != 0) {
    unavailable(m, kTtftMs, "the client clocks are out of order (first token before the request)");
  }
  if (r.t_request_ns > 0 && r.t_done_ns > r.t_request_ns) {
    put(m, kE2eMs, ns_to_ms(r.t_done_ns - r.t_request_ns), kMeasured, "client clock");
  }
  if (load_ns) {
    put(m, kLoadMs, ns_to_ms(*load_ns), kMeasured, "server");
  } else {
    unavailable(m, kLoadMs, why_load);
  }
  if (prefill_ns) {
    put(m, kPrefillMs, ns_to_ms(*prefill_ns), kMeasured, "server");
  } else {
    unavailable(m, kPrefillMs, why_prefill);
  }
  if (prefill_ns && prompt_count) {
    put(m, kPrefillTps, static_cast<double>(*prompt_count) / ns_to_s(*prefill_ns), kMeasured,
        "server prompt_eval fields");
  } else if (ttft_ms && m.prompt_tokens) {
    put(m, kPrefillTps, static_cast<double>(*m.prompt_tokens) / (*ttft_ms / 1e3), kDerived,
        "prompt tokens / client TTFT");
    if (!why_prefill.empty()) m.client_fallbacks.emplace_back(kPrefillTps);
  } else {
    unavailable(m, kPrefillTps, !why_prefill.empty() ? why_prefill : why_prompt_count);
  }

  std::vector<int32_t> counts = tokens_per_chunk(r);
  // Client view of decoding: tokens after those that came with the first token, over the time
  // from the first token to the last token-carrying chunk.
  std::optional<double> client_decode_ms;
  int64_t client_decode_tokens = 0;
  if (!r.chunk_times_ns.empty() && r.t_first_token_ns > 0) {
    int64_t last_ns = r.chunk_times_ns.back();
    if (!counts.empty()) {
      for (size_t i = counts.size(); i-- > 0;) {
        if (counts[i] > 0) {
          last_ns = r.chunk_times_ns[i];
          break;
        }
      }
      int64_t first_chunk_tokens = std::max<int32_t>(counts[0], 1);
      client_decode_tokens = r.token_count - first_chunk_tokens;
    } else {
      client_decode_tokens = r.token_count - 1;
    }
    if (last_ns > r.t_first_token_ns) client_decode_ms = ns_to_ms(last_ns - r.t_first_token_ns);
  }
  const bool decode_rejected = !why_decode.empty();
  if (decode_ns) {
    put(m, kDecodeMs, ns_to_ms(*decode_ns), kMeasured, "server");
  } else if (client_decode_ms) {
    put(m, kDecodeMs, *client_decode_ms, kDerived, "client clocks");
    if (decode_rejected) m.client_fallbacks.emplace_back(kDecodeMs);
  } else {
    unavailable(m, kDecodeMs, why_decode);
  }
  if (decode_ns && eval_count) {
    put(m, kDecodeTps, static_cast<double>(*eval_count) / ns_to_s(*decode_ns), kMeasured,
        "server eval fields");
  } else if (client_decode_ms && client_decode_tokens > 0 &&
             r.token_count_source != llm::TokenCountSource::kNone) {
    put(m, kDecodeTps, static_cast<double>(client_decode_tokens) / (*client_decode_ms / 1e3),
        kDerived, "client clocks");
    if (decode_rejected || !why_eval_count.empty()) m.client_fallbacks.emplace_back(kDecodeTps);
  } else {
    unavailable(m, kDecodeTps, decode_rejected ? why_decode : why_eval_count);
  }

  if (prefill_ns && why_load.empty()) {
    double server_ttft = ns_to_ms(load_ns.value_or(0) + *prefill_ns);
    put(m, kServerTtftMs, server_ttft, kDerived,
        load_ns ? "load + prefill" : "prefill (no load reported)");
    if (ttft_ms) put(m, kTtftResidualMs, *ttft_ms - server_ttft, kDerived, "ttft - server_ttft");
  } else {
    const std::string& why = !why_prefill.empty() ? why_prefill : why_load;
    unavailable(m, kServerTtftMs, why);
    unavailable(m, kTtftResidualMs, why);
  }

  compute_itl(r, counts, m);

  if (r.synthetic_model) {
    for (auto& [name, value] : m.values) value.provenance = Provenance::kSynthetic;
    m.itl_provenance = Provenance::kSynthetic;
  }
  return m;
}

ArmMetrics summarize_calls(std::span<const llm::CallRecord* const> records, double ci_level) {
  ArmMetrics arm;
  struct Accumulator {
    std::vector<double> all, per_call;
    Provenance provenance = Provenance::kMeasured;
    std::map<std::string, int> sources;
  };
  std::map<std::string, Accumulator, std::less<>> acc;
  for (const llm::CallRecord* r : records) {
    ++arm.calls;
    if (r->transport.retries > 0) {
      ++arm.retried_calls;
      arm.retries += r->transport.retries;
      arm.retry_wait_s += ns_to_s(r->transport.retry_wait_ns);
    }
    if (!r->ok) {
      ++arm.failed;
      std::string reason(error_code_name(r->error_code));
      ++arm.failures_by_reason[reason];
      arm.failure_examples.emplace(reason, r->error);
      continue;
    }
    ++arm.ok;
    CallMetrics m = compute_call_metrics(*r);
    arm.synthetic = arm.synthetic || r->synthetic_model;
    arm.generated_tokens += m.generated_tokens;
    arm.prompt_tokens += m.prompt_tokens.value_or(0);
    arm.model_load_calls += r->model_load_paid ? 1 : 0;
    arm.prompt_truncated_calls += r->prompt_truncated ? 1 : 0;
    arm.itl_split_chunks += m.itl_split_chunks;
    arm.itl_excluded_tokens += m.itl_excluded_tokens;
    if (!r->server.rejected.empty() || !m.unavailable.empty()) {
      ++arm.invalid_server_timing_calls;
      if (arm.invalid_server_timing_example.empty()) {
        arm.invalid_server_timing_example = !r->server.rejected.empty()
                                                ? r->server.rejected.begin()->second
                                                : m.unavailable.begin()->second;
      }
    }
    for (const auto& [name, why] : m.unavailable) ++arm.unavailable_calls[name];
    for (const std::string& name : m.client_fallbacks) ++arm.client_fallback_calls[name];
    for (const auto& [name, value] : m.values) {
      Accumulator& a = acc[name];
      a.all.push_back(value.value);
      a.per_call.push_back(value.value);
      a.provenance = weakest(a.provenance, value.provenance);
      ++a.sources[value.source];
    }
    if (!m.itl_ms.empty()) {
      Accumulator& a = acc[std::string(kItlMs)];
      a.all.insert(a.all.end(), m.itl_ms.begin(), m.itl_ms.end());
      a.per_call.push_back(mean(m.itl_ms));
      a.provenance = weakest(a.provenance, m.itl_provenance);
      ++a.sources[m.itl_split_chunks > 0 ? "chunk times, multi-token chunks split" : "chunk times"];
    }
  }
  for (const MetricInfo& info : metric_catalog()) {
    auto it = acc.find(info.name);
    if (it == acc.end()) continue;
    Accumulator& a = it->second;
    MetricSummary ms;
    ms.name = std::string(info.name);
    ms.unit = std::string(info.unit);
    ms.higher_is_better = info.higher_is_better;
    ms.summary = summarize(a.all);
    ms.per_call = std::move(a.per_call);
    ms.ci = t_ci_mean(ms.per_call, ci_level);
    ms.provenance = a.provenance;
    std::vector<std::string> parts;
    for (const auto& [source, count] : a.sources) {
      parts.push_back(a.sources.size() == 1 ? source
                                            : fmt::format("{} ({} of {} calls)", source, count,
                                                          ms.per_call.size()));
    }
    ms.source = fmt::format("{}", fmt::join(parts, "; "));
    arm.metrics.push_back(std::move(ms));
  }
  return arm;
}

ArmMetrics summarize_calls(std::span<const llm::CallRecord> records, double ci_level) {
  std::vector<const llm::CallRecord*> pointers;
  pointers.reserve(records.size());
  for (const llm::CallRecord& r : records) pointers.push_back(&r);
  return summarize_calls(pointers, ci_level);
}

}  // namespace chimera::lab
