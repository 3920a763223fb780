#include "agent/sweep_analysis.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "agent/cell_value.h"
#include "agent/ingest.h"
#include "lab/bench_report.h"
#include "lab/stats.h"
#include "llm/types.h"
#include "report/markdown.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

// The column's last path component, normalized: "config.num_gpu" -> "num_gpu".
std::string leaf_name(const std::string& column) {
  std::string n = normalize_column_name(column);
  size_t dot = n.find_last_of("./");
  return dot == std::string::npos ? n : n.substr(dot + 1);
}

bool is_option_column(const std::string& leaf) {
  auto in = [&](const std::vector<std::string_view>& names) {
    return std::find(names.begin(), names.end(), leaf) != names.end();
  };
  return in(llm::option_names()) || in(llm::extra_option_names()) || leaf == "model" ||
         leaf == "quant" || leaf == "quantization";
}

bool is_replicate_column(const std::string& leaf) {
  static const std::vector<std::string> kNames = {"run", "rep", "repetition", "replicate",
                                                  "iteration", "trial", "sample", "run_id"};
  return std::find(kNames.begin(), kNames.end(), leaf) != kNames.end();
}

struct Metric {
  std::string metric;
  bool higher_is_better;
};
std::optional<Metric> metric_of(const ColumnSummary& s) {
  if (s.kind.role != ColumnRole::kMetric || s.stats.count == 0) return std::nullopt;
  const std::string& m = s.kind.metric;
  if (m == "decode_tps" || m == "prefill_tps") return Metric{m, true};
  if (m == "ttft" || m == "load" || m == "latency" || m == "itl") return Metric{m, false};
  return std::nullopt;
}

std::string fixed2(double v) { return fmt::format("{:.2f}", v); }

}  // namespace

Result<SweepAnalysis> analyze_sweep_file(const std::string& path, double alpha) {
  FileReport file;
  file.path = path;
  file.relative_path = path;
  file.format = format_from_path(path);
  IngestLimits limits;
  Status read;
  switch (file.format) {
    case FileFormat::kCsv:
    case FileFormat::kTsv: read = ingest_csv_file(path, file, limits); break;
    case FileFormat::kJson: read = ingest_json_file(path, file, limits); break;
    case FileFormat::kJsonl: read = ingest_jsonl_file(path, file, limits); break;
    default:
      return make_error(ErrorCode::kInvalidArgument,
                        "--analyze {}: expected a .csv, .tsv, .json or .jsonl sweep", path);
  }
  CHIMERA_RETURN_IF_ERROR(read);
  // The table with the most rows that has both options and a speed or latency metric.
  const DataTable* table = nullptr;
  for (const DataTable& t : file.tables) {
    bool options = false, metrics = false;
    for (size_t c = 0; c < t.columns.size(); ++c) {
      options = options || is_option_column(leaf_name(t.columns[c]));
      metrics = metrics || metric_of(t.summaries[c]).has_value();
    }
    if (options && metrics && (table == nullptr || t.total_rows > table->total_rows)) table = &t;
  }
  if (table == nullptr) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--analyze {}: no table with option columns (num_ctx, num_gpu, temperature, "
                      "...) and a speed or latency column (tokens_per_second, ttft_ms, ...)",
                      path);
  }
  SweepAnalysis a;
  a.path = path;
  a.rows = table->total_rows;
  std::vector<size_t> factor_columns, metric_columns;
  for (size_t c = 0; c < table->columns.size(); ++c) {
    std::string leaf = leaf_name(table->columns[c]);
    if (is_replicate_column(leaf)) {
      a.replicate_column = table->columns[c];
    } else if (is_option_column(leaf)) {
      std::map<std::string, int> distinct;
      for (const auto& row : table->rows) {
        if (c < row.size()) ++distinct[row[c]];
      }
      if (distinct.size() > 1) {
        factor_columns.push_back(c);
        a.factors.push_back(leaf);
      } else if (distinct.size() == 1) {
        a.constant.push_back(fmt::format("{}={}", leaf, distinct.begin()->first));
      }
    } else if (metric_of(table->summaries[c])) {
      metric_columns.push_back(c);
    }
  }
  // Configurations: rows grouped by their factor values (failed rows left out).
  std::map<std::vector<std::string>, std::vector<size_t>> groups;
  for (size_t r = 0; r < table->rows.size(); ++r) {
    if (r < table->row_failed.size() && table->row_failed[r]) {
      ++a.failed_rows;
      continue;
    }
    std::vector<std::string> key;
    for (size_t c : factor_columns) key.push_back(c < table->rows[r].size() ? table->rows[r][c] : "");
    groups[key].push_back(r);
    ++a.used_rows;
  }
  a.configurations = groups.size();
  a.min_samples = groups.empty() ? 0 : SIZE_MAX;
  for (const auto& [key, rows] : groups) {
    a.min_samples = std::min(a.min_samples, rows.size());
    a.max_samples = std::max(a.max_samples, rows.size());
  }
  auto label = [&](const std::vector<std::string>& key) {
    std::vector<std::string> parts;
    for (size_t f = 0; f < key.size(); ++f) parts.push_back(a.factors[f] + "=" + key[f]);
    return join(parts, " ");
  };
  for (size_t c : metric_columns) {
    const ColumnSummary& s = table->summaries[c];
    Metric m = *metric_of(s);
    SweepMetric out{table->columns[c], m.metric, s.unit_symbol(), m.higher_is_better, {}, 0, {}, "", {}, {}, ""};
    std::vector<std::pair<std::string, std::vector<double>>> per_config;
    lab::EffectsInput effects;
    effects.factors = a.factors;
    std::vector<std::map<std::string, int>> level_index(a.factors.size());
    effects.levels.resize(a.factors.size());
    double pooled_ss = 0, pooled_df = 0;
    size_t replicated = 0;
    for (const auto& [key, rows] : groups) {
      std::vector<double> values;
      for (size_t r : rows) {
        if (c >= table->rows[r].size()) continue;
        if (auto v = parse_cell_number(table->rows[r][c], table->decimal_comma)) values.push_back(v->value);
      }
      if (values.empty()) continue;
      std::vector<int> row;
      for (size_t f = 0; f < key.size(); ++f) {
        auto [it, fresh] = level_index[f].emplace(key[f], static_cast<int>(effects.levels[f].size()));
        if (fresh) effects.levels[f].push_back(key[f]);
        row.push_back(it->second);
      }
      for (double v : values) {
        effects.rows.push_back(row);
        effects.y.push_back(v);
      }
      if (values.size() >= 2) {
        ++replicated;
        double sd = lab::sample_sd(values);
        pooled_ss += sd * sd * static_cast<double>(values.size() - 1);
        pooled_df += static_cast<double>(values.size() - 1);
      }
      per_config.emplace_back(label(key), std::move(values));
    }
    std::sort(per_config.begin(), per_config.end(), [&](const auto& x, const auto& y) {
      double mx = lab::mean(x.second), my = lab::mean(y.second);
      return m.higher_is_better ? mx > my : mx < my;
    });
    for (size_t i = 0; i < per_config.size() && i < 10; ++i) {
      out.top.emplace_back(per_config[i].first, lab::mean(per_config[i].second));
    }
    if (out.top.size() >= 2) out.top_spread = std::abs(out.top.front().second - out.top.back().second);
    if (pooled_df > 0) {
      out.noise_sd = std::sqrt(pooled_ss / pooled_df);
      out.noise_source = fmt::format("the replicates of {} configurations", replicated);
    }
    if (per_config.size() >= 2 && per_config[0].second.size() >= 2 && per_config[1].second.size() >= 2) {
      if (auto w = lab::welch_t_test(per_config[0].second, per_config[1].second)) out.top_two_p = w->p;
    }
    effects.replicated = replicated > 0;
    auto fx = lab::main_effects(effects, alpha);
    if (fx.ok()) {
      if (!out.noise_sd && fx->df_residual > 0) {
        out.noise_sd = fx->residual_sd;
        out.noise_source = "the residual of the main-effects model (no replicates: valid only if "
                           "the options do not interact)";
      }
      out.effects = std::move(*fx);
    } else {
      out.effects_unavailable = fx.status().message();
    }
    a.metrics.push_back(std::move(out));
  }

  // The verdicts.
  a.supports.push_back(fmt::format("{} rows ({} failed, excluded) in {} configurations of {} "
                                   "options ({})",
                                   a.rows, a.failed_rows, a.configurations, a.factors.size(),
                                   join(a.factors, ", ")));
  if (a.max_samples <= 1) {
    a.cannot_support.push_back(
        "a ranking of configurations: every configuration was measured once, so none has a "
        "confidence interval and no two can be compared by a test; \"rank 1\" is one draw");
  } else if (a.min_samples <= 1) {
    a.cannot_support.push_back(fmt::format(
        "a ranking of every configuration: some were measured once (samples per configuration: {} "
        "to {})",
        a.min_samples, a.max_samples));
  } else {
    a.supports.push_back(fmt::format("confidence intervals per configuration ({} to {} samples each)",
                                     a.min_samples, a.max_samples));
  }
  for (const SweepMetric& m : a.metrics) {
    if (m.top.size() >= 2) {
      std::string spread = fmt::format(
          "{}: the top {} configurations lie within {} {} ({:.1f}% of the best, {} {})", m.column,
          m.top.size(), fixed2(m.top_spread), m.unit,
          m.top.front().second != 0 ? 100 * m.top_spread / std::abs(m.top.front().second) : 0.0,
          fixed2(m.top.front().second), m.unit);
      if (m.noise_sd) {
        double ratio = m.top_spread / *m.noise_sd;
        spread += fmt::format("; one sample's noise is about {} {} (sd, from {}), so that spread is "
                              "{:.1f} sd",
                              fixed2(*m.noise_sd), m.unit, m.noise_source, ratio);
        (ratio < 2 ? a.cannot_support : a.supports).push_back(
            ratio < 2 ? spread + ": an order among them is inside the noise" : spread);
      } else {
        a.cannot_support.push_back(spread + "; the noise cannot be estimated, so the order cannot be judged");
      }
    }
    if (m.top_two_p) {
      std::string line = fmt::format("{}: best vs second, Welch {}", m.column, lab::format_p(*m.top_two_p));
      (*m.top_two_p < alpha ? a.supports : a.cannot_support).push_back(line);
    }
    if (!m.effects) {
      a.cannot_support.push_back(fmt::format("{}: option effects ({})", m.column, m.effects_unavailable));
      continue;
    }
    for (const lab::FactorEffect& f : m.effects->factors) {
      if (f.levels.empty()) continue;
      if (f.measurable) {
        a.supports.push_back(fmt::format("{}: {} has a measurable effect (largest {} {} vs {}={}; {})",
                                         m.column, f.name, fixed2(f.largest_effect()), m.unit, f.name,
                                         f.reference, lab::format_p(f.p_holm)));
      } else {
        a.cannot_support.push_back(fmt::format(
            "{}: any effect of {}: none measurable ({}); the sweep could have detected about {} {} "
            "at 80% power{}",
            m.column, f.name, lab::format_p(f.p_holm), fixed2(f.detectable), m.unit,
            m.effects->se_method.find("interact") != std::string::npos
                ? " (noise from the model's residual, assuming no interactions)"
                : ""));
      }
    }
  }
  return a;
}

std::string render_sweep_analysis(const SweepAnalysis& a) {
  report::MarkdownDocument doc;
  doc.heading(1, "What " + a.path + " can and cannot support");
  doc.heading(2, "It supports");
  doc.bullets(a.supports);
  doc.heading(2, "It cannot support");
  doc.bullets(a.cannot_support.empty() ? std::vector<std::string>{"nothing flagged"} : a.cannot_support);
  if (!a.constant.empty()) doc.paragraph("Held constant: " + join(a.constant, ", ") + ".");
  for (const SweepMetric& m : a.metrics) {
    doc.heading(2, m.column);
    report::Table t;
    t.headers = {"#", "configuration", fmt::format("mean {}", m.unit)};
    for (size_t i = 0; i < m.top.size(); ++i) {
      t.rows.push_back({std::to_string(i + 1), m.top[i].first, fixed2(m.top[i].second)});
    }
    doc.table(t);
  }
  doc.paragraph("To measure these options with confidence intervals, ties and effects: `chimera tune "
                "-b BACKEND --param NAME=VALUES ... --strategy race`.");
  return doc.str();
}

nlohmann::json sweep_analysis_json(const SweepAnalysis& a) {
  nlohmann::json metrics = nlohmann::json::array();
  for (const SweepMetric& m : a.metrics) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& [label, mean] : m.top) top.push_back({{"configuration", label}, {"mean", mean}});
    nlohmann::json j = {{"column", m.column}, {"metric", m.metric}, {"unit", m.unit}, {"top", top},
                        {"top_spread", m.top_spread}, {"noise_source", m.noise_source}};
    j["noise_sd"] = m.noise_sd ? nlohmann::json(*m.noise_sd) : nlohmann::json(nullptr);
    j["top_two_p"] = m.top_two_p ? nlohmann::json(*m.top_two_p) : nlohmann::json(nullptr);
    if (m.effects) {
      nlohmann::json factors = nlohmann::json::array();
      for (const auto& f : m.effects->factors) {
        factors.push_back({{"option", f.name}, {"measurable", f.measurable}, {"p_holm", f.p_holm},
                           {"detectable_difference", f.detectable}, {"largest_effect", f.largest_effect()}});
      }
      j["effects"] = {{"method", m.effects->se_method}, {"options", factors}};
    }
    metrics.push_back(std::move(j));
  }
  return {{"path", a.path},
          {"rows", a.rows},
          {"failed_rows", a.failed_rows},
          {"configurations", a.configurations},
          {"samples_per_configuration", {a.min_samples, a.max_samples}},
          {"factors", a.factors},
          {"constant", a.constant},
          {"metrics", metrics},
          {"supports", a.supports},
          {"cannot_support", a.cannot_support}};
}

}  // namespace chimera::agent
