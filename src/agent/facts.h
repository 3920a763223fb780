// The facts table: every figure the agent may state, each with an id the LLM cites ("[D12]"), a
// value with its unit and printed precision, and where it came from (file, row, column; or this
// run's measurement; or a profile's expected figure with its source). The prompts list facts; the
// grounding validator checks the report's numbers against them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/ingest.h"
#include "agent/units.h"

namespace chimera::agent {

enum class FactKind {
  kData,       // D: a value read from a data file (a cell, or a distinct option value)
  kSummary,    // S: derived from data values (mean, min, max, count of a column or configuration)
  kInventory,  // I: what ingestion saw (files, rows, failure rows)
  kMeasured,   // M: measured by this run (or derived from this run's measurements)
  kExpected,   // E: a target or someone else's number, with its source; never an achievement
  kConfig,     // C: an option value in force for this run
};
char fact_prefix(FactKind kind);
std::string_view fact_kind_name(FactKind kind);

struct FactSource {
  std::string file;           // relative path in the data folder; "" for run facts
  std::string table;          // JSON path / Markdown heading path; "" for a CSV
  std::string location_kind;  // "line" / "record"
  int64_t location = 0;       // 0 when the fact is about a whole column or file
  std::string column;
  std::string note;  // free text: "Technical Report 108, section 4.3" for expected figures
  std::string describe() const;  // "bench/runs.csv line 4, column tokens_per_second"
};

struct Fact {
  std::string id;  // "D12"; assigned by FactsTable::add
  FactKind kind = FactKind::kData;
  double value = 0;
  int decimals = 0;  // precision as printed at the source (or chosen for derived values)
  std::optional<Unit> unit;
  std::string metric;     // decode_tps, ttft, ..., or the column name
  std::string label;      // what the number is about: "model=gemma3:4b quant=Q4_K_M"
  std::string statistic;  // "", "mean", "min", "max", "count", "value"
  FactSource source;
  // "98.94 tok/s"
  std::string value_text() const;
};

class FactsTable {
 public:
  // Assigns the next id of the fact's kind and returns it.
  const Fact& add(Fact fact);
  const std::vector<Fact>& facts() const { return facts_; }
  const Fact* find(std::string_view id) const;
  size_t size() const { return facts_.size(); }
  size_t count(FactKind kind) const;

  // ISO dates that occur in the data (cells, Markdown text): the only dates besides today that a
  // report may mention.
  std::vector<std::string> dates;

  // One line per fact for a prompt: "[D12] 98.94 tok/s — decode_tps mean; model=gemma3:4b
  // (bench/runs.csv, column tokens_per_second)".
  static std::string prompt_line(const Fact& fact);

 private:
  std::vector<Fact> facts_;
  std::map<std::string, size_t, std::less<>> by_id_;
  std::map<FactKind, int> next_;
};

struct FactLimits {
  size_t max_cell_facts_per_table = 400;  // data cells; summaries cover every row regardless
  size_t max_distinct_option_values = 50;
  size_t max_facts = 20000;
};

// Facts from an ingested folder: inventory, per-column and per-configuration summaries of metric
// columns, data cells of metric columns, and the distinct values of numeric option columns.
FactsTable build_facts(const IngestResult& ingest, const FactLimits& limits = {});

// A row's label from its identity columns: "model=gemma3:4b quant=Q4_K_M run=2".
std::string row_label(const DataTable& table, size_t row);

// Decimals to print a derived value with: one more than its inputs had, at most 3.
int derived_decimals(int input_decimals);

}  // namespace chimera::agent
