#include "agent/dates.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <optional>

#include "agent/cell_value.h"

namespace chimera::agent {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Reads exactly `min`..`max` digits at `i`; the next character must not be a digit.
std::optional<int> read_number(std::string_view t, size_t& i, size_t min, size_t max) {
  size_t start = i, n = 0;
  int value = 0;
  while (i < t.size() && is_digit(t[i]) && n < max) {
    value = value * 10 + (t[i] - '0');
    ++i;
    ++n;
  }
  if (n < min || (i < t.size() && is_digit(t[i]))) {
    i = start;
    return std::nullopt;
  }
  return value;
}

// Month name or abbreviation (with optional '.') at `i`, as a word.
std::optional<int> read_month(std::string_view t, size_t& i) {
  static constexpr std::array<std::string_view, 12> kNames = {
      "january", "february", "march",     "april",   "may",      "june",
      "july",    "august",   "september", "october", "november", "december"};
  size_t end = i;
  while (end < t.size() && is_alpha(t[end])) ++end;
  std::string word;
  for (size_t k = i; k < end; ++k)
    word += static_cast<char>(std::tolower(static_cast<unsigned char>(t[k])));
  if (word.size() < 3) return std::nullopt;
  for (size_t m = 0; m < kNames.size(); ++m) {
    bool full = word == kNames[m];
    bool abbreviation = word.size() <= 4 && kNames[m].substr(0, word.size()) == word &&
                        (word.size() == 3 || word == "sept");
    if (full || abbreviation) {
      i = end;
      if (!full && i < t.size() && t[i] == '.') ++i;
      return static_cast<int>(m) + 1;
    }
  }
  return std::nullopt;
}

void skip(std::string_view t, size_t& i, std::string_view chars) {
  while (i < t.size() && chars.find(t[i]) != std::string_view::npos) ++i;
}

// "26th" -> 26; consumes an ordinal suffix.
std::optional<int> read_day(std::string_view t, size_t& i) {
  size_t start = i;
  auto day = read_number(t, i, 1, 2);
  if (!day) return std::nullopt;
  for (std::string_view suffix : {"st", "nd", "rd", "th"}) {
    if (t.substr(i, 2) == suffix) {
      i += 2;
      break;
    }
  }
  if (i < t.size() && is_alpha(t[i])) {
    i = start;
    return std::nullopt;
  }
  return day;
}

bool year_ok(int y) { return y >= 1900 && y <= 2100; }

std::string iso(int y, int m, int d) { return fmt::format("{:04d}-{:02d}-{:02d}", y, m, d); }

std::optional<DateMention> numeric_date(std::string_view t, size_t start) {
  size_t i = start;
  // YYYY-MM-DD or YYYY/MM/DD
  if (auto y = read_number(t, i, 4, 4)) {
    if (i < t.size() && (t[i] == '-' || t[i] == '/')) {
      char sep = t[i++];
      auto m = read_number(t, i, 1, 2);
      if (m && i < t.size() && t[i] == sep) {
        ++i;
        auto d = read_number(t, i, 1, 2);
        if (d && year_ok(*y) && is_valid_date(*y, *m, *d))
          return DateMention{iso(*y, *m, *d), start, i};
      }
    }
    return std::nullopt;
  }
  // MM/DD/YYYY (US) or DD/MM/YYYY, DD.MM.YYYY: read as US unless the first part exceeds 12.
  i = start;
  auto a = read_number(t, i, 1, 2);
  if (!a || i >= t.size() || (t[i] != '/' && t[i] != '.')) return std::nullopt;
  char sep = t[i++];
  auto b = read_number(t, i, 1, 2);
  if (!b || i >= t.size() || t[i] != sep) return std::nullopt;
  ++i;
  auto y = read_number(t, i, 4, 4);
  if (!y || !year_ok(*y)) return std::nullopt;
  int month = *a, day = *b;
  if (sep == '.' || *a > 12) std::swap(month, day);
  if (!is_valid_date(*y, month, day)) return std::nullopt;
  return DateMention{iso(*y, month, day), start, i};
}

std::optional<DateMention> day_month_year(std::string_view t, size_t start) {
  size_t i = start;
  auto d = read_day(t, i);
  if (!d) return std::nullopt;
  skip(t, i, " ");
  if (t.substr(i, 3) == "of ") i += 3;
  auto m = read_month(t, i);
  if (!m) return std::nullopt;
  skip(t, i, " ,");
  auto y = read_number(t, i, 4, 4);
  if (!y || !year_ok(*y) || !is_valid_date(*y, *m, *d)) return std::nullopt;
  return DateMention{iso(*y, *m, *d), start, i};
}

std::optional<DateMention> month_first(std::string_view t, size_t start) {
  size_t i = start;
  auto m = read_month(t, i);
  if (!m) return std::nullopt;
  size_t after_month = i;
  skip(t, i, " ");
  if (auto d = read_day(t, i)) {
    skip(t, i, " ,");
    if (auto y = read_number(t, i, 4, 4); y && year_ok(*y) && is_valid_date(*y, *m, *d)) {
      return DateMention{iso(*y, *m, *d), start, i};
    }
  }
  i = after_month;
  skip(t, i, " ,");
  if (auto y = read_number(t, i, 4, 4); y && year_ok(*y)) {
    return DateMention{fmt::format("{:04d}-{:02d}", *y, *m), start, i, true};
  }
  return std::nullopt;
}

}  // namespace

std::vector<DateMention> find_dates(std::string_view text) {
  std::vector<DateMention> out;
  for (size_t i = 0; i < text.size();) {
    bool word_start = i == 0 || !is_alnum(text[i - 1]);
    std::optional<DateMention> found;
    if (word_start && is_digit(text[i])) {
      found = numeric_date(text, i);
      if (!found) found = day_month_year(text, i);
    } else if (word_start && is_alpha(text[i])) {
      found = month_first(text, i);
    }
    if (found && (found->end >= text.size() || !is_alnum(text[found->end]) ||
                  text[found->end] == 'T')) {  // "2025-10-10T12:00" is a timestamp
      i = found->end;
      out.push_back(std::move(*found));
      continue;
    }
    ++i;
  }
  return out;
}

}  // namespace chimera::agent
