#include "cli/configured.h"

#include "util/config.h"
#include "util/strings.h"

namespace chimera::cli {

void default_from_config(CLI::Option* option, std::string& variable, std::string_view key) {
  if (auto value = configured(key)) {
    variable = *value;
    option->default_str(*value);
  }
}

void default_from_config(CLI::Option* option, int& variable, std::string_view key) {
  if (auto value = configured(key)) {
    if (auto n = parse_int(*value)) {  // util/config checked it is a count
      variable = static_cast<int>(*n);
      option->default_str(*value);
    }
  }
}

std::string configured_or(std::string_view key, const std::string& fallback) {
  auto value = configured(key);
  return value ? *value : fallback;
}

std::optional<std::string> configured_backend() {
  auto value = configured("backend");
  if (!value || *value == "auto") return std::nullopt;
  return value;
}

std::string configured_model_for(const llm::BackendSpec& spec) {
  if (!spec.model.empty() || spec.kind == llm::BackendSpec::Kind::kEmbedded) return spec.model;
  return configured_or("model", "");
}

}  // namespace chimera::cli
