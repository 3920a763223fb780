#include "agent/table.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "agent/cell_value.h"
#include "util/strings.h"

namespace chimera::agent {

std::string_view column_type_name(ColumnType type) {
  switch (type) {
    case ColumnType::kEmpty:
      return "empty";
    case ColumnType::kInteger:
      return "integer";
    case ColumnType::kNumber:
      return "number";
    case ColumnType::kBoolean:
      return "boolean";
    case ColumnType::kDate:
      return "date";
    case ColumnType::kText:
      return "text";
    case ColumnType::kMixed:
      return "mixed";
  }
  return "unknown";
}

void NumericStats::add(double value, int decimals) {
  if (count == 0) {
    min = max = value;
  } else {
    min = std::min(min, value);
    max = std::max(max, value);
  }
  sum += value;
  ++count;
  max_decimals = std::max(max_decimals, decimals);
}

std::vector<std::string> clean_header(std::vector<std::string> header) {
  std::set<std::string> seen;
  for (size_t i = 0; i < header.size(); ++i) {
    std::string name(trim(header[i]));
    if (name.empty()) name = "column_" + std::to_string(i + 1);
    std::string unique = name;
    for (int k = 2; seen.count(unique); ++k) unique = name + "_" + std::to_string(k);
    seen.insert(unique);
    header[i] = unique;
  }
  return header;
}

TableBuilder::TableBuilder(std::string name, std::vector<std::string> columns, TableLimits limits,
                           bool decimal_comma)
    : limits_(limits) {
  table_.name = std::move(name);
  table_.columns = clean_header(std::move(columns));
  table_.decimal_comma = decimal_comma;
  cell_units_.resize(table_.columns.size());
  for (size_t c = 0; c < table_.columns.size(); ++c) {
    ColumnSummary s;
    s.name = table_.columns[c];
    s.kind = classify_column(s.name);
    s.unit = s.kind.unit;
    if (s.kind.role == ColumnRole::kIdentity && s.kind.groups_rows) group_columns_.push_back(c);
    if (s.kind.role == ColumnRole::kError) error_columns_.push_back(c);
    table_.summaries.push_back(std::move(s));
  }
}

GroupSummary* TableBuilder::group_for(const std::vector<std::string>& cells) {
  if (group_columns_.empty()) return nullptr;
  std::string key;
  for (size_t c : group_columns_) {
    if (c >= cells.size() || is_missing(cells[c])) continue;
    if (!key.empty()) key += ' ';
    key += table_.columns[c] + "=" + std::string(trim(cells[c]));
  }
  if (key.empty()) return nullptr;
  auto it = group_index_.find(key);
  if (it != group_index_.end()) return &table_.groups[it->second];
  if (table_.groups.size() >= limits_.max_groups) {
    table_.groups_truncated = true;
    return nullptr;
  }
  group_index_.emplace(key, table_.groups.size());
  table_.groups.push_back(GroupSummary{key, 0, 0, {}});
  return &table_.groups.back();
}

void TableBuilder::observe(size_t c, const std::string& cell, bool row_failed,
                           GroupSummary* group) {
  ColumnSummary& s = table_.summaries[c];
  std::string_view text = trim(cell);
  // Numbers first: they are most cells, and a number is never a missing marker.
  auto number = parse_cell_number(text, table_.decimal_comma);
  if (!number && is_missing(text)) return;
  ++s.non_empty;
  if (number) {
    ++s.numeric;
    if (number->decimals == 0 && number->value == std::floor(number->value)) ++s.integers;
    double value = number->value;
    int decimals = number->decimals;
    if (number->unit) {
      std::optional<Unit>& first = cell_units_[c];
      if (!first) first = number->unit;
      if (!s.unit) s.unit = first;
      if (!comparable(*number->unit, *s.unit)) {
        s.mixed_cell_units = true;
        return;  // "12 %" in a ms column: not summable
      }
      if (!(*number->unit == *s.unit)) {
        double factor = number->unit->to_base / s.unit->to_base;
        value = convert(value, *number->unit, *s.unit);
        decimals = std::max(0, decimals - static_cast<int>(std::lround(std::log10(factor))));
      }
    }
    // A failed row's figures are not measurements of a working configuration (prior-system.md #9).
    bool metric = s.kind.role == ColumnRole::kMetric;
    if (metric && row_failed) return;
    s.stats.add(value, decimals);
    if (metric && group) group->metrics[c].add(value, decimals);
    return;
  }
  if (parse_bool(text)) {
    ++s.booleans;
    return;
  }
  auto dates =
      text.find('-') != std::string_view::npos ? find_iso_dates(text) : std::vector<std::string>{};
  for (auto& d : dates) {
    if (table_.dates.size() < limits_.max_dates &&
        std::find(table_.dates.begin(), table_.dates.end(), d) == table_.dates.end()) {
      table_.dates.push_back(d);
    }
  }
  if (!dates.empty() && starts_with(text, dates.front())) {
    ++s.dates;
  } else {
    ++s.texts;
  }
}

void TableBuilder::add_row(std::vector<std::string>& cells, int64_t location) {
  ++table_.total_rows;
  bool failed = false;
  for (size_t c : error_columns_) {
    if (c < cells.size() && is_failure_value(table_.columns[c], cells[c])) failed = true;
  }
  if (failed) {
    ++table_.failure_rows;
    if (table_.failure_locations.size() < limits_.max_failure_locations) {
      table_.failure_locations.push_back(location);
    }
  }
  GroupSummary* group = group_for(cells);
  if (group) {
    ++group->rows;
    if (failed) ++group->failure_rows;
  }
  size_t n = std::min(cells.size(), table_.columns.size());
  for (size_t c = 0; c < n; ++c) observe(c, cells[c], failed, group);
  if (static_cast<int64_t>(table_.rows.size()) < limits_.max_kept_rows) {
    cells.resize(table_.columns.size());
    table_.rows.push_back(std::move(cells));
    table_.row_locations.push_back(location);
    table_.row_failed.push_back(failed);
    cells = {};
  }
}

DataTable TableBuilder::finish() && {
  for (auto& s : table_.summaries) {
    if (s.non_empty == 0) {
      s.type = ColumnType::kEmpty;
    } else if (s.numeric == s.non_empty) {
      s.type = s.integers == s.numeric ? ColumnType::kInteger : ColumnType::kNumber;
    } else if (s.booleans == s.non_empty) {
      s.type = ColumnType::kBoolean;
    } else if (s.dates == s.non_empty) {
      s.type = ColumnType::kDate;
    } else if (s.texts == s.non_empty) {
      s.type = ColumnType::kText;
    } else if (s.numeric * 10 >= s.non_empty * 9) {
      s.type = ColumnType::kNumber;  // a stray note among numbers: still a numeric column
    } else {
      s.type = ColumnType::kMixed;
    }
    // A "metric" name over text ("cpu": "Xeon 8280") is a label, not a measurement.
    if (s.kind.role == ColumnRole::kMetric && s.numeric * 2 < s.non_empty) {
      s.kind.role = ColumnRole::kOther;
    }
  }
  return std::move(table_);
}

}  // namespace chimera::agent
