#include "server/output_format.h"

#include <fmt/format.h>

#include <initializer_list>

#include "engine/grammar/json_schema_compiler.h"

namespace chimera::server {
namespace {

using OrderedJson = nlohmann::ordered_json;

// The schema at `path` in the raw body, serialized with its keys in the order the client wrote.
std::string schema_text_in_order(std::string_view raw_body,
                                 std::initializer_list<std::string_view> path) {
  OrderedJson node = OrderedJson::parse(raw_body, nullptr, /*allow_exceptions=*/false);
  for (std::string_view key : path) {
    if (!node.is_object() || !node.contains(key)) return "{}";
    OrderedJson inner = std::move(node[std::string(key)]);
    node = std::move(inner);
  }
  return node.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

Result<std::shared_ptr<const engine::Grammar>> compile(const std::string& schema,
                                                       std::string_view field) {
  auto grammar = engine::compile_json_schema(schema);
  if (!grammar.ok()) return grammar.status().with_context(field);
  return *grammar;
}

}  // namespace

Result<std::shared_ptr<const engine::Grammar>> ollama_format(const Json& body,
                                                             std::string_view raw_body) {
  auto it = body.find("format");
  if (it == body.end() || it->is_null()) return std::shared_ptr<const engine::Grammar>();
  if (it->is_string()) {
    const std::string& value = it->get_ref<const std::string&>();
    if (value.empty()) return std::shared_ptr<const engine::Grammar>();
    if (value == "json") return engine::json_object_grammar();
    return make_error(ErrorCode::kInvalidArgument,
                      "format must be \"json\" or a JSON schema object, not \"{}\"", value);
  }
  if (!it->is_object()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "format must be \"json\" or a JSON schema object, not {}",
                      json_type_name(*it));
  }
  return compile(schema_text_in_order(raw_body, {"format"}), "format");
}

Result<std::shared_ptr<const engine::Grammar>> openai_response_format(const Json& body,
                                                                      std::string_view raw_body) {
  auto it = body.find("response_format");
  if (it == body.end() || it->is_null()) return std::shared_ptr<const engine::Grammar>();
  if (!it->is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "response_format must be an object, not {}",
                      json_type_name(*it));
  }
  CHIMERA_ASSIGN_OR_RETURN(auto type, optional_string(*it, "type", "response_format.type"));
  const std::string kind = type.value_or("");
  if (kind == "text") return std::shared_ptr<const engine::Grammar>();
  if (kind == "json_object") {
    if (it->contains("schema") && !(*it)["schema"].is_null()) {  // llama.cpp's extension
      if (!(*it)["schema"].is_object()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "response_format.schema must be a JSON schema object");
      }
      return compile(schema_text_in_order(raw_body, {"response_format", "schema"}),
                     "response_format.schema");
    }
    return engine::json_object_grammar();
  }
  if (kind == "json_schema") {
    auto spec = it->find("json_schema");
    if (spec == it->end() || !spec->is_object()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "response_format.json_schema is required with type \"json_schema\": "
                        "{{\"name\": ..., \"schema\": {{...}}}}");
    }
    CHIMERA_RETURN_IF_ERROR(
        optional_string(*spec, "name", "response_format.json_schema.name").status());
    CHIMERA_RETURN_IF_ERROR(
        optional_bool(*spec, "strict", "response_format.json_schema.strict").status());
    auto schema = spec->find("schema");
    if (schema == spec->end() || schema->is_null())
      return engine::json_value_grammar();  // OpenAI: optional
    if (!schema->is_object() && !schema->is_boolean()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "response_format.json_schema.schema must be a JSON schema object");
    }
    return compile(schema_text_in_order(raw_body, {"response_format", "json_schema", "schema"}),
                   "response_format.json_schema.schema");
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "response_format.type must be \"text\", \"json_object\" or \"json_schema\"{}",
                    type ? fmt::format(", not \"{}\"", kind) : std::string(" (it is missing)"));
}

}  // namespace chimera::server
