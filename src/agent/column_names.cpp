#include "agent/column_names.h"

#include <array>
#include <cctype>

#include "agent/cell_value.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

// True when `n` (normalized, wrapped in '_') contains `_word_` or, for phrases, `word`.
bool has_token(const std::string& wrapped, std::string_view token) {
  return wrapped.find("_" + std::string(token) + "_") != std::string::npos;
}

template <size_t N>
bool has_any(const std::string& wrapped, const std::array<std::string_view, N>& tokens) {
  for (auto t : tokens) {
    if (has_token(wrapped, t)) return true;
  }
  return false;
}

// Unit from "(ms)" / "[tok/s]" in the raw name, or from the last word of the normalized name.
std::optional<Unit> unit_from_name(std::string_view raw, const std::string& normalized) {
  for (auto [open, close] : {std::pair{'(', ')'}, std::pair{'[', ']'}}) {
    size_t a = raw.rfind(open), b = raw.rfind(close);
    if (a != std::string_view::npos && b != std::string_view::npos && b > a) {
      if (auto unit = parse_unit(trim(raw.substr(a + 1, b - a - 1)))) return unit;
    }
  }
  size_t last = normalized.rfind('_');
  std::string tail = last == std::string::npos ? normalized : normalized.substr(last + 1);
  static const std::array<std::string_view, 16> kSuffixUnits = {
      "ms",  "s",       "sec", "secs", "seconds", "ns",  "us",  "tps",
      "pct", "percent", "%",   "mb",   "gb",      "gib", "mib", "kb"};
  for (auto u : kSuffixUnits) {
    if (tail == u && last != std::string::npos) return parse_unit(u);
  }
  if (ends_with(normalized, "tok/s") || ends_with(normalized, "tokens/s"))
    return parse_unit("tok/s");
  return std::nullopt;
}

ColumnKind metric(std::string name, std::optional<Unit> unit) {
  ColumnKind k;
  k.role = ColumnRole::kMetric;
  k.metric = std::move(name);
  k.unit = std::move(unit);
  return k;
}

const std::array<std::string_view, 21> kGroupingIdentity = {
    "model",  "model_name",    "name",    "quant",   "quantization",   "quantisation",
    "config", "configuration", "profile", "variant", "backend",        "arm",
    "agent",  "scenario",      "engine",  "family",  "parameter_size", "params",
    "gpu",    "device",        "hardware"};
const std::array<std::string_view, 25> kOptionIdentity = {
    "num_gpu", "num_ctx",        "num_batch",   "num_thread", "num_threads",
    "threads", "temperature",    "temp",        "top_k",      "top_p",
    "min_p",   "repeat_penalty", "batch",       "batch_size", "ctx",
    "context", "context_length", "concurrency", "parallel",   "n_gpu_layers",
    "ngl",     "num_predict",    "max_tokens",  "tag",        "host"};
const std::array<std::string_view, 14> kRepetitionIdentity = {
    "run",       "run_id", "id",       "iteration", "rep",       "repetition", "trial",
    "timestamp", "date",   "datetime", "prompt",    "prompt_id", "seed",       "started_at"};

}  // namespace

std::string normalize_column_name(std::string_view name) {
  std::string out;
  bool pending = false;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '/' || c == '%') {
      if (pending && !out.empty()) out += '_';
      pending = false;
      out += static_cast<char>(std::tolower(u));
    } else {
      pending = true;
    }
  }
  return out;
}

ColumnKind classify_column(std::string_view raw) {
  const std::string n = normalize_column_name(raw);
  const std::string w = "_" + n + "_";
  std::optional<Unit> unit = unit_from_name(raw, n);
  auto contains = [&](std::string_view s) { return w.find(s) != std::string::npos; };
  auto time_or = [&](double default_to_s, std::string symbol) -> std::optional<Unit> {
    if (unit && unit->dimension == Dimension::kTime) return unit;
    if (default_to_s == 0) return std::nullopt;
    return Unit{Dimension::kTime, default_to_s, std::move(symbol), {}};
  };

  // Failure markers, but "error_rate" / "error_count" are measurements.
  static const std::array<std::string_view, 13> kErrorNames = {
      "error",    "errors",         "err",    "error_message", "error_msg", "exception",
      "failure",  "failure_reason", "failed", "status",        "ok",        "success",
      "succeeded"};
  for (auto e : kErrorNames) {
    if (n == e) return {ColumnRole::kError, {}, std::nullopt, false};
  }
  if ((starts_with(n, "error_") || ends_with(n, "_error")) && !contains("rate") &&
      !contains("count")) {
    return {ColumnRole::kError, {}, std::nullopt, false};
  }

  const bool prefill =
      has_any(w, std::array<std::string_view, 5>{"prompt", "prefill", "pp", "input", "pp512"});
  if (contains("tok_s") || contains("tokens_s") || contains("token_s") || contains("tok/s") ||
      contains("tokens/s") || contains("tokens_per_s") || contains("tokens_per_sec") ||
      contains("tokens_sec") || has_token(w, "tps") || contains("throughput") ||
      contains("eval_rate") || contains("t/s")) {
    return metric(prefill ? "prefill_tps" : "decode_tps", parse_unit("tok/s"));
  }
  if (has_token(w, "ttft") || starts_with(n, "ttft") || contains("time_to_first_token") ||
      contains("first_token")) {
    return metric("ttft", time_or(0, ""));
  }
  if (has_token(w, "itl") || starts_with(n, "itl") || contains("inter_token")) {
    return metric("itl", time_or(0, ""));
  }
  // Ollama's durations are nanoseconds unless the name says otherwise.
  if (contains("prompt_eval_duration")) return metric("prefill_time", time_or(1e-9, "ns"));
  if (contains("load_duration")) return metric("load", time_or(1e-9, "ns"));
  if (contains("total_duration")) return metric("total_time", time_or(1e-9, "ns"));
  if (contains("eval_duration")) return metric("decode_time", time_or(1e-9, "ns"));
  if (has_token(w, "load") && (unit || contains("time") || contains("duration"))) {
    return metric("load", time_or(0, ""));
  }
  if (has_any(w, std::array<std::string_view, 9>{"latency", "e2e", "p50", "p90", "p95", "p99",
                                                 "response_time", "wall", "elapsed"}) ||
      starts_with(n, "latency")) {
    return metric("latency", time_or(0, ""));
  }
  if (contains("prompt_eval_count") || contains("prompt_tokens") || contains("input_tokens")) {
    return metric("prompt_tokens", parse_unit("tokens"));
  }
  if (contains("eval_count") || contains("output_tokens") || contains("completion_tokens") ||
      contains("generated_tokens") || contains("tokens_generated") || n == "tokens" ||
      n == "num_tokens") {
    return metric("output_tokens", parse_unit("tokens"));
  }
  if (has_any(w, std::array<std::string_view, 6>{"vram", "memory", "mem", "rss", "ram", "size"}) &&
      (!unit || unit->dimension == Dimension::kBytes)) {
    if (unit || n != "size") return metric("memory", unit);
  }
  if (has_any(w, std::array<std::string_view, 4>{"util", "utilization", "cpu", "usage"}) &&
      (!unit || unit->dimension == Dimension::kPercent)) {
    return metric("utilization", parse_unit("%"));
  }
  for (auto id : kGroupingIdentity) {
    if (n == id) return {ColumnRole::kIdentity, {}, std::nullopt, true};
  }
  for (auto id : kOptionIdentity) {
    if (n == id) return {ColumnRole::kIdentity, {}, std::nullopt, true};
  }
  for (auto id : kRepetitionIdentity) {
    if (n == id) return {ColumnRole::kIdentity, {}, std::nullopt, false};
  }
  if (unit || has_any(w, std::array<std::string_view, 3>{"duration", "time", "seconds"})) {
    if (unit && unit->dimension == Dimension::kTime) return metric("duration", unit);
    if (unit) return metric(n, unit);
  }
  return {};
}

bool is_failure_value(std::string_view column_name, std::string_view value) {
  const std::string n = normalize_column_name(column_name);
  const std::string v = to_lower(trim(value));
  if (n == "ok" || n == "success" || n == "succeeded") {
    auto b = parse_bool(v);
    return (b && !*b) || v == "0" || v == "fail" || v == "failed";
  }
  if (n == "status") {
    for (std::string_view bad : {"error", "fail", "timeout", "timed out", "crash", "oom", "abort",
                                 "cancel", "exception", "killed", "panic"}) {
      if (v.find(bad) != std::string::npos) return true;
    }
    return false;
  }
  if (is_missing(v)) return false;
  if (n == "failed" || n == "failure") {
    auto b = parse_bool(v);
    if (b) return *b;
    return v != "0";
  }
  return !(v == "ok" || v == "success" || v == "0" || v == "false" || v == "no" || v == "none");
}

}  // namespace chimera::agent
