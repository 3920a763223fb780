// Writing JSON that holds text from outside (a server's answer, a file's contents) without ever
// throwing: nlohmann::json::dump() throws type_error.316 on invalid UTF-8, which aborted whole
// benchmark runs. Every writer of such JSON goes through json_text(); invalid bytes come out as
// U+FFFD. Where the bytes themselves must survive, they travel beside the text as base64.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace chimera {

// dump() that never throws: invalid UTF-8 in strings is written as U+FFFD. indent < 0: one line.
std::string json_text(const nlohmann::json& value, int indent = -1);
// The same for a document whose keys keep their insertion order (request bodies that carry a
// client's JSON Schema: constrained decoding writes properties in the schema's order).
std::string json_text(const nlohmann::ordered_json& value, int indent = -1);

// RFC 4648 base64 (standard alphabet, padded).
std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not padded base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace chimera
