// The Markdown reports of `chimera run`: one per arm (the prior system's report, kept section for
// section, with every number true) and the comparison. The header, the measured performance, the
// ingestion table and the validation section are written by code; only the middle is the LLM's.
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

// Which of the seven section titles the LLM's text has as headings.
std::vector<std::string> missing_sections(const std::string& llm_text);

}  // namespace chimera::agent
