#include "llm/output_schema.h"

#include <fmt/format.h>

namespace chimera::llm {

Result<std::optional<OutputSchema>> parse_output_schema(const std::optional<std::string>& text) {
  if (!text) return std::optional<OutputSchema>();
  OutputSchema out;
  if (*text == "json") {
    out.json_object = true;
    return std::optional<OutputSchema>(std::move(out));
  }
  out.schema = nlohmann::ordered_json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (out.schema.is_discarded() || !(out.schema.is_object() || out.schema.is_boolean())) {
    return make_error(ErrorCode::kInvalidArgument,
                      "output_schema is neither \"json\" nor a JSON Schema object: {}",
                      text->size() > 80 ? text->substr(0, 77) + "..." : *text);
  }
  return std::optional<OutputSchema>(std::move(out));
}

std::string output_schema_not_applied(std::string_view server) {
  return fmt::format(
      "structured output not applied: {} has no JSON-schema output this backend can ask for; the "
      "answer is free text and may not parse",
      server);
}

}  // namespace chimera::llm
