// What this run measured, as findings and recommendations phrased by code: per call kind, each
// arm's mean of the headline metrics, the tested difference (with the smallest detectable one, and
// the equivalence verdict when a margin was given), and each arm against its profile's expected
// figures. The figures they state are added to a facts table (kind M) so they cite ids too.
#pragma once

#include <string>
#include <vector>

#include "agent/facts.h"
#include "agent/findings.h"
#include "agent/run_summary.h"

namespace chimera::agent {

std::vector<DataFinding> run_findings(const RunDescription& run, const RunSummary& summary,
                                      FactsTable& facts);

// Recommendations from this run's comparison (adopt, reject, or "no measurable difference"),
// each naming the measurement; then the data's own (data_recommendations).
std::vector<std::string> run_recommendations(const RunDescription& run,
                                             const std::vector<DataFinding>& run_results);

}  // namespace chimera::agent
