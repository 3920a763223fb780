#include "lab/tune_space.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "util/strings.h"

namespace chimera::lab {
namespace {

constexpr size_t kMaxAxisValues = 1000;

Status usage(std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); }

// Digits after the decimal point as written ("0.25" -> 2, "4" -> 0).
int decimals_written(std::string_view text) {
  size_t dot = text.find('.');
  if (dot == std::string_view::npos) return 0;
  size_t end = text.find_first_of("eE", dot);
  return static_cast<int>((end == std::string_view::npos ? text.size() : end) - dot - 1);
}

bool integer_text(std::string_view text) { return parse_int(trim(text)).has_value(); }

// "%.{d}f" without trailing zeros ("0.40" -> "0.4", "1.00" -> "1").
std::string number_text(double value, int decimals) {
  std::string out = fmt::format("{:.{}f}", value, decimals);
  if (out.find('.') != std::string::npos) {
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
  }
  if (out == "-0") out = "0";
  return out;
}

Result<std::vector<std::string>> expand_range(std::string_view name, std::string_view text) {
  size_t dots = text.find("..");
  std::string_view lo_text = trim(text.substr(0, dots));
  std::string_view rest = text.substr(dots + 2);
  size_t op_at = rest.find_first_of("+*");
  std::string_view hi_text = trim(rest.substr(0, op_at));
  char op = op_at == std::string_view::npos ? '+' : rest[op_at];
  std::string_view step_text = op_at == std::string_view::npos ? "1" : trim(rest.substr(op_at + 1));
  auto lo = parse_double(lo_text), hi = parse_double(hi_text), step = parse_double(step_text);
  auto bad = [&](std::string_view why) {
    return usage(fmt::format("--param {}={}: {}; ranges are FROM..TO (step 1), FROM..TO+STEP or "
                             "FROM..TO*FACTOR, e.g. 1..4, 0.2..1.0+0.2, 256..4096*2",
                             name, text, why));
  };
  if (!lo || !hi || !step || !std::isfinite(*lo) || !std::isfinite(*hi) || !std::isfinite(*step)) {
    return bad("FROM, TO and the step must be numbers");
  }
  if (*hi < *lo) return bad(fmt::format("TO ({}) is below FROM ({})", hi_text, lo_text));
  const bool integers = integer_text(lo_text) && integer_text(hi_text) && integer_text(step_text);
  std::vector<std::string> out;
  if (op == '+') {
    if (*step <= 0) return bad(fmt::format("the step is {}; it must be positive", step_text));
    int decimals = integers ? 0 : std::max(decimals_written(lo_text), decimals_written(step_text));
    const double slack = *step * 1e-9;
    for (int64_t i = 0;; ++i) {
      double v = *lo + static_cast<double>(i) * *step;  // no accumulated rounding error
      if (v > *hi + slack) break;
      if (out.size() == kMaxAxisValues) return bad("it gives more than 1000 values");
      out.push_back(number_text(v, decimals));
    }
  } else {
    if (!(*step > 1)) return bad(fmt::format("the factor is {}; it must be above 1", step_text));
    if (!(*lo > 0)) return bad("a geometric range must start above 0");
    int decimals = integers ? 0 : std::max(decimals_written(lo_text), 3);
    for (double v = *lo; v <= *hi * (1 + 1e-12); v *= *step) {
      if (out.size() == kMaxAxisValues) return bad("it gives more than 1000 values");
      std::string t = number_text(integers ? std::round(v) : v, decimals);
      if (out.empty() || out.back() != t) out.push_back(t);
    }
  }
  return out;
}

std::string canonical_name(std::string_view name) {
  std::string n = llm::normalize_option_name(name);
  if (n == "threads") return "num_thread";  // the embedded engine's word for it
  return n;
}

}  // namespace

std::string_view knob_class_name(KnobClass k) {
  switch (k) {
    case KnobClass::kLoad: return "load";
    case KnobClass::kSampling: return "sampling";
    case KnobClass::kLength: return "length";
  }
  return "sampling";
}

KnobClass knob_class(std::string_view option_name) {
  static const std::vector<std::string_view> kLoad = {
      "num_ctx", "num_batch", "num_gpu", "num_thread", "main_gpu",
      "use_mmap", "use_mlock", "numa", "low_vram"};
  if (std::find(kLoad.begin(), kLoad.end(), option_name) != kLoad.end()) return KnobClass::kLoad;
  if (option_name == "num_predict" || option_name == "stop") return KnobClass::kLength;
  return KnobClass::kSampling;
}

Result<ParamAxis> parse_param_values(std::string_view raw_name, std::string_view values_text) {
  ParamAxis axis;
  axis.name = canonical_name(raw_name);
  axis.given = fmt::format("{}={}", raw_name, values_text);
  if (axis.name.empty()) {
    return usage(fmt::format("--param '{}': no option name before '='", axis.given));
  }
  auto known = [](const std::vector<std::string_view>& names, std::string_view n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  if (!known(llm::option_names(), axis.name) && !known(llm::extra_option_names(), axis.name)) {
    llm::Options scratch;  // its message lists the options and suggests a near miss
    return usage(fmt::format("--param {}: {}", axis.given,
                             scratch.set(axis.name, "0").message()));
  }
  if (axis.name == "seed") {
    return usage(fmt::format("--param {}: the study sets the seeds itself (the same seed for every "
                             "configuration's n-th call); seed is not a tuning knob",
                             axis.given));
  }
  std::string_view text = trim(values_text);
  if (text.empty()) {
    return usage(fmt::format("--param {}: the list of values is empty; give values like "
                             "{}=1024,2048 or a range like {}=1..4",
                             axis.given, axis.name, axis.name));
  }
  if (text.find("..") != std::string_view::npos) {
    CHIMERA_ASSIGN_OR_RETURN(axis.values, expand_range(axis.name, text));
  } else {
    for (const std::string& part : split(text, ',')) {
      std::string_view v = trim(part);
      if (v.empty()) {
        return usage(fmt::format("--param {}: an empty value in the list", axis.given));
      }
      axis.values.emplace_back(v);
    }
  }
  for (size_t i = 0; i < axis.values.size(); ++i) {
    llm::Options check;
    if (Status s = check.set(axis.name, axis.values[i]); !s.is_ok()) {
      return usage(fmt::format("--param {}: {}", axis.given, s.message()));
    }
    // Compare as the option reads them, so "0.40" and "0.4" count as one value.
    for (size_t j = 0; j < i; ++j) {
      llm::Options other;
      (void)other.set(axis.name, axis.values[j]);
      if (other == check) {
        return usage(fmt::format("--param {}: the value {} is given twice", axis.given,
                                 axis.values[i]));
      }
    }
  }
  axis.knob = knob_class(axis.name);
  return axis;
}

Result<ParamAxis> parse_param(std::string_view assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string_view::npos) {
    return usage(fmt::format("--param '{}': expected NAME=VALUES, e.g. num_ctx=1024,2048,4096 or "
                             "num_thread=1..4",
                             assignment));
  }
  return parse_param_values(trim(assignment.substr(0, eq)), assignment.substr(eq + 1));
}

std::vector<std::string> preset_space_names() { return {"tr108", "tr109"}; }

Result<std::vector<ParamAxis>> preset_space(std::string_view name) {
  std::vector<std::pair<std::string, std::string>> spec;
  if (name == "tr108") {
    spec = {{"num_gpu", "999,80,60,40"}, {"num_ctx", "1024,2048,4096"},
            {"temperature", "0.2,0.4,0.8"}};
  } else if (name == "tr109") {
    spec = {{"num_gpu", "60,80,120"}, {"num_ctx", "256,512,1024"}, {"temperature", "0.6,0.8"}};
  } else {
    return usage(fmt::format("--space '{}': no such space; known spaces: {}", name,
                             join(preset_space_names(), ", ")));
  }
  std::vector<ParamAxis> axes;
  for (const auto& [option, values] : spec) {
    CHIMERA_ASSIGN_OR_RETURN(ParamAxis axis, parse_param_values(option, values));
    axes.push_back(std::move(axis));
  }
  return axes;
}

int64_t grid_size(const std::vector<ParamAxis>& axes) {
  int64_t n = axes.empty() ? 0 : 1;
  for (const ParamAxis& a : axes) n *= static_cast<int64_t>(a.values.size());
  return n;
}

Result<std::vector<Configuration>> expand_space(const std::vector<ParamAxis>& axes,
                                                const SpaceFacts& facts) {
  if (axes.empty()) {
    return usage("the study has no options to vary: give --param NAME=VALUES (one or more) or "
                 "--space tr108");
  }
  for (size_t i = 0; i < axes.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (axes[i].name == axes[j].name) {
        return usage(fmt::format("option {} is given twice (--param {} and --param {})",
                                 axes[i].name, axes[j].given, axes[i].given));
      }
    }
  }
  const int64_t total = grid_size(axes);
  if (total > 100000) {
    return usage(fmt::format("the grid has {} configurations; narrow it (at most 100000)", total));
  }
  // Ollama offloads block_count + 1 layers (the output layer too): num_gpu at or above that count
  // offloads everything, whatever the number.
  const int64_t layers = facts.layer_count.value_or(0);
  const int64_t offloadable = layers > 0 ? layers + 1 : 0;  // 0: unknown

  std::vector<Configuration> out;
  std::map<std::string, size_t> by_effect;  // effective options text -> index in out
  std::vector<size_t> index(axes.size(), 0);
  for (int64_t point = 0; point < total; ++point) {
    Configuration c;
    std::vector<std::string> effect_parts;  // what the backend really runs, axis by axis
    std::vector<std::string> why;
    std::vector<std::string> load_parts;
    for (size_t a = 0; a < axes.size(); ++a) {
      const ParamAxis& axis = axes[a];
      const std::string& value = axis.values[index[a]];
      (void)c.options.set(axis.name, value);  // checked by parse_param_values
      c.assignments.push_back(fmt::format("{}={}", axis.name, value));
      if (axis.knob == KnobClass::kLoad) load_parts.push_back(c.assignments.back());
      std::string effective_value = value;
      if (axis.name == "num_gpu" && facts.cpu_only) {
        effective_value = "none";
        why.push_back("the backend runs on the CPU, so num_gpu has no effect");
      } else if (axis.name == "num_gpu" && offloadable > 0 && c.options.num_gpu &&
                 *c.options.num_gpu >= offloadable) {
        effective_value = "all";
        why.push_back(fmt::format("num_gpu >= {} offloads every layer ({} blocks + the output "
                                  "layer, from {})",
                                  offloadable, layers, facts.layer_source));
      } else if (axis.name == "num_ctx" && facts.context_length && c.options.num_ctx &&
                 *c.options.num_ctx > *facts.context_length) {
        effective_value = std::to_string(*facts.context_length);
        why.push_back(fmt::format("num_ctx above the trained context ({}) is lowered to it",
                                  *facts.context_length));
      }
      effect_parts.push_back(axis.name + "=" + effective_value);
    }
    c.load_key = join(load_parts, " ");
    std::string key = join(effect_parts, " ");
    if (auto it = by_effect.find(key); it != by_effect.end()) {
      Configuration& first = out[it->second];
      first.equivalents.push_back(fmt::format("{} (same as {}: {})", join(c.assignments, " "),
                                              join(first.assignments, " "), join(why, "; ")));
    } else {
      c.label = fmt::format("c{:02d}", out.size() + 1);
      by_effect.emplace(key, out.size());
      out.push_back(std::move(c));
    }
    for (size_t a = axes.size(); a-- > 0;) {  // last axis fastest
      if (++index[a] < axes[a].values.size()) break;
      index[a] = 0;
    }
  }
  return out;
}

}  // namespace chimera::lab
