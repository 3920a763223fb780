// The Markdown reports of `chimera run`: one per arm (the prior system's report, kept section for
// section, with every number true; arm_report.cpp) and the comparison. Every section is written by
// the program from the findings and the measurements; the model's validated prose is an addition.
#pragma once

#include <string>

#include "agent/ingest.h"
#include "agent/run_summary.h"

namespace chimera::agent {

// baseline_report.md / chimera_report.md
std::string arm_report_markdown(const RunDescription& run, const AgentRunResult& result,
                                const RunSummary& summary, const IngestResult& ingest,
                                size_t arm_index);

// comparison_report.md
std::string comparison_report_markdown(const RunDescription& run, const AgentRunResult& result,
                                       const RunSummary& summary);

// The lines shared by every report's header: date, model (+ dummy weights), backend and why.
std::vector<std::pair<std::string, std::string>> header_lines(const RunDescription& run);

// "Dummy weights: ..." when the model is synthetic, else "".
std::string dummy_weights_notice(const RunDescription& run);

}  // namespace chimera::agent
