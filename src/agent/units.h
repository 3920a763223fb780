// Units of the figures benchmark data and reports contain, and how they convert. Shared by
// ingestion (a column named ttft_ms holds milliseconds) and the grounding validator ("1.6 s" is
// 1606 ms).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace chimera::agent {

enum class Dimension {
  kNone,        // a plain number
  kTime,        // base unit: second
  kThroughput,  // base unit: token per second
  kBytes,       // base unit: byte
  kPercent,     // base unit: percent point
  kRatio,       // "1.5x"
  kCount,       // tokens, files, rows, layers, ... (the noun is kept in Unit::noun)
};

struct Unit {
  Dimension dimension = Dimension::kNone;
  double to_base = 1;  // value * to_base = value in the base unit
  std::string symbol;  // canonical printed symbol: "ms", "tok/s", "MB", "%", "x", "files"
  std::string noun;    // for counts: "token", "file", "row", "layer", "gpu", ...
  bool operator==(const Unit&) const = default;
};

// Parses a unit as written after a number or in a column name suffix: "ms", "s", "sec", "seconds",
// "tok/s", "tokens/s", "tokens per second", "t/s", "MB", "GiB", "%", "x", "tokens", "files",
// "GPUs". Case-insensitive where that is unambiguous ("MB" vs "Mb" is not distinguished: both
// bytes).
std::optional<Unit> parse_unit(std::string_view text);

// Longest unit at the start of `text` (after optional spaces); `consumed` gets its length in bytes.
std::optional<Unit> match_unit_prefix(std::string_view text, size_t& consumed);

// True when a value in `a` can be compared with a value in `b` (same dimension; counts also need
// the same noun, so "999 GPUs" never matches "999 layers").
bool comparable(const Unit& a, const Unit& b);

// `value` in unit `from` expressed in unit `to` (which must be comparable).
double convert(double value, const Unit& from, const Unit& to);

}  // namespace chimera::agent
