#include "lab/tune_spec.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "util/strings.h"

namespace chimera::lab {
namespace {

using json = nlohmann::json;

Status usage(std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); }

struct ConstraintMetric {
  std::string_view name;    // as written: "ttft"
  std::string_view metric;  // stored: "ttft_ms"
  std::string_view unit;    // "ms", "tok/s", "bytes"
  std::string_view default_statistic;
};
const std::vector<ConstraintMetric>& constraint_metrics() {
  static const std::vector<ConstraintMetric> kMetrics = {
      {"ttft", "ttft_ms", "ms", "mean"},          {"e2e", "e2e_ms", "ms", "mean"},
      {"itl", "itl_ms", "ms", "mean"},            {"load", "load_ms", "ms", "mean"},
      {"decode_tps", "decode_tps", "tok/s", "mean"}, {"prefill_tps", "prefill_tps", "tok/s", "mean"},
      {"rss", "rss_bytes", "bytes", "max"},
  };
  return kMetrics;
}

// The factor that turns a value written with `suffix` into the metric's base unit; nullopt when the
// suffix is not a unit of that kind.
std::optional<double> unit_factor(std::string_view base, std::string_view suffix) {
  std::string s = to_lower(trim(suffix));
  if (base == "ms") {
    if (s.empty() || s == "ms") return 1.0;
    if (s == "s") return 1000.0;
    if (s == "us" || s == "µs") return 1e-3;
    return std::nullopt;
  }
  if (base == "tok/s") {
    if (s.empty() || s == "tok/s" || s == "tps") return 1.0;
    return std::nullopt;
  }
  // bytes: SI and binary multiples
  if (s.empty() || s == "b") return 1.0;
  if (s == "kb") return 1e3;
  if (s == "mb") return 1e6;
  if (s == "gb") return 1e9;
  if (s == "kib") return 1024.0;
  if (s == "mib") return 1024.0 * 1024;
  if (s == "gib") return 1024.0 * 1024 * 1024;
  return std::nullopt;
}

}  // namespace

std::string_view strategy_name(Strategy s) {
  switch (s) {
    case Strategy::kGrid: return "grid";
    case Strategy::kRandom: return "random";
    case Strategy::kRace: return "race";
  }
  return "grid";
}

Result<Strategy> parse_strategy(std::string_view text) {
  for (Strategy s : {Strategy::kGrid, Strategy::kRandom, Strategy::kRace}) {
    if (strategy_name(s) == text) return s;
  }
  return usage(fmt::format("--strategy '{}': expected grid, random or race", text));
}

const std::vector<ObjectiveInfo>& objective_catalog() {
  static const std::vector<ObjectiveInfo> kObjectives = {
      {"decode_tps", "decode_tps", "tok/s", true},
      {"prefill_tps", "prefill_tps", "tok/s", true},
      {"ttft", "ttft_ms", "ms", false},
      {"e2e", "e2e_ms", "ms", false},
      {"goodput", "goodput_tps", "tok/s", true},
  };
  return kObjectives;
}

Result<ObjectiveInfo> parse_objective(std::string_view text) {
  std::string t = to_lower(trim(text));
  for (const ObjectiveInfo& o : objective_catalog()) {
    if (o.name == t || o.metric == t) return o;
  }
  std::vector<std::string> names;
  for (const ObjectiveInfo& o : objective_catalog()) names.emplace_back(o.name);
  return usage(fmt::format("--objective '{}': expected one of {}", text, join(names, ", ")));
}

bool Constraint::per_call() const { return metric != "load_ms" && metric != "rss_bytes"; }

Result<Constraint> parse_constraint(std::string_view text) {
  Constraint c;
  c.text = std::string(trim(text));
  auto bad = [&](std::string_view why) {
    return usage(fmt::format("--constraint \"{}\": {}; write it like \"ttft_p95<500ms\", "
                             "\"rss<8GB\" or \"decode_tps>20\"",
                             c.text, why));
  };
  size_t op = c.text.find_first_of("<>");
  if (op == std::string::npos) return bad("no '<' or '>'");
  c.less_than = c.text[op] == '<';
  std::string_view left = trim(std::string_view(c.text).substr(0, op));
  std::string_view right = std::string_view(c.text).substr(op + 1);
  if (!right.empty() && right.front() == '=') right.remove_prefix(1);  // "<=" reads as "<"
  right = trim(right);
  const ConstraintMetric* metric = nullptr;
  std::string_view statistic;
  for (const ConstraintMetric& m : constraint_metrics()) {
    if (left == m.name) {
      metric = &m;
      statistic = m.default_statistic;
    } else if (starts_with(left, std::string(m.name) + "_") &&
               (metric == nullptr || m.name.size() > metric->name.size())) {
      metric = &m;
      statistic = left.substr(m.name.size() + 1);
    }
  }
  if (metric == nullptr) {
    std::vector<std::string> names;
    for (const auto& m : constraint_metrics()) names.emplace_back(m.name);
    return bad(fmt::format("unknown metric '{}' (known: {})", left, join(names, ", ")));
  }
  static const std::vector<std::string_view> kStatistics = {"mean", "p50", "p90", "p95", "p99",
                                                            "max"};
  if (std::find(kStatistics.begin(), kStatistics.end(), statistic) == kStatistics.end()) {
    return bad(fmt::format("unknown statistic '{}' (known: mean, p50, p90, p95, p99, max)",
                           statistic));
  }
  size_t number_end = 0;
  while (number_end < right.size() &&
         (std::isdigit(static_cast<unsigned char>(right[number_end])) || right[number_end] == '.' ||
          right[number_end] == '-' || right[number_end] == '+' ||
          ((right[number_end] == 'e' || right[number_end] == 'E') && number_end > 0 &&
           number_end + 1 < right.size() &&
           std::isdigit(static_cast<unsigned char>(right[number_end + 1]))))) {
    ++number_end;
  }
  auto value = parse_double(right.substr(0, number_end));
  if (!value || !std::isfinite(*value)) return bad(fmt::format("'{}' is not a number", right));
  auto factor = unit_factor(metric->unit, right.substr(number_end));
  if (!factor) {
    return bad(fmt::format("'{}' is not a unit of {} ({})", right.substr(number_end), metric->name,
                           metric->unit == "bytes" ? "B, KB, MB, GB, KiB, MiB, GiB"
                           : metric->unit == "ms"  ? "ms, s, us"
                                                   : "tok/s"));
  }
  c.metric = std::string(metric->metric);
  c.statistic = std::string(statistic);
  c.value = *value * *factor;
  c.unit = std::string(metric->unit);
  return c;
}

Status validate_spec(const StudySpec& spec) {
  if (spec.objectives.empty()) return usage("the study has no objective (--objective decode_tps)");
  if (spec.objectives.size() > 2) {
    return usage("--objective: at most two objectives (two give a Pareto front)");
  }
  if (spec.objectives.size() == 2 && spec.objectives[0].name == spec.objectives[1].name) {
    return usage(fmt::format("--objective {} is given twice", spec.objectives[0].name));
  }
  if (spec.repeat < 2) {
    return usage(fmt::format("--repeat {}: a confidence interval needs at least 2 samples per "
                             "configuration",
                             spec.repeat));
  }
  if (spec.race_first < 2 || spec.race_first > spec.repeat) {
    return usage(fmt::format("--race-first {}: must be between 2 and --repeat ({})",
                             spec.race_first, spec.repeat));
  }
  if (spec.strategy == Strategy::kRandom && !spec.budget) {
    return usage("--strategy random needs --budget N (the number of measured calls to spend)");
  }
  if (spec.budget && *spec.budget < 1) {
    return usage(fmt::format("--budget {}: must be at least 1 call", *spec.budget));
  }
  if (spec.prompts.empty() && spec.workload == "prompts") {
    return usage("the study has no prompts");
  }
  if (spec.num_predict < 1) {
    return usage(fmt::format("--num-predict {}: a study measures a fixed output length of at "
                             "least 1 token",
                             spec.num_predict));
  }
  if (spec.warmup < 0) return usage(fmt::format("--warmup {}: cannot be negative", spec.warmup));
  if (!(spec.alpha > 0 && spec.alpha < 0.5)) {
    return usage(fmt::format("--alpha {}: must be between 0 and 0.5", spec.alpha));
  }
  if (spec.workload != "prompts" && spec.workload != "agent") {
    return usage(fmt::format("--workload '{}': expected prompts or agent", spec.workload));
  }
  for (const ParamAxis& axis : spec.axes) {
    if (axis.name == "num_predict") {
      return usage("--param num_predict: the study fixes the output length (--num-predict) so "
                   "every configuration does the same work; it is not a tuning knob");
    }
  }
  return Status::ok();
}

json spec_to_json(const StudySpec& spec) {
  json axes = json::array();
  for (const ParamAxis& a : spec.axes) axes.push_back({{"name", a.name}, {"values", a.values}});
  json objectives = json::array();
  for (const ObjectiveInfo& o : spec.objectives) objectives.push_back(std::string(o.name));
  json constraints = json::array();
  for (const Constraint& c : spec.constraints) constraints.push_back(c.text);
  json j = {{"name", spec.name},           {"backend", spec.backend},
            {"model", spec.model},         {"space", spec.space},
            {"axes", axes},                {"strategy", std::string(strategy_name(spec.strategy))},
            {"repeat", spec.repeat},       {"race_first", spec.race_first},
            {"objectives", objectives},    {"constraints", constraints},
            {"prompts", spec.prompts},     {"num_predict", spec.num_predict},
            {"ignore_eos", spec.ignore_eos}, {"warmup", spec.warmup},
            {"seed", spec.seed},           {"alpha", spec.alpha},
            {"workload", spec.workload},   {"data_dir", spec.data_dir},
            {"timeout_ms", spec.timeout_ms},
            {"retry_budget_ms", spec.retry_budget_ms}};
  j["budget"] = spec.budget ? json(*spec.budget) : json(nullptr);
  return j;
}

Result<StudySpec> spec_from_json(const json& j) {
  StudySpec spec;
  try {
    spec.name = j.at("name").get<std::string>();
    spec.backend = j.at("backend").get<std::string>();
    spec.model = j.at("model").get<std::string>();
    spec.space = j.value("space", std::string());
    for (const json& a : j.at("axes")) {
      std::vector<std::string> values = a.at("values").get<std::vector<std::string>>();
      CHIMERA_ASSIGN_OR_RETURN(ParamAxis axis,
                               parse_param_values(a.at("name").get<std::string>(),
                                                  join(values, ",")));
      spec.axes.push_back(std::move(axis));
    }
    CHIMERA_ASSIGN_OR_RETURN(spec.strategy, parse_strategy(j.at("strategy").get<std::string>()));
    spec.repeat = j.at("repeat").get<int>();
    spec.race_first = j.at("race_first").get<int>();
    if (!j.at("budget").is_null()) spec.budget = j.at("budget").get<int64_t>();
    for (const json& o : j.at("objectives")) {
      CHIMERA_ASSIGN_OR_RETURN(ObjectiveInfo info, parse_objective(o.get<std::string>()));
      spec.objectives.push_back(info);
    }
    for (const json& c : j.at("constraints")) {
      CHIMERA_ASSIGN_OR_RETURN(Constraint constraint, parse_constraint(c.get<std::string>()));
      spec.constraints.push_back(std::move(constraint));
    }
    spec.prompts = j.at("prompts").get<std::vector<std::string>>();
    spec.num_predict = j.at("num_predict").get<int64_t>();
    spec.ignore_eos = j.at("ignore_eos").get<bool>();
    spec.warmup = j.at("warmup").get<int>();
    spec.seed = j.at("seed").get<uint64_t>();
    spec.alpha = j.at("alpha").get<double>();
    spec.workload = j.at("workload").get<std::string>();
    spec.data_dir = j.value("data_dir", std::string());
    spec.timeout_ms = j.at("timeout_ms").get<int64_t>();
    spec.retry_budget_ms = j.value("retry_budget_ms", spec.retry_budget_ms);
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kParseError, "the stored study is incomplete: {}", e.what());
  }
  return spec;
}

std::vector<std::string> default_tune_prompts() {
  return {
      "Explain in one paragraph what a transformer's KV cache is and why it speeds up generation.",
      "You are reviewing benchmark results for a local LLM server. The table lists, for each "
      "configuration, the context size, the number of layers offloaded to the GPU, the batch size "
      "and the measured decode rate in tokens per second, time to first token in milliseconds and "
      "peak resident memory. Summarise which settings matter most for throughput, which only cost "
      "memory, and what a user with a 12 GB GPU should choose, giving one reason per choice.",
  };
}

}  // namespace chimera::lab
