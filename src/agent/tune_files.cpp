#include "agent/tune_files.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include "agent/named_toml.h"

#include "lab/tune_report.h"
#include "util/clock.h"
#include "util/mapped_file.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

Status file_error(const std::string& origin, std::string message) {
  return Status(ErrorCode::kInvalidArgument, fmt::format("{}: {}", origin, message));
}

// A TOML value as the text --param would hold: 1024, 0.4, "1..4", true.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (auto v = node.value<int64_t>(); v && node.is_integer()) return std::to_string(*v);
  if (auto v = node.value<double>(); v && node.is_floating_point()) return fmt::format("{}", *v);
  if (auto v = node.value<bool>(); v && node.is_boolean()) return *v ? "true" : "false";
  if (auto v = node.value<std::string>()) return *v;
  return std::nullopt;
}

Result<std::vector<std::string>> strings_of(const toml::node& node, const std::string& origin,
                                            std::string_view key) {
  std::vector<std::string> out;
  if (auto s = node.value<std::string>()) {
    out.push_back(*s);
    return out;
  }
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    return file_error(origin, fmt::format("{} must be a string or an array of strings", key));
  }
  for (const auto& item : *array) {
    auto s = item.value<std::string>();
    if (!s) return file_error(origin, fmt::format("{} must hold strings only", key));
    out.push_back(*s);
  }
  return out;
}

template <typename T>
Status read_number(const toml::table& root, std::string_view key, const std::string& origin, T& out) {
  const toml::node* node = root.get(key);
  if (node == nullptr) return Status::ok();
  auto v = node->value<int64_t>();
  if (!v || !node->is_integer()) {
    if constexpr (std::is_floating_point_v<T>) {
      if (auto d = node->value<double>()) {
        out = static_cast<T>(*d);
        return Status::ok();
      }
    }
    return file_error(origin, fmt::format("{} must be a number", key));
  }
  out = static_cast<T>(*v);
  return Status::ok();
}

// A TOML basic string.
std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(ch));
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace

Status apply_study_file(std::string_view toml_text, const std::string& origin, lab::StudySpec& spec) {
  CHIMERA_ASSIGN_OR_RETURN(toml::table root, parse_toml(toml_text, origin));
  static const std::vector<std::string_view> kKeys = {
      "name", "backend", "model", "strategy", "repeat", "race_first", "budget", "objective",
      "objectives", "constraints", "num_predict", "prompts", "space", "params", "seed", "alpha",
      "warmup", "workload", "data", "ignore_eos", "timeout_s"};
  for (const auto& [key, node] : root) {
    if (std::find(kKeys.begin(), kKeys.end(), key.str()) == kKeys.end()) {
      return file_error(origin, fmt::format("unknown key '{}'; a study file takes {}", key.str(),
                                            join(std::vector<std::string>(kKeys.begin(), kKeys.end()), ", ")));
    }
  }
  if (auto v = root["name"].value<std::string>()) spec.name = *v;
  if (auto v = root["backend"].value<std::string>()) spec.backend = *v;
  if (auto v = root["model"].value<std::string>()) spec.model = *v;
  if (auto v = root["workload"].value<std::string>()) spec.workload = *v;
  if (auto v = root["data"].value<std::string>()) spec.data_dir = *v;
  if (auto v = root["ignore_eos"].value<bool>()) spec.ignore_eos = *v;
  if (auto v = root["strategy"].value<std::string>()) {
    auto s = lab::parse_strategy(*v);
    if (!s.ok()) return file_error(origin, s.status().message());
    spec.strategy = *s;
  }
  CHIMERA_RETURN_IF_ERROR(read_number(root, "repeat", origin, spec.repeat));
  CHIMERA_RETURN_IF_ERROR(read_number(root, "race_first", origin, spec.race_first));
  CHIMERA_RETURN_IF_ERROR(read_number(root, "num_predict", origin, spec.num_predict));
  CHIMERA_RETURN_IF_ERROR(read_number(root, "seed", origin, spec.seed));
  CHIMERA_RETURN_IF_ERROR(read_number(root, "alpha", origin, spec.alpha));
  CHIMERA_RETURN_IF_ERROR(read_number(root, "warmup", origin, spec.warmup));
  if (root.contains("budget")) {
    int64_t budget = 0;
    CHIMERA_RETURN_IF_ERROR(read_number(root, "budget", origin, budget));
    spec.budget = budget;
  }
  if (root.contains("timeout_s")) {
    int64_t seconds = 0;
    CHIMERA_RETURN_IF_ERROR(read_number(root, "timeout_s", origin, seconds));
    spec.timeout_ms = seconds * 1000;
  }
  for (std::string_view key : {"objective", "objectives"}) {
    if (const toml::node* node = root.get(key)) {
      CHIMERA_ASSIGN_OR_RETURN(std::vector<std::string> names, strings_of(*node, origin, key));
      spec.objectives.clear();
      for (const std::string& name : names) {
        auto o = lab::parse_objective(name);
        if (!o.ok()) return file_error(origin, o.status().message());
        spec.objectives.push_back(*o);
      }
    }
  }
  if (const toml::node* node = root.get("constraints")) {
    CHIMERA_ASSIGN_OR_RETURN(std::vector<std::string> texts, strings_of(*node, origin, "constraints"));
    for (const std::string& text : texts) {
      auto c = lab::parse_constraint(text);
      if (!c.ok()) return file_error(origin, c.status().message());
      spec.constraints.push_back(*c);
    }
  }
  if (const toml::node* node = root.get("prompts")) {
    CHIMERA_ASSIGN_OR_RETURN(spec.prompts, strings_of(*node, origin, "prompts"));
  }
  if (auto space = root["space"].value<std::string>()) {
    auto axes = lab::preset_space(*space);
    if (!axes.ok()) return file_error(origin, axes.status().message());
    spec.space = *space;
    spec.axes = *axes;
  }
  if (const toml::table* params = root["params"].as_table()) {
    for (const auto& [key, node] : *params) {
      std::string values;
      if (const toml::array* array = node.as_array()) {
        std::vector<std::string> parts;
        for (const auto& item : *array) {
          auto text = scalar_text(item);
          if (!text) return file_error(origin, fmt::format("params.{}: values must be numbers, strings or booleans", key.str()));
          parts.push_back(*text);
        }
        values = join(parts, ",");
      } else if (auto text = scalar_text(node)) {
        values = *text;
      } else {
        return file_error(origin, fmt::format("params.{}: give a list or a range", key.str()));
      }
      auto axis = lab::parse_param_values(key.str(), values);
      if (!axis.ok()) return file_error(origin, axis.status().message());
      spec.axes.push_back(std::move(*axis));
    }
  }
  return Status::ok();
}

Status load_study_file(const std::string& path, lab::StudySpec& spec) {
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_text_file(path, 1 << 20));
  return apply_study_file(text, path, spec);
}

Result<std::string> tuned_profile_toml(const lab::TuneSessionResult& result, const std::string& name) {
  const lab::ConfigResult* best = nullptr;
  for (const lab::ConfigResult& r : result.analysis.configs) {
    if (r.config.label == result.analysis.best) best = &r;
  }
  if (best == nullptr) {
    return Status(ErrorCode::kUnavailable,
                  "no configuration could be ranked in this study, so there is no profile to write");
  }
  const std::string study = result.study_id ? std::to_string(*result.study_id) : "(not stored)";
  const std::string date = iso_timestamp_utc(result.ended_unix_ms).substr(0, 10);
  const std::string machine =
      fmt::format("{} ({}, {} logical CPUs)", result.machine.host, result.machine.cpu, result.machine.logical_cpus);
  std::string out;
  out += fmt::format("# Written by chimera tune from study {} ({} strategy, {}).\n", study,
                     lab::strategy_name(result.spec.strategy), result.workload);
  if (result.analysis.tied.size() > 1) {
    out += fmt::format("# Tied for best on {} (not significantly different): {}. This is the one with "
                       "the best mean; any of them is as good on this evidence.\n",
                       result.spec.primary().name, join(result.analysis.tied, ", "));
  }
  if (result.synthetic) {
    out += "# The study ran on a model with dummy weights: the figures are synthetic.\n";
  }
  out += fmt::format("name = {}\n", toml_string(name));
  out += fmt::format("description = {}\n",
                     toml_string(fmt::format("Best configuration of chimera tune study {} for {} on {}", study,
                                        result.model_label, result.machine.host)));
  out += "\n[options]\n";
  for (const auto& [option, value] : best->config.options.items()) {
    out += fmt::format("{} = {}\n", option, value);
  }
  out += "\n[expected]\n";
  out += fmt::format("source = {}\n",
                     toml_string(fmt::format("measured by chimera tune, study {}, {}, {}{}", study, machine,
                                        date, result.synthetic ? " (dummy weights: synthetic)" : "")));
  std::string ci;
  for (const lab::MetricEstimate& e : best->metrics) {
    if (e.values.empty()) continue;
    int decimals = e.unit == "ms" ? 1 : 2;
    out += fmt::format("{} = {:.{}f}    # mean of {} samples\n", e.metric, e.mean, decimals, e.values.size());
    if (e.ci) ci += fmt::format("{} = [{:.{}f}, {:.{}f}]\n", e.metric, e.ci->lower, decimals, e.ci->upper, decimals);
  }
  if (!ci.empty()) out += "\n[expected.ci95]\n" + ci;
  return out;
}

}  // namespace chimera::agent
