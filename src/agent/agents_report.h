// The Markdown of `chimera agents`: combined_report.md (the concurrency results: speedup with its
// CI, efficiency, slowdowns, fairness, the prior system's balance ratio named as such, latency
// under contention, endpoints, failures and when they happened, the method) and one report per
// agent (its configuration, its model-written text, its measurements and the validation of its
// text). Every number comes from the run (lab/concurrency.h); nothing here computes statistics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/agents_job.h"
#include "agent/ingest.h"

namespace chimera::agent {

// A failed call, with when it happened.
struct FailedCall {
  int agents = 0;  // the level (agent count)
  std::string agent;
  int64_t repetition = 0;
  bool warmup = false;
  bool concurrent = false;
  std::string call;      // "analysis call", "report call", "call", "warm-up call"
  std::string endpoint;  // CallRecord::backend
  double at_s = 0;       // since the run started
  int64_t unix_ms = 0;   // wall clock, when known
  std::string error;
};
std::vector<FailedCall> failed_calls(const AgentsRun& run);

// "1.42x faster concurrently (95% CI 1.30-1.55x), efficiency 71%" or "no faster: ...".
std::string speedup_sentence(const lab::ConcurrencyAnalysis& a);

std::string combined_report_markdown(const AgentsRun& run);
std::string agent_report_markdown(const AgentsRun& run, const AgentsLevel& level, size_t agent,
                                  const IngestResult& ingest);
// The file name of an agent's report: "agent1-insight_report.md" (prefixed "n4-" in sweeps).
std::string agent_report_name(const AgentsRun& run, const AgentsLevel& level, size_t agent);

}  // namespace chimera::agent
