// The tabular model every ingester produces: a table of text cells (a CSV file, a JSON array of
// records, a Markdown table) with per-column summaries computed over every row, while only the
// first rows are kept, so a 100 MB file is summarized in bounded memory.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/column_names.h"
#include "agent/units.h"

namespace chimera::agent {

enum class ColumnType { kEmpty, kInteger, kNumber, kBoolean, kDate, kText, kMixed };
std::string_view column_type_name(ColumnType type);

struct NumericStats {
  int64_t count = 0;
  double min = 0, max = 0, sum = 0;
  int max_decimals = 0;  // the most decimals any value was written with
  void add(double value, int decimals);
  double mean() const { return count ? sum / static_cast<double>(count) : 0; }
};

struct ColumnSummary {
  std::string name;
  ColumnKind kind;  // role, metric name, unit from the column name
  ColumnType type = ColumnType::kEmpty;
  int64_t non_empty = 0;  // cells that are not missing markers
  int64_t numeric = 0, integers = 0, booleans = 0, dates = 0, texts = 0;
  NumericStats stats;             // over every numeric cell of every row
  std::optional<Unit> unit;       // the column's unit: from its name, else from its cells
  bool mixed_cell_units = false;  // cells carried different units (their values are not summed)
  // The unit a metric's numbers are in, for printing: "tok/s", "ms", "" when unknown.
  std::string unit_symbol() const { return unit ? unit->symbol : std::string(); }
};

// Per-configuration statistics: rows sharing the values of the grouping identity columns (model,
// quantization, options), for example "gemma3:4b Q4_K_M num_ctx=4096".
struct GroupSummary {
  std::string key;
  int64_t rows = 0;
  int64_t failure_rows = 0;
  std::map<size_t, NumericStats> metrics;  // column index -> stats over successful rows
};

struct DataTable {
  std::string name;                    // "" for CSV; heading path for Markdown; JSON path for JSON
  std::string location_kind = "line";  // what row_locations count: "line" or "record"
  std::vector<std::string> columns;
  std::vector<ColumnSummary> summaries;        // one per column
  std::vector<std::vector<std::string>> rows;  // the kept rows (the first `max_kept_rows`)
  std::vector<int64_t> row_locations;          // 1-based line or record number of each kept row
  std::vector<bool> row_failed;                // per kept row
  int64_t total_rows = 0;                      // every data row seen
  int64_t failure_rows = 0;                    // rows with a failure marker in an error column
  std::vector<int64_t> failure_locations;      // the first few
  std::vector<GroupSummary> groups;
  bool groups_truncated = false;   // more distinct configurations than the limit
  bool decimal_comma = false;      // numbers were written "98,94"
  std::vector<std::string> dates;  // distinct ISO dates seen in cells
};

struct TableLimits {
  int64_t max_kept_rows = 2000;
  size_t max_groups = 64;
  size_t max_failure_locations = 20;
  size_t max_dates = 256;
};

// Streams rows into a DataTable: summaries cover every row; only the first rows are stored.
class TableBuilder {
 public:
  TableBuilder(std::string name, std::vector<std::string> columns, TableLimits limits = {},
               bool decimal_comma = false);
  // `cells` may be shorter or longer than the header (the caller counts that as a warning); it is
  // moved from when the row is kept.
  void add_row(std::vector<std::string>& cells, int64_t location);
  void set_location_kind(std::string kind) { table_.location_kind = std::move(kind); }
  const std::vector<std::string>& columns() const { return table_.columns; }
  DataTable finish() &&;

 private:
  void observe(size_t column, const std::string& cell, bool row_failed, GroupSummary* group);
  GroupSummary* group_for(const std::vector<std::string>& cells);

  DataTable table_;
  TableLimits limits_;
  std::vector<std::optional<Unit>> cell_units_;  // the first unit seen inside each column's cells
  std::vector<size_t> group_columns_;
  std::vector<size_t> error_columns_;
  std::map<std::string, size_t> group_index_;
};

// Makes header names usable: empty ones become "column_N", duplicates get "_2", "_3".
std::vector<std::string> clean_header(std::vector<std::string> header);

}  // namespace chimera::agent
