// What a `chimera tune` study is: its space, search strategy, objectives, constraints, workload and
// budget; stored as JSON in the results database so `--resume ID` rebuilds exactly the same study.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/tune_space.h"
#include "util/status.h"

namespace chimera::lab {

enum class Strategy { kGrid, kRandom, kRace };
std::string_view strategy_name(Strategy s);
Result<Strategy> parse_strategy(std::string_view text);

// What "best" means. Each maps onto a per-call metric of lab/metrics.h (goodput: generated tokens of
// the calls that meet every per-call constraint, per second of those calls' e2e time).
struct ObjectiveInfo {
  std::string_view name;    // as the user writes it: "decode_tps", "ttft"
  std::string_view metric;  // the metric it reads: "decode_tps", "ttft_ms"; "goodput_tps"
  std::string_view unit;    // "tok/s", "ms"
  bool higher_is_better;
};
const std::vector<ObjectiveInfo>& objective_catalog();
Result<ObjectiveInfo> parse_objective(std::string_view text);

// "ttft_p95<500ms", "rss<8GB", "decode_tps>20": a metric, an optional statistic (mean by default;
// peak for rss), '<' or '>' and a value with its unit, kept in the metric's base unit (ms, tok/s,
// bytes).
struct Constraint {
  std::string text;       // as given
  std::string metric;     // "ttft_ms", "e2e_ms", "itl_ms", "decode_tps", "prefill_tps", "load_ms",
                          // "rss_bytes"
  std::string statistic;  // "mean", "p50", "p90", "p95", "p99", "max"
  bool less_than = true;
  double value = 0;
  std::string unit;       // "ms", "tok/s", "bytes"
  bool per_call() const;  // checked call by call for goodput (not load or rss)
};
Result<Constraint> parse_constraint(std::string_view text);

struct StudySpec {
  std::string name;
  std::string backend;  // as given: "embedded:m.gguf", "ollama://host:port/model"
  std::string model;    // the model requests name ("" when the backend has one)
  std::string space;    // "tr108" when a named space was used
  std::vector<ParamAxis> axes;
  Strategy strategy = Strategy::kGrid;
  int repeat = 5;      // samples per configuration (the race's most)
  int race_first = 2;  // the race's first round, per configuration
  std::optional<int64_t> budget;  // measured calls, warm-ups not counted
  std::vector<ObjectiveInfo> objectives;  // one, or two for a Pareto front
  std::vector<Constraint> constraints;
  std::vector<std::string> prompts;
  int64_t num_predict = 64;
  bool ignore_eos = true;
  int warmup = 1;  // warm-up calls before each block of calls that share a load
  uint64_t seed = 42;
  double alpha = 0.05;
  std::string workload = "prompts";  // or "agent"
  std::string data_dir;              // the agent workload's data folder
  int64_t timeout_ms = 600'000;       // longest silence tolerated in a call
  int64_t retry_budget_ms = 120'000;  // longest wait per request for 429/503 (loading) answers

  const ObjectiveInfo& primary() const { return objectives.front(); }
};

// Errors name the field: no objective, more than two, repeat below 2, a random search without a
// budget, ...
Status validate_spec(const StudySpec& spec);

nlohmann::json spec_to_json(const StudySpec& spec);
Result<StudySpec> spec_from_json(const nlohmann::json& j);

// The prompts a study measures when none are given: a short and a long one, so prefill is timed too.
std::vector<std::string> default_tune_prompts();

}  // namespace chimera::lab
