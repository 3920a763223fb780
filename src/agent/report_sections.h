// The model's prose per report section: how it is asked for (a JSON Schema where the backend
// supports structured output, "## Title" headings otherwise), read back, and validated section by
// section. A section whose text fails validation is never the report: the program's content stands
// and the failed text goes to the Validation appendix.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/validator.h"
#include "util/status.h"

namespace chimera::agent {

// The sections the model writes prose for: the report's sections but the Appendix, which is the
// program's alone (facts, method, validation).
const std::vector<std::string>& prose_section_titles();

enum class ProseFormat {
  kJson,      // Request::output_schema carried a JSON Schema the backend honours
  kFreeText,  // "## Title" headings, split by the program
};
std::string_view prose_format_name(ProseFormat format);

// How the prose is asked for: one call returning every section, or one call per section.
enum class ProseCalls { kOne, kPerSection };
std::string_view prose_calls_name(ProseCalls calls);
Result<ProseCalls> parse_prose_calls(std::string_view text);

struct SectionProse {
  std::string title;
  std::string text;                // the model's text ("" when it wrote none)
  std::vector<std::string> cited;  // ids the model listed beside its text (JSON mode)
  ValidationReport validation;
  bool passed = false;  // text present, parsed, and validation found nothing
  std::string problem;  // one line when not passed: "2 ungrounded numbers; a repetition loop"
};

// JSON Schema of the one-call answer: {"sections": [{"title", "text", "facts"}]}, titles from
// prose_section_titles(); and of a per-section answer: {"text", "facts"}.
std::string all_sections_schema();
std::string one_section_schema();

// Reads the answer into one SectionProse per title of `titles` (in that order; absent ones empty).
// Free text is split at "## " / "**N. Title**" headings; JSON is parsed per the schemas above (a
// parse error leaves every section empty with the error as its problem).
std::vector<SectionProse> read_sections(std::string_view answer, ProseFormat format,
                                        const std::vector<std::string>& titles);
SectionProse read_one_section(std::string_view answer, ProseFormat format,
                              const std::string& title);

// Validates every section's text (and its listed citations) and sets passed / problem.
void validate_sections(std::vector<SectionProse>& sections, const ValidationContext& context);

}  // namespace chimera::agent
