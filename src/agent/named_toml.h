// Where a named TOML definition (a profile, a role) is found, so the commands run from any folder:
// a path as given (anything ending in .toml or holding a '/'), else ./FOLDER/NAME.toml, else
// $ENV_VAR/NAME.toml, else the copy built into the binary.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "util/status.h"

namespace chimera::agent {

struct NamedTomlPlace {
  std::string_view kind;          // "profile": for messages
  std::string_view folder;        // "profiles"
  const char* env_var;            // "CHIMERA_PROFILES_DIR"
  std::string_view builtin_list;  // "baseline and chimera-gemma3": for messages
  std::optional<std::string_view> (*builtin)(std::string_view name);
};

struct NamedToml {
  std::string text;
  std::string origin;  // the file it was read from, or "built-in"
};

Result<NamedToml> find_named_toml(const NamedTomlPlace& place, const std::string& name_or_path);

// Parses TOML text (a profile, a role, a study file); a syntax error names the origin and the line.
// Debian's toml++ is built with exceptions: they stop here.
Result<toml::table> parse_toml(std::string_view text, const std::string& origin);

}  // namespace chimera::agent
