#include "util/strings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace chimera {

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = text.find(separator, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(text.substr(start));
      break;
    }
    out.emplace_back(text.substr(start, pos - start));
    start = pos + 1;
  }
  return out;
}

std::string_view trim(std::string_view text) {
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  return text.substr(b, e - b);
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += separator;
    out += parts[i];
  }
  return out;
}

std::string last_lines(std::string_view text, size_t n) {
  std::vector<std::string> lines = split(text, '\n');
  while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines.empty() ? "(no output)" : join(lines, " | ");
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  if (from.empty()) return std::string(text);
  std::string out;
  size_t start = 0;
  while (true) {
    size_t pos = text.find(from, start);
    if (pos == std::string_view::npos) break;
    out.append(text.substr(start, pos - start));
    out.append(to);
    start = pos + from.size();
  }
  out.append(text.substr(start));
  return out;
}

std::optional<int64_t> parse_int(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::string format_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000.0 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", v, kUnits[u]);
}

std::string format_bytes_binary(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", v, kUnits[u]);
}

std::string format_count(uint64_t count) {
  double v = static_cast<double>(count);
  if (v >= 1e9) return fmt::format("{:.2f} B", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f} M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.2f} K", v / 1e3);
  return fmt::format("{}", count);
}

namespace {

// Length of the UTF-8 sequence starting at `lead`, 0 if `lead` cannot start one.
int utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

}  // namespace

namespace {

// At s[i]: the length of the valid UTF-8 character there (> 0), or minus the length of the maximal
// ill-formed subpart (Unicode §3.9 "U+FFFD substitution of maximal subparts", as WHATWG decoders
// do): the bytes one replacement character stands for.
int utf8_step(const unsigned char* s, size_t n, size_t i) {
  int len = utf8_sequence_length(s[i]);
  if (len == 0) return -1;
  if (len == 1) return 1;
  // The range of the second byte depends on the lead (no overlongs, surrogates, > U+10FFFF).
  unsigned char lo = 0x80, hi = 0xBF;
  if (s[i] == 0xE0) lo = 0xA0;
  if (s[i] == 0xED) hi = 0x9F;
  if (s[i] == 0xF0) lo = 0x90;
  if (s[i] == 0xF4) hi = 0x8F;
  for (int k = 1; k < len; ++k) {
    if (i + k >= n) return -k;
    unsigned char c = s[i + k];
    bool ok = k == 1 ? (c >= lo && c <= hi) : (c & 0xC0) == 0x80;
    if (!ok) return -k;
  }
  return len;
}

}  // namespace

int utf8_char_at(std::string_view text, size_t i) {
  return utf8_step(reinterpret_cast<const unsigned char*>(text.data()), text.size(), i);
}

bool is_valid_utf8(std::string_view text) { return utf8_valid_prefix(text) == text.size(); }

size_t utf8_valid_prefix(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  while (i < n) {
    if (s[i] < 0x80) {  // ASCII runs are the common case
      ++i;
      continue;
    }
    int step = utf8_step(s, n, i);
    if (step < 0) return i;
    i += static_cast<size_t>(step);
  }
  return n;
}

std::string utf8_replace_invalid(std::string_view text) {
  size_t valid = utf8_valid_prefix(text);
  if (valid == text.size()) return std::string(text);
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::string out(text.substr(0, valid));
  out.reserve(text.size() + 8);
  for (size_t i = valid, n = text.size(); i < n;) {
    int step = utf8_step(s, n, i);
    if (step > 0) {
      out.append(text.substr(i, static_cast<size_t>(step)));
      i += static_cast<size_t>(step);
    } else {
      out += kReplacementCharacter;
      i += static_cast<size_t>(-step);
    }
  }
  return out;
}

size_t utf8_complete_prefix(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  // Walk back over at most 3 continuation bytes to the last lead byte.
  size_t back = 0;
  while (back < 4 && back < n && (s[n - 1 - back] & 0xC0) == 0x80) ++back;
  if (back == n) return n;  // only continuation bytes: invalid anyway, do not hold them back
  size_t lead_pos = n - 1 - back;
  int len = utf8_sequence_length(s[lead_pos]);
  if (len == 0) return n;               // invalid lead: nothing to wait for
  if (static_cast<size_t>(len) > back + 1) return lead_pos;  // incomplete: hold it back
  return n;
}

}  // namespace chimera
