// The user's configuration: defaults people would otherwise retype on every command (which backend,
// which model, where reports go, how many engine threads). Three places, each overriding the one
// before: the config file ($CHIMERA_CONFIG, else $XDG_CONFIG_HOME/chimera/config.toml, else
// ~/.config/chimera/config.toml), the environment (OLLAMA_HOST, OLLAMA_MODELS and CHIMERA_*), and
// the command's flags (applied by cli/, which knows them). `chimera config show` prints each value
// with the place it came from.
//
// The file is read once per process; the environment is read at every lookup, so a variable set by
// the process itself (tests do) is seen.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace chimera {

enum class SettingType {
  kText,   // a word or a spec: "ollama://127.0.0.1:11434/gemma3:4b"
  kPath,   // a file or folder; a leading "~/" is the home folder
  kCount,  // a whole number >= 0
};

// One key of the config file, the variable that overrides it, and what it is for (printed by
// `chimera config show`, `chimera config init` and the man page).
struct SettingSpec {
  std::string_view key;      // "backend"
  std::string_view env_var;  // "CHIMERA_BACKEND"
  SettingType type;
  std::string_view used_by;  // "run, agents, bench, tune"
  std::string_view meaning;  // one line
};

// Every key the config file may hold, in the order `config show` prints them.
std::span<const SettingSpec> setting_specs();
const SettingSpec* find_setting_spec(std::string_view key);

enum class SettingSource { kConfigFile, kEnvironment };

struct SettingValue {
  std::string value;  // "~/" expanded for paths
  SettingSource source = SettingSource::kConfigFile;
  std::string origin;  // "/home/me/.config/chimera/config.toml:3" or "OLLAMA_HOST"
};

// The config file as read.
struct ConfigFile {
  std::string path;  // where it was looked for
  bool found = false;
  std::map<std::string, SettingValue, std::less<>> values;
  std::vector<std::string> warnings;  // unknown keys: ignored, said once
};

// $CHIMERA_CONFIG, else $XDG_CONFIG_HOME/chimera/config.toml, else ~/.config/chimera/config.toml.
std::string config_file_path();

// Reads and checks a config file; a missing file is an empty configuration, not an error. Errors
// name the file, the line, the key and what is expected.
Result<ConfigFile> read_config_file(const std::string& path);

// The process's config file, read on first use.
const Result<ConfigFile>& user_config_file();

// The config file reads and every variable fits its key's type (CHIMERA_THREADS=many does not).
// cli/main.cpp checks this before any command runs, so a typo stops the program with a message
// naming the file and line (or the variable) instead of being ignored.
Status check_user_config();

// The value of `key` from the environment, else the config file; nullopt when neither sets it (or
// when the value is invalid: check_user_config reports that).
std::optional<SettingValue> lookup_setting(std::string_view key);
std::optional<std::string> configured(std::string_view key);

// "config file /path:3" / "environment OLLAMA_HOST": for messages and `config show`.
std::string describe_source(const SettingValue& value);

}  // namespace chimera
