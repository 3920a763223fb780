// Findings about single rows: outliers within a model (robust: median and MAD of the other rows),
// a cold first call whose TTFT holds the model load, rows whose prompt was truncated, failed rows.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "agent/cell_value.h"
#include "agent/findings_internal.h"
#include "lab/stats.h"
#include "util/strings.h"

namespace chimera::agent::findings_internal {
namespace {

constexpr double kRobustZ = 5.0;        // |x - median| / (1.4826 MAD) above this is an outlier
constexpr double kOutlierRatio = 1.5;   // ... and at least this far, as a ratio to the median
constexpr double kColdLoadShare = 0.5;  // the row's load covers at least half its excess TTFT

std::string model_of(const DataSet& ds, const DataRow& row) {
  return ds.model_factor ? row.factors[*ds.model_factor] : std::string();
}

struct Excess {
  size_t row = 0;  // index into ds.rows
  double value = 0, median = 0, ratio = 0;
  std::vector<size_t> others;
};

// Rows of one model whose value of metric m lies far from the others' median, in the bad direction.
std::vector<Excess> excesses(const DataSet& ds, size_t m) {
  const MetricColumn& mc = ds.metrics[m];
  std::map<std::string, std::vector<size_t>> by_model;
  for (size_t i = 0; i < ds.rows.size(); ++i) {
    if (ds.rows[i].values.count(m)) by_model[model_of(ds, ds.rows[i])].push_back(i);
  }
  std::vector<Excess> out;
  for (const auto& [model, rows] : by_model) {
    if (rows.size() < 2) continue;
    for (size_t i : rows) {
      std::vector<double> others;
      std::vector<size_t> other_rows;
      for (size_t j : rows) {
        if (j == i) continue;
        others.push_back(ds.rows[j].values.at(m));
        other_rows.push_back(j);
      }
      double x = ds.rows[i].values.at(m);
      double median = lab::median(others);
      if (!(median > 0)) continue;
      std::vector<double> deviations;
      for (double o : others) deviations.push_back(std::fabs(o - median));
      // A floor of 1% of the median: identical values would make any difference infinite.
      double mad = std::max(lab::median(deviations) * 1.4826, median * 0.01);
      double ratio = mc.higher_is_better ? median / std::max(x, 1e-12) : x / median;
      bool bad_side = mc.higher_is_better ? x < median : x > median;
      // Two rows give no spread to judge by: only a gross ratio counts there.
      bool far = others.size() >= 2
                     ? std::fabs(x - median) / mad > kRobustZ && ratio > kOutlierRatio
                     : ratio >= 5;
      if (bad_side && far) out.push_back({i, x, median, ratio, other_rows});
    }
  }
  return out;
}

std::string median_fact(const DataSet& ds, const Excess& e, size_t m, Citer& citer) {
  std::string model = model_of(ds, ds.rows[e.row]);
  return citer.over_rows(ds, e.others, m, "median",
                         "the other rows of " + (model.empty() ? std::string("the table") : model),
                         e.median);
}

std::string where(const DataSet& ds, const DataRow& row) {
  std::string what = row.config.empty() ? "" : " (" + row.config + ")";
  return fmt::format("{} {} {}{}", ds.name, ds.table->location_kind, row.location, what);
}

// (row, metric) values to leave out of later comparisons.
using Exclusions = std::vector<std::pair<size_t, size_t>>;

Exclusions outliers(const DataSet& ds, Citer& citer, std::vector<DataFinding>& out) {
  auto ttft = ds.metric_index("ttft"), load = ds.metric_index("load");
  std::vector<size_t> cold_rows;
  Exclusions excluded;
  // TTFT first: a cold start explains a load outlier too, said once.
  for (std::string_view name : {"ttft", "load", "latency", "decode_tps", "prefill_tps"}) {
    auto m = ds.metric_index(name);
    if (!m) continue;
    const MetricColumn& mc = ds.metrics[*m];
    for (const Excess& e : excesses(ds, *m)) {
      const DataRow& row = ds.rows[e.row];
      if (std::find(cold_rows.begin(), cold_rows.end(), e.row) != cold_rows.end()) continue;
      DataFinding f;
      f.dataset = ds.name;
      f.metric = mc.metric;
      f.unit = mc.unit_text();
      std::string value_id = citer.cell(ds, row, *m);
      std::string median_id = median_fact(ds, e, *m, citer);
      int d = e.others.size() == 1 ? mc.decimals : std::min(3, mc.decimals + 1);
      f.fact_ids = {value_id, median_id};
      std::string head =
          fmt::format("{}: {} {} {} against {} {} for the other rows of {}", where(ds, row),
                      mc.name, value_text(e.value, mc.decimals, mc.unit), cite({value_id}),
                      value_text(e.median, d, mc.unit), cite({median_id}),
                      model_of(ds, row).empty() ? "the table" : model_of(ds, row));
      // A cold start: a load time that covers the excess, or the first row of its model.
      bool first_of_model = true;
      for (size_t j = 0; j < e.row; ++j) {
        first_of_model = first_of_model && model_of(ds, ds.rows[j]) != model_of(ds, row);
      }
      std::optional<double> row_load;
      if (load && row.values.count(*load)) row_load = row.values.at(*load);
      bool load_explains = false;
      if (row_load && (name == "ttft" || name == "latency") && mc.unit && ds.metrics[*load].unit &&
          comparable(*ds.metrics[*load].unit, *mc.unit)) {
        double load_in_metric = convert(*row_load, *ds.metrics[*load].unit, *mc.unit);
        load_explains = load_in_metric >= kColdLoadShare * (e.value - e.median);
      }
      if (name == "load" || load_explains || (first_of_model && name == "ttft" && !load)) {
        f.topic = FindingTopic::kColdStart;
        f.support = Support::kSupported;
        std::string because;
        if (load_explains) {
          std::string load_id = citer.cell(ds, row, *load);
          f.fact_ids.push_back(load_id);
          because = fmt::format(
              "; its load time of {} {} says this call loaded the model, so its {} holds the load",
              value_text(*row_load, ds.metrics[*load].decimals, ds.metrics[*load].unit),
              cite({load_id}), mc.name);
        } else if (name == "load") {
          because = "; this call loaded the model (a cold start)";
          if (ttft && row.values.count(*ttft)) {
            std::string ttft_id = citer.cell(ds, row, *ttft);
            f.fact_ids.push_back(ttft_id);
            because +=
                fmt::format(", and its {} of {} {} includes that load", ds.metrics[*ttft].name,
                            value_text(row.values.at(*ttft), ds.metrics[*ttft].decimals,
                                       ds.metrics[*ttft].unit),
                            cite({ttft_id}));
          }
        } else {
          because =
              "; it is the first row of its model, so it most likely paid the model load "
              "(the file has no load time to confirm it)";
        }
        f.text = head + because +
                 ". A cold first call is an outlier, not the configuration's speed: it is left out "
                 "of the comparisons below.";
        f.weight = 3.5;
        cold_rows.push_back(e.row);
        // Its latencies hold the load; its decode rate does not (decoding starts after it).
        for (std::string_view latency : {"ttft", "latency", "load"}) {
          if (auto lm = ds.metric_index(latency)) excluded.emplace_back(e.row, *lm);
        }
      } else {
        f.topic = FindingTopic::kOutlier;
        f.support = Support::kSupported;
        f.text = head +
                 ": an outlier, far outside the others' spread; check that run before using it. "
                 "It is left out of the comparisons below.";
        f.weight = 2.0;
        excluded.emplace_back(e.row, *m);
      }
      out.push_back(std::move(f));
    }
  }
  return excluded;
}

void truncation(const DataSet& ds, Citer& citer, std::vector<DataFinding>& out) {
  const DataTable& t = *ds.table;
  for (size_t c = 0; c < t.columns.size(); ++c) {
    if (normalize_column_name(t.columns[c]).find("truncat") == std::string::npos) continue;
    std::vector<const DataRow*> cut;
    for (const DataRow& row : ds.rows) {
      if (parse_bool(trim(t.rows[row.row][c])).value_or(false)) cut.push_back(&row);
    }
    if (cut.empty()) continue;
    std::string count_id =
        citer.derived(&ds, t.columns[c], "truncated_rows", "count",
                      fmt::format("{}: rows with {} = true", ds.name, t.columns[c]),
                      static_cast<double>(cut.size()), 0, parse_unit("rows"));
    // Which settings cut the prompt: the option values every such row shares with no other.
    std::vector<std::string> settings;
    for (const DataRow* row : cut) {
      if (std::find(settings.begin(), settings.end(), row->config) == settings.end() &&
          settings.size() < 6) {
        settings.push_back(row->config);
      }
    }
    DataFinding f;
    f.topic = FindingTopic::kTruncation;
    f.dataset = ds.name;
    f.support = Support::kNotApplicable;
    f.fact_ids = {count_id};
    f.text = fmt::format(
        "{}: {} of {} rows {} have {} = true ({}{}): the model saw a cut prompt, so these rows "
        "measure a different workload and their figures compare with nothing else.",
        ds.name, cut.size(), ds.rows.size(), cite({count_id}), t.columns[c], join(settings, "; "),
        cut.size() > settings.size() ? "; ..." : "");
    f.weight = 2.5;
    out.push_back(std::move(f));
  }
}

}  // namespace

void analyse_rows(DataSet& ds, Citer& citer, std::vector<DataFinding>& out) {
  Exclusions excluded = outliers(ds, citer, out);
  truncation(ds, citer, out);
  // Said once above, then left out of every comparison.
  for (const auto& [row, m] : excluded) ds.rows[row].values.erase(m);
}

void failures(const IngestResult& ingest, Citer& citer, std::vector<DataFinding>& out) {
  for (const auto& file : ingest.files) {
    if (!file.parsed || file.failure_rows() == 0) continue;
    std::string failed_id, rows_id;
    for (const auto& fact : citer.facts().facts()) {
      if (fact.kind != FactKind::kInventory || fact.source.file != file.relative_path) continue;
      if (fact.metric == "failure_rows") failed_id = fact.id;
      if (fact.metric == "rows") rows_id = fact.id;
    }
    std::vector<std::string> examples;
    for (const auto& table : file.tables) {
      for (size_t r = 0; r < table.rows.size() && examples.size() < 3; ++r) {
        if (!table.row_failed[r]) continue;
        std::string reason;
        for (size_t c = 0; c < table.columns.size(); ++c) {
          std::string_view cell = trim(table.rows[r][c]);
          if (table.summaries[c].kind.role == ColumnRole::kError && !is_missing(cell) &&
              reason.empty()) {
            reason = std::string(cell);
          }
        }
        if (reason.empty()) {  // a failure marked elsewhere: say what the row's text says
          for (size_t c = 0; c < table.columns.size(); ++c) {
            std::string_view cell = trim(table.rows[r][c]);
            if (table.summaries[c].type == ColumnType::kText && cell.size() > reason.size() &&
                table.summaries[c].kind.role != ColumnRole::kIdentity) {
              reason = std::string(cell);
            }
          }
        }
        std::string label = row_label(table, r);
        examples.push_back(fmt::format("{} {}{}: `{}`", table.location_kind, table.row_locations[r],
                                       label.empty() ? "" : " (" + label + ")",
                                       replace_all(reason.empty() ? "failed" : reason, "`", "'")));
      }
    }
    DataFinding f;
    f.topic = FindingTopic::kFailure;
    f.dataset = file.relative_path;
    f.support = Support::kNotApplicable;
    f.fact_ids = {failed_id, rows_id};
    f.text = fmt::format(
        "{}: {} of {} rows failed {}; they are counted and never averaged as zeros. {}.",
        file.relative_path, file.failure_rows(), file.rows(), cite({failed_id, rows_id}),
        join(examples, "; "));
    f.weight = 2.8;
    out.push_back(std::move(f));
  }
}

}  // namespace chimera::agent::findings_internal
