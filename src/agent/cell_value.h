// Reading values out of messy benchmark cells: "98.94", "1,606", "98,94" (decimal comma), "1.6 s",
// "12.5%", "N/A", "true", "2025-10-10". Used by every ingester so a number means the same wherever
// it was found.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/units.h"

namespace chimera::agent {

struct CellNumber {
  double value = 0;
  int decimals = 0;          // digits after the decimal separator as written: "98.90" -> 2
  std::optional<Unit> unit;  // a unit written after the number, when there was one
};

// A number, optionally signed, with optional thousands grouping ("1,606" when `decimal_comma` is
// false), an optional exponent and an optional unit after it. nullopt for anything else, including
// identifiers such as "gemma3" or "Q4_K_M".
std::optional<CellNumber> parse_cell_number(std::string_view text, bool decimal_comma = false);

// "", "NA", "N/A", "null", "none", "nan", "-", "—": the value is absent (not zero, not text).
bool is_missing(std::string_view text);

// "true"/"false"/"yes"/"no" (any case).
std::optional<bool> parse_bool(std::string_view text);

// ISO dates (YYYY-MM-DD, also as the start of a timestamp) found anywhere in `text`, validated
// (month 1-12, day within the month), in order of appearance.
std::vector<std::string> find_iso_dates(std::string_view text);

// True when the month/day exist in that year (leap years included).
bool is_valid_date(int year, int month, int day);

}  // namespace chimera::agent
