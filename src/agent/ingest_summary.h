// What ingestion saw, for people: the per-file table of the report's "Data ingestion" section
// (written by code, not by the LLM), the metric-column summaries, and the warnings and skipped
// files.
#pragma once

#include <string>
#include <vector>

#include "agent/ingest.h"
#include "report/markdown.h"

namespace chimera::agent {

// file | format | size | tables | rows | failed rows | metric columns | status
report::Table ingestion_table(const IngestResult& ingest);

// table | column | metric | unit | type | n | min | mean | max, over metric columns of every table.
report::Table metric_columns_table(const IngestResult& ingest);

// The whole section body in Markdown: both tables, then warnings and skipped files as lists.
std::string ingestion_markdown(const IngestResult& ingest);

// "ollama_sweep/gemma3_latest_param_sweep.csv: 36 rows, 2 failed; tokens_per_second (decode_tps,
// tok/s), ttft_ms (ttft, ms)" — one line per parsed file, for prompts.
std::vector<std::string> ingestion_lines(const IngestResult& ingest);

}  // namespace chimera::agent
