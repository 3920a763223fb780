// Objects and arrays: properties in schema order with optional ones skippable, extra properties
// for objects that declare none, prefixItems then items within minItems..maxItems.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <set>

#include "engine/grammar/json_schema_compiler_impl.h"

namespace chimera::engine::schema_detail {

Result<GrammarElement> SchemaCompiler::object(const Json& schema, const std::string& path,
                                              int depth) {
  std::vector<std::pair<std::string, const Json*>> properties;
  if (auto it = schema.find("properties"); it != schema.end()) {
    if (!it->is_object())
      return make_error(ErrorCode::kInvalidArgument, "{}/properties must be an object", path);
    for (const auto& [name, sub] : it->items()) properties.emplace_back(name, &sub);
  }
  std::set<std::string> required;
  if (auto it = schema.find("required"); it != schema.end()) {
    if (!it->is_array())
      return make_error(ErrorCode::kInvalidArgument, "{}/required must be an array", path);
    for (const Json& name : *it) {
      if (!name.is_string()) {
        return make_error(ErrorCode::kInvalidArgument, "{}/required must hold strings, not {}",
                          path, canonical(name));
      }
      required.insert(name.get<std::string>());
    }
  }
  static const Json kAny = true;
  const Json* additional = &kAny;
  bool additional_given = false;
  if (auto it = schema.find("additionalProperties"); it != schema.end()) {
    additional = &*it;
    additional_given = true;
    if (!it->is_boolean() && !it->is_object()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{}/additionalProperties must be a boolean or a schema", path);
    }
  }
  const bool additional_allowed = !(additional->is_boolean() && !additional->get<bool>());
  // Required names the properties do not declare take the additionalProperties schema.
  for (const std::string& name : required) {
    const bool declared = std::any_of(properties.begin(), properties.end(),
                                      [&](const auto& p) { return p.first == name; });
    if (declared) continue;
    if (!additional_allowed) {
      return unsatisfiable(
          path, fmt::format("\"{}\" is required but additionalProperties is false and it is not "
                            "among the properties",
                            name));
    }
    properties.emplace_back(name, additional);
  }
  CHIMERA_ASSIGN_OR_RETURN(GrammarElement space, rules_.ws());
  Sequence open;
  builder_.append_literal("{", open);
  open.push_back(space);
  if (properties.empty()) {
    if (!additional_allowed) {
      Sequence empty = open;
      builder_.append_literal("}", empty);
      return define(path, {empty});
    }
    if (!additional_given || (additional->is_boolean())) return rules_.any_object();
    CHIMERA_ASSIGN_OR_RETURN(GrammarElement value,
                             element_for(*additional, path + "/additionalProperties", depth + 1));
    CHIMERA_ASSIGN_OR_RETURN(Sequence item, rules_.member(value));
    const uint32_t rule = builder_.declare(path);
    CHIMERA_RETURN_IF_ERROR(rules_.define_list(rule, "{", "}", item));
    return GrammarBuilder::call(rule);
  }
  // members(i, first): the properties from i on; `first` when none was written yet (no comma).
  const size_t n = properties.size();
  std::vector<std::array<uint32_t, 2>> members(n + 1);
  for (size_t i = 0; i <= n; ++i) {
    for (int first = 0; first < 2; ++first) {
      members[i][first] =
          builder_.declare(fmt::format("{}/members{}{}", path, i, first ? "" : ","));
    }
  }
  for (int first = 0; first < 2; ++first)
    CHIMERA_RETURN_IF_ERROR(builder_.define(members[n][first], {{}}));
  for (size_t i = n; i-- > 0;) {
    const auto& [name, sub] = properties[i];
    CHIMERA_ASSIGN_OR_RETURN(GrammarElement value,
                             element_for(*sub, child(path + "/properties", name), depth + 1));
    Sequence member;
    builder_.append_literal(canonical(Json(name)), member);
    member.push_back(space);
    builder_.append_literal(":", member);
    member.insert(member.end(), {space, value, space});
    for (int first = 0; first < 2; ++first) {
      Sequence with;
      if (!first) {
        builder_.append_literal(",", with);
        with.push_back(space);
      }
      with.insert(with.end(), member.begin(), member.end());
      with.push_back(GrammarBuilder::call(members[i + 1][0]));
      std::vector<Sequence> alternatives = {with};
      if (!required.count(name))
        alternatives.push_back({GrammarBuilder::call(members[i + 1][first])});
      CHIMERA_RETURN_IF_ERROR(builder_.define(members[i][first], alternatives));
    }
  }
  Sequence whole = open;
  whole.push_back(GrammarBuilder::call(members[0][1]));
  builder_.append_literal("}", whole);
  return define(path, {whole});
}

Result<GrammarElement> SchemaCompiler::array(const Json& schema, const std::string& path,
                                             int depth) {
  CHIMERA_ASSIGN_OR_RETURN(auto min_items, count(schema, "minItems", path));
  CHIMERA_ASSIGN_OR_RETURN(auto max_items, count(schema, "maxItems", path));
  std::vector<GrammarElement> prefix;
  if (auto it = schema.find("prefixItems"); it != schema.end()) {
    if (!it->is_array())
      return make_error(ErrorCode::kInvalidArgument, "{}/prefixItems must be an array", path);
    for (size_t i = 0; i < it->size(); ++i) {
      CHIMERA_ASSIGN_OR_RETURN(GrammarElement e,
                               element_for((*it)[i], child(path, "prefixItems", i), depth + 1));
      prefix.push_back(e);
    }
  }
  const size_t k = prefix.size();
  uint64_t max = max_items ? static_cast<uint64_t>(*max_items) : kUnbounded;
  std::optional<GrammarElement> rest;  // items after the prefix; none when "items": false
  auto items = schema.find("items");
  if (items != schema.end() && items->is_boolean() && !items->get<bool>()) {
    max = std::min<uint64_t>(max, k);
  } else if (items != schema.end()) {
    if (!items->is_object() && !items->is_boolean()) {
      return make_error(ErrorCode::kUnsupported,
                        "{}/items must be a schema (the array form is draft 4's: use "
                        "prefixItems)",
                        path);
    }
    CHIMERA_ASSIGN_OR_RETURN(rest, element_for(*items, path + "/items", depth + 1));
  } else {
    CHIMERA_ASSIGN_OR_RETURN(rest, rules_.any_value());
  }
  const uint64_t min = static_cast<uint64_t>(min_items.value_or(0));
  if (min > max)
    return unsatisfiable(path,
                         fmt::format("minItems {} is above the most items allowed ({})", min, max));
  CHIMERA_ASSIGN_OR_RETURN(GrammarElement space, rules_.ws());
  // tail(j): what follows j items; items j < k come from prefixItems.
  std::vector<uint32_t> tail(k + 1);
  for (size_t j = 0; j <= k; ++j) tail[j] = builder_.declare(fmt::format("{}/after{}", path, j));
  auto separator = [&](size_t j, Sequence& s) {
    if (j > 0) {
      builder_.append_literal(",", s);
      s.push_back(space);
    }
  };
  for (size_t j = 0; j <= k; ++j) {
    std::vector<Sequence> alternatives;
    if (j >= min) {
      Sequence close;
      builder_.append_literal("]", close);
      alternatives.push_back(close);
    }
    if (j < k && j < max) {
      Sequence more;
      separator(j, more);
      more.insert(more.end(), {prefix[j], space, GrammarBuilder::call(tail[j + 1])});
      alternatives.push_back(more);
    } else if (j == k && rest && max > k) {
      Sequence next;
      builder_.append_literal(",", next);
      next.insert(next.end(), {space, *rest, space});
      CHIMERA_ASSIGN_OR_RETURN(GrammarElement next_rule, define(path + "/next-item", {next}));
      Sequence more;
      separator(j, more);
      more.insert(more.end(), {*rest, space});
      const uint32_t least = min > k + 1 ? static_cast<uint32_t>(min - k - 1) : 0;
      const uint32_t most = max == kUnbounded ? kUnbounded : static_cast<uint32_t>(max - k - 1);
      more.push_back(GrammarBuilder::repeat(next_rule.arg, least, most));
      builder_.append_literal("]", more);
      alternatives.push_back(more);
    }
    if (alternatives.empty())
      return unsatisfiable(path, "minItems asks for more items than the schema allows");
    CHIMERA_RETURN_IF_ERROR(builder_.define(tail[j], alternatives));
  }
  Sequence whole;
  builder_.append_literal("[", whole);
  whole.insert(whole.end(), {space, GrammarBuilder::call(tail[0])});
  return define(path, {whole});
}

}  // namespace chimera::engine::schema_detail
