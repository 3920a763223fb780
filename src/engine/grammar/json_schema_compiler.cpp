#include "engine/grammar/json_schema_compiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/grammar/json_schema_compiler_impl.h"

namespace chimera::engine::schema_detail {
namespace {

// Keywords that constrain values and that this compiler cannot follow: refused, never ignored.
const std::set<std::string_view>& unsupported_keywords() {
  static const std::set<std::string_view> kKeywords = {"pattern",
                                                       "patternProperties",
                                                       "propertyNames",
                                                       "minProperties",
                                                       "maxProperties",
                                                       "dependentRequired",
                                                       "dependentSchemas",
                                                       "dependencies",
                                                       "if",
                                                       "then",
                                                       "else",
                                                       "not",
                                                       "contains",
                                                       "minContains",
                                                       "maxContains",
                                                       "unevaluatedProperties",
                                                       "unevaluatedItems",
                                                       "multipleOf",
                                                       "additionalItems",
                                                       "$dynamicRef",
                                                       "$recursiveRef",
                                                       "contentSchema"};
  return kKeywords;
}

// Keywords that only describe: allowed anywhere, even beside $ref and anyOf.
bool is_annotation(std::string_view key) {
  static const std::set<std::string_view> kAnnotations = {"title",
                                                          "description",
                                                          "default",
                                                          "examples",
                                                          "$schema",
                                                          "$id",
                                                          "$comment",
                                                          "deprecated",
                                                          "readOnly",
                                                          "writeOnly",
                                                          "$defs",
                                                          "definitions",
                                                          "strict",
                                                          "discriminator",
                                                          "propertyOrdering",
                                                          "$anchor",
                                                          "contentMediaType",
                                                          "contentEncoding",
                                                          "nullable_description"};
  return kAnnotations.count(key) > 0 || key.rfind("x-", 0) == 0;
}

const std::vector<std::string_view>& type_names() {
  static const std::vector<std::string_view> kTypes = {"object",  "array",   "string", "number",
                                                       "integer", "boolean", "null"};
  return kTypes;
}

}  // namespace

std::string child(const std::string& path, std::string_view key) {
  std::string escaped;
  for (char c : key) {
    if (c == '~')
      escaped += "~0";
    else if (c == '/')
      escaped += "~1";
    else
      escaped += c;
  }
  return path + "/" + escaped;
}

std::string child(const std::string& path, std::string_view key, size_t index) {
  return fmt::format("{}/{}/{}", path, key, index);
}

std::string canonical(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool has_type(const Json& value, std::string_view type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  if (type == "number") return value.is_number();
  if (type == "integer") {
    if (value.is_number_integer() || value.is_number_unsigned()) return true;
    return value.is_number_float() && std::floor(value.get<double>()) == value.get<double>();
  }
  return false;
}

Result<Grammar> SchemaCompiler::run() {
  CHIMERA_ASSIGN_OR_RETURN(GrammarElement top, element_for(root_, "#", 0));
  const uint32_t root = builder_.declare("root");
  CHIMERA_RETURN_IF_ERROR(builder_.define(root, {{top}}));
  return builder_.finish(root);
}

Result<GrammarElement> SchemaCompiler::element_for(const Json& schema, const std::string& path,
                                                   int depth) {
  if (depth > kMaxSchemaDepth) {
    return make_error(ErrorCode::kInvalidArgument, "{}: the schema nests deeper than {} levels",
                      path, kMaxSchemaDepth);
  }
  if (schema.is_boolean()) {
    if (schema.get<bool>()) return rules_.any_value();
    return unsatisfiable(path, "the schema false allows no value");
  }
  if (!schema.is_object()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: a schema must be an object or a boolean, not {}", path,
                      schema.type_name());
  }
  CHIMERA_RETURN_IF_ERROR(check_keywords(schema, path));
  if (auto it = schema.find("$ref"); it != schema.end()) {
    CHIMERA_RETURN_IF_ERROR(only_annotations_beside(schema, "$ref", path));
    if (!it->is_string())
      return make_error(ErrorCode::kInvalidArgument, "{}/$ref must be a string", path);
    return reference(it->get<std::string>(), path, depth);
  }
  if (auto it = schema.find("allOf"); it != schema.end()) {
    CHIMERA_RETURN_IF_ERROR(only_annotations_beside(schema, "allOf", path));
    if (!it->is_array() || it->size() != 1) {
      return make_error(
          ErrorCode::kUnsupported,
          "{}/allOf: only an allOf of exactly one schema is supported (merging several is not); "
          "write the combined schema instead",
          path);
    }
    return element_for((*it)[0], child(path, "allOf", 0), depth + 1);
  }
  for (std::string_view key : {"anyOf", "oneOf"}) {
    if (auto it = schema.find(key); it != schema.end())
      return any_of(schema, key, *it, path, depth);
  }
  if (auto it = schema.find("const"); it != schema.end())
    return literals(schema, Json::array({*it}), path);
  if (auto it = schema.find("enum"); it != schema.end()) {
    if (!it->is_array() || it->empty()) {
      return make_error(ErrorCode::kInvalidArgument, "{}/enum must be a non-empty array", path);
    }
    return literals(schema, *it, path);
  }
  CHIMERA_ASSIGN_OR_RETURN(std::vector<std::string> types, types_of(schema, path));
  if (types.empty()) return rules_.any_value();
  std::vector<Sequence> alternatives;
  for (const std::string& type : types) {
    CHIMERA_ASSIGN_OR_RETURN(GrammarElement e, typed(schema, type, path, depth));
    alternatives.push_back({e});
  }
  if (alternatives.size() == 1) return alternatives.front().front();
  return define(path, alternatives);
}

Status SchemaCompiler::check_keywords(const Json& schema, const std::string& path) {
  for (const auto& [key, value] : schema.items()) {
    if (unsupported_keywords().count(key)) {
      return make_error(
          ErrorCode::kUnsupported,
          "{}: \"{}\" is not supported for constrained output (supported: type, properties, "
          "required, additionalProperties, items, prefixItems, minItems, maxItems, minLength, "
          "maxLength, format, enum, const, anyOf, oneOf, allOf of one schema, $ref, and integer "
          "minimum/maximum); remove it or state the constraint in the prompt",
          path, key);
    }
    if (key == "uniqueItems" && value.is_boolean() && value.get<bool>()) {
      return make_error(ErrorCode::kUnsupported,
                        "{}: \"uniqueItems\": true is not supported for constrained output", path);
    }
  }
  return Status::ok();
}

Status SchemaCompiler::only_annotations_beside(const Json& schema, std::string_view keyword,
                                               const std::string& path) {
  for (const auto& [key, value] : schema.items()) {
    if (key != keyword && !is_annotation(key)) {
      return make_error(ErrorCode::kUnsupported,
                        "{}: \"{}\" beside \"{}\" is not supported; put the constraint inside "
                        "the referenced or "
                        "listed schema",
                        path, key, keyword);
    }
  }
  return Status::ok();
}

Status SchemaCompiler::unsatisfiable(const std::string& path, std::string_view why) {
  return make_error(ErrorCode::kInvalidArgument, "{}: no JSON value satisfies this schema ({})",
                    path, why);
}

Result<GrammarElement> SchemaCompiler::define(const std::string& name,
                                              const std::vector<Sequence>& alternatives) {
  const uint32_t rule = builder_.declare(name);
  CHIMERA_RETURN_IF_ERROR(builder_.define(rule, alternatives));
  return GrammarBuilder::call(rule);
}

Result<GrammarElement> SchemaCompiler::reference(const std::string& ref, const std::string& path,
                                                 int depth) {
  if (auto it = refs_.find(ref); it != refs_.end()) return GrammarBuilder::call(it->second);
  if (ref.empty() || ref[0] != '#') {
    return make_error(ErrorCode::kUnsupported,
                      "{}: $ref \"{}\" points outside this schema; only local references "
                      "(\"#/$defs/Name\") are supported",
                      path, ref);
  }
  const Json* target = nullptr;
  try {
    target = &root_.at(Json::json_pointer(ref.substr(1)));
  } catch (const Json::exception&) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: $ref \"{}\" does not point at anything in this schema", path, ref);
  }
  const uint32_t rule = builder_.declare(ref);
  refs_[ref] = rule;
  CHIMERA_ASSIGN_OR_RETURN(GrammarElement e, element_for(*target, ref, depth + 1));
  CHIMERA_RETURN_IF_ERROR(builder_.define(rule, {{e}}));
  return GrammarBuilder::call(rule);
}

Result<GrammarElement> SchemaCompiler::any_of(const Json& schema, std::string_view key,
                                              const Json& list, const std::string& path,
                                              int depth) {
  CHIMERA_RETURN_IF_ERROR(only_annotations_beside(schema, key, path));
  if (!list.is_array() || list.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{}/{} must be a non-empty array of schemas",
                      path, key);
  }
  std::vector<Sequence> alternatives;
  for (size_t i = 0; i < list.size(); ++i) {
    CHIMERA_ASSIGN_OR_RETURN(GrammarElement e,
                             element_for(list[i], child(path, key, i), depth + 1));
    alternatives.push_back({e});
  }
  return define(fmt::format("{}/{}", path, key), alternatives);
}

Result<std::vector<std::string>> SchemaCompiler::types_of(const Json& schema,
                                                          const std::string& path) {
  std::vector<std::string> types;
  auto it = schema.find("type");
  if (it != schema.end()) {
    const Json list = it->is_array() ? *it : Json::array({*it});
    for (const Json& t : list) {
      if (!t.is_string() || std::find(type_names().begin(), type_names().end(),
                                      t.get<std::string>()) == type_names().end()) {
        return make_error(
            ErrorCode::kInvalidArgument,
            "{}/type: {} is not a JSON Schema type (object, array, string, number, integer, "
            "boolean, null)",
            path, canonical(t));
      }
      if (std::find(types.begin(), types.end(), t.get<std::string>()) == types.end()) {
        types.push_back(t.get<std::string>());
      }
    }
    if (types.empty())
      return make_error(ErrorCode::kInvalidArgument, "{}/type is an empty list", path);
    return types;
  }
  // No type: inferred from the keywords that only apply to one.
  auto any = [&](std::initializer_list<std::string_view> keys) {
    return std::any_of(keys.begin(), keys.end(),
                       [&](std::string_view k) { return schema.contains(k); });
  };
  if (any({"properties", "required", "additionalProperties"})) types.push_back("object");
  if (any({"items", "prefixItems", "minItems", "maxItems"})) types.push_back("array");
  if (any({"minLength", "maxLength", "format"})) types.push_back("string");
  if (any({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}))
    types.push_back("number");
  return types;
}

Result<GrammarElement> SchemaCompiler::literals(const Json& schema, const Json& values,
                                                const std::string& path) {
  CHIMERA_ASSIGN_OR_RETURN(std::vector<std::string> types, types_of(schema, path));
  std::vector<std::string> texts;
  for (const Json& v : values) {
    if (!types.empty() && !std::any_of(types.begin(), types.end(),
                                       [&](const std::string& t) { return has_type(v, t); })) {
      continue;  // a value of another type can never validate
    }
    texts.push_back(canonical(v));
  }
  if (texts.empty()) return unsatisfiable(path, "no enum or const value has the schema's type");
  return rules_.one_of_literals(std::move(texts),
                                path + (schema.contains("const") ? "/const" : "/enum"));
}

Result<std::optional<int64_t>> SchemaCompiler::count(const Json& schema, std::string_view key,
                                                     const std::string& path) {
  auto it = schema.find(key);
  if (it == schema.end()) return std::optional<int64_t>();
  if (!has_type(*it, "integer") || it->get<double>() < 0) {
    return make_error(ErrorCode::kInvalidArgument, "{}/{} must be a non-negative integer, not {}",
                      path, key, canonical(*it));
  }
  if (it->get<double>() > static_cast<double>(kMaxCount)) {
    return make_error(ErrorCode::kUnsupported, "{}/{} is {}; at most {} is supported", path, key,
                      canonical(*it), kMaxCount);
  }
  return std::optional<int64_t>(static_cast<int64_t>(it->get<double>()));
}

Result<GrammarElement> SchemaCompiler::typed(const Json& schema, const std::string& type,
                                             const std::string& path, int depth) {
  if (type == "object") return object(schema, path, depth);
  if (type == "array") return array(schema, path, depth);
  if (type == "string") return string(schema, path);
  if (type == "integer") return integer(schema, path);
  if (type == "boolean") return rules_.boolean();
  if (type == "null") return rules_.null();
  for (std::string_view bound : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
    if (schema.contains(bound)) {
      return make_error(ErrorCode::kUnsupported,
                        "{}: \"{}\" on a number is not supported for constrained output (only on "
                        "integers); use "
                        "\"type\": \"integer\" or state the range in the prompt",
                        path, bound);
    }
  }
  return rules_.number();
}

Result<GrammarElement> SchemaCompiler::string(const Json& schema, const std::string& path) {
  CHIMERA_ASSIGN_OR_RETURN(auto min, count(schema, "minLength", path));
  CHIMERA_ASSIGN_OR_RETURN(auto max, count(schema, "maxLength", path));
  if (auto it = schema.find("format"); it != schema.end()) {
    if (!it->is_string())
      return make_error(ErrorCode::kInvalidArgument, "{}/format must be a string", path);
    CHIMERA_ASSIGN_OR_RETURN(auto formatted, rules_.formatted_string(it->get<std::string>()));
    if (!formatted) {
      return make_error(ErrorCode::kUnsupported,
                        "{}: \"format\": \"{}\" is not supported for constrained output "
                        "(supported: date, time, "
                        "date-time, uuid)",
                        path, it->get<std::string>());
    }
    if (min || max) {
      return make_error(ErrorCode::kUnsupported,
                        "{}: minLength/maxLength beside \"format\" is not supported", path);
    }
    return *formatted;
  }
  const uint32_t lo = static_cast<uint32_t>(min.value_or(0));
  const uint32_t hi = max ? static_cast<uint32_t>(*max) : kUnbounded;
  if (lo > hi)
    return unsatisfiable(path, fmt::format("minLength {} is above maxLength {}", lo, hi));
  if (lo == 0 && hi == kUnbounded) return rules_.any_string();
  return rules_.string(lo, hi);
}

Result<GrammarElement> SchemaCompiler::integer(const Json& schema, const std::string& path) {
  // Bounds as doubles first (a schema may write 1e3 or 2.5), then clamped into int64.
  double lo = -static_cast<double>(kSafeIntegerMax), hi = static_cast<double>(kSafeIntegerMax);
  bool bounded_lo = false, bounded_hi = false;
  for (std::string_view key : {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}) {
    auto it = schema.find(key);
    if (it == schema.end()) continue;
    const bool lower = key == "minimum" || key == "exclusiveMinimum";
    const bool exclusive = key.rfind("exclusive", 0) == 0;
    if (exclusive && it->is_boolean()) continue;  // draft 4's form, read with its sibling below
    if (!it->is_number()) {
      return make_error(ErrorCode::kInvalidArgument, "{}/{} must be a number, not {}", path, key,
                        canonical(*it));
    }
    double v = it->get<double>();
    const bool draft4_exclusive = [&] {
      auto flag = schema.find(lower ? "exclusiveMinimum" : "exclusiveMaximum");
      return !exclusive && flag != schema.end() && flag->is_boolean() && flag->get<bool>();
    }();
    if (lower) {
      v = (exclusive || draft4_exclusive) ? std::floor(v) + 1 : std::ceil(v);
      if (!bounded_lo || v > lo) lo = v;
      bounded_lo = true;
    } else {
      v = (exclusive || draft4_exclusive) ? std::ceil(v) - 1 : std::floor(v);
      if (!bounded_hi || v < hi) hi = v;
      bounded_hi = true;
    }
  }
  constexpr double kLimit = 9.2e18;  // inside int64, with room for rounding
  lo = std::clamp(lo, -kLimit, kLimit);
  hi = std::clamp(hi, -kLimit, kLimit);
  if (lo > hi) return unsatisfiable(path, fmt::format("no integer lies between {} and {}", lo, hi));
  Sequence s = {builder_.integer(static_cast<int64_t>(lo), static_cast<int64_t>(hi))};
  return define(path + "/integer", {s});
}

}  // namespace chimera::engine::schema_detail

namespace chimera::engine {
namespace {

using schema_detail::Json;
using schema_detail::kMaxSchemaDepth;

// Nesting of [ and { outside strings, to refuse a hostile document before parsing it.
int nesting_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::shared_ptr<const Grammar> builtin(bool object) {
  GrammarBuilder builder;
  JsonRules rules(builder);
  auto top = object ? rules.any_object() : rules.any_value();
  const uint32_t root = builder.declare("root");
  Status defined = builder.define(root, {{*top}});
  auto grammar = builder.finish(root);
  if (!top.ok() || !defined.is_ok() || !grammar.ok()) std::abort();  // a bug in the built-in rules
  return std::make_shared<const Grammar>(std::move(grammar).value());
}

}  // namespace

Result<std::shared_ptr<const Grammar>> compile_json_schema(std::string_view schema_json) {
  constexpr int kMaxDocumentDepth = 2 * kMaxSchemaDepth + 8;  // a schema level is two JSON levels
  if (nesting_depth(schema_json, kMaxDocumentDepth) > kMaxDocumentDepth) {
    return make_error(ErrorCode::kInvalidArgument, "the schema nests deeper than {} levels",
                      kMaxSchemaDepth);
  }
  Json schema = Json::parse(schema_json, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded())
    return make_error(ErrorCode::kInvalidArgument, "the schema is not valid JSON");
  schema_detail::SchemaCompiler compiler(schema);
  CHIMERA_ASSIGN_OR_RETURN(Grammar grammar, compiler.run());
  return std::make_shared<const Grammar>(std::move(grammar));
}

std::shared_ptr<const Grammar> json_object_grammar() {
  static const std::shared_ptr<const Grammar> kGrammar = builtin(/*object=*/true);
  return kGrammar;
}

std::shared_ptr<const Grammar> json_value_grammar() {
  static const std::shared_ptr<const Grammar> kGrammar = builtin(/*object=*/false);
  return kGrammar;
}

Result<std::shared_ptr<const Grammar>> grammar_for_output_schema(std::string_view output_schema) {
  if (output_schema == "json") return json_object_grammar();
  return compile_json_schema(output_schema);
}

}  // namespace chimera::engine
