#include "agent/cell_value.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "util/strings.h"

namespace chimera::agent {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Lowercases a short cell into `out` without allocating; false when it is too long to be a marker.
bool lower_short(std::string_view text, char (&out)[16], size_t& size) {
  text = trim(text);
  if (text.size() >= sizeof(out)) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
  }
  size = text.size();
  return true;
}

}  // namespace

bool is_missing(std::string_view text) {
  char buffer[16];
  size_t size = 0;
  if (!lower_short(text, buffer, size)) return false;
  std::string_view t(buffer, size);
  return t.empty() || t == "na" || t == "n/a" || t == "null" || t == "none" || t == "nan" ||
         t == "-" || t == "--" || t == "\xE2\x80\x94" /* — */ || t == "nil" || t == "missing";
}

std::optional<bool> parse_bool(std::string_view text) {
  char buffer[16];
  size_t size = 0;
  if (!lower_short(text, buffer, size)) return std::nullopt;
  std::string_view t(buffer, size);
  if (t == "true" || t == "yes") return true;
  if (t == "false" || t == "no") return false;
  return std::nullopt;
}

std::optional<CellNumber> parse_cell_number(std::string_view text, bool decimal_comma) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  bool negative = false;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    text.remove_prefix(1);
  } else if (starts_with(text, "\xE2\x88\x92")) {  // U+2212 minus sign
    negative = true;
    text.remove_prefix(3);
  }
  const char decimal_separator = decimal_comma ? ',' : '.';
  const char group_separator = decimal_comma ? '.' : ',';
  std::string digits;  // normalized for from_chars: [0-9]+(.[0-9]+)?(e[+-]?[0-9]+)?
  size_t i = 0;
  size_t group_len = 0;
  bool grouped = false;
  while (i < text.size() && (is_digit(text[i]) || text[i] == group_separator)) {
    if (text[i] == group_separator) {
      // Grouping must be 1-3 digits, then groups of exactly three: "1,606", never "1,6" or "16,06".
      if (digits.empty() || (grouped ? group_len != 3 : group_len > 3)) return std::nullopt;
      grouped = true;
      group_len = 0;
    } else {
      digits += text[i];
      ++group_len;
    }
    ++i;
  }
  if (grouped && group_len != 3) return std::nullopt;
  if (digits.empty() && !(i < text.size() && text[i] == decimal_separator)) return std::nullopt;
  int decimals = 0;
  if (i < text.size() && text[i] == decimal_separator && i + 1 < text.size() &&
      is_digit(text[i + 1])) {
    if (digits.empty()) digits.push_back('0');
    digits += '.';
    ++i;
    while (i < text.size() && is_digit(text[i])) {
      digits += text[i++];
      ++decimals;
    }
  }
  if (digits.empty()) return std::nullopt;
  if (i + 1 < text.size() && (text[i] == 'e' || text[i] == 'E') &&
      (is_digit(text[i + 1]) || ((text[i + 1] == '-' || text[i + 1] == '+') &&
                                 i + 2 < text.size() && is_digit(text[i + 2])))) {
    size_t j = i + 1;
    std::string exponent(1, 'e');
    if (text[j] == '-' || text[j] == '+') exponent += text[j++];
    while (j < text.size() && is_digit(text[j])) exponent += text[j++];
    // Only a whole-token exponent: "1e3" yes, "1e3x" no.
    if (j == text.size() || !std::isalpha(static_cast<unsigned char>(text[j]))) {
      digits += exponent;
      i = j;
    }
  }
  CellNumber out;
  out.decimals = decimals;
  const char* begin = digits.data();
  auto [ptr, ec] = std::from_chars(begin, begin + digits.size(), out.value);
  if (ec != std::errc() || ptr != begin + digits.size() || !std::isfinite(out.value)) {
    return std::nullopt;
  }
  if (negative) out.value = -out.value;
  std::string_view rest = text.substr(i);
  if (!trim(rest).empty()) {
    size_t consumed = 0;
    auto unit = match_unit_prefix(rest, consumed);
    if (!unit || !trim(rest.substr(consumed)).empty()) return std::nullopt;
    out.unit = unit;
  }
  return out;
}

bool is_valid_date(int year, int month, int day) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int days = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
  return day <= days;
}

std::vector<std::string> find_iso_dates(std::string_view text) {
  std::vector<std::string> dates;
  for (size_t i = 0; i + 10 <= text.size(); ++i) {
    if (i > 0 && (is_digit(text[i - 1]) || text[i - 1] == '-')) continue;
    std::string_view c = text.substr(i, 10);
    if (!(is_digit(c[0]) && is_digit(c[1]) && is_digit(c[2]) && is_digit(c[3]) && c[4] == '-' &&
          is_digit(c[5]) && is_digit(c[6]) && c[7] == '-' && is_digit(c[8]) && is_digit(c[9]))) {
      continue;
    }
    if (i + 10 < text.size() && is_digit(text[i + 10])) continue;
    int year = std::atoi(std::string(c.substr(0, 4)).c_str());
    int month = std::atoi(std::string(c.substr(5, 2)).c_str());
    int day = std::atoi(std::string(c.substr(8, 2)).c_str());
    if (year >= 1970 && year <= 2100 && is_valid_date(year, month, day)) {
      dates.emplace_back(c);
      i += 9;
    }
  }
  return dates;
}

}  // namespace chimera::agent
