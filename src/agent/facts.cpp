#include "agent/facts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "agent/cell_value.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

std::optional<Unit> count_of(std::string_view noun) { return parse_unit(noun); }

// Ollama's nanosecond durations read better, and prompt better, as milliseconds.
void to_display_unit(Fact& f) {
  if (!f.unit || f.unit->dimension != Dimension::kTime || f.unit->to_base >= 1e-3) return;
  Unit ms = *parse_unit("ms");
  int shift = static_cast<int>(std::lround(std::log10(ms.to_base / f.unit->to_base)));
  f.value = convert(f.value, *f.unit, ms);
  f.decimals = std::min(3, f.decimals + shift);  // integer ns are exact to 6 decimals of a ms
  f.unit = ms;
}

std::string group_key(const DataTable& table, size_t row) {
  std::string key;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    const ColumnKind& k = table.summaries[c].kind;
    if (k.role != ColumnRole::kIdentity || !k.groups_rows) continue;
    std::string_view v = trim(table.rows[row][c]);
    if (is_missing(v)) continue;
    if (!key.empty()) key += ' ';
    key += table.columns[c] + "=" + std::string(v);
  }
  return key;
}

FactSource column_source(const FileReport& file, const DataTable& table,
                         const std::string& column) {
  FactSource s;
  s.file = file.relative_path;
  s.table = table.name;
  s.location_kind = table.location_kind;
  s.column = column;
  return s;
}

class Builder {
 public:
  Builder(FactsTable& facts, const FactLimits& limits) : facts_(facts), limits_(limits) {}

  bool full() const { return facts_.size() >= limits_.max_facts; }

  void add(Fact f) {
    to_display_unit(f);
    if (!full()) facts_.add(std::move(f));
  }

  void inventory(const IngestResult& ingest) {
    Fact f;
    f.kind = FactKind::kInventory;
    f.value = static_cast<double>(ingest.parsed_files());
    f.unit = count_of("files");
    f.metric = "files_ingested";
    f.label = "data files read and parsed";
    f.statistic = "count";
    f.source.file = ".";
    add(f);
    size_t skipped = ingest.files.size() - ingest.parsed_files();
    f.value = static_cast<double>(skipped);
    f.metric = "files_skipped";
    f.label = "files not ingested (unsupported, too large, unreadable or outside the folder)";
    add(f);
    f.value = static_cast<double>(ingest.total_rows());
    f.unit = count_of("rows");
    f.metric = "rows";
    f.label = "data rows in all files";
    add(f);
    f.value = static_cast<double>(ingest.total_failure_rows());
    f.unit = count_of("failures");
    f.metric = "failure_rows";
    f.label = "rows marked as failed (non-empty error fields), excluded from summaries";
    add(f);
    for (const auto& file : ingest.files) {
      if (!file.parsed) continue;
      Fact r;
      r.kind = FactKind::kInventory;
      r.statistic = "count";
      r.source.file = file.relative_path;
      r.value = static_cast<double>(file.rows());
      r.unit = count_of("rows");
      r.metric = "rows";
      r.label = "rows in " + file.relative_path;
      add(r);
      if (file.failure_rows() > 0) {
        r.value = static_cast<double>(file.failure_rows());
        r.unit = count_of("failures");
        r.metric = "failure_rows";
        r.label = "failed rows in " + file.relative_path;
        add(r);
      }
    }
  }

  void summaries(const FileReport& file, const DataTable& table) {
    for (size_t c = 0; c < table.summaries.size(); ++c) {
      const ColumnSummary& s = table.summaries[c];
      if (s.kind.role != ColumnRole::kMetric || s.stats.count == 0) continue;
      Fact f;
      f.kind = FactKind::kSummary;
      f.unit = s.unit;
      f.metric = s.kind.metric;
      f.source = column_source(file, table, s.name);
      f.label = table.name.empty() ? s.name : table.name + ": " + s.name;
      f.decimals = derived_decimals(s.stats.max_decimals);
      if (s.stats.count > 1) {
        f.statistic = "mean";
        f.value = s.stats.mean();
        add(f);
      }
      f.decimals = s.stats.max_decimals;
      f.statistic = s.stats.count > 1 ? "min" : "value";
      f.value = s.stats.min;
      add(f);
      if (s.stats.count > 1) {
        f.statistic = "max";
        f.value = s.stats.max;
        add(f);
        f.statistic = "count";
        f.value = static_cast<double>(s.stats.count);
        f.decimals = 0;
        f.unit = count_of("values");
        add(f);
      }
    }
    for (const auto& g : table.groups) {
      for (const auto& [c, stats] : g.metrics) {
        const ColumnSummary& s = table.summaries[c];
        if (s.kind.role != ColumnRole::kMetric || stats.count == 0) continue;
        // A configuration seen once is already a data cell; its "mean" would add nothing.
        if (stats.count < 2) continue;
        Fact f;
        f.kind = FactKind::kSummary;
        f.unit = s.unit;
        f.metric = s.kind.metric;
        f.source = column_source(file, table, s.name);
        f.label = g.key + ": " + s.name + fmt::format(" (n={})", stats.count);
        f.statistic = "mean";
        f.decimals = derived_decimals(stats.max_decimals);
        f.value = stats.mean();
        add(f);
      }
    }
  }

  void cells(const FileReport& file, const DataTable& table) {
    size_t added = 0;
    for (size_t r = 0; r < table.rows.size() && added < limits_.max_cell_facts_per_table; ++r) {
      if (table.row_failed[r]) continue;  // failures are counted, never used as figures
      std::string label;
      for (size_t c = 0; c < table.columns.size(); ++c) {
        const ColumnSummary& s = table.summaries[c];
        // Metric cells, and numbers in other columns ("vram_gb", "cores") so a report may quote
        // them; option columns are covered by their distinct values, error columns are not data.
        bool numeric_other = s.kind.role == ColumnRole::kOther &&
                             (s.type == ColumnType::kInteger || s.type == ColumnType::kNumber);
        if ((s.kind.role != ColumnRole::kMetric && !numeric_other) || s.mixed_cell_units) continue;
        auto number = parse_cell_number(table.rows[r][c], table.decimal_comma);
        if (!number) continue;
        if (label.empty()) label = row_label(table, r);
        Fact f;
        f.kind = FactKind::kData;
        f.value = number->value;
        f.decimals = number->decimals;
        f.unit = number->unit ? number->unit : s.unit;
        f.metric = s.kind.metric.empty() ? s.name : s.kind.metric;
        f.label = label;
        f.source = column_source(file, table, s.name);
        f.source.location = table.row_locations[r];
        add(std::move(f));
        ++added;
      }
    }
  }

  // Throughput where a table has counts and durations but no rate (Ollama's final objects):
  // eval_count / eval_duration, as the prior system computed it, tagged derived.
  void derived_rates(const FileReport& file, const DataTable& table) {
    struct Rate {
      const char* tokens;
      const char* time;
      const char* metric;
    };
    for (const Rate& rate : {Rate{"output_tokens", "decode_time", "decode_tps"},
                             Rate{"prompt_tokens", "prefill_time", "prefill_tps"}}) {
      std::optional<size_t> tokens_col, time_col;
      bool has_rate = false;
      for (size_t c = 0; c < table.summaries.size(); ++c) {
        const ColumnSummary& s = table.summaries[c];
        if (s.kind.role != ColumnRole::kMetric) continue;
        if (s.kind.metric == rate.tokens && !tokens_col) tokens_col = c;
        if (s.kind.metric == rate.time && s.unit && !time_col) time_col = c;
        if (s.kind.metric == rate.metric) has_rate = true;
      }
      if (!tokens_col || !time_col || has_rate) continue;
      const ColumnSummary& time = table.summaries[*time_col];
      std::map<std::string, NumericStats> groups;
      NumericStats all;
      std::string how = table.columns[*tokens_col] + " / " + table.columns[*time_col];
      for (size_t r = 0; r < table.rows.size(); ++r) {
        if (table.row_failed[r]) continue;
        auto n = parse_cell_number(table.rows[r][*tokens_col]);
        auto t = parse_cell_number(table.rows[r][*time_col]);
        if (!n || !t || t->value <= 0) continue;
        double seconds = t->value * time.unit->to_base;
        double tps = n->value / seconds;
        Fact f;
        f.kind = FactKind::kSummary;
        f.value = tps;
        f.decimals = 2;
        f.unit = parse_unit("tok/s");
        f.metric = rate.metric;
        f.statistic = "derived";
        f.label = row_label(table, r) + " (" + how + ")";
        f.source = column_source(file, table, how);
        f.source.location = table.row_locations[r];
        add(f);
        all.add(tps, 2);
        groups[group_key(table, r)].add(tps, 2);
      }
      auto add_mean = [&](const NumericStats& stats, const std::string& label) {
        if (stats.count < 2) return;
        Fact f;
        f.kind = FactKind::kSummary;
        f.value = stats.mean();
        f.decimals = 2;
        f.unit = parse_unit("tok/s");
        f.metric = rate.metric;
        f.statistic = "mean";
        f.label = label + fmt::format(" ({}, n={})", how, stats.count);
        f.source = column_source(file, table, how);
        add(f);
      };
      add_mean(all, table.name.empty() ? file.relative_path : table.name);
      if (groups.size() > 1) {
        for (const auto& [key, stats] : groups) {
          if (!key.empty()) add_mean(stats, key);
        }
      }
    }
  }

  void option_values(const FileReport& file, const DataTable& table) {
    for (size_t c = 0; c < table.columns.size(); ++c) {
      const ColumnSummary& s = table.summaries[c];
      if (s.kind.role != ColumnRole::kIdentity || !s.kind.groups_rows) continue;
      if (s.type != ColumnType::kInteger && s.type != ColumnType::kNumber) continue;
      std::set<std::string> seen;
      for (size_t r = 0; r < table.rows.size(); ++r) {
        std::string text(trim(table.rows[r][c]));
        if (seen.size() >= limits_.max_distinct_option_values) break;
        if (!seen.insert(text).second) continue;
        auto number = parse_cell_number(text, table.decimal_comma);
        if (!number) continue;
        Fact f;
        f.kind = FactKind::kData;
        f.value = number->value;
        f.decimals = number->decimals;
        f.metric = s.name;
        f.statistic = "value";
        f.label = s.name + " value used in the data";
        if (s.name == "num_gpu" || s.name == "n_gpu_layers" || s.name == "ngl")
          f.unit = count_of("layers");
        f.source = column_source(file, table, s.name);
        f.source.location = table.row_locations[r];
        add(std::move(f));
      }
    }
  }

 private:
  FactsTable& facts_;
  const FactLimits& limits_;
};

}  // namespace

char fact_prefix(FactKind kind) {
  switch (kind) {
    case FactKind::kData:
      return 'D';
    case FactKind::kSummary:
      return 'S';
    case FactKind::kInventory:
      return 'I';
    case FactKind::kMeasured:
      return 'M';
    case FactKind::kExpected:
      return 'E';
    case FactKind::kConfig:
      return 'C';
  }
  return 'X';
}

std::string_view fact_kind_name(FactKind kind) {
  switch (kind) {
    case FactKind::kData:
      return "data";
    case FactKind::kSummary:
      return "summary of data";
    case FactKind::kInventory:
      return "ingestion";
    case FactKind::kMeasured:
      return "measured";
    case FactKind::kExpected:
      return "expected";
    case FactKind::kConfig:
      return "configuration";
  }
  return "unknown";
}

int derived_decimals(int input_decimals) { return std::min(3, input_decimals + 1); }

std::string FactSource::describe() const {
  std::string out = file;
  if (!table.empty()) out += (out.empty() ? "" : ", ") + table;
  if (location > 0)
    out += fmt::format(" {} {}", location_kind.empty() ? "line" : location_kind, location);
  if (!column.empty()) out += (out.empty() ? "column " : ", column ") + column;
  if (!note.empty()) out += (out.empty() ? "" : "; ") + note;
  return out;
}

std::string Fact::value_text() const {
  std::string number = fmt::format("{:.{}f}", value, std::max(0, decimals));
  if (!unit) return number;
  if (unit->dimension == Dimension::kPercent) return number + "%";
  if (unit->dimension == Dimension::kRatio) return number + "x";
  if (unit->dimension == Dimension::kCount && value == 1) return number + " " + unit->noun;
  return number + " " + unit->symbol;
}

const Fact& FactsTable::add(Fact fact) {
  fact.id = fmt::format("{}{}", fact_prefix(fact.kind), ++next_[fact.kind]);
  by_id_.emplace(fact.id, facts_.size());
  facts_.push_back(std::move(fact));
  return facts_.back();
}

const Fact* FactsTable::find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &facts_[it->second];
}

size_t FactsTable::count(FactKind kind) const {
  return static_cast<size_t>(
      std::count_if(facts_.begin(), facts_.end(), [&](const Fact& f) { return f.kind == kind; }));
}

std::string FactsTable::prompt_line(const Fact& fact) {
  std::string what = fact.metric;
  if (!fact.statistic.empty() && fact.statistic != "value") what += " " + fact.statistic;
  std::string line =
      fmt::format("[{}] {} ({}) {}", fact.id, fact.value_text(), fact_kind_name(fact.kind), what);
  if (!fact.label.empty()) line += "; " + fact.label;
  std::string source = fact.source.describe();
  if (!source.empty()) line += " [source: " + source + "]";
  return line;
}

std::string row_label(const DataTable& table, size_t row) {
  std::string label;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (table.summaries[c].kind.role != ColumnRole::kIdentity) continue;
    std::string_view v = trim(table.rows[row][c]);
    if (is_missing(v)) continue;
    if (!label.empty()) label += ' ';
    label += table.columns[c] + "=" + std::string(v);
  }
  return label;
}

FactsTable build_facts(const IngestResult& ingest, const FactLimits& limits) {
  FactsTable facts;
  Builder b(facts, limits);
  b.inventory(ingest);
  // Summaries first: with a fact budget, a column's mean matters more than its 400th cell.
  for (const auto& file : ingest.files) {
    for (const auto& table : file.tables) b.summaries(file, table);
  }
  for (const auto& file : ingest.files) {
    for (const auto& table : file.tables) b.derived_rates(file, table);
  }
  for (const auto& file : ingest.files) {
    for (const auto& table : file.tables) b.cells(file, table);
  }
  for (const auto& file : ingest.files) {
    for (const auto& table : file.tables) b.option_values(file, table);
  }
  std::set<std::string> dates;
  for (const auto& file : ingest.files) dates.insert(file.dates.begin(), file.dates.end());
  facts.dates.assign(dates.begin(), dates.end());
  return facts;
}

}  // namespace chimera::agent
