#include "agent/units.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <vector>

namespace chimera::agent {
namespace {

struct Spelling {
  std::string_view text;
  Unit unit;
};

Unit time_unit(double to_s, std::string symbol) {
  return {Dimension::kTime, to_s, std::move(symbol), {}};
}
Unit bytes_unit(double to_b, std::string symbol) {
  return {Dimension::kBytes, to_b, std::move(symbol), {}};
}
Unit count_unit(std::string noun) { return {Dimension::kCount, 1, noun + "s", noun}; }

std::vector<Spelling> build_spellings() {
  const Unit tps{Dimension::kThroughput, 1, "tok/s", {}};
  std::vector<Spelling> s = {
      {"ns", time_unit(1e-9, "ns")},
      {"nanosecond", time_unit(1e-9, "ns")},
      {"nanoseconds", time_unit(1e-9, "ns")},
      {"us", time_unit(1e-6, "us")},
      {"\xC2\xB5s", time_unit(1e-6, "us")},  // micro sign
      {"\xCE\xBCs", time_unit(1e-6, "us")},  // Greek mu
      {"microsecond", time_unit(1e-6, "us")},
      {"microseconds", time_unit(1e-6, "us")},
      {"ms", time_unit(1e-3, "ms")},
      {"msec", time_unit(1e-3, "ms")},
      {"millisecond", time_unit(1e-3, "ms")},
      {"milliseconds", time_unit(1e-3, "ms")},
      {"s", time_unit(1, "s")},
      {"sec", time_unit(1, "s")},
      {"secs", time_unit(1, "s")},
      {"second", time_unit(1, "s")},
      {"seconds", time_unit(1, "s")},
      {"min", time_unit(60, "min")},
      {"mins", time_unit(60, "min")},
      {"minute", time_unit(60, "min")},
      {"minutes", time_unit(60, "min")},
      {"tok/s", tps},
      {"tokens/s", tps},
      {"token/s", tps},
      {"tok/sec", tps},
      {"tokens/sec", tps},
      {"tokens/second", tps},
      {"tokens per second", tps},
      {"tokens per sec", tps},
      {"tokens a second", tps},
      {"t/s", tps},
      {"tps", tps},
      {"bytes", bytes_unit(1, "B")},
      {"kb", bytes_unit(1e3, "KB")},
      {"mb", bytes_unit(1e6, "MB")},
      {"gb", bytes_unit(1e9, "GB")},
      {"tb", bytes_unit(1e12, "TB")},
      {"kib", bytes_unit(1024.0, "KiB")},
      {"mib", bytes_unit(1024.0 * 1024, "MiB")},
      {"gib", bytes_unit(1024.0 * 1024 * 1024, "GiB")},
      {"%", {Dimension::kPercent, 1, "%", {}}},
      {"percent", {Dimension::kPercent, 1, "%", {}}},
      {"per cent", {Dimension::kPercent, 1, "%", {}}},
      {"pct", {Dimension::kPercent, 1, "%", {}}},
      {"x", {Dimension::kRatio, 1, "x", {}}},
      {"\xC3\x97", {Dimension::kRatio, 1, "x", {}}},  // ×
      {"times", {Dimension::kRatio, 1, "x", {}}},
  };
  // Counted things. "GPU layers" is a layer count (num_gpu), not a number of GPUs.
  for (std::string_view noun :
       {"token",      "file",         "row",      "column", "run",           "call",    "request",
        "failure",    "error",        "model",    "record", "table",         "layer",   "thread",
        "core",       "iteration",    "sample",   "prompt", "configuration", "config",  "agent",
        "repetition", "word",         "gpu",      "arm",    "sweep",         "heading", "value",
        "metric",     "quantization", "parameter"}) {
    std::string n(noun);
    s.push_back({noun, count_unit(n)});
    static std::deque<std::string> plurals;  // keeps the plural spellings alive (stable addresses)
    plurals.push_back(n + "s");
    s.push_back({plurals.back(), count_unit(n)});
  }
  s.push_back({"gpu layers", count_unit("layer")});
  s.push_back({"gpu layer", count_unit("layer")});
  s.push_back({"failed rows", count_unit("failure")});
  s.push_back({"failed calls", count_unit("failure")});
  std::stable_sort(s.begin(), s.end(), [](const Spelling& a, const Spelling& b) {
    return a.text.size() > b.text.size();
  });
  return s;
}

const std::vector<Spelling>& spellings() {
  static const std::vector<Spelling> kSpellings = build_spellings();
  return kSpellings;
}

bool is_word_char(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

bool equal_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<Unit> match_unit_prefix(std::string_view text, size_t& consumed) {
  size_t start = 0;
  while (start < text.size() && (text[start] == ' ' || text[start] == '\t')) ++start;
  std::string_view rest = text.substr(start);
  for (const auto& spelling : spellings()) {
    if (rest.size() < spelling.text.size()) continue;
    if (!equal_ignore_case(rest.substr(0, spelling.text.size()), spelling.text)) continue;
    unsigned char last = static_cast<unsigned char>(spelling.text.back());
    // "5 seconds" but not "5 slower"; symbols such as % and / end a unit by themselves.
    if (is_word_char(last) && spelling.text.size() < rest.size() &&
        is_word_char(static_cast<unsigned char>(rest[spelling.text.size()]))) {
      continue;
    }
    consumed = start + spelling.text.size();
    return spelling.unit;
  }
  return std::nullopt;
}

std::optional<Unit> parse_unit(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  size_t consumed = 0;
  auto unit = match_unit_prefix(text, consumed);
  if (!unit || consumed != text.size()) return std::nullopt;
  return unit;
}

bool comparable(const Unit& a, const Unit& b) {
  if (a.dimension != b.dimension) return false;
  return a.dimension != Dimension::kCount || a.noun == b.noun;
}

double convert(double value, const Unit& from, const Unit& to) {
  return value * from.to_base / to.to_base;
}

}  // namespace chimera::agent
