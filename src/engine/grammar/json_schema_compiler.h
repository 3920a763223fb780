// JSON Schema -> Grammar, for constrained decoding (grammar.h). Supported: type (one or a list),
// properties / required / additionalProperties, items / prefixItems / minItems / maxItems,
// minLength / maxLength, format (date, time, date-time, uuid), enum, const, anyOf, oneOf (as
// anyOf), allOf of one schema, local $ref ("#/$defs/...", recursion included), integer minimum /
// maximum / exclusiveMinimum / exclusiveMaximum, and annotations (title, description, default...).
// Anything else that constrains values (pattern, multipleOf, number bounds, not, if/then/else,
// uniqueItems...) is refused with an error naming the keyword and where it is, never ignored.
//
// Choices the grammar makes inside what the schema allows (output valid by construction, and
// bounded so that a model with random weights still finishes):
//  - properties come in the order the schema lists them; optional ones may be left out; extra
//    properties are written only for objects that declare none;
//  - whitespace between tokens is none, a space, or a newline with up to 20 spaces or tabs;
//  - numbers have at most 16 integral and 15 fractional digits and a 2-digit exponent; integers
//    without bounds stay within +-(2^53-1);
//  - strings never hold \uD800-\uDFFF escapes (lone surrogates break strict readers).
#pragma once

#include <memory>
#include <string_view>

#include "engine/grammar/grammar.h"
#include "util/status.h"

namespace chimera::engine {

// kInvalidArgument for malformed schemas (not JSON, wrong keyword types, unsatisfiable parts),
// kUnsupported for valid ones this compiler cannot follow; messages name the JSON pointer.
Result<std::shared_ptr<const Grammar>> compile_json_schema(std::string_view schema_json);

// Any JSON object (Ollama's format "json", OpenAI's json_object).
std::shared_ptr<const Grammar> json_object_grammar();
// Any JSON value.
std::shared_ptr<const Grammar> json_value_grammar();

// Llm-layer spelling of a structured-output request: "json" -> any object, else a schema text.
Result<std::shared_ptr<const Grammar>> grammar_for_output_schema(std::string_view output_schema);

}  // namespace chimera::engine
