// Per data set: best and worst configurations, option effects against the replicate spread,
// replicates. Outliers, cold starts, failures and cross-file findings are in findings_rows.cpp and
// findings_cross.cpp.
#include "agent/findings.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "agent/findings_data.h"
#include "agent/findings_internal.h"
#include "lab/stats.h"
#include "util/strings.h"

namespace chimera::agent {
namespace findings_internal {
namespace {

constexpr std::string_view kEffectMetrics[] = {"decode_tps", "ttft", "memory"};

// A configuration's mean of metric m and how many rows it has.
struct ConfigMean {
  std::string config;
  double mean = 0;
  std::vector<size_t> rows;
};

std::vector<ConfigMean> config_means(const DataSet& ds, size_t m) {
  std::vector<ConfigMean> out;
  for (const auto& [key, indexes] : ds.configs) {
    ConfigMean c{key, 0, {}};
    for (size_t i : indexes) {
      if (auto it = ds.rows[i].values.find(m); it != ds.rows[i].values.end()) {
        c.mean += it->second;
        c.rows.push_back(i);
      }
    }
    if (c.rows.empty()) continue;
    c.mean /= static_cast<double>(c.rows.size());
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<double> values_of(const DataSet& ds, const std::vector<size_t>& rows, size_t m) {
  std::vector<double> v;
  for (size_t i : rows) {
    if (auto it = ds.rows[i].values.find(m); it != ds.rows[i].values.end()) v.push_back(it->second);
  }
  return v;
}

// The fact for a configuration's value: its cell when it has one row, else a derived mean.
std::string config_fact(const DataSet& ds, const ConfigMean& c, size_t m, Citer& citer) {
  return citer.over_rows(ds, c.rows, m, "mean", c.config.empty() ? "all rows" : c.config, c.mean);
}

std::string config_name(const std::string& config) {
  return config.empty() ? "(all rows)" : config;
}

int value_decimals(const MetricColumn& mc, int64_t n) {
  return n > 1 ? std::min(3, mc.decimals + 1) : mc.decimals;
}

void best_worst(const DataSet& ds, Citer& citer, const FindingsContext& context,
                std::vector<DataFinding>& out) {
  for (size_t m = 0; m < ds.metrics.size(); ++m) {
    const MetricColumn& mc = ds.metrics[m];
    std::vector<ConfigMean> means = config_means(ds, m);
    if (means.size() < 2) continue;
    std::sort(means.begin(), means.end(), [&](const ConfigMean& a, const ConfigMean& b) {
      return mc.higher_is_better ? a.mean > b.mean : a.mean < b.mean;
    });
    const ConfigMean& best = means.front();
    const ConfigMean& second = means[1];
    const ConfigMean& worst = means.back();
    double lo = std::min(best.mean, worst.mean), hi = std::max(best.mean, worst.mean);
    if (!(lo > 0)) continue;
    DataFinding f;
    f.topic = FindingTopic::kBestWorst;
    f.dataset = ds.name;
    f.metric = mc.metric;
    f.unit = mc.unit_text();
    std::string best_id = config_fact(ds, best, m, citer);
    std::string worst_id = config_fact(ds, worst, m, citer);
    std::string spread_id =
        citer.derived(&ds, mc.name, mc.metric, "spread",
                      fmt::format("{}: {} spread (max - min) / min over {} configurations", ds.name,
                                  mc.name, means.size()),
                      (hi - lo) / lo * 100, 1, parse_unit("%"));
    std::string configs_id =
        citer.derived(&ds, mc.name, mc.metric, "count",
                      fmt::format("{}: configurations with a {} value", ds.name, mc.name),
                      static_cast<double>(means.size()), 0, parse_unit("configurations"));
    f.text = fmt::format(
        "{} ({}): best {} at {} {}, worst {} at {} {}; spread {} {} over {} configurations {}.",
        mc.name, ds.name, config_name(best.config),
        value_text(best.mean, value_decimals(mc, static_cast<int64_t>(best.rows.size())), mc.unit),
        cite({best_id}), config_name(worst.config),
        value_text(worst.mean, value_decimals(mc, static_cast<int64_t>(worst.rows.size())),
                   mc.unit),
        cite({worst_id}), percent_text((hi - lo) / lo), cite({spread_id}), means.size(),
        cite({configs_id}));
    f.fact_ids = {best_id, worst_id, spread_id, configs_id};
    // The top two: can the data tell them apart?
    double gap = std::fabs(best.mean - second.mean) / std::min(best.mean, second.mean);
    std::string second_id = config_fact(ds, second, m, citer);
    std::string gap_id =
        citer.derived(&ds, mc.name, mc.metric, "difference",
                      fmt::format("{}: {} gap between the best two configurations, % of the lower",
                                  ds.name, mc.name),
                      gap * 100, gap * 100 < 10 ? 2 : 1, parse_unit("%"));
    std::vector<double> a = values_of(ds, best.rows, m), b = values_of(ds, second.rows, m);
    auto welch = lab::welch_t_test(a, b);
    if (welch) {
      std::string p_id = citer.p_value(
          &ds, mc.name, mc.metric,
          fmt::format("{}: {} best vs second best, Welch", ds.name, mc.name), welch->p);
      bool apart = welch->p < context.alpha;
      f.support = apart ? Support::kSupported : Support::kNotSupported;
      f.text += fmt::format(
          " The best two ({} {}) differ by {} {}: {} ({} {}).", config_name(second.config),
          cite({second_id}), percent_text(gap), cite({gap_id}),
          apart ? "more than their replicates vary" : "within the spread of their replicates",
          p_text(welch->p), cite({p_id}));
      f.fact_ids.insert(f.fact_ids.end(), {second_id, gap_id, p_id});
    } else {
      f.support = Support::kCannotTell;
      f.text += fmt::format(
          " The best two ({} {}) differ by {} {}; with one sample per configuration the data "
          "cannot tell them apart, so the ranking at the top is not established.",
          config_name(second.config), cite({second_id}), percent_text(gap), cite({gap_id}));
      f.fact_ids.insert(f.fact_ids.end(), {second_id, gap_id});
    }
    f.weight = 2.0 + std::min(1.0, (hi - lo) / lo);
    out.push_back(std::move(f));
  }
}

struct LevelRows {
  std::string value;
  std::vector<size_t> rows;
};

// Levels of factor f in a readable order (numerically when they are numbers).
std::vector<LevelRows> levels_of(const DataSet& ds, size_t f) {
  std::map<std::string, std::vector<size_t>> by_value;
  for (size_t i = 0; i < ds.rows.size(); ++i) {
    if (!ds.rows[i].factors[f].empty()) by_value[ds.rows[i].factors[f]].push_back(i);
  }
  std::vector<LevelRows> out;
  for (auto& [v, rows] : by_value) out.push_back({v, rows});
  std::stable_sort(out.begin(), out.end(), [](const LevelRows& a, const LevelRows& b) {
    auto x = parse_double(a.value), y = parse_double(b.value);
    if (x && y) return *x < *y;
    return false;
  });
  return out;
}

// Rows grouped by the values of every factor but f: the settings in which f's levels are compared.
std::map<std::string, std::map<std::string, std::vector<size_t>>> strata_without(const DataSet& ds,
                                                                                 size_t f) {
  std::map<std::string, std::map<std::string, std::vector<size_t>>> strata;
  for (size_t i = 0; i < ds.rows.size(); ++i) {
    const DataRow& row = ds.rows[i];
    if (row.factors[f].empty()) continue;
    std::string key;
    for (size_t g = 0; g < row.factors.size(); ++g) {
      if (g != f) key += row.factors[g] + "\x1f";
    }
    strata[key][row.factors[f]].push_back(i);
  }
  return strata;
}

void option_effects(const DataSet& ds, Citer& citer, const FindingsContext& context,
                    std::vector<DataFinding>& out) {
  for (size_t f : ds.varying) {
    std::string option = ds.factor_name(f);
    std::vector<LevelRows> levels = levels_of(ds, f);
    auto strata = strata_without(ds, f);
    for (std::string_view metric_name : kEffectMetrics) {
      auto m_index = ds.metric_index(metric_name);
      if (!m_index) continue;
      size_t m = *m_index;
      const MetricColumn& mc = ds.metrics[m];
      auto pooled = ds.pooled_variance(m);
      DataFinding finding;
      finding.topic = ds.model_factor && *ds.model_factor == f ? FindingTopic::kModelComparison
                                                               : FindingTopic::kOptionEffect;
      finding.dataset = ds.name;
      finding.option = option;
      finding.metric = mc.metric;
      finding.unit = mc.unit_text();
      // Level means over every row at the level.
      size_t lo = 0, hi = 0;
      for (size_t l = 0; l < levels.size(); ++l) {
        std::vector<double> v = values_of(ds, levels[l].rows, m);
        if (v.empty()) continue;
        EffectLevel level{levels[l].value, lab::mean(v), std::nullopt, std::nullopt,
                          static_cast<int64_t>(v.size())};
        if (pooled) {  // the CI from the replicate noise, not from the other options' spread
          double half = lab::student_t_quantile(0.975, pooled->second) *
                        std::sqrt(pooled->first / static_cast<double>(v.size()));
          level.lower = level.mean - half;
          level.upper = level.mean + half;
        }
        finding.levels.push_back(level);
      }
      if (finding.levels.size() < 2) continue;
      for (size_t l = 1; l < finding.levels.size(); ++l) {
        if (finding.levels[l].mean < finding.levels[lo].mean) lo = l;
        if (finding.levels[l].mean > finding.levels[hi].mean) hi = l;
      }
      const EffectLevel& low = finding.levels[lo];
      const EffectLevel& high = finding.levels[hi];
      if (!(low.mean > 0)) continue;
      // Matched settings: strata holding both levels; the effect is the mean within-stratum gap.
      std::vector<double> gaps;
      double variance_sum = 0;
      for (const auto& [key, by_level] : strata) {
        auto a = by_level.find(low.value), b = by_level.find(high.value);
        if (a == by_level.end() || b == by_level.end()) continue;
        std::vector<double> va = values_of(ds, a->second, m), vb = values_of(ds, b->second, m);
        if (va.empty() || vb.empty()) continue;
        gaps.push_back(lab::mean(vb) - lab::mean(va));
        variance_sum += 1.0 / static_cast<double>(va.size()) + 1.0 / static_cast<double>(vb.size());
      }
      int d = std::min(3, mc.decimals + 1);
      auto level_fact = [&](const EffectLevel& level) {
        return citer.derived(&ds, mc.name, mc.metric, "mean",
                             fmt::format("{}: {} mean at {}={} (n={})", ds.name, mc.name, option,
                                         level.value, level.n),
                             level.mean, d, mc.unit);
      };
      std::string low_id = level_fact(low), high_id = level_fact(high);
      finding.fact_ids = {low_id, high_id};
      std::string head =
          fmt::format("{} ({}): mean {} is {} at {}={} {} and {} at {}={} {}", option, ds.name,
                      mc.name, value_text(low.mean, d, mc.unit), option, low.value, cite({low_id}),
                      value_text(high.mean, d, mc.unit), option, high.value, cite({high_id}));
      double effect = gaps.empty() ? high.mean - low.mean : lab::mean(gaps);
      std::string effect_id = citer.derived(
          &ds, mc.name, mc.metric, "difference",
          fmt::format("{}: {} change from {}={} to {}={}, % of the lower", ds.name, mc.name, option,
                      low.value, option, high.value),
          effect / low.mean * 100, std::fabs(effect / low.mean) < 0.1 ? 1 : 0, parse_unit("%"));
      finding.fact_ids.push_back(effect_id);
      if (gaps.empty()) {
        // No setting holds both levels: the option changed together with another one.
        finding.support = Support::kCannotTell;
        finding.text = fmt::format(
            "{}; {} apart {}. No two rows differ in {} alone (it changes together with the other "
            "columns), so its own effect cannot be separated.",
            head, percent_text(effect / low.mean), cite({effect_id}), option);
        finding.weight = 1.0;
      } else if (pooled) {
        double se = std::sqrt(pooled->first * variance_sum) / static_cast<double>(gaps.size());
        double pairs = static_cast<double>(finding.levels.size() * (finding.levels.size() - 1) / 2);
        double t = se > 0 ? effect / se : 0;
        double p = se > 0 ? std::min(1.0, lab::student_t_two_sided_p(t, pooled->second) * pairs)
                          : (effect == 0 ? 1.0 : 0.0);
        std::string p_id =
            citer.p_value(&ds, mc.name, mc.metric,
                          fmt::format("{}: {} effect of {} against the replicate spread", ds.name,
                                      mc.name, option),
                          p);
        finding.fact_ids.push_back(p_id);
        std::string correction =
            pairs > 1 ? fmt::format(", Bonferroni over {:.0f} level pairs", pairs) : "";
        if (p < context.alpha) {
          finding.support = Support::kSupported;
          finding.text = fmt::format(
              "{}: a {} change {} over {} matched setting{}, larger than the spread between "
              "replicates ({}{} {}).",
              head, percent_text(effect / low.mean), cite({effect_id}), gaps.size(),
              gaps.size() == 1 ? "" : "s", p_text(p), correction, cite({p_id}));
          finding.weight = 3.0 + std::min(2.0, std::fabs(effect / low.mean) * 10);
        } else {
          finding.support = Support::kNotSupported;
          double mdd =
              lab::minimum_detectable_difference(se, pooled->second, context.alpha / pairs, 0.8);
          std::string mdd_id =
              citer.derived(&ds, mc.name, mc.metric, "detectable difference",
                            fmt::format("{}: smallest {} change of {} detectable at 80% power",
                                        ds.name, mc.name, option),
                            mdd, d, mc.unit);
          finding.fact_ids.push_back(mdd_id);
          finding.text = fmt::format(
              "{}: the {} change {} is within the spread between replicates ({}{} {}); this data "
              "could only have detected a change of {} {} or more (80% power).",
              head, percent_text(effect / low.mean), cite({effect_id}), p_text(p), correction,
              cite({p_id}), value_text(mdd, d, mc.unit), cite({mdd_id}));
          finding.weight = 1.5;
        }
      } else {
        size_t up = static_cast<size_t>(
            std::count_if(gaps.begin(), gaps.end(), [](double g) { return g > 0; }));
        finding.support = Support::kCannotTell;
        finding.text = fmt::format(
            "{}: {} apart {}. With one sample per configuration, whether this exceeds run-to-run "
            "noise cannot be told from this data; across {} matched setting{} the {}={} rows were "
            "higher in {} and lower in {}.",
            head, percent_text(effect / low.mean), cite({effect_id}), gaps.size(),
            gaps.size() == 1 ? "" : "s", option, high.value, up, gaps.size() - up);
        finding.weight = 0.8 + std::min(1.0, std::fabs(effect / low.mean) * 5);
      }
      out.push_back(std::move(finding));
    }
  }
}

void replicates(const DataSet& ds, Citer& citer, std::vector<DataFinding>& out) {
  if (ds.configs.size() < 2 && !ds.has_replicates()) return;
  DataFinding f;
  f.topic = FindingTopic::kReplicates;
  f.dataset = ds.name;
  size_t most = 0;
  for (const auto& [key, rows] : ds.configs) most = std::max(most, rows.size());
  std::string configs_id = citer.derived(&ds, "", "configurations", "count",
                                         fmt::format("{}: distinct configurations", ds.name),
                                         static_cast<double>(ds.configs.size()), 0, std::nullopt);
  f.fact_ids = {configs_id};
  if (!ds.has_replicates()) {
    f.support = Support::kCannotTell;
    f.text = fmt::format(
        "{} has one sample per configuration ({} configurations {}): no difference between its "
        "configurations can be told from run-to-run noise.",
        ds.name, ds.configs.size(), cite({configs_id}));
    f.weight = 2.5;
  } else {
    auto m = ds.metric_index("decode_tps");
    if (!m) m = 0;
    auto pooled = ds.pooled_variance(*m);
    const MetricColumn& mc = ds.metrics[*m];
    f.support = Support::kNotApplicable;
    f.text = fmt::format(
        "{} has replicates (up to {} rows per configuration over {} "
        "configurations {}), so its differences can be tested.",
        ds.name, most, ds.configs.size(), cite({configs_id}));
    if (pooled) {
      double sd = std::sqrt(pooled->first);
      std::string sd_id =
          citer.derived(&ds, mc.name, mc.metric, "sd",
                        fmt::format("{}: {} pooled sd between replicates", ds.name, mc.name), sd,
                        std::min(3, mc.decimals + 1), mc.unit);
      f.fact_ids.push_back(sd_id);
      f.text += fmt::format(" Replicates of {} vary with a pooled sd of {} {}.", mc.name,
                            value_text(sd, std::min(3, mc.decimals + 1), mc.unit), cite({sd_id}));
    }
    f.weight = 0.5;
  }
  out.push_back(std::move(f));
}

}  // namespace

void analyse_data_set(const DataSet& ds, Citer& citer, const FindingsContext& context,
                      std::vector<DataFinding>& out) {
  replicates(ds, citer, out);
  best_worst(ds, citer, context, out);
  option_effects(ds, citer, context, out);
}

}  // namespace findings_internal

std::string_view finding_topic_name(FindingTopic topic) {
  switch (topic) {
    case FindingTopic::kBestWorst:
      return "best and worst";
    case FindingTopic::kOptionEffect:
      return "option effect";
    case FindingTopic::kReplicates:
      return "replicates";
    case FindingTopic::kOutlier:
      return "outlier";
    case FindingTopic::kColdStart:
      return "cold start";
    case FindingTopic::kFailure:
      return "failure";
    case FindingTopic::kTruncation:
      return "truncated prompt";
    case FindingTopic::kContradiction:
      return "between files";
    case FindingTopic::kExpected:
      return "expected vs data";
    case FindingTopic::kModelComparison:
      return "model vs model";
    case FindingTopic::kRunComparison:
      return "this run: A/B";
    case FindingTopic::kRunExpected:
      return "this run vs expected";
  }
  return "finding";
}

std::string_view support_name(Support support) {
  switch (support) {
    case Support::kSupported:
      return "supported by the data";
    case Support::kNotSupported:
      return "within the noise";
    case Support::kCannotTell:
      return "cannot be told";
    case Support::kNotApplicable:
      return "observation";
  }
  return "";
}

std::vector<DataFinding> build_findings(const IngestResult& ingest, FactsTable& facts,
                                        const FindingsContext& context) {
  using namespace findings_internal;
  std::vector<DataFinding> out;
  Citer citer(facts);
  std::vector<DataSet> sets = data_sets(ingest);
  for (DataSet& ds : sets) {
    analyse_rows(ds, citer, out);  // first: cold calls leave the comparisons below
    analyse_data_set(ds, citer, context, out);
  }
  failures(ingest, citer, out);
  across_files(sets, citer, out);
  expected_against_data(sets, citer, context, out);
  return out;
}

std::vector<const DataFinding*> findings_of(const std::vector<DataFinding>& findings,
                                            std::initializer_list<FindingTopic> topics) {
  std::vector<const DataFinding*> out;
  for (const auto& f : findings) {
    if (std::find(topics.begin(), topics.end(), f.topic) != topics.end()) out.push_back(&f);
  }
  return out;
}

std::vector<const DataFinding*> key_findings(const std::vector<DataFinding>& findings,
                                             size_t limit) {
  std::vector<const DataFinding*> out;
  for (const auto& f : findings) out.push_back(&f);
  std::stable_sort(out.begin(), out.end(), [](const DataFinding* a, const DataFinding* b) {
    return a->weight > b->weight;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace chimera::agent
