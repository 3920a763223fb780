// JSON as servers really send it, made safe to parse without losing what a strict parser refuses.
//  - Bytes that are not UTF-8 inside strings (a model's character split across two stream chunks,
//    a server that writes raw bytes): nlohmann rejects the whole line. Here each such byte becomes
//    the private-use code point U+10FF00 + byte, and restore_bytes() turns the parsed string back
//    into the bytes exactly as they came (a genuine U+10FFxx in the same text is escaped byte by
//    byte too, so the round trip is exact).
//  - NaN, Infinity and -Infinity literals (Python's json.dumps writes them): they become marker
//    strings, so a statistic that was NaN is reported as NaN, not as a syntax error of its line.
//  - Lone UTF-16 surrogate escapes ("\ud800"): replaced by U+FFFD.
//  - Nesting deeper than kMaxWireJsonDepth: an error naming the byte offset, before any DOM is
//    built (a line of 64 MiB of '[' would otherwise build billions of nodes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "util/status.h"

namespace chimera::llm {

inline constexpr int kMaxWireJsonDepth = 64;

struct WireJson {
  std::string text;            // the rewritten text, when `rewritten`
  bool rewritten = false;      // false: the original text parses as it is
  bool bytes_escaped = false;  // string values need restore_bytes()
  int64_t invalid_utf8_bytes = 0;
  size_t first_invalid_utf8 = std::string_view::npos;  // offset in the original text
  int64_t lone_surrogates = 0;
  int64_t non_finite_literals = 0;
};

// One pass over `text`. Errors: nesting deeper than max_depth (kParseError naming the offset).
Result<WireJson> make_parseable(std::string_view text, int max_depth = kMaxWireJsonDepth);

// A DOM parse of server JSON: depth-checked, tolerant as above. The error says why and where.
// `info` (optional) tells whether string values need restore_bytes().
Result<nlohmann::json> parse_wire_json(std::string_view text, WireJson* info = nullptr);

// Undoes the escaping of invalid bytes in a string value taken from a rewritten text.
void restore_bytes(std::string& value);

// "NaN", "Infinity" or "-Infinity" when `value` is the marker a non-finite literal became, else "".
std::string_view non_finite_literal(std::string_view value);

}  // namespace chimera::llm
