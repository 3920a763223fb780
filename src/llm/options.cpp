// llm::Options: parsing "temperature=0.2,num_ctx=1024" (ARCHITECTURE.md, the one request type),
// range checks with messages that name the option and the value, and the fixed-order text and JSON
// forms.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <variant>

#include "llm/types.h"
#include "util/json_text.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

using IntField = std::optional<int64_t> Options::*;
using DoubleField = std::optional<double> Options::*;
struct StopField {};

// One row per option: the field, the accepted range and the rule as the error message states it.
struct OptionSpec {
  std::string_view name;
  std::variant<IntField, DoubleField, StopField> field;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
  std::string_view rule;
};

const std::vector<OptionSpec>& specs() {
  static const std::vector<OptionSpec> kSpecs = {
      {"num_ctx", &Options::num_ctx, 1, 1e18, false, "a positive integer"},
      {"num_predict", &Options::num_predict, -2, 1e18, false,
       "an integer >= -2 (-1: no limit, -2: fill the context)"},
      {"num_batch", &Options::num_batch, 1, 1e18, false, "a positive integer"},
      {"num_thread", &Options::num_thread, 0, 1e18, false,
       "a non-negative integer (0: the backend chooses)"},
      {"num_gpu", &Options::num_gpu, -1, 1e18, false,
       "an integer >= -1 (-1: the backend chooses, 999: all layers)"},
      {"temperature", &Options::temperature, 0, 1e9, false, "a number >= 0"},
      {"top_k", &Options::top_k, 0, 1e18, false, "a non-negative integer (0: off)"},
      {"top_p", &Options::top_p, 0, 1, false, "a number between 0 and 1"},
      {"min_p", &Options::min_p, 0, 1, false, "a number between 0 and 1"},
      {"repeat_penalty", &Options::repeat_penalty, 0, 1e9, true, "a number > 0 (1: off)"},
      {"repeat_last_n", &Options::repeat_last_n, -1, 1e18, false,
       "an integer >= -1 (-1: the whole context, 0: off)"},
      {"seed", &Options::seed, -9.2e18, 9.2e18, false, "an integer"},
      {"stop", StopField{}, 0, 0, false, "one or more strings separated by '|', or a JSON array"},
  };
  return kSpecs;
}

std::string normalize_name(std::string_view name) {
  std::string out = to_lower(trim(name));
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

// Ollama's options that have no field of their own (api/types.go Options and Runner, current and
// recent releases): passed through to Ollama by name, refused by backends that cannot apply them.
enum class ExtraKind { kInt, kDouble, kBool };
struct ExtraSpec {
  std::string_view name;
  ExtraKind kind;
  double min, max;
  std::string_view rule;
};
const std::vector<ExtraSpec>& extra_specs() {
  static const std::vector<ExtraSpec> kSpecs = {
      {"num_keep", ExtraKind::kInt, -1, 1e18, "an integer >= -1"},
      {"typical_p", ExtraKind::kDouble, 0, 1, "a number between 0 and 1"},
      {"presence_penalty", ExtraKind::kDouble, -2, 2, "a number between -2 and 2"},
      {"frequency_penalty", ExtraKind::kDouble, -2, 2, "a number between -2 and 2"},
      {"mirostat", ExtraKind::kInt, 0, 2, "0 (off), 1 or 2"},
      {"mirostat_tau", ExtraKind::kDouble, 0, 1e9, "a number >= 0"},
      {"mirostat_eta", ExtraKind::kDouble, 0, 1e9, "a number >= 0"},
      {"tfs_z", ExtraKind::kDouble, 0, 1e9, "a number >= 0"},
      {"penalize_newline", ExtraKind::kBool, 0, 1, "true or false"},
      {"main_gpu", ExtraKind::kInt, 0, 1e6, "a GPU index >= 0"},
      {"use_mmap", ExtraKind::kBool, 0, 1, "true or false"},
      {"use_mlock", ExtraKind::kBool, 0, 1, "true or false"},
      {"numa", ExtraKind::kBool, 0, 1, "true or false"},
      {"low_vram", ExtraKind::kBool, 0, 1, "true or false"},
  };
  return kSpecs;
}
const ExtraSpec* find_extra(std::string_view normalized) {
  for (const ExtraSpec& spec : extra_specs()) {
    if (spec.name == normalized) return &spec;
  }
  return nullptr;
}

// The JSON literal of an extra option's value, or nullopt when it breaks the rule.
std::optional<std::string> extra_literal(const ExtraSpec& spec, std::string_view text) {
  if (spec.kind == ExtraKind::kBool) {
    std::string v = to_lower(text);
    if (v == "true" || v == "1") return "true";
    if (v == "false" || v == "0") return "false";
    return std::nullopt;
  }
  std::optional<double> parsed = parse_double(text);
  if (!parsed || !std::isfinite(*parsed) || *parsed < spec.min || *parsed > spec.max)
    return std::nullopt;
  if (spec.kind == ExtraKind::kInt) {
    std::optional<int64_t> whole = parse_int(text);
    if (!whole) return std::nullopt;
    return std::to_string(*whole);
  }
  return fmt::format("{}", *parsed);
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

const OptionSpec* find_spec(std::string_view normalized) {
  for (const OptionSpec& spec : specs()) {
    if (spec.name == normalized) return &spec;
  }
  return nullptr;
}

Status unknown_option(std::string_view name) {
  std::string_view best;
  size_t best_distance = 4;  // suggest only near misses
  for (const OptionSpec& spec : specs()) {
    size_t d = edit_distance(normalize_name(name), spec.name);
    if (d < best_distance) best_distance = d, best = spec.name;
  }
  for (const ExtraSpec& spec : extra_specs()) {
    size_t d = edit_distance(normalize_name(name), spec.name);
    if (d < best_distance) best_distance = d, best = spec.name;
  }
  std::vector<std::string> names;
  for (const OptionSpec& spec : specs()) names.emplace_back(spec.name);
  for (const ExtraSpec& spec : extra_specs()) names.emplace_back(spec.name);
  std::string hint = best.empty() ? "" : fmt::format(" (did you mean {}?)", best);
  return make_error(ErrorCode::kInvalidArgument, "unknown option '{}'{}; options are: {}", name,
                    hint, join(names, ", "));
}

// Quotes a value in an error message unless it reads as a number.
std::string shown(std::string_view value) {
  if (auto number = parse_double(value); number && std::isfinite(*number))
    return std::string(value);
  return fmt::format("'{}'", value);
}

// "\n", "\t", "\|", "\,", "\\" in plain stop strings; anything else after a backslash is kept as
// is.
std::string unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    char next = text[++i];
    switch (next) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      default:
        out += next;
        break;
    }
  }
  return out;
}

Result<std::vector<std::string>> parse_stop(std::string_view value) {
  std::vector<std::string> out;
  if (!value.empty() && value.front() == '[') {
    nlohmann::json parsed = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_array()) {
      return make_error(ErrorCode::kInvalidArgument, "stop must be a JSON array of strings, got {}",
                        value);
    }
    for (const auto& item : parsed) {
      if (!item.is_string()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "stop must be a JSON array of strings, got {}", value);
      }
      out.push_back(item.get<std::string>());
    }
  } else {
    std::string current;
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '\\' && i + 1 < value.size()) {
        current += value[i];
        current += value[++i];
      } else if (value[i] == '|') {
        out.push_back(unescape(current));
        current.clear();
      } else {
        current += value[i];
      }
    }
    out.push_back(unescape(current));
  }
  if (out.empty() || std::any_of(out.begin(), out.end(), [](const auto& s) { return s.empty(); })) {
    return make_error(ErrorCode::kInvalidArgument,
                      "stop must be one or more non-empty strings separated by '|', got '{}'",
                      value);
  }
  return out;
}

// Splits "a=1,stop=[\"x,y\"],b=2" at top-level commas: commas inside quotes, brackets or after a
// backslash belong to the value.
std::vector<std::string> split_assignments(std::string_view text) {
  std::vector<std::string> parts;
  std::string current;
  bool in_quotes = false;
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      current += c;
      current += text[++i];
      continue;
    }
    if (c == '"') in_quotes = !in_quotes;
    if (!in_quotes && c == '[') ++depth;
    if (!in_quotes && c == ']' && depth > 0) --depth;
    if (c == ',' && !in_quotes && depth == 0) {
      parts.push_back(std::move(current));
      current.clear();
      continue;
    }
    current += c;
  }
  parts.push_back(std::move(current));
  return parts;
}

// Trims whitespace except a trailing space that a backslash protects ("stop=\ ").
std::string_view trim_value(std::string_view value) {
  value = value.substr(std::min(value.find_first_not_of(" \t"), value.size()));
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    if (value.size() >= 2 && value[value.size() - 2] == '\\') break;
    value.remove_suffix(1);
  }
  return value;
}

std::string format_double(double value) { return fmt::format("{}", value); }

}  // namespace

const std::vector<std::string_view>& option_names() {
  static const std::vector<std::string_view> kNames = [] {
    std::vector<std::string_view> names;
    for (const OptionSpec& spec : specs()) names.push_back(spec.name);
    return names;
  }();
  return kNames;
}

const std::vector<std::string_view>& extra_option_names() {
  static const std::vector<std::string_view> kNames = [] {
    std::vector<std::string_view> names;
    for (const ExtraSpec& spec : extra_specs()) names.push_back(spec.name);
    return names;
  }();
  return kNames;
}

std::string normalize_option_name(std::string_view name) { return normalize_name(name); }

bool Options::empty() const { return items().empty(); }

Status Options::set(std::string_view name, std::string_view value) {
  const OptionSpec* spec = find_spec(normalize_name(name));
  if (spec == nullptr) {
    const ExtraSpec* extra_spec = find_extra(normalize_name(name));
    if (extra_spec == nullptr) return unknown_option(name);
    std::optional<std::string> literal = extra_literal(*extra_spec, trim(value));
    if (!literal) {
      return make_error(ErrorCode::kInvalidArgument, "{} must be {}, got {}", extra_spec->name,
                        extra_spec->rule, shown(value));
    }
    extra[std::string(extra_spec->name)] = *literal;
    return Status::ok();
  }
  if (std::holds_alternative<StopField>(spec->field)) {
    CHIMERA_ASSIGN_OR_RETURN(auto strings, parse_stop(value));
    stop = std::move(strings);
    return Status::ok();
  }
  auto bad_value = [&] {
    return make_error(ErrorCode::kInvalidArgument, "{} must be {}, got {}", spec->name, spec->rule,
                      shown(value));
  };
  std::string_view text = trim(value);
  if (const IntField* field = std::get_if<IntField>(&spec->field)) {
    std::optional<int64_t> parsed = parse_int(text);
    if (!parsed && text.size() > 2 && text.substr(text.size() - 2) == ".0") {
      parsed = parse_int(text.substr(0, text.size() - 2));  // "4096.0" from a JSON round trip
    }
    if (!parsed || static_cast<double>(*parsed) < spec->min ||
        static_cast<double>(*parsed) > spec->max) {
      return bad_value();
    }
    this->*(*field) = *parsed;
    return Status::ok();
  }
  const DoubleField field = std::get<DoubleField>(spec->field);
  std::optional<double> parsed = parse_double(text);
  if (!parsed || !std::isfinite(*parsed) || *parsed < spec->min || *parsed > spec->max ||
      (spec->min_exclusive && *parsed == spec->min)) {
    return bad_value();
  }
  this->*field = *parsed;
  return Status::ok();
}

Result<Options> Options::parse(std::string_view assignments) {
  Options options;
  std::vector<std::string> seen;
  for (const std::string& part : split_assignments(assignments)) {
    std::string_view piece = trim(part);
    if (piece.empty()) continue;  // "a=1,,b=2" and a trailing comma are harmless
    size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "expected name=value in '{}', got '{}' (example: temperature=0.2,num_ctx=1024)",
          assignments, piece);
    }
    std::string name = normalize_name(piece.substr(0, eq));
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return make_error(ErrorCode::kInvalidArgument, "option {} is given twice in '{}'", name,
                        assignments);
    }
    seen.push_back(name);
    CHIMERA_RETURN_IF_ERROR(options.set(piece.substr(0, eq), trim_value(piece.substr(eq + 1))));
  }
  return options;
}

std::vector<std::pair<std::string, std::string>> Options::items() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const OptionSpec& spec : specs()) {
    if (const IntField* field = std::get_if<IntField>(&spec.field)) {
      if ((this->*(*field)).has_value())
        out.emplace_back(spec.name, std::to_string(*(this->*(*field))));
    } else if (const DoubleField* dfield = std::get_if<DoubleField>(&spec.field)) {
      if ((this->*(*dfield)).has_value())
        out.emplace_back(spec.name, format_double(*(this->*(*dfield))));
    } else if (stop.has_value()) {
      out.emplace_back(spec.name, json_text(nlohmann::json(*stop)));
    }
  }
  for (const auto& [name, literal] : extra) out.emplace_back(name, literal);
  return out;
}

std::string Options::to_string() const {
  std::vector<std::string> parts;
  for (const auto& [name, value] : items()) parts.push_back(name + "=" + value);
  return join(parts, " ");
}

std::string Options::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (const OptionSpec& spec : specs()) {
    std::string key(spec.name);
    if (const IntField* field = std::get_if<IntField>(&spec.field)) {
      if ((this->*(*field)).has_value()) out[key] = *(this->*(*field));
    } else if (const DoubleField* dfield = std::get_if<DoubleField>(&spec.field)) {
      if ((this->*(*dfield)).has_value()) out[key] = *(this->*(*dfield));
    } else if (stop.has_value()) {
      out[key] = *stop;
    }
  }
  for (const auto& [name, literal] : extra) {
    out[name] = nlohmann::json::parse(literal, nullptr, /*allow_exceptions=*/false);
  }
  return json_text(out);
}

Options Options::merged_with(const Options& overrides) const {
  Options out = *this;
  for (const OptionSpec& spec : specs()) {
    if (const IntField* field = std::get_if<IntField>(&spec.field)) {
      if ((overrides.*(*field)).has_value()) out.*(*field) = overrides.*(*field);
    } else if (const DoubleField* dfield = std::get_if<DoubleField>(&spec.field)) {
      if ((overrides.*(*dfield)).has_value()) out.*(*dfield) = overrides.*(*dfield);
    } else if (overrides.stop.has_value()) {
      out.stop = overrides.stop;
    }
  }
  for (const auto& [name, literal] : overrides.extra) out.extra[name] = literal;
  return out;
}

}  // namespace chimera::llm
