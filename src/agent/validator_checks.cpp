// The validator's text-shape checks: stray foreign-script tokens (prior-system.md #4: 7 of 18
// reports had Devanagari/Hangul/Thai fragments), repetition loops, and template placeholders.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

#include "agent/validator.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

struct ScriptRange {
  uint32_t first, last;
  std::string_view name;
};

// Scripts whose letters do not belong in an English (Latin-script) report.
constexpr std::array<ScriptRange, 30> kScripts = {{
    {0x0370, 0x03FF, "Greek"},         {0x0400, 0x052F, "Cyrillic"}, {0x0530, 0x058F, "Armenian"},
    {0x0590, 0x05FF, "Hebrew"},        {0x0600, 0x06FF, "Arabic"},   {0x0750, 0x077F, "Arabic"},
    {0x0900, 0x097F, "Devanagari"},    {0x0980, 0x09FF, "Bengali"},  {0x0A00, 0x0A7F, "Gurmukhi"},
    {0x0A80, 0x0AFF, "Gujarati"},      {0x0B00, 0x0B7F, "Oriya"},    {0x0B80, 0x0BFF, "Tamil"},
    {0x0C00, 0x0C7F, "Telugu"},        {0x0C80, 0x0CFF, "Kannada"},  {0x0D00, 0x0D7F, "Malayalam"},
    {0x0D80, 0x0DFF, "Sinhala"},       {0x0E00, 0x0E7F, "Thai"},     {0x0E80, 0x0EFF, "Lao"},
    {0x0F00, 0x0FFF, "Tibetan"},       {0x1000, 0x109F, "Myanmar"},  {0x10A0, 0x10FF, "Georgian"},
    {0x1100, 0x11FF, "Hangul"},        {0x1200, 0x137F, "Ethiopic"}, {0x1780, 0x17FF, "Khmer"},
    {0x3040, 0x30FF, "Japanese kana"}, {0x3130, 0x318F, "Hangul"},   {0x3400, 0x4DBF, "CJK"},
    {0x4E00, 0x9FFF, "CJK"},           {0xAC00, 0xD7AF, "Hangul"},   {0xF900, 0xFAFF, "CJK"},
}};

std::string_view script_of(uint32_t cp) {
  for (const auto& r : kScripts) {
    if (cp >= r.first && cp <= r.last) return r.name;
  }
  return {};
}

// Decodes the code point at `i` (advancing it); invalid bytes decode as U+FFFD.
uint32_t decode(std::string_view s, size_t& i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    ++i;
    return 0xFFFD;
  }
  uint32_t cp = n == 1 ? c : c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (b(i + k) & 0x3F);
  i += n;
  return cp;
}

bool is_ascii_letter(uint32_t cp) { return cp < 0x80 && std::isalpha(static_cast<int>(cp)); }

struct Word {
  std::string text;
  size_t begin;
};

std::vector<Word> words_of(std::string_view text) {
  std::vector<Word> words;
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (std::isalnum(c) || c >= 0x80) {
      size_t b = i;
      std::string w;
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) ||
                                 static_cast<unsigned char>(text[i]) >= 0x80)) {
        w += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
        ++i;
      }
      words.push_back({std::move(w), b});
    } else {
      ++i;
    }
  }
  return words;
}

std::string clip(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

bool is_placeholder_word(const std::string& w) {
  static constexpr std::array<std::string_view, 24> kWords = {
      "name",   "date",       "company", "client",       "insert",       "your",
      "author", "title",      "project", "organization", "organisation", "placeholder",
      "tbd",    "link",       "url",     "address",      "email",        "phone",
      "team",   "department", "here",    "xx",           "xxx",          "signature"};
  return std::find(kWords.begin(), kWords.end(), w) != kWords.end();
}

}  // namespace

std::vector<Finding> find_foreign_script(std::string_view text) {
  struct Run {
    size_t begin, end;
    std::string_view script;
    size_t letters;
  };
  std::vector<Run> runs;
  size_t latin = 0, foreign = 0;
  for (size_t i = 0; i < text.size();) {
    size_t at = i;
    uint32_t cp = decode(text, i);
    if (is_ascii_letter(cp) || (cp >= 0xC0 && cp <= 0x024F)) {
      ++latin;
      continue;
    }
    std::string_view script = script_of(cp);
    if (script.empty()) continue;
    ++foreign;
    // Join with the previous run across at most a space or punctuation mark of the same script.
    if (!runs.empty() && runs.back().script == script && at - runs.back().end <= 2) {
      runs.back().end = i;
      ++runs.back().letters;
    } else {
      runs.push_back({at, i, script, 1});
    }
  }
  std::vector<Finding> findings;
  if (foreign > latin && foreign > 20) {
    findings.push_back({FindingKind::kForeignScript, 0, clip(text, 80),
                        fmt::format("the text is mostly not in the report's script ({} foreign "
                                    "letters, {} Latin): the model changed language",
                                    foreign, latin)});
    return findings;
  }
  for (const auto& r : runs) {
    // A lone Greek letter is notation (sigma, mu, delta), not a stray token.
    if (r.script == "Greek" && r.letters < 2) continue;
    findings.push_back({FindingKind::kForeignScript, r.begin,
                        clip(text.substr(r.begin, r.end - r.begin), 60),
                        fmt::format("{} text in an English report", r.script)});
  }
  return findings;
}

std::vector<Finding> find_repetition(std::string_view text) {
  std::vector<Finding> findings;
  std::vector<Word> words = words_of(text);
  const size_t n = words.size();
  size_t covered_until = 0;  // word index: loops are reported once
  for (size_t i = 0; i < n; ++i) {
    if (i < covered_until) continue;
    for (size_t p = 1; p <= 30 && i + p < n; ++p) {
      size_t run = 0;
      while (i + p + run < n && words[i + run].text == words[i + p + run].text) ++run;
      size_t copies = run / p + 1;
      bool loop = (p <= 2 && copies >= 6) || (p > 2 && copies >= 3 && p * copies >= 12);
      if (!loop) continue;
      size_t end_word = i + p * copies - 1;
      size_t end = words[end_word].begin + words[end_word].text.size();
      std::string block;
      for (size_t k = 0; k < p; ++k) block += (k ? " " : "") + words[i + k].text;
      findings.push_back(
          {FindingKind::kRepetition, words[i].begin,
           clip(text.substr(words[i].begin, end - words[i].begin), 80),
           fmt::format("\"{}\" repeats {} times in a row", clip(block, 60), copies)});
      covered_until = i + p * copies;
      break;
    }
  }
  // A piece of text repeated with no space between the copies ("iarismiarismiarism...",
  // "UnitTestUnitTest..."): a loop inside one run of characters, which the word scan cannot see.
  for (size_t i = 0; i < text.size();) {
    bool covered = std::any_of(findings.begin(), findings.end(), [&](const Finding& f) {
      return f.offset <= i && i < f.offset + f.excerpt.size();
    });
    size_t best_end = i, best_p = 0;
    for (size_t p = 1; !covered && p <= 40 && i + p < text.size(); ++p) {
      size_t j = i;
      while (j + p < text.size() && text[j] == text[j + p] &&
             !std::isspace(static_cast<unsigned char>(text[j]))) {
        ++j;
      }
      size_t copies = (j - i) / p + 1;
      // Six copies at least, and 30 characters: "0.000" or "----" in a table are not loops.
      bool letters = std::any_of(text.begin() + static_cast<std::ptrdiff_t>(i),
                                 text.begin() + static_cast<std::ptrdiff_t>(i + p), [](char c) {
                                   return std::isalpha(static_cast<unsigned char>(c));
                                 });
      if (letters && copies >= 6 && p * copies >= 30 && j + p > best_end) {
        best_end = j + p;
        best_p = p;
      }
    }
    if (best_p == 0) {
      ++i;
      continue;
    }
    findings.push_back({FindingKind::kRepetition, i, clip(text.substr(i, best_end - i), 80),
                        fmt::format("\"{}\" repeats {} times with no space between",
                                    clip(text.substr(i, best_p), 40), (best_end - i) / best_p)});
    i = best_end;
  }
  // The same substantial line three times or more (loops that vary the words in between).
  std::map<std::string, std::pair<size_t, size_t>> lines;  // line -> (count, first offset)
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line = trim(
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    size_t letters = static_cast<size_t>(std::count_if(line.begin(), line.end(), [](char c) {
      return std::isalpha(static_cast<unsigned char>(c));
    }));
    if (line.size() >= 24 && letters >= 12) {
      auto& entry = lines[std::string(line)];
      if (entry.first++ == 0) entry.second = start;
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  for (const auto& [line, entry] : lines) {
    if (entry.first < 3) continue;
    // (plain copies: clang before 16 cannot capture structured bindings)
    const size_t first_at = entry.second, length = line.size();
    bool already = std::any_of(findings.begin(), findings.end(), [&](const Finding& f) {
      return f.offset <= first_at + length && first_at <= f.offset + f.excerpt.size();
    });
    if (already) continue;
    findings.push_back({FindingKind::kRepetition, entry.second, clip(line, 80),
                        fmt::format("the same line appears {} times", entry.first)});
  }
  return findings;
}

std::vector<Finding> find_placeholders(std::string_view text) {
  std::vector<Finding> findings;
  auto add = [&](size_t begin, size_t end, std::string why) {
    findings.push_back({FindingKind::kPlaceholder, begin, clip(text.substr(begin, end - begin), 60),
                        std::move(why)});
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char open = text[i];
    if (open != '[' && open != '<' && !(open == '{' && i + 1 < text.size() && text[i + 1] == '{'))
      continue;
    std::string_view close = open == '[' ? "]" : open == '<' ? ">" : "}}";
    size_t end = text.find(close, i + 1);
    if (end == std::string_view::npos || end - i > 50) continue;
    std::string_view inner =
        trim(text.substr(i + (open == '{' ? 2 : 1), end - i - (open == '{' ? 2 : 1)));
    if (inner.find('\n') != std::string_view::npos || inner.size() < 2) continue;
    size_t after = end + close.size();
    if (open == '[' && after < text.size() && text[after] == '(') continue;  // a Markdown link
    if (open == '{') {
      add(i, after, "a template variable was left in the text");
      continue;
    }
    std::vector<Word> words = words_of(inner);
    if (words.empty()) continue;
    bool has_letters = std::any_of(inner.begin(), inner.end(), [](char c) {
      return std::isalpha(static_cast<unsigned char>(c));
    });
    bool keyword = std::any_of(words.begin(), words.end(),
                               [](const Word& w) { return is_placeholder_word(w.text); });
    bool all_caps_words =
        words.size() >= 2 && std::all_of(words.begin(), words.end(), [&](const Word& w) {
          return std::isupper(static_cast<unsigned char>(inner[w.begin]));
        });
    if (open == '<') {
      // "<insert date>", "<your name>"; HTML-looking tags are not placeholders.
      if (has_letters && keyword && inner.find(' ') != std::string_view::npos) {
        add(i, after, "a template placeholder was left in the text");
      }
      continue;
    }
    // "[D12, S3]" is a fact citation.
    bool citation_like = std::all_of(words.begin(), words.end(), [](const Word& w) {
      return w.text.size() >= 2 &&
             std::string_view("dsimec").find(w.text[0]) != std::string_view::npos &&
             std::all_of(w.text.begin() + 1, w.text.end(),
                         [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    });
    if (has_letters && !citation_like && (keyword || all_caps_words)) {
      add(i, after, "a template placeholder was left in the text");
    }
  }
  std::vector<Word> words = words_of(text);
  for (const auto& w : words) {
    std::string_view raw = text.substr(w.begin, w.text.size());
    if (raw == "TBD" || raw == "TODO" || raw == "XXX" || raw == "XX" ||
        (w.text == "lorem" && to_lower(text.substr(w.begin, 11)) == "lorem ipsum")) {
      add(w.begin, w.begin + w.text.size(), "filler text instead of content");
    }
  }
  return findings;
}

}  // namespace chimera::agent
