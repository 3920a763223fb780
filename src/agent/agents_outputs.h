// Writing a finished `chimera agents` run to OUT/<timestamp>/: combined_report.md, one report per
// agent, report.html (self-contained: the combined report, a per-agent timeline of every call with
// the servers' running/waiting requests and KV-cache use under it, the scaling charts, the agents'
// reports) and metrics.json (every call, every statistic, every scrape).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/agents_job.h"
#include "report/svg_timeline.h"

namespace chimera::agent {

// The timeline of one agent count: a lane per agent, the concurrent phases shaded, and the server
// load scraped while it ran. Times are seconds since the run started.
report::TimelineSpec agents_timeline(const AgentsRun& run, const AgentsLevel& level);

std::string agents_html(const AgentsRun& run, const std::vector<std::string>& agent_reports);
nlohmann::json agents_metrics_json(const AgentsRun& run);
// The statistics of every agent count (what --json prints).
nlohmann::json agents_summary_json(const AgentsRun& run);

// Renders and writes every output into run.output_dir (created); returns the paths written.
Result<std::vector<std::string>> write_agents_outputs(const AgentsRun& run,
                                                      const IngestResult& ingest);

}  // namespace chimera::agent
