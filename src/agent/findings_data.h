// Internal to the findings engine: one ingested table seen as a data set (its metric columns as
// numbers in one unit each, its option columns, its configurations and replicates), and the citing
// of facts (the cell facts of the table, or derived facts added for a finding).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/facts.h"
#include "agent/findings.h"
#include "agent/ingest.h"

namespace chimera::agent::findings_internal {

struct MetricColumn {
  size_t column = 0;
  std::string name;    // the column's header
  std::string metric;  // decode_tps, ttft, load, memory, ...
  std::optional<Unit> unit;
  int decimals = 0;  // the most decimals a cell had
  bool higher_is_better = false;
  std::string unit_text() const { return unit ? unit->symbol : std::string(); }
};

struct DataRow {
  size_t row = 0;                    // index into DataTable::rows
  int64_t location = 0;              // line or record number
  std::vector<std::string> factors;  // per DataSet::factor_columns
  std::map<size_t, double> values;   // per metric column index (in DataSet::metrics)
  std::string config;                // "num_ctx=1024 temperature=0.2"
};

struct DataSet {
  const FileReport* file = nullptr;
  const DataTable* table = nullptr;
  std::string name;                        // what a reader calls it: "ollama_sweep/runs.csv"
  std::vector<size_t> factor_columns;      // identity columns that group rows
  std::vector<size_t> varying;             // indexes into factor_columns with >= 2 distinct values
  std::optional<size_t> model_factor;      // index into factor_columns of the model column
  std::optional<size_t> replicate_column;  // "run", "rep": an identity column that does not group
  std::vector<MetricColumn> metrics;
  std::vector<DataRow> rows;                           // successful rows only
  std::map<std::string, std::vector<size_t>> configs;  // config -> indexes into rows
  bool has_replicates() const;
  // Pooled within-configuration variance of metric m and its df (configs with >= 2 rows); nullopt
  // without replicates.
  std::optional<std::pair<double, double>> pooled_variance(size_t m) const;
  const MetricColumn* metric(std::string_view name) const;
  std::optional<size_t> metric_index(std::string_view name) const;
  std::string factor_name(size_t f) const { return table->columns[factor_columns[f]]; }
};

// Data sets of every parsed table that has at least one metric column and one row.
std::vector<DataSet> data_sets(const IngestResult& ingest);

// "98.94 tok/s", "1606 ms": a value at the decimals of its column.
std::string value_text(double value, int decimals, const std::optional<Unit>& unit);

// Finds or adds the facts findings cite.
class Citer {
 public:
  explicit Citer(FactsTable& facts);
  // The data fact of one cell (added if the cell limit left it out).
  std::string cell(const DataSet& ds, const DataRow& row, size_t metric);
  // A derived figure: a fact of kind S with this statistic ("spread", "difference", "p-value",
  // ...), reused when an identical one exists.
  std::string derived(const DataSet* ds, const std::string& column, const std::string& metric,
                      const std::string& statistic, const std::string& label, double value,
                      int decimals, const std::optional<Unit>& unit);
  // The fact for a figure over `rows` (indexes into ds.rows) of metric m: that row's cell when
  // there is one, else a derived `statistic` labelled "<data set>: <column> <statistic> of <what>
  // (n=N)", at one decimal more than the column.
  std::string over_rows(const DataSet& ds, const std::vector<size_t>& rows, size_t m,
                        const std::string& statistic, const std::string& what, double value);
  // A p-value as p_text prints it: "p < 0.001" is the fact 0.001 (an upper bound).
  std::string p_value(const DataSet* ds, const std::string& column, const std::string& metric,
                      const std::string& label, double p);
  FactsTable& facts() { return facts_; }

 private:
  FactsTable& facts_;
  std::map<std::string, std::string> cells_;    // file|table|location|column -> id
  std::map<std::string, std::string> derived_;  // label|statistic|value -> id
};

// "[D3]" for one id, "[D3, S7]" for several.
std::string cite(std::initializer_list<std::string> ids);
std::string cite(const std::vector<std::string>& ids);
std::string percent_text(double fraction);  // 0.0345 -> "3.5%", 0.31 -> "31%"
std::string p_text(double p);               // "p = 0.41", "p = 0.003", "p < 0.001"
int p_decimals(double p);

}  // namespace chimera::agent::findings_internal
