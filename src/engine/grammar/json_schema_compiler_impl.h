// Internal to the JSON Schema compiler (json_schema_compiler.cpp: keywords, references, anyOf,
// scalars; json_schema_containers.cpp: objects and arrays): the compiler and the helpers both use.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/grammar/grammar.h"
#include "engine/grammar/json_grammar_rules.h"

namespace chimera::engine::schema_detail {

// Insertion order matters: properties are generated in the order the schema lists them.
using Json = nlohmann::ordered_json;
using Sequence = GrammarBuilder::Sequence;

inline constexpr int kMaxSchemaDepth = 64;
inline constexpr int64_t kMaxCount = 1'000'000;  // minItems, maxLength...: more is surely a mistake

// JSON pointers of children: path/key (escaped) and path/key/index.
std::string child(const std::string& path, std::string_view key);
std::string child(const std::string& path, std::string_view key, size_t index);
std::string canonical(const Json& value);  // compact JSON text
bool has_type(const Json& value, std::string_view type);

// One schema document compiled into one grammar; every method compiles the schema at `path` (a
// JSON pointer, for messages and rule names) into an element matching its values.
class SchemaCompiler {
 public:
  explicit SchemaCompiler(const Json& root) : root_(root), rules_(builder_) {}
  Result<Grammar> run();

 private:
  Result<GrammarElement> element_for(const Json& schema, const std::string& path, int depth);
  Status check_keywords(const Json& schema, const std::string& path);
  Status only_annotations_beside(const Json& schema, std::string_view keyword,
                                 const std::string& path);
  Status unsatisfiable(const std::string& path, std::string_view why);
  Result<GrammarElement> define(const std::string& name, const std::vector<Sequence>& alternatives);
  Result<GrammarElement> reference(const std::string& ref, const std::string& path, int depth);
  Result<GrammarElement> any_of(const Json& schema, std::string_view key, const Json& list,
                                const std::string& path, int depth);
  Result<std::vector<std::string>> types_of(const Json& schema, const std::string& path);
  Result<GrammarElement> literals(const Json& schema, const Json& values, const std::string& path);
  Result<std::optional<int64_t>> count(const Json& schema, std::string_view key,
                                       const std::string& path);
  Result<GrammarElement> typed(const Json& schema, const std::string& type, const std::string& path,
                               int depth);
  Result<GrammarElement> string(const Json& schema, const std::string& path);
  Result<GrammarElement> integer(const Json& schema, const std::string& path);
  // json_schema_containers.cpp
  Result<GrammarElement> object(const Json& schema, const std::string& path, int depth);
  Result<GrammarElement> array(const Json& schema, const std::string& path, int depth);

  const Json& root_;
  GrammarBuilder builder_;
  JsonRules rules_;
  std::map<std::string, uint32_t> refs_;
};

}  // namespace chimera::engine::schema_detail
