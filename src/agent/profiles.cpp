#include "agent/profiles.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "agent/column_names.h"
#include "agent/named_toml.h"
#include "util/mapped_file.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

// Copies of profiles/*.toml, so the binary runs from any directory. A test checks they parse to the
// same profiles as the files.
constexpr std::string_view kBaselineToml = R"toml(# Baseline: sends no options at all.
name = "baseline"
description = "Backend defaults: no options are sent"

[options]
)toml";

constexpr std::string_view kChimeraGemma3Toml = R"toml(# Rank-1 configuration of the prior sweep.
name = "chimera-gemma3"
description = "Rank-1 configuration of the prior parameter sweep for gemma3:latest"
model_family = "gemma3"

[options]
num_gpu = 999
num_ctx = 4096
temperature = 0.4
top_p = 0.9
top_k = 40
repeat_penalty = 1.1

[expected]
source = "Technical Report 108 (prior system), section 4.3: gemma3:latest parameter tuning, rank 1 configuration num_gpu=999, num_ctx=4096, temperature=0.4; Ollama on an NVIDIA RTX 4080 Laptop GPU (12 GB)"
decode_tps = 102.31
ttft_s = 0.128
)toml";

// The shortest text that reads back as `value` ("0.128"), and its decimals.
int decimals_of(double value) {
  std::string text = fmt::format("{}", value);
  size_t dot = text.find('.');
  if (dot == std::string::npos || text.find('e') != std::string::npos) return 0;
  return static_cast<int>(text.size() - dot - 1);
}

Result<std::string> option_text(const toml::node& node, std::string_view key,
                                const std::string& origin) {
  if (auto v = node.value<int64_t>(); v && node.is_integer()) return fmt::format("{}", *v);
  if (auto v = node.value<double>(); v && node.is_floating_point()) return fmt::format("{}", *v);
  if (auto v = node.value<std::string>()) return *v;
  if (const toml::array* a = node.as_array()) {
    std::vector<std::string> parts;
    for (const auto& e : *a) {
      if (auto s = e.value<std::string>()) parts.push_back(*s);
    }
    return join(parts, "|");
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "{}: option '{}' has a value of an unsupported type; use a number, a string or "
                    "(for stop) an array of strings",
                    origin, key);
}

}  // namespace

llm::Options Profile::resolved_options(int64_t prompt_tokens, int64_t num_predict) const {
  llm::Options out = options;
  if (num_ctx_auto) out.num_ctx = auto_num_ctx(prompt_tokens, num_predict);
  return out;
}

int64_t auto_num_ctx(int64_t prompt_tokens, int64_t num_predict) {
  int64_t need = std::max<int64_t>(1, prompt_tokens + std::max<int64_t>(0, num_predict));
  return (need + 255) / 256 * 256;
}

Result<Profile> parse_profile(std::string_view toml_text, const std::string& origin) {
  CHIMERA_ASSIGN_OR_RETURN(toml::table root, parse_toml(toml_text, origin));
  Profile p;
  p.origin = origin;
  p.name = root["name"].value_or(std::string());
  if (p.name.empty()) {
    p.name = std::filesystem::path(origin).stem().string();
  }
  p.description = root["description"].value_or(std::string());
  p.model_family = root["model_family"].value_or(std::string());
  if (const toml::table* options = root["options"].as_table()) {
    for (const auto& [key, node] : *options) {
      std::string name(key.str());
      if (name == "num_ctx" && node.value<std::string>() == std::optional<std::string>("auto")) {
        p.num_ctx_auto = true;
        continue;
      }
      CHIMERA_ASSIGN_OR_RETURN(std::string text, option_text(node, name, origin));
      Status s = p.options.set(name, text);
      if (!s.is_ok()) return s.with_context(origin);
    }
  }
  if (const toml::table* expected = root["expected"].as_table()) {
    p.expected_source = (*expected)["source"].value_or(std::string());
    for (const auto& [key, node] : *expected) {
      std::string name(key.str());
      if (name == "source" || name == "ci95") continue;
      auto value = node.value<double>();
      if (!value) {
        return make_error(ErrorCode::kInvalidArgument, "{}: expected.{} must be a number", origin,
                          name);
      }
      ColumnKind kind = classify_column(name);
      if (!kind.unit) {
        return make_error(ErrorCode::kInvalidArgument,
                          "{}: expected.{} has no unit; name it with a unit suffix such as "
                          "decode_tps, ttft_ms or ttft_s",
                          origin, name);
      }
      p.expected.push_back({name, *value, decimals_of(*value), *kind.unit, std::nullopt});
    }
    if (const toml::table* ci = (*expected)["ci95"].as_table()) {
      for (const auto& [key, node] : *ci) {
        std::string name(key.str());
        auto figure = std::find_if(p.expected.begin(), p.expected.end(),
                                   [&](const ExpectedFigure& e) { return e.metric == name; });
        const toml::array* bounds = node.as_array();
        std::optional<double> lower, upper;
        if (bounds != nullptr && bounds->size() == 2) {
          lower = (*bounds)[0].value<double>();
          upper = (*bounds)[1].value<double>();
        }
        if (figure == p.expected.end() || !lower || !upper || *lower > *upper) {
          return make_error(ErrorCode::kInvalidArgument,
                            "{}: expected.ci95.{} must be [lower, upper] for a figure given in "
                            "[expected]",
                            origin, name);
        }
        figure->ci95 = std::make_pair(*lower, *upper);
      }
    }
    if (!p.expected.empty() && p.expected_source.empty()) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "{}: [expected] figures need a source = \"...\" saying where they come from", origin);
    }
  }
  return p;
}

Result<Profile> load_profile_file(const std::string& path) {
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_text_file(path, 1 << 20));
  return parse_profile(text, path);
}

std::optional<std::string_view> builtin_profile_text(std::string_view name) {
  if (name == "baseline") return kBaselineToml;
  if (name == "chimera-gemma3") return kChimeraGemma3Toml;
  return std::nullopt;
}

Result<Profile> find_profile(const std::string& name_or_path) {
  static constexpr NamedTomlPlace kPlace{"profile", "profiles", "CHIMERA_PROFILES_DIR",
                                         "baseline and chimera-gemma3", builtin_profile_text};
  CHIMERA_ASSIGN_OR_RETURN(NamedToml found, find_named_toml(kPlace, name_or_path));
  return parse_profile(found.text, found.origin);
}

}  // namespace chimera::agent
