// Finding dates in free text, as people and LLMs write them: "2025-10-10", "2025/10/10",
// "October 26, 2023", "Oct 26th 2023", "26 October 2023", "10/26/2023", "October 2023".
// Ingestion records the dates a data folder contains; the validator flags dates in a report that
// are neither today nor in the data (prior-system.md #4: "October 26, 2023" in 35 of 36 reports).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chimera::agent {

struct DateMention {
  std::string iso;   // "2023-10-26", or "2023-10" when only the month was named
  size_t begin = 0;  // byte span in the text
  size_t end = 0;
  bool month_only = false;
};

std::vector<DateMention> find_dates(std::string_view text);

}  // namespace chimera::agent
