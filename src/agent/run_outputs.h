// Writing a finished run to OUT/<timestamp>/: baseline_report.md, chimera_report.md,
// comparison_report.md, report.html (self-contained: the three reports, inline SVG charts of
// per-call decode tok/s and TTFT for both arms and of the hardware samples) and metrics.json (every
// CallRecord, every statistic, every validation).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/run_reports.h"
#include "lab/hwmon.h"

namespace chimera::agent {

struct RunOutputs {
  std::string directory;
  std::vector<std::string> files;  // paths written
};

// report.html from the three Markdown reports and the measurements.
std::string run_html(const RunDescription& run, const AgentRunResult& result,
                     const RunSummary& summary, const std::vector<lab::HwSample>& samples,
                     const std::vector<std::string>& markdown_reports);

nlohmann::json run_metrics_json(const RunDescription& run, const AgentRunResult& result,
                                const RunSummary& summary,
                                const std::vector<lab::HwSample>& samples);

// Renders and writes every output into `directory` (created).
Result<RunOutputs> write_run_outputs(const std::string& directory, const RunDescription& run,
                                     const AgentRunResult& result, const RunSummary& summary,
                                     const IngestResult& ingest,
                                     const std::vector<lab::HwSample>& samples);

}  // namespace chimera::agent
