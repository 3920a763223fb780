#include "agent/findings_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "agent/cell_value.h"
#include "util/strings.h"

namespace chimera::agent::findings_internal {
namespace {

// The metrics a finding speaks about, and which way is better.
struct MetricRule {
  std::string_view metric;
  bool higher_is_better;
};
constexpr MetricRule kMetricRules[] = {
    {"decode_tps", true}, {"prefill_tps", true}, {"ttft", false},   {"latency", false},
    {"itl", false},       {"load", false},       {"memory", false},
};

bool is_replicate_name(std::string_view name) {
  std::string n = normalize_column_name(name);
  return n == "run" || n == "rep" || n == "repetition" || n == "iteration" || n == "trial" ||
         n == "run_index" || n == "sample";
}

bool is_model_name(std::string_view name) {
  std::string n = normalize_column_name(name);
  return n == "model" || n == "model_name" || n == "name";
}

// Nanosecond durations (Ollama's) read as milliseconds, as the facts show them.
std::optional<Unit> display_unit(const std::optional<Unit>& unit) {
  if (unit && unit->dimension == Dimension::kTime && unit->to_base < 1e-3) return parse_unit("ms");
  return unit;
}

double round_to(double value, int decimals) {
  double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

}  // namespace

bool DataSet::has_replicates() const {
  return std::any_of(configs.begin(), configs.end(),
                     [](const auto& c) { return c.second.size() >= 2; });
}

std::optional<std::pair<double, double>> DataSet::pooled_variance(size_t m) const {
  double ss = 0, df = 0;
  for (const auto& [key, indexes] : configs) {
    std::vector<double> v;
    for (size_t i : indexes) {
      if (auto it = rows[i].values.find(m); it != rows[i].values.end()) v.push_back(it->second);
    }
    if (v.size() < 2) continue;
    double mean = 0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(v.size());
    for (double x : v) ss += (x - mean) * (x - mean);
    df += static_cast<double>(v.size() - 1);
  }
  if (df < 1) return std::nullopt;
  return std::make_pair(ss / df, df);
}

const MetricColumn* DataSet::metric(std::string_view name) const {
  for (const auto& m : metrics) {
    if (m.metric == name) return &m;
  }
  return nullptr;
}

std::optional<size_t> DataSet::metric_index(std::string_view name) const {
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (metrics[i].metric == name) return i;
  }
  return std::nullopt;
}

std::vector<DataSet> data_sets(const IngestResult& ingest) {
  std::vector<DataSet> out;
  for (const auto& file : ingest.files) {
    if (!file.parsed) continue;
    for (const auto& table : file.tables) {
      DataSet ds;
      ds.file = &file;
      ds.table = &table;
      ds.name = table.name.empty() ? file.relative_path : file.relative_path + " / " + table.name;
      for (size_t c = 0; c < table.columns.size(); ++c) {
        const ColumnSummary& s = table.summaries[c];
        if (s.kind.role == ColumnRole::kIdentity && s.kind.groups_rows) {
          if (is_model_name(s.name)) ds.model_factor = ds.factor_columns.size();
          ds.factor_columns.push_back(c);
        } else if (s.kind.role == ColumnRole::kIdentity && is_replicate_name(s.name)) {
          ds.replicate_column = c;
        } else if (s.kind.role == ColumnRole::kMetric && !s.mixed_cell_units) {
          // One column per metric: the first (a table rarely has two TTFT columns).
          for (const MetricRule& rule : kMetricRules) {
            if (s.kind.metric != rule.metric) continue;
            bool seen = std::any_of(ds.metrics.begin(), ds.metrics.end(),
                                    [&](const MetricColumn& m) { return m.metric == rule.metric; });
            if (!seen) {
              ds.metrics.push_back({c, s.name, s.kind.metric, display_unit(s.unit),
                                    s.stats.max_decimals, rule.higher_is_better});
            }
          }
        }
      }
      if (ds.metrics.empty()) continue;
      for (size_t r = 0; r < table.rows.size(); ++r) {
        if (table.row_failed[r]) continue;
        DataRow row;
        row.row = r;
        row.location = table.row_locations[r];
        for (size_t f : ds.factor_columns) {
          std::string v(trim(table.rows[r][f]));
          row.factors.push_back(is_missing(v) ? "" : v);
          if (!row.factors.back().empty()) {
            if (!row.config.empty()) row.config += ' ';
            row.config += table.columns[f] + "=" + row.factors.back();
          }
        }
        for (size_t m = 0; m < ds.metrics.size(); ++m) {
          MetricColumn& mc = ds.metrics[m];
          auto number = parse_cell_number(table.rows[r][mc.column], table.decimal_comma);
          if (!number) continue;
          double value = number->value;
          std::optional<Unit> from = number->unit ? number->unit : table.summaries[mc.column].unit;
          if (from && mc.unit && comparable(*from, *mc.unit))
            value = convert(value, *from, *mc.unit);
          if (from && mc.unit && from->to_base < mc.unit->to_base) {
            // ns shown as ms: keep the exact digits of the converted value (3 decimals at most).
            mc.decimals = std::max(mc.decimals, 3);
          }
          row.values[m] = value;
        }
        if (row.values.empty()) continue;
        ds.configs[row.config].push_back(ds.rows.size());
        ds.rows.push_back(std::move(row));
      }
      if (ds.rows.empty()) continue;
      for (size_t f = 0; f < ds.factor_columns.size(); ++f) {
        std::set<std::string> distinct;
        for (const auto& row : ds.rows) {
          if (!row.factors[f].empty()) distinct.insert(row.factors[f]);
        }
        if (distinct.size() >= 2) ds.varying.push_back(f);
      }
      for (auto& m : ds.metrics) m.decimals = std::min(m.decimals, 3);
      out.push_back(std::move(ds));
    }
  }
  return out;
}

std::string value_text(double value, int decimals, const std::optional<Unit>& unit) {
  std::string number = fmt::format("{:.{}f}", value, std::max(0, decimals));
  if (!unit) return number;
  if (unit->dimension == Dimension::kPercent) return number + "%";
  if (unit->dimension == Dimension::kRatio) return number + "x";
  return number + " " + unit->symbol;
}

Citer::Citer(FactsTable& facts) : facts_(facts) {
  for (const auto& f : facts.facts()) {
    if (f.kind == FactKind::kData && f.source.location > 0) {
      cells_.emplace(fmt::format("{}|{}|{}|{}", f.source.file, f.source.table, f.source.location,
                                 f.source.column),
                     f.id);
    }
  }
}

std::string Citer::cell(const DataSet& ds, const DataRow& row, size_t metric) {
  const MetricColumn& mc = ds.metrics[metric];
  std::string key =
      fmt::format("{}|{}|{}|{}", ds.file->relative_path, ds.table->name, row.location, mc.name);
  if (auto it = cells_.find(key); it != cells_.end()) return it->second;
  Fact f;
  f.kind = FactKind::kData;
  f.value = row.values.at(metric);
  f.decimals = mc.decimals;
  f.unit = mc.unit;
  f.metric = mc.metric;
  f.label = row_label(*ds.table, row.row);
  f.source.file = ds.file->relative_path;
  f.source.table = ds.table->name;
  f.source.location_kind = ds.table->location_kind;
  f.source.location = row.location;
  f.source.column = mc.name;
  std::string id = facts_.add(std::move(f)).id;
  cells_.emplace(key, id);
  return id;
}

std::string Citer::derived(const DataSet* ds, const std::string& column, const std::string& metric,
                           const std::string& statistic, const std::string& label, double value,
                           int decimals, const std::optional<Unit>& unit) {
  value = round_to(value, decimals);  // the fact holds what the text prints
  std::string key = fmt::format("{}|{}|{:.6f}", label, statistic, value);
  if (auto it = derived_.find(key); it != derived_.end()) return it->second;
  Fact f;
  f.kind = FactKind::kSummary;
  f.value = value;
  f.decimals = decimals;
  f.unit = unit;
  f.metric = metric;
  f.statistic = statistic;
  f.label = label;
  if (ds) {
    f.source.file = ds->file->relative_path;
    f.source.table = ds->table->name;
    f.source.location_kind = ds->table->location_kind;
  }
  f.source.column = column;
  f.source.note = "derived by the findings engine";
  std::string id = facts_.add(std::move(f)).id;
  derived_.emplace(key, id);
  return id;
}

std::string Citer::over_rows(const DataSet& ds, const std::vector<size_t>& rows, size_t m,
                             const std::string& statistic, const std::string& what, double value) {
  const MetricColumn& mc = ds.metrics[m];
  if (rows.size() == 1) return cell(ds, ds.rows[rows[0]], m);
  return derived(
      &ds, mc.name, mc.metric, statistic,
      fmt::format("{}: {} {} of {} (n={})", ds.name, mc.name, statistic, what, rows.size()), value,
      std::min(3, mc.decimals + 1), mc.unit);
}

std::string Citer::p_value(const DataSet* ds, const std::string& column, const std::string& metric,
                           const std::string& label, double p) {
  bool bound = p < 0.001;
  return derived(ds, column, metric, bound ? "p-value (upper bound)" : "p-value", label,
                 bound ? 0.001 : p, p_decimals(p), std::nullopt);
}

std::string cite(const std::vector<std::string>& ids) {
  std::vector<std::string> kept;
  for (const auto& id : ids) {
    if (!id.empty() && std::find(kept.begin(), kept.end(), id) == kept.end()) kept.push_back(id);
  }
  return kept.empty() ? "" : "[" + join(kept, ", ") + "]";
}

std::string cite(std::initializer_list<std::string> ids) {
  return cite(std::vector<std::string>(ids));
}

std::string percent_text(double fraction) {
  double pct = std::fabs(fraction * 100);
  return pct >= 10 ? fmt::format("{:.0f}%", pct) : fmt::format("{:.1f}%", pct);
}

int p_decimals(double p) { return p < 0.1 ? 3 : 2; }

std::string p_text(double p) {
  if (p < 0.001) return "p < 0.001";
  return fmt::format("p = {:.{}f}", p, p_decimals(p));
}

}  // namespace chimera::agent::findings_internal
