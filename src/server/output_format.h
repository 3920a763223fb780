// Structured output as the two dialects ask for it, compiled to the engine's grammar:
//  - Ollama: "format": "json" (any JSON object) or "format": {JSON schema};
//  - OpenAI: "response_format": {"type": "text" | "json_object" | "json_schema",
//    "json_schema": {"name", "schema", "strict"}} (llama.cpp's {"type": "json_object", "schema"}
//    is read too).
// nullptr means free text. Schemas are read again from the raw body, keys in the client's order,
// because properties are generated in the order the schema lists them. A schema feature the
// compiler cannot follow is a kUnsupported error naming it (HTTP 400).
#pragma once

#include <memory>
#include <string_view>

#include "engine/grammar/grammar.h"
#include "server/json_util.h"
#include "util/status.h"

namespace chimera::server {

Result<std::shared_ptr<const engine::Grammar>> ollama_format(const Json& body,
                                                             std::string_view raw_body);
Result<std::shared_ptr<const engine::Grammar>> openai_response_format(const Json& body,
                                                                      std::string_view raw_body);

}  // namespace chimera::server
