// Small string helpers used across layers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chimera {

std::vector<std::string> split(std::string_view text, char separator);
std::string_view trim(std::string_view text);
std::string join(const std::vector<std::string>& parts, std::string_view separator);
// The last n lines of a tool's output joined by " | " (trailing blank lines dropped), or
// "(no output)": the end of a child's stderr in an error message.
std::string last_lines(std::string_view text, size_t n);
bool starts_with(std::string_view text, std::string_view prefix);
bool ends_with(std::string_view text, std::string_view suffix);
std::string to_lower(std::string_view text);
std::string replace_all(std::string_view text, std::string_view from, std::string_view to);

// Strict number parsing: the whole string must be consumed.
std::optional<int64_t> parse_int(std::string_view text);
std::optional<double> parse_double(std::string_view text);

// "1.06 GB", "812.3 MiB" style sizes: decimal units (GB) as llama-bench and Ollama print them.
std::string format_bytes(uint64_t bytes);
std::string format_bytes_binary(uint64_t bytes);
// "2.64 B" / "999.9 M" parameter counts.
std::string format_count(uint64_t count);

// True when `text` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view text);
// Bytes of `text` before its first invalid UTF-8 sequence (text.size() when all of it is valid):
// the byte offset an error about invalid text names.
size_t utf8_valid_prefix(std::string_view text);
// At text[i] (i < size): the byte length of the valid UTF-8 character there (> 0), or minus the
// number of bytes one U+FFFD stands for (the maximal ill-formed subpart, Unicode §3.9).
int utf8_char_at(std::string_view text, size_t i);
// U+FFFD, what invalid UTF-8 is shown as.
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";
// `text` with each maximal invalid UTF-8 subpart replaced by U+FFFD, as browsers decode it: for
// showing and writing text a server sent (the record keeps the bytes as they came).
std::string utf8_replace_invalid(std::string_view text);
// Length of the longest prefix of `text` that ends on a UTF-8 character boundary, so streamed
// text never emits half a character.
size_t utf8_complete_prefix(std::string_view text);

}  // namespace chimera
