// Internal to the findings engine: the analyses build_findings runs, one file each.
#pragma once

#include <vector>

#include "agent/findings.h"
#include "agent/findings_data.h"

namespace chimera::agent::findings_internal {

// Replicates, best and worst per metric, option effects (findings.cpp).
void analyse_data_set(const DataSet& ds, Citer& citer, const FindingsContext& context,
                      std::vector<DataFinding>& out);
// Outliers, cold first calls, truncated prompts (findings_rows.cpp). Then removes the outlying
// values from `ds` (a cold call's TTFT and load), so no later comparison counts a model load as
// latency.
void analyse_rows(DataSet& ds, Citer& citer, std::vector<DataFinding>& out);
// Failed rows of every file (findings_rows.cpp).
void failures(const IngestResult& ingest, Citer& citer, std::vector<DataFinding>& out);
// The same model and configuration in two files (findings_cross.cpp).
void across_files(const std::vector<DataSet>& sets, Citer& citer, std::vector<DataFinding>& out);
// A profile's expected figures against the rows of the data (findings_cross.cpp).
void expected_against_data(const std::vector<DataSet>& sets, Citer& citer,
                           const FindingsContext& context, std::vector<DataFinding>& out);

}  // namespace chimera::agent::findings_internal
