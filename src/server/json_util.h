// JSON helpers for request bodies a client controls: a depth check before parsing, typed field
// access whose errors name the field and the value, and output that never throws on invalid UTF-8
// (model text can hold any bytes).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace chimera::server {

using Json = nlohmann::json;

inline constexpr int kMaxJsonDepth = 64;

// Parses a request body: an object, nested at most kMaxJsonDepth deep. Errors say where it broke.
Result<Json> parse_json_object(std::string_view body);

// Serializes with invalid UTF-8 replaced by U+FFFD (nlohmann would throw).
std::string dump_json(const Json& value);
// Appends `text` as a JSON string literal (quotes included), invalid UTF-8 replaced by U+FFFD.
void append_json_string(std::string& out, std::string_view text);

// "2024-06-04T14:38:31.837530123Z" (UTC, ns), as Ollama's created_at.
std::string rfc3339_utc_now();
std::string rfc3339_utc(int64_t unix_ns);
int64_t unix_now_ns();

// Short description of a JSON value's type for error messages: "a string", "a number", "null"...
std::string json_type_name(const Json& value);

// Typed optional fields of an object. Absent and null give nullopt; any other wrong type is an error
// naming `where` (for example "options.num_ctx").
Result<std::optional<std::string>> optional_string(const Json& object, std::string_view key, std::string_view where);
Result<std::optional<bool>> optional_bool(const Json& object, std::string_view key, std::string_view where);
// Integers: JSON integers, or numbers with no fractional part (Go clients send 1024.0).
Result<std::optional<int64_t>> optional_int(const Json& object, std::string_view key, std::string_view where);
Result<std::optional<double>> optional_number(const Json& object, std::string_view key, std::string_view where);

}  // namespace chimera::server
