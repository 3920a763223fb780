// What the program says in each report section, from the findings, as lines citing fact ids. The
// prompts give the model these lines per section (it writes prose from them); the reports print
// them as the section's content whatever the model wrote.
#pragma once

#include <string>
#include <vector>

#include "agent/findings.h"
#include "agent/prompts.h"

namespace chimera::agent {

struct SectionNotes {
  std::string title;               // one of report_section_titles()
  std::vector<std::string> lines;  // sentences citing [ids]
};

// The data findings of each section, in report_section_titles() order. `configuration` names the
// options the arm sets, so the configuration section speaks of their measured effects.
std::vector<SectionNotes> data_section_notes(const std::vector<DataFinding>& findings,
                                             const std::vector<ConfigLine>& configuration);

// Recommendations the data supports, each naming the measurement behind it.
std::vector<std::string> data_recommendations(const std::vector<DataFinding>& findings);

// The text up to the end of its first sentence.
std::string first_sentence(const std::string& text);

// "supported by the data" etc. as a short tag for bullets: "(cannot be told)".
std::string support_tag(const DataFinding& finding);

}  // namespace chimera::agent
