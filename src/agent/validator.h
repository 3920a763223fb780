// The grounding validator: checks an LLM's report text against the facts table before the report is
// written. Every number (with its unit) and every date must be grounded; stray foreign-script text,
// repetition loops, template placeholders and a prompt cut by num_ctx are findings too.
//
// Rules (what "grounded" means, so a reader can check any verdict by hand):
// 1. A number matches a fact when the fact's value, converted to the number's unit, rounds to the
//    number as printed: "98.9 tok/s" matches 98.94 tok/s (1 decimal), "99 tok/s" matches it too,
//    "98.94" does not match a fact printed as 98.9 (more precision than the source has). Units
//    convert within a dimension: "1.6 s" and "1,606 ms" both match 1606 ms. A number without a unit
//    is compared with the fact in the fact's own unit; a unitless fact (top_k = 40) only matches a
//    number without a unit or with a count ("40 tokens"). Counts need the same noun: "999 GPUs"
//    never matches num_gpu = 999 (layers). Signs are ignored (direction is often said in words).
// 2. "~100", "about 100", "roughly 100": an approximate integer with trailing zeros may match at
// its
//    significant digits (98.94 rounds to 100 at one significant digit).
// 3. A percentage or ratio is grounded when a fact has that value with unit % (or x), or when it is
//    derived from two facts a, b of the same metric and unit as (a - b) / b * 100, (b - a) / b *
//    100 or a / b * 100 (for "x": a / b), rounded as printed, where a and b are either cited on the
//    same line or both measured/expected figures of this run. Any other derived figure is
//    ungrounded: the model must cite what it computed from.
// 4. A date (full or month-only) is grounded when it is today or occurs in the data; a bare year
//    (1900-2100) when it is the current year or the year of a date in the data.
// 5. Not checked: parts of names and identifiers, list numbering, "Section 4.3"-style references,
//    clock times, versions, and small counts (integers 0-10 without a unit).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/facts.h"
#include "agent/text_scan.h"

namespace chimera::agent {

enum class FindingKind {
  kUngroundedNumber,
  kUngroundedDate,
  kUnknownCitation,  // "[D999]": the fact does not exist
  kForeignScript,    // letters in another script than the report's (Latin)
  kRepetition,       // a block of words or a line repeated in a loop
  kPlaceholder,      // "[Client Name]", "<insert date>", "TBD"
  kPromptTruncated,  // the prompt did not fit num_ctx, so the model saw part of it
};
std::string_view finding_kind_name(FindingKind kind);

struct Finding {
  FindingKind kind;
  size_t offset = 0;    // byte offset in the text
  std::string excerpt;  // the offending text
  std::string detail;   // why, in a sentence
};

struct NumberCheck {
  NumberMention mention;
  bool checked = true;  // false for exempt numbers (small counts)
  bool grounded = false;
  std::string fact_ids;  // "D12", or "M3,M1" for a derived figure
  std::string rule;      // "D12 = 98.94 tok/s at 1 decimal", "(M3 - M1) / M1 * 100 = 4.21%"
};

// A model call whose prompt produced the text: a prompt that did not fit num_ctx is a finding.
struct CallCheck {
  std::string name;  // "analysis", "report"
  bool prompt_truncated = false;
  std::optional<int64_t> prompt_tokens;
  std::optional<int64_t> num_ctx;
};

struct ValidationContext {
  const FactsTable* facts = nullptr;
  std::string today_iso;                   // "2026-11-26"
  std::vector<std::string> allowed_dates;  // besides today and the data's dates
  std::vector<CallCheck> calls;
  int64_t small_count_limit = 10;  // integers up to this, without a unit, are not checked
};

struct ValidationReport {
  std::vector<NumberCheck> numbers;
  std::vector<Finding> findings;
  size_t checked() const;
  size_t grounded() const;
  // grounded / checked numbers; 1 when no number needed checking.
  double grounding_score() const;
  bool clean() const { return findings.empty(); }
  size_t count(FindingKind kind) const;
};

ValidationReport validate_text(std::string_view text, const ValidationContext& context);

// The individual checks, also used on their own.
std::vector<Finding> find_foreign_script(std::string_view text);
std::vector<Finding> find_repetition(std::string_view text);
std::vector<Finding> find_placeholders(std::string_view text);

}  // namespace chimera::agent
