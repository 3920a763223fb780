#include "agent/named_toml.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "util/mapped_file.h"
#include "util/strings.h"

namespace chimera::agent {

Result<NamedToml> find_named_toml(const NamedTomlPlace& place, const std::string& name_or_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto read = [](const std::string& path) -> Result<NamedToml> {
    CHIMERA_ASSIGN_OR_RETURN(std::string text, read_text_file(path, 1 << 20));
    return NamedToml{std::move(text), path};
  };
  if (ends_with(name_or_path, ".toml") || name_or_path.find('/') != std::string::npos) {
    if (!fs::exists(name_or_path, ec)) {
      return make_error(ErrorCode::kNotFound, "{} file '{}' does not exist", place.kind,
                        name_or_path);
    }
    return read(name_or_path);
  }
  std::vector<std::string> candidates = {fmt::format("{}/{}.toml", place.folder, name_or_path)};
  if (const char* dir = std::getenv(place.env_var)) {
    candidates.push_back(std::string(dir) + "/" + name_or_path + ".toml");
  }
  for (const auto& c : candidates) {
    if (fs::exists(c, ec)) return read(c);
  }
  if (auto text = place.builtin(name_or_path)) return NamedToml{std::string(*text), "built-in"};
  return make_error(ErrorCode::kNotFound,
                    "no {} named '{}': looked for {}/{}.toml and ${}; the built-in {}s are {}, or "
                    "pass a .toml path",
                    place.kind, name_or_path, place.folder, name_or_path, place.env_var, place.kind,
                    place.builtin_list);
}

Result<toml::table> parse_toml(std::string_view text, const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return make_error(ErrorCode::kParseError, "{}: line {}: {}", origin, e.source().begin.line,
                      e.description());
  }
}

}  // namespace chimera::agent
