// Findings across data sets: the same model and quantization measured in two files (agreement or
// contradiction), and a profile's expected figures found (or not) among the data's rows.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "agent/findings_internal.h"
#include "lab/stats.h"
#include "util/strings.h"

namespace chimera::agent::findings_internal {
namespace {

bool is_quant_name(std::string_view name) {
  std::string n = normalize_column_name(name);
  return n == "quant" || n == "quantization" || n == "quantization_level" || n == "quant_type" ||
         n == "weight_type";
}

std::string normalized_model(std::string model) {
  model = to_lower(std::string(trim(model)));
  if (ends_with(model, ":latest")) model.resize(model.size() - 7);
  return model;
}

struct Sample {
  const DataSet* ds = nullptr;
  std::string quant;  // "" when the data set does not say
  std::vector<size_t> rows;
};

// model -> the rows of each data set measuring it, one sample per quantization.
std::map<std::string, std::vector<Sample>> by_model(const std::vector<DataSet>& sets) {
  std::map<std::string, std::vector<Sample>> out;
  for (const DataSet& ds : sets) {
    if (!ds.model_factor) continue;
    std::optional<size_t> quant;
    for (size_t f = 0; f < ds.factor_columns.size(); ++f) {
      if (is_quant_name(ds.factor_name(f))) quant = f;
    }
    std::map<std::string, std::vector<size_t>> keyed;
    for (size_t i = 0; i < ds.rows.size(); ++i) {
      std::string model = normalized_model(ds.rows[i].factors[*ds.model_factor]);
      if (model.empty()) continue;
      std::string q = quant ? to_lower(ds.rows[i].factors[*quant]) : "";
      keyed[model + "|" + q].push_back(i);
    }
    for (auto& [key, rows] : keyed) {
      out[key.substr(0, key.find('|'))].push_back(
          {&ds, key.substr(key.find('|') + 1), std::move(rows)});
    }
  }
  return out;
}

struct SideFigures {
  double mean = 0, min = 0, max = 0;
  std::vector<double> values;
  std::string fact;
  int decimals = 0;
};

SideFigures side(const Sample& s, size_t m, Citer& citer, const std::string& key) {
  SideFigures out;
  const MetricColumn& mc = s.ds->metrics[m];
  std::vector<size_t> with_value;
  for (size_t i : s.rows) {
    if (auto it = s.ds->rows[i].values.find(m); it != s.ds->rows[i].values.end()) {
      out.values.push_back(it->second);
      with_value.push_back(i);
    }
  }
  if (out.values.empty()) return out;
  out.mean = lab::mean(out.values);
  out.min = *std::min_element(out.values.begin(), out.values.end());
  out.max = *std::max_element(out.values.begin(), out.values.end());
  out.decimals = out.values.size() == 1 ? mc.decimals : std::min(3, mc.decimals + 1);
  out.fact = citer.over_rows(*s.ds, with_value, m, "mean", key, out.mean);
  return out;
}

void compare_samples(const Sample& a, size_t ma, const Sample& b, size_t mb,
                     const std::string& what, Citer& citer, std::vector<DataFinding>& out) {
  const MetricColumn& mca = a.ds->metrics[ma];
  const MetricColumn& mcb = b.ds->metrics[mb];
  if (!mca.unit || !mcb.unit || !comparable(*mca.unit, *mcb.unit)) return;
  SideFigures fa = side(a, ma, citer, what), fb = side(b, mb, citer, what);
  if (fa.values.empty() || fb.values.empty()) return;
  double scale = convert(1.0, *mcb.unit, *mca.unit);  // b's values in a's unit
  double b_mean = fb.mean * scale, b_min = fb.min * scale, b_max = fb.max * scale;
  double lo = std::min(fa.mean, b_mean);
  if (!(lo > 0)) return;
  double gap = std::fabs(fa.mean - b_mean) / lo;
  std::string gap_id = citer.derived(nullptr, "", mca.metric, "difference",
                                     fmt::format("{} {} between {} and {}, % of the lower", what,
                                                 mca.metric, a.ds->name, b.ds->name),
                                     gap * 100, gap * 100 < 10 ? 1 : 0, parse_unit("%"));
  bool overlap = fa.min <= b_max && b_min <= fa.max;
  DataFinding f;
  f.topic = FindingTopic::kContradiction;
  f.dataset = a.ds->name + " & " + b.ds->name;
  f.metric = mca.metric;
  f.unit = mca.unit_text();
  f.fact_ids = {fa.fact, fb.fact, gap_id};
  // The row counts are in the cited facts' labels ("mean of ... (n=6)").
  std::string head = fmt::format("{} {}: {} in {} {} and {} in {} {}, {} apart {}", what, mca.name,
                                 value_text(fa.mean, fa.decimals, mca.unit), a.ds->name,
                                 cite({fa.fact}), value_text(fb.mean, fb.decimals, mcb.unit),
                                 b.ds->name, cite({fb.fact}), percent_text(gap), cite({gap_id}));
  if (overlap || gap < 0.01) {
    f.support = Support::kNotSupported;
    f.text = head + ": the two agree (their rows overlap).";
    f.weight = 0.6;
  } else {
    std::vector<double> bv;
    for (double v : fb.values) bv.push_back(v * scale);
    auto welch = lab::welch_t_test(fa.values, bv);
    f.support = welch ? (welch->p < 0.05 ? Support::kSupported : Support::kNotSupported)
                      : Support::kCannotTell;
    std::string tested = ", with too few rows to test";
    if (welch) {
      std::string p_id = citer.p_value(
          nullptr, "", mca.metric,
          fmt::format("{} {} between {} and {}, Welch", what, mca.metric, a.ds->name, b.ds->name),
          welch->p);
      f.fact_ids.push_back(p_id);
      tested = fmt::format(", {} {}", p_text(welch->p), cite({p_id}));
    }
    f.text = head + fmt::format(
                        ": they contradict each other (no row of one lies within the other's "
                        "range){}. The same model measured this differently means another "
                        "machine, driver, option or load: say which before comparing them.",
                        tested);
    f.weight = 2.7 + std::min(1.0, gap);
  }
  out.push_back(std::move(f));
}

}  // namespace

void across_files(const std::vector<DataSet>& sets, Citer& citer, std::vector<DataFinding>& out) {
  constexpr size_t kMaxPairs = 6;  // per model and metric: a folder of many copies says it once
  for (const auto& [model, samples] : by_model(sets)) {
    for (std::string_view metric : {"decode_tps", "ttft"}) {
      size_t pairs = 0;
      for (size_t i = 0; i < samples.size() && pairs < kMaxPairs; ++i) {
        for (size_t j = i + 1; j < samples.size() && pairs < kMaxPairs; ++j) {
          const Sample& a = samples[i];
          const Sample& b = samples[j];
          if (a.ds == b.ds) continue;  // within one table, configurations differ by design
          if (!a.quant.empty() && !b.quant.empty() && a.quant != b.quant) continue;
          auto ma = a.ds->metric_index(metric), mb = b.ds->metric_index(metric);
          if (!ma || !mb) continue;
          std::string quant = !a.quant.empty() ? a.quant : b.quant;
          compare_samples(a, *ma, b, *mb, quant.empty() ? model : model + " " + quant, citer, out);
          ++pairs;
        }
      }
    }
  }
}

void expected_against_data(const std::vector<DataSet>& sets, Citer& citer,
                           const FindingsContext& context, std::vector<DataFinding>& out) {
  for (const Profile& profile : context.profiles) {
    for (const ExpectedFigure& e : profile.expected) {
      std::string metric = classify_column(e.metric).metric;
      DataFinding f;
      f.topic = FindingTopic::kExpected;
      f.provenance = Provenance::kExpected;
      f.metric = metric;
      f.unit = e.unit.symbol;
      std::string expected = fmt::format("{:.{}f} {}", e.value, e.decimals, e.unit.symbol);
      for (const DataSet& ds : sets) {
        auto m = ds.metric_index(metric);
        if (!m || !ds.metrics[*m].unit || !comparable(e.unit, *ds.metrics[*m].unit)) continue;
        const MetricColumn& mc = ds.metrics[*m];
        std::vector<double> all;
        const DataRow* match = nullptr;
        for (const DataRow& row : ds.rows) {
          if (!row.values.count(*m)) continue;
          double v = row.values.at(*m);
          all.push_back(v);
          double in_expected_unit = convert(v, *mc.unit, e.unit);
          double scale = std::pow(10.0, e.decimals);
          if (!match && std::round(in_expected_unit * scale) == std::round(e.value * scale)) {
            match = &row;
          }
        }
        if (!match || all.size() < 2) continue;
        size_t better = static_cast<size_t>(std::count_if(all.begin(), all.end(), [&](double v) {
          return mc.higher_is_better ? v > match->values.at(*m) : v < match->values.at(*m);
        }));
        std::string row_id = citer.cell(ds, *match, *m);
        double mean = lab::mean(all);
        std::string mean_id =
            citer.derived(&ds, mc.name, mc.metric, "mean",
                          fmt::format("{}: {} mean of all {} rows", ds.name, mc.name, all.size()),
                          mean, std::min(3, mc.decimals + 1), mc.unit);
        bool single = ds.configs.count(match->config) && ds.configs.at(match->config).size() == 1;
        f.dataset = ds.name;
        f.fact_ids = {row_id, mean_id};
        // The winner's curse: the best of many single samples cannot be told from luck.
        f.support = single && better == 0 ? Support::kCannotTell : Support::kNotApplicable;
        f.text = fmt::format(
            "The {} profile's expected {} of {} (expected: {}) is one row of {}, {} {} {}: rank "
            "{} of {} rows, whose mean is {} {}.{}",
            profile.name, e.metric, expected, profile.expected_source, ds.name,
            ds.table->location_kind, match->location, cite({row_id}), better + 1, all.size(),
            value_text(mean, std::min(3, mc.decimals + 1), mc.unit), cite({mean_id}),
            single && better == 0
                ? " It is the best of many single samples, which overstates what that "
                  "configuration gives on a rerun (regression to the mean): read it as an upper "
                  "estimate, measured on other hardware."
                : " It was measured on other hardware: compare it with this run's figures as "
                  "context, not as a target.");
        f.weight = 3.0;
        break;
      }
      if (f.text.empty()) {
        f.support = Support::kNotApplicable;
        f.text = fmt::format(
            "The {} profile's expected {} of {} (expected: {}) does not occur in the data; it "
            "cannot be checked against any row here.",
            profile.name, e.metric, expected, profile.expected_source);
        f.weight = 1.0;
      }
      out.push_back(std::move(f));
    }
  }
}

}  // namespace chimera::agent::findings_internal
