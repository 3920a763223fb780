// Tolerant field access on parsed JSON objects from servers: a missing or mistyped field is
// "absent", never an exception and never a zero standing in for a number.
#pragma once

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace chimera::llm::json_fields {

inline const nlohmann::json* find(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// An integer field; a float with an integral value (some servers print 12.0) counts.
inline std::optional<int64_t> get_int(const nlohmann::json& object, std::string_view key) {
  const nlohmann::json* value = find(object, key);
  if (value == nullptr) return std::nullopt;
  if (value->is_number_integer()) return value->get<int64_t>();
  if (value->is_number_float()) {
    double d = value->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18)
      return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

inline std::optional<double> get_number(const nlohmann::json& object, std::string_view key) {
  const nlohmann::json* value = find(object, key);
  if (value == nullptr || !value->is_number()) return std::nullopt;
  return value->get<double>();
}

inline std::string get_string(const nlohmann::json& object, std::string_view key) {
  const nlohmann::json* value = find(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

inline std::optional<bool> get_bool(const nlohmann::json& object, std::string_view key) {
  const nlohmann::json* value = find(object, key);
  if (value == nullptr || !value->is_boolean()) return std::nullopt;
  return value->get<bool>();
}

// chimera serve's mark of a dummy-weight model in a metadata object (/api/show model_info,
// /v1/models meta): "chimera.synthetic": true, or a general.name that says "(dummy weights".
inline bool is_dummy_weight_model(const nlohmann::json& metadata) {
  if (get_bool(metadata, "chimera.synthetic").value_or(false)) return true;
  return get_string(metadata, "general.name").find("(dummy weights") != std::string::npos;
}

}  // namespace chimera::llm::json_fields
