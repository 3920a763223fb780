#include "util/config.h"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <array>
#include <cstdlib>
#include <filesystem>

#include "util/mapped_file.h"
#include "util/paths.h"
#include "util/strings.h"

namespace chimera {
namespace {

constexpr std::array<SettingSpec, 8> kSpecs = {{
    {"backend", "CHIMERA_BACKEND", SettingType::kText, "run, agents, bench, tune",
     "backend to measure: auto, embedded:PATH.gguf, ollama://HOST:PORT/MODEL, "
     "openai://HOST:PORT/MODEL or ollama:NAME:TAG"},
    {"model", "CHIMERA_MODEL", SettingType::kText, "run, agents, bench, tune",
     "model asked of a server whose backend spec names none (run and agents: instead of any "
     "gemma3 model)"},
    {"out", "CHIMERA_OUT", SettingType::kPath, "run, agents, tune",
     "folder that reports (and tune's studies) are written under"},
    {"data", "CHIMERA_DATA", SettingType::kPath, "run, agents, tune --workload agent",
     "benchmark-data folder the agents read (default: the example data shipped with Chimera)"},
    {"db", "CHIMERA_DB", SettingType::kPath, "run, agents, bench, tune, results",
     "results database (SQLite)"},
    {"threads", "CHIMERA_THREADS", SettingType::kCount,
     "generate, serve, bench engine, agents --spawn", "engine threads (0: one per physical core)"},
    {"ollama_host", "OLLAMA_HOST", SettingType::kText, "run, agents (--backend auto)",
     "Ollama server to look for, HOST[:PORT] (default 127.0.0.1:11434)"},
    {"ollama_models", "OLLAMA_MODELS", SettingType::kPath, "ollama:NAME:TAG, model list, run",
     "local Ollama model store (default ~/.ollama/models)"},
}};

std::string expand_home(std::string_view value) {
  if (value == "~") return home_dir();
  if (starts_with(value, "~/")) return home_dir() + std::string(value.substr(1));
  return std::string(value);
}

// The value as the key's type wants it, or a message saying what was expected.
Result<std::string> checked_value(const SettingSpec& spec, std::string_view raw) {
  const std::string_view value = trim(raw);
  switch (spec.type) {
    case SettingType::kCount: {
      auto n = parse_int(value);
      if (!n || *n < 0) {
        return make_error(ErrorCode::kInvalidArgument, "expected a whole number >= 0, got '{}'",
                          value);
      }
      return std::to_string(*n);
    }
    case SettingType::kPath:
      if (value.empty()) return make_error(ErrorCode::kInvalidArgument, "expected a path, got ''");
      return expand_home(value);
    case SettingType::kText:
      if (value.empty()) return make_error(ErrorCode::kInvalidArgument, "expected a value, got ''");
      return std::string(value);
  }
  return std::string(value);
}

std::string known_keys() {
  std::string out;
  for (const auto& s : kSpecs) out += (out.empty() ? "" : ", ") + std::string(s.key);
  return out;
}

// The environment's value of a key, checked; nullopt when unset or empty (an empty variable is
// how people unset one for a single command: CHIMERA_BACKEND= chimera run).
Result<std::optional<SettingValue>> from_environment(const SettingSpec& spec) {
  const char* raw = std::getenv(std::string(spec.env_var).c_str());
  if (raw == nullptr || *raw == '\0') return std::optional<SettingValue>();
  auto value = checked_value(spec, raw);
  if (!value.ok()) {
    return make_error(ErrorCode::kInvalidArgument, "{}={}: {} ({}: {}); fix or unset it",
                      spec.env_var, raw, value.status().message(), spec.key, spec.meaning);
  }
  return std::optional<SettingValue>(
      SettingValue{std::move(*value), SettingSource::kEnvironment, std::string(spec.env_var)});
}

}  // namespace

std::span<const SettingSpec> setting_specs() { return kSpecs; }

const SettingSpec* find_setting_spec(std::string_view key) {
  for (const auto& s : kSpecs) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

std::string config_file_path() {
  if (const char* v = std::getenv("CHIMERA_CONFIG"); v != nullptr && *v != '\0') return v;
  if (const char* v = std::getenv("XDG_CONFIG_HOME"); v != nullptr && *v != '\0') {
    return std::string(v) + "/chimera/config.toml";
  }
  return home_dir() + "/.config/chimera/config.toml";
}

Result<ConfigFile> read_config_file(const std::string& path) {
  ConfigFile file;
  file.path = path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return file;
  file.found = true;
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_text_file(path, 1 << 20));
  toml::table root;
  try {  // Debian's toml++ is built with exceptions; they stop here
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return make_error(ErrorCode::kParseError,
                      "{}:{}: {}; fix the file (or set CHIMERA_CONFIG to "
                      "another one)",
                      path, e.source().begin.line, e.description());
  }
  for (const auto& [key, node] : root) {
    const std::string where = fmt::format("{}:{}", path, node.source().begin.line);
    const SettingSpec* spec = find_setting_spec(key.str());
    if (spec == nullptr) {
      file.warnings.push_back(fmt::format("{}: unknown key '{}' ignored (known keys: {})", where,
                                          key.str(), known_keys()));
      continue;
    }
    std::string raw;
    if (spec->type == SettingType::kCount && node.is_integer()) {
      raw = std::to_string(node.as_integer()->get());
    } else if (spec->type != SettingType::kCount && node.is_string()) {
      raw = node.as_string()->get();
    } else {
      return make_error(ErrorCode::kInvalidArgument, "{}: {} must be {} ({})", where, key.str(),
                        spec->type == SettingType::kCount ? "a whole number, e.g. 8"
                                                          : "a string in double quotes",
                        spec->meaning);
    }
    auto value = checked_value(*spec, raw);
    if (!value.ok()) {
      return make_error(ErrorCode::kInvalidArgument, "{}: {}: {} ({})", where, key.str(),
                        value.status().message(), spec->meaning);
    }
    file.values[std::string(key.str())] =
        SettingValue{std::move(*value), SettingSource::kConfigFile, where};
  }
  return file;
}

const Result<ConfigFile>& user_config_file() {
  static const Result<ConfigFile> file = read_config_file(config_file_path());
  return file;
}

Status check_user_config() {
  const auto& file = user_config_file();
  if (!file.ok()) return file.status();
  for (const auto& spec : kSpecs) {
    auto env = from_environment(spec);
    if (!env.ok()) return env.status();
  }
  return Status::ok();
}

std::optional<SettingValue> lookup_setting(std::string_view key) {
  const SettingSpec* spec = find_setting_spec(key);
  if (spec == nullptr) return std::nullopt;
  auto env = from_environment(*spec);
  if (env.ok() && *env) return **env;
  const auto& file = user_config_file();
  if (!file.ok()) return std::nullopt;
  if (auto it = file->values.find(key); it != file->values.end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> configured(std::string_view key) {
  auto v = lookup_setting(key);
  return v ? std::optional<std::string>(v->value) : std::nullopt;
}

std::string describe_source(const SettingValue& value) {
  return value.source == SettingSource::kEnvironment ? "environment " + value.origin
                                                     : "config file " + value.origin;
}

}  // namespace chimera
