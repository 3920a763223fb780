// Request::output_schema as the HTTP backends send it: "json" (any JSON object) or a JSON Schema,
// parsed with its keys in the caller's order, because servers generate properties in the order the
// schema lists them (bodies are built as ordered JSON for that reason).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "util/status.h"

namespace chimera::llm {

struct OutputSchema {
  bool json_object = false;       // "json": any JSON object
  nlohmann::ordered_json schema;  // otherwise the schema
};

// nullopt for free text; an error (naming output_schema) when the text is not a JSON object or
// boolean.
Result<std::optional<OutputSchema>> parse_output_schema(const std::optional<std::string>& text);

// The warning a backend records when it cannot apply a schema: the answer is free text.
std::string output_schema_not_applied(std::string_view server);

}  // namespace chimera::llm
