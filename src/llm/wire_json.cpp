#include "llm/wire_json.h"

#include <fmt/format.h>

#include <array>

#include "llm/ndjson.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

// A non-finite literal becomes the JSON string "\u0000" + literal: no server sends a NUL there.
constexpr std::array<std::string_view, 3> kNonFinite = {"-Infinity", "Infinity", "NaN"};

bool is_hex4(std::string_view text, size_t at, uint32_t& value) {
  if (at + 4 > text.size()) return false;
  value = 0;
  for (size_t k = 0; k < 4; ++k) {
    char c = text[at + k];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return false;
    value = value << 4 | static_cast<uint32_t>(d);
  }
  return true;
}

// U+10FF00 + byte, in UTF-8.
void append_escaped_byte(std::string& out, unsigned char byte) {
  out += '\xF4';
  out += '\x8F';
  out += static_cast<char>(0xBC + (byte >> 6));
  out += static_cast<char>(0x80 | (byte & 0x3F));
}

bool is_escape_range(std::string_view text, size_t i) {  // a character in U+10FF00..U+10FFFF
  return i + 4 <= text.size() && static_cast<unsigned char>(text[i]) == 0xF4 &&
         static_cast<unsigned char>(text[i + 1]) == 0x8F &&
         static_cast<unsigned char>(text[i + 2]) >= 0xBC;
}

// The scanner behind make_parseable: with out == nullptr it only looks (depth, and whether a
// rewrite is needed); with out it writes the rewritten text.
Status scan(std::string_view text, int max_depth, WireJson& info, std::string* out) {
  int depth = 0;
  bool in_string = false;
  auto copy = [&](size_t at, size_t n) {
    if (out != nullptr) out->append(text.substr(at, n));
  };
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!in_string) {
      if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        if (++depth > max_depth) {
          return make_error(ErrorCode::kParseError,
                            "JSON nested deeper than {} levels (at byte {})", max_depth, i);
        }
      } else if (c == '}' || c == ']') {
        depth = depth > 0 ? depth - 1 : 0;
      } else if (c == 'N' || c == 'I' || c == '-') {
        bool matched = false;
        for (std::string_view literal : kNonFinite) {
          if (text.substr(i, literal.size()) == literal) {
            ++info.non_finite_literals;
            if (out != nullptr) *out += fmt::format("\"\\u0000{}\"", literal);
            i += literal.size();
            matched = true;
            break;
          }
        }
        if (matched) continue;
      }
      copy(i, 1);
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = false;
      copy(i, 1);
      ++i;
    } else if (c == '\\') {
      uint32_t unit = 0;
      if (i + 1 < text.size() && text[i + 1] == 'u' && is_hex4(text, i + 2, unit) &&
          unit >= 0xD800 && unit <= 0xDFFF) {
        uint32_t low = 0;
        bool paired = unit <= 0xDBFF && text.substr(i + 6, 2) == "\\u" &&
                      is_hex4(text, i + 8, low) && low >= 0xDC00 && low <= 0xDFFF;
        if (paired) {
          copy(i, 12);
          i += 12;
        } else {
          ++info.lone_surrogates;
          if (out != nullptr) *out += "\\uFFFD";
          i += 6;
        }
      } else {
        size_t n = i + 1 < text.size() ? 2 : 1;
        copy(i, n);
        i += n;
      }
    } else if (c < 0x80) {
      copy(i, 1);
      ++i;
    } else {
      int step = utf8_char_at(text, i);
      if (step > 0) {
        // A genuine character in the escape range is escaped too, so restore_bytes() is exact.
        if (out != nullptr && info.bytes_escaped && is_escape_range(text, i)) {
          for (int k = 0; k < step; ++k)
            append_escaped_byte(*out, static_cast<unsigned char>(text[i + k]));
        } else {
          copy(i, static_cast<size_t>(step));
        }
        i += static_cast<size_t>(step);
      } else {
        if (info.first_invalid_utf8 == std::string_view::npos) info.first_invalid_utf8 = i;
        info.invalid_utf8_bytes += -step;
        for (int k = 0; k < -step; ++k) {
          if (out != nullptr) append_escaped_byte(*out, static_cast<unsigned char>(text[i + k]));
        }
        i += static_cast<size_t>(-step);
      }
    }
  }
  return Status::ok();
}

}  // namespace

Result<WireJson> make_parseable(std::string_view text, int max_depth) {
  WireJson info;
  CHIMERA_RETURN_IF_ERROR(scan(text, max_depth, info, nullptr));
  if (info.invalid_utf8_bytes == 0 && info.lone_surrogates == 0 && info.non_finite_literals == 0) {
    return info;
  }
  WireJson rewritten;
  rewritten.rewritten = true;
  rewritten.bytes_escaped = info.invalid_utf8_bytes > 0;
  rewritten.text.reserve(text.size() + 16 + static_cast<size_t>(info.invalid_utf8_bytes) * 3);
  CHIMERA_RETURN_IF_ERROR(scan(text, max_depth, rewritten, &rewritten.text));
  return rewritten;
}

Result<nlohmann::json> parse_wire_json(std::string_view text, WireJson* info) {
  CHIMERA_ASSIGN_OR_RETURN(WireJson wire, make_parseable(text));
  std::string_view parseable = wire.rewritten ? std::string_view(wire.text) : text;
  nlohmann::json parsed = nlohmann::json::parse(parseable, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    // The reason, from the parser that refused it (exceptions stop here).
    std::string why = "not valid JSON";
    try {
      nlohmann::json again = nlohmann::json::parse(parseable);
    } catch (const nlohmann::json::exception& e) {
      why = e.what();
    }
    return make_error(ErrorCode::kParseError, "{}: {}", why, excerpt(text));
  }
  if (info != nullptr) *info = std::move(wire);
  return parsed;
}

void restore_bytes(std::string& value) {
  size_t write = 0;
  for (size_t read = 0; read < value.size();) {
    if (is_escape_range(value, read) &&
        (static_cast<unsigned char>(value[read + 3]) & 0xC0) == 0x80) {
      auto third = static_cast<unsigned char>(value[read + 2]);
      auto fourth = static_cast<unsigned char>(value[read + 3]);
      value[write++] = static_cast<char>((third - 0xBC) << 6 | (fourth & 0x3F));
      read += 4;
    } else {
      value[write++] = value[read++];
    }
  }
  value.resize(write);
}

std::string_view non_finite_literal(std::string_view value) {
  if (value.empty() || value.front() != '\0') return {};
  for (std::string_view literal : kNonFinite) {
    if (value.substr(1) == literal) return literal;
  }
  return {};
}

}  // namespace chimera::llm
