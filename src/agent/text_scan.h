// Scanning LLM text for the things the validator checks: numbers with their units as written,
// fact citations ("[D12]", "[S3, M1]"), and dates. Pure text work, no facts involved.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/units.h"

namespace chimera::agent {

struct NumberMention {
  std::string text;           // as written, unit included: "1,606 ms", "98.9 tok/s", "4.2%"
  size_t begin = 0, end = 0;  // byte span
  double value = 0;           // sign included
  int decimals = 0;           // digits after the decimal point as written
  std::optional<Unit> unit;
  bool approximate = false;  // "~100", "about 100", "roughly 100"
  bool year_like = false;    // a bare integer 1900-2100 with no unit: checked as a date
  size_t line = 0;           // 0-based line index: citations on the same line may explain it
};

struct Citation {
  std::string id;  // "D12"
  size_t begin = 0;
  size_t line = 0;
};

struct TextScan {
  std::vector<NumberMention> numbers;
  std::vector<Citation> citations;
};

// Finds the numbers a reader would take as claims. Not numbers: parts of identifiers ("gemma3",
// "Q4_K_M", "p95", "llama3.1:8b", "TR108"), version strings ("0.12.3"), list and heading numbering
// ("1. Executive Summary"), references ("Section 4.3", "Rank 1", "Table 1"), ordinals ("3rd"),
// clock times ("14:02"), fact ids, and anything inside a date (dates are found separately).
TextScan scan_text(std::string_view text);

}  // namespace chimera::agent
