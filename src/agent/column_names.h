// What a column holds, judged from its name as benchmark tools write them: "tokens_per_second",
// "TTFT (ms)", "load_s", "eval_duration" (Ollama, ns), "model", "num_ctx", "error".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "agent/units.h"

namespace chimera::agent {

enum class ColumnRole {
  kMetric,    // a measured figure: throughput, a latency, a duration, a token count
  kIdentity,  // says what a row is: model, quantization, configuration, an option value, a run
              // index
  kError,     // non-empty means the row is a failure: error, err, exception, failed, status
  kOther,
};

struct ColumnKind {
  ColumnRole role = ColumnRole::kOther;
  // For metrics, the vocabulary of ARCHITECTURE.md where it fits: decode_tps, prefill_tps, ttft,
  // itl, latency, load, prefill_time, decode_time, total_time, prompt_tokens, output_tokens,
  // memory, utilization, duration.
  std::string metric;
  std::optional<Unit> unit;  // from the name: suffix (_ms), brackets ("(ms)"), or convention
  // Identity columns that vary between repetitions of the same configuration ("run", "timestamp")
  // are not used to group rows.
  bool groups_rows = false;
};

// Lowercase, runs of anything but letters, digits, '/' and '%' turned into one '_'.
std::string normalize_column_name(std::string_view name);

ColumnKind classify_column(std::string_view name);

// For error-role columns: true when `value` marks a failure ("timeout", "OOM", "error: ...") and
// not a success marker ("", "none", "ok", "0", "false").
bool is_failure_value(std::string_view column_name, std::string_view value);

}  // namespace chimera::agent
