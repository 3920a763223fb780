#include "agent/text_scan.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "agent/dates.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_fact_prefix(char c) {
  return c == 'D' || c == 'S' || c == 'I' || c == 'M' || c == 'E' || c == 'C';
}

// A byte that glues a number to an identifier before it: "gemma3", "q4_0", "v1", "3.1.2",
// "tag:270m".
bool glues_before(char c) {
  return is_alnum(c) || c == '_' || c == '.' || c == ':' || c == '/' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// "[D12]", "[D12, S3]", "(M1; M2)", "[D1 and D2]": every id in the group, and the group's end.
size_t read_citation_group(std::string_view t, size_t open, std::vector<std::string>& ids) {
  char close = t[open] == '[' ? ']' : ')';
  size_t i = open + 1;
  std::vector<std::string> found;
  while (i < t.size()) {
    while (i < t.size() && (t[i] == ' ' || t[i] == ',' || t[i] == ';')) ++i;
    if (t.substr(i, 4) == "and ") {
      i += 4;
      continue;
    }
    if (i < t.size() && t[i] == close) break;
    if (i + 1 >= t.size() || !is_fact_prefix(t[i]) || !is_digit(t[i + 1])) return 0;
    size_t j = i + 1;
    while (j < t.size() && is_digit(t[j])) ++j;
    if (j < t.size() && is_alpha(t[j])) return 0;
    found.emplace_back(t.substr(i, j - i));
    i = j;
  }
  if (i >= t.size() || found.empty()) return 0;
  ids = std::move(found);
  return i + 1;
}

std::string lower_word_before(std::string_view t, size_t pos) {
  size_t e = pos;
  while (e > 0 && (t[e - 1] == ' ' || t[e - 1] == '*' || t[e - 1] == '#' || t[e - 1] == '_')) --e;
  size_t b = e;
  while (b > 0 && (is_alpha(t[b - 1]) || t[b - 1] == '\xA7')) --b;
  return to_lower(t.substr(b, e - b));
}

bool is_reference_word(const std::string& w) {
  static constexpr std::array<std::string_view, 26> kWords = {
      "section",        "sections", "table",    "figure",  "fig",     "appendix", "step",
      "rank",           "ranked",   "phase",    "chapter", "tr",      "report",   "item",
      "recommendation", "finding",  "priority", "level",   "version", "v",        "rev",
      "page",           "line",     "column",   "record",  "\xA7"};
  return std::find(kWords.begin(), kWords.end(), w) != kWords.end();
}

bool is_approximate(std::string_view t, size_t pos) {
  size_t e = pos;
  while (e > 0 && t[e - 1] == ' ') --e;
  if (e > 0 && t[e - 1] == '~') return true;
  if (e >= 3 && t.substr(e - 3, 3) == "\xE2\x89\x88") return true;  // ≈
  std::string w = lower_word_before(t, pos);
  static constexpr std::array<std::string_view, 9> kWords = {
      "about", "approximately", "around", "roughly", "nearly", "almost", "circa", "approx", "some"};
  return std::find(kWords.begin(), kWords.end(), w) != kWords.end();
}

// Numbering at the start of a line, after markup: "1. ", "**2. Chimera", "3) ".
bool is_list_number(std::string_view t, size_t begin, size_t end) {
  size_t b = begin;
  while (b > 0 && (t[b - 1] == ' ' || t[b - 1] == '*' || t[b - 1] == '#' || t[b - 1] == '_' ||
                   t[b - 1] == '>' || t[b - 1] == '\t')) {
    --b;
  }
  if (b > 0 && t[b - 1] != '\n') return false;
  if (end >= t.size() || (t[end] != '.' && t[end] != ')')) return false;
  return end + 1 >= t.size() || t[end + 1] == ' ' || t[end + 1] == '*' || t[end + 1] == '\n';
}

}  // namespace

TextScan scan_text(std::string_view t) {
  TextScan scan;
  std::vector<size_t> line_starts = {0};
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '\n') line_starts.push_back(i + 1);
  }
  auto line_of = [&](size_t pos) {
    return static_cast<size_t>(std::upper_bound(line_starts.begin(), line_starts.end(), pos) -
                               line_starts.begin() - 1);
  };
  std::vector<std::pair<size_t, size_t>> masked;  // dates and citation groups
  for (const auto& d : find_dates(t)) masked.emplace_back(d.begin, d.end);
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] != '[' && t[i] != '(') continue;
    std::vector<std::string> ids;
    size_t end = read_citation_group(t, i, ids);
    if (end == 0) continue;
    for (auto& id : ids) scan.citations.push_back({std::move(id), i, line_of(i)});
    masked.emplace_back(i, end);
    i = end - 1;
  }
  std::sort(masked.begin(), masked.end());
  auto masked_at = [&](size_t pos) {
    auto it = std::upper_bound(masked.begin(), masked.end(), std::pair{pos, SIZE_MAX});
    return it != masked.begin() && pos < std::prev(it)->second;
  };

  for (size_t i = 0; i < t.size();) {
    bool sign_minus = false;
    size_t start = i;
    if ((t[i] == '-' || t[i] == '+') && i + 1 < t.size() && is_digit(t[i + 1]) &&
        (i == 0 || t[i - 1] == ' ' || t[i - 1] == '(' || t[i - 1] == '\n' || t[i - 1] == '|')) {
      sign_minus = t[i] == '-';
      ++i;
    } else if (t.substr(i, 3) == "\xE2\x88\x92" && i + 3 < t.size() && is_digit(t[i + 3])) {
      sign_minus = true;
      i += 3;
    }
    bool glued = start == i && i > 0 && glues_before(t[i - 1]);
    if (!is_digit(t[i]) || glued || masked_at(i)) {
      if (is_digit(t[i])) {
        // The rest of an identifier ("gemma3", "llama3.1") or a date is not a number either.
        while (i < t.size() && (is_alnum(t[i]) || t[i] == '_' || t[i] == '.')) ++i;
      } else {
        i = start + 1;
      }
      continue;
    }
    // Digits, with "1,606"-style grouping only when exactly three digits follow each comma.
    std::string digits;
    size_t j = i;
    bool grouped = false;
    while (j < t.size()) {
      if (is_digit(t[j])) {
        digits += t[j++];
      } else if (t[j] == ',' && j + 3 < t.size() && is_digit(t[j + 1]) && is_digit(t[j + 2]) &&
                 is_digit(t[j + 3]) && (j + 4 >= t.size() || !is_digit(t[j + 4]))) {
        grouped = true;
        ++j;
      } else {
        break;
      }
    }
    int decimals = 0;
    if (j + 1 < t.size() && t[j] == '.' && is_digit(t[j + 1])) {
      digits += '.';
      ++j;
      while (j < t.size() && is_digit(t[j])) {
        digits += t[j++];
        ++decimals;
      }
    }
    // Versions ("0.12.3") and clock times ("14:02") are not quantities.
    if (j + 1 < t.size() && (t[j] == '.' || t[j] == ':') && is_digit(t[j + 1])) {
      while (j < t.size() && (is_digit(t[j]) || t[j] == '.' || t[j] == ':')) ++j;
      i = j;
      continue;
    }
    NumberMention m;
    m.begin = start;
    m.decimals = decimals;
    std::from_chars(digits.data(), digits.data() + digits.size(), m.value);
    if (sign_minus) m.value = -m.value;
    size_t end = j;
    if (j < t.size() &&
        (is_alpha(t[j]) || t[j] == '%' || static_cast<unsigned char>(t[j]) >= 0x80)) {
      size_t consumed = 0;
      auto unit = match_unit_prefix(t.substr(j), consumed);
      if (!unit) {  // "4B", "8b", "270m", "3rd": part of a name or an ordinal
        while (j < t.size() && (is_alnum(t[j]) || t[j] == '_')) ++j;
        i = j;
        continue;
      }
      m.unit = unit;
      end = j + consumed;
    } else {
      size_t consumed = 0;
      if (auto unit = match_unit_prefix(t.substr(j), consumed)) {
        m.unit = unit;
        end = j + consumed;
      }
    }
    i = std::max(end, j);
    if (is_list_number(t, start, j) || is_reference_word(lower_word_before(t, start))) continue;
    m.end = end;
    m.text = std::string(t.substr(start, end - start));
    m.approximate = is_approximate(t, start);
    // "num_ctx=2048" assigns an option value: a quantity, never a year.
    bool assigned = start > 0 && t[start - 1] == '=';
    m.year_like = !m.unit && decimals == 0 && !grouped && !sign_minus && !assigned &&
                  m.value >= 1900 && m.value <= 2100 && digits.size() == 4;
    m.line = line_of(start);
    scan.numbers.push_back(std::move(m));
  }
  return scan;
}

}  // namespace chimera::agent
