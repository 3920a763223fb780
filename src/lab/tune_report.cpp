#include "lab/tune_report.h"

#include <cmath>

#include <fmt/format.h>

#include "lab/bench_report.h"
#include "report/html.h"
#include "report/markdown.h"
#include "report/svg_chart.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

using json = nlohmann::json;
using report::Align;
using report::Table;

int decimals_for(std::string_view unit) { return unit == "ms" ? 1 : 2; }

std::string value(double v, std::string_view unit) {
  return fmt::format("{:.{}f}", v, decimals_for(unit));
}

std::string signed_value(double v, std::string_view unit) {
  return fmt::format("{:+.{}f}", v, decimals_for(unit));
}

std::string estimate_text(const MetricEstimate& e) {
  if (e.values.empty()) return "-";
  if (!e.ci) return fmt::format("{} (n = 1, no CI)", value(e.mean, e.unit));
  return fmt::format("{} ({} to {})", value(e.mean, e.unit), value(e.ci->lower, e.unit),
                     value(e.ci->upper, e.unit));
}

std::string status_text(const ConfigResult& r) {
  if (r.status == ConfigStatus::kEliminated && r.eliminated_in_round) {
    return fmt::format("eliminated in round {}", *r.eliminated_in_round + 1);
  }
  if (r.status == ConfigStatus::kInfeasible) return "breaks " + join(r.violations, "; ");
  if (r.status == ConfigStatus::kFailed) return "failed: " + r.failure;
  return std::string(config_status_name(r.status));
}

std::string vs_best_text(const ConfigResult& r, std::string_view unit) {
  if (!r.difference_from_best || r.rank == 1) return "-";
  std::string p = r.p_vs_best ? format_p(*r.p_vs_best) : "";
  return fmt::format("{} ({})", signed_value(*r.difference_from_best, unit), p);
}

std::string mib(double bytes) { return fmt::format("{:.0f}", bytes / (1024.0 * 1024.0)); }

std::string provenance_line(const TuneSessionResult& r) {
  if (r.synthetic) {
    return "synthetic: the model has dummy weights; the timings are real for this architecture on "
           "this machine, the generated text is meaningless";
  }
  return "measured by this study on this machine; CIs and effects derived from those measurements";
}

Table ranking_table(const TuneSessionResult& result, bool markdown) {
  const ObjectiveInfo& primary = result.spec.primary();
  Table t;
  t.headers = {"rank", "config", "options", fmt::format("{} {} (95% CI)", primary.name, primary.unit), "n",
               "vs best (Holm p)"};
  if (result.spec.objectives.size() == 2) {
    const ObjectiveInfo& second = result.spec.objectives[1];
    t.headers.push_back(fmt::format("{} {} (95% CI)", second.name, second.unit));
  }
  t.headers.insert(t.headers.end(), {"load ms", "peak RSS MiB", "status"});
  t.align = {Align::kRight, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight};
  for (const ConfigResult& r : result.analysis.configs) {
    std::vector<std::string> row = {r.rank > 0 ? std::to_string(r.rank) : "-", r.config.label,
                                    config_text(r.config), estimate_text(r.objectives[0]),
                                    std::to_string(r.objectives[0].values.size()),
                                    vs_best_text(r, primary.unit)};
    if (result.spec.objectives.size() == 2) row.push_back(estimate_text(r.objectives[1]));
    row.push_back(r.load_ms ? fmt::format("{:.0f}", *r.load_ms) : "-");
    row.push_back(r.peak_rss_bytes ? mib(*r.peak_rss_bytes) : "-");
    std::string status = status_text(r);
    if (markdown && (r.status == ConfigStatus::kBest || r.status == ConfigStatus::kTiedForBest)) {
      status = "**" + status + "**";
    }
    row.push_back(status);
    t.rows.push_back(std::move(row));
  }
  return t;
}

const ConfigResult* find_config(const TuneAnalysis& a, const std::string& label) {
  for (const ConfigResult& r : a.configs) {
    if (r.config.label == label) return &r;
  }
  return nullptr;
}

std::string tied_sentence(const TuneSessionResult& result) {
  const TuneAnalysis& a = result.analysis;
  if (a.best.empty()) return "No configuration could be ranked (see the statuses above).";
  std::vector<std::string> names;
  for (const std::string& label : a.tied) {
    names.push_back(fmt::format("{} ({})", label, config_text(find_config(a, label)->config)));
  }
  if (a.tied.size() == 1) {
    return fmt::format("Best: {}; every other configuration ranked is significantly worse on {} "
                       "(Welch's t-test, Holm-adjusted, alpha {}).",
                       names[0], result.spec.primary().name, result.spec.alpha);
  }
  return fmt::format("Tied for best on {}: {}. They are not significantly different from the best "
                     "(Welch's t-test, Holm-adjusted, alpha {}); their order is noise.",
                     result.spec.primary().name, join(names, ", "), result.spec.alpha);
}

std::string calls_sentence(const TuneSessionResult& result) {
  const TuneAnalysis& a = result.analysis;
  std::string out = fmt::format("{} measured calls ({} failed) and {} warm-up calls; strategy {}",
                                a.measured_calls, a.failed_calls, a.warmup_calls,
                                strategy_name(result.spec.strategy));
  if (result.spec.strategy != Strategy::kGrid) {
    const int64_t grid = static_cast<int64_t>(result.configs.size()) * result.spec.repeat *
                         result.calls_per_sample;
    out += fmt::format(" (the full grid at {} samples per configuration: {} measured calls; this "
                       "study used {:.0f}% of that)",
                       result.spec.repeat, grid, grid > 0 ? 100.0 * a.measured_calls / grid : 0.0);
  }
  if (!result.run.stop_reason.empty()) out += "; it ended because " + result.run.stop_reason;
  return out;
}

json estimate_json(const MetricEstimate& e, Provenance p) {
  json j = {{"metric", e.metric}, {"unit", e.unit}, {"n", e.values.size()}, {"values", e.values}};
  j["mean"] = e.values.empty() ? json(nullptr) : json(e.mean);
  j["ci95"] = e.ci ? json::array({e.ci->lower, e.ci->upper}) : json(nullptr);
  j["provenance"] = std::string(provenance_name(p));
  return j;
}

json effects_json(const OptionEffects& fx) {
  json j = {{"metric", fx.metric}, {"unit", fx.unit}};
  if (!fx.effects) {
    j["unavailable"] = fx.why_not;
    return j;
  }
  j["method"] = fx.effects->se_method;
  j["n"] = fx.effects->n;
  j["mean"] = fx.effects->mean;
  json factors = json::array();
  for (const FactorEffect& f : fx.effects->factors) {
    json levels = json::array();
    for (const LevelEffect& l : f.levels) {
      levels.push_back({{"level", l.level},
                        {"n", l.n},
                        {"difference", l.estimate},
                        {"ci95", {l.ci.lower, l.ci.upper}},
                        {"p", l.p},
                        {"detectable_difference", l.detectable},
                        {"provenance", "derived"}});
    }
    factors.push_back({{"option", f.name},
                       {"reference", f.reference},
                       {"levels", levels},
                       {"unmeasured_levels", f.unmeasured},
                       {"p", f.p},
                       {"p_holm", f.p_holm},
                       {"measurable", f.measurable},
                       {"detectable_difference", f.detectable}});
  }
  j["options"] = factors;
  return j;
}

}  // namespace

std::string config_text(const Configuration& c) { return join(c.assignments, " "); }

std::vector<std::string> effect_lines(const OptionEffects& fx, double alpha) {
  std::vector<std::string> out;
  if (!fx.effects) {
    out.push_back(fmt::format("effects on {} cannot be estimated: {}", fx.metric, fx.why_not));
    return out;
  }
  const EffectsResult& e = *fx.effects;
  auto percent = [&](double v) { return e.mean != 0 ? fmt::format("{:+.1f}%", 100 * v / e.mean) : ""; };
  for (const FactorEffect& f : e.factors) {
    if (f.levels.empty()) {
      out.push_back(f.unmeasured.empty()
                        ? fmt::format("{}: held at {} in every configuration", f.name, f.reference)
                        : fmt::format("{}: only {} was measured ({} not), so its effect cannot be "
                                      "told",
                                      f.name, f.reference, join(f.unmeasured, ", ")));
      continue;
    }
    std::vector<std::string> parts;
    for (const LevelEffect& l : f.levels) {
      parts.push_back(fmt::format("{} vs {}: {} {} (95% CI {} to {}; {} of the mean)", l.level,
                                  f.reference, signed_value(l.estimate, fx.unit), fx.unit,
                                  signed_value(l.ci.lower, fx.unit), signed_value(l.ci.upper, fx.unit),
                                  percent(l.estimate)));
    }
    std::string verdict =
        f.measurable
            ? fmt::format("measurable ({}, Holm over {} options)", format_p(f.p_holm), e.factors.size())
            : fmt::format("no measurable effect at this sample size ({}; the smallest difference it "
                          "could have detected at 80% power is {} {}, {} of the mean)",
                          format_p(f.p_holm), value(f.detectable, fx.unit), fx.unit,
                          percent(f.detectable));
    std::string line = fmt::format("{}: {}: {}", f.name, join(parts, "; "), verdict);
    if (!f.unmeasured.empty()) {
      line += fmt::format(" [not measured: {}]", join(f.unmeasured, ", "));
    }
    out.push_back(line);
  }
  (void)alpha;
  return out;
}

std::string render_tune_console(const TuneSessionResult& result) {
  std::string out;
  out += report::render_text_table(ranking_table(result, false));
  out += "\n" + tied_sentence(result) + "\n";
  for (const OptionEffects& fx : result.analysis.effects) {
    out += fmt::format("\noption effects on {} ({}):\n", fx.metric,
                       fx.effects ? fx.effects->se_method : "unavailable");
    for (const std::string& line : effect_lines(fx, result.spec.alpha)) out += "  " + line + "\n";
  }
  if (!result.analysis.pareto.empty()) {
    out += fmt::format("\nPareto front ({} vs {}): {}\n", result.spec.objectives[0].name,
                       result.spec.objectives[1].name, join(result.analysis.pareto, ", "));
  }
  std::vector<std::string> collapsed;
  for (const Configuration& c : result.configs) {
    for (const std::string& e : c.equivalents) collapsed.push_back(e);
  }
  if (!collapsed.empty()) {
    out += fmt::format("\n{} grid points were the same in effect as another and measured once:\n",
                       collapsed.size());
    for (const std::string& e : collapsed) out += "  " + e + "\n";
  }
  out += "\n" + calls_sentence(result) + "\n";
  out += "provenance: " + provenance_line(result) + "\n";
  for (const std::string& note : result.analysis.notes) out += "note: " + note + "\n";
  return out;
}

std::string render_tune_markdown(const TuneSessionResult& result) {
  report::MarkdownDocument doc;
  const StudySpec& spec = result.spec;
  doc.heading(1, fmt::format("Chimera tune: study {}", result.study_id ? std::to_string(*result.study_id) : "(not stored)"));
  std::vector<std::pair<std::string, std::string>> header = {
      {"Date", iso_timestamp_utc(result.started_unix_ms)},
      {"Machine", fmt::format("{} ({}, {} logical CPUs)", result.machine.host, result.machine.cpu,
                              result.machine.logical_cpus)},
      {"Build", result.machine.build},
      {"Backend", result.backend_name + (result.backend_version.empty() ? "" : " " + result.backend_version)},
      {"Model", result.model_label + (result.synthetic ? " (dummy weights)" : "")},
      {"Strategy", fmt::format("{} ({} samples per configuration{})", strategy_name(spec.strategy),
                               spec.repeat, spec.strategy == Strategy::kRace
                                                ? fmt::format(" at most, {} in the first round", spec.race_first)
                                                : "")},
      {"Objective", join([&] {
         std::vector<std::string> names;
         for (const auto& o : spec.objectives) names.push_back(fmt::format("{} ({}, {} is better)", o.name, o.unit, o.higher_is_better ? "higher" : "lower"));
         return names;
       }(), ", ")},
      {"Workload", result.workload + (result.ignore_eos ? ", end-of-sequence ignored" : ", end-of-sequence honoured (the backend cannot ignore it)")},
      {"Provenance", provenance_line(result)},
  };
  if (!spec.constraints.empty()) {
    std::vector<std::string> texts;
    for (const Constraint& c : spec.constraints) texts.push_back(c.text);
    header.push_back({"Constraints", join(texts, ", ")});
  }
  if (!spec.space.empty()) header.push_back({"Space", spec.space + " (the prior system's grid)"});
  doc.key_values(header);

  doc.heading(2, "Result");
  doc.paragraph(tied_sentence(result));
  doc.table(ranking_table(result, true));
  doc.paragraph(fmt::format("Means over samples; a sample is the workload run once ({}). CIs are "
                            "t-based over samples; \"vs best\" is the difference from the best "
                            "mean with Welch's p, Holm-adjusted over the comparisons.",
                            result.workload));

  doc.heading(2, "What each option does");
  for (const OptionEffects& fx : result.analysis.effects) {
    doc.heading(3, fx.metric);
    if (fx.effects) doc.paragraph("Least squares over every valid sample, standard errors: " + fx.effects->se_method + ".");
    doc.bullets(effect_lines(fx, spec.alpha));
  }
  std::vector<std::string> knobs;
  for (const ParamAxis& axis : spec.axes) {
    knobs.push_back(fmt::format("{} = {}: {} knob", axis.name, join(axis.values, ", "),
                                knob_class_name(axis.knob)));
  }
  doc.paragraph("The space:");
  doc.bullets(knobs);

  std::vector<std::string> collapsed;
  for (const Configuration& c : result.configs) {
    for (const std::string& e : c.equivalents) collapsed.push_back(e);
  }
  if (!collapsed.empty()) {
    doc.heading(2, "Configurations that are the same in effect");
    doc.paragraph(fmt::format("{} grid points were measured once, under the first of their names:",
                              collapsed.size()));
    doc.bullets(collapsed);
  }
  if (!result.analysis.pareto.empty()) {
    doc.heading(2, "Pareto front");
    std::vector<std::string> points;
    for (const std::string& label : result.analysis.pareto) {
      const ConfigResult* r = find_config(result.analysis, label);
      points.push_back(fmt::format("{} ({}): {} {} {}, {} {} {}", label, config_text(r->config),
                                   spec.objectives[0].name, value(r->objectives[0].mean, spec.objectives[0].unit),
                                   spec.objectives[0].unit, spec.objectives[1].name,
                                   value(r->objectives[1].mean, spec.objectives[1].unit), spec.objectives[1].unit));
    }
    doc.paragraph("No other ranked configuration is better on both objectives (by mean; points whose "
                  "CIs overlap may swap places in another study):");
    doc.bullets(points);
  }
  if (!result.run.rounds.empty()) {
    doc.heading(2, "Race");
    std::vector<std::string> rounds;
    for (const RaceRound& r : result.run.rounds) {
      std::vector<std::string> dropped;
      for (const Elimination& e : r.decision.eliminated) {
        dropped.push_back(fmt::format("{} ({} vs {}, {})", e.config, value(e.mean, spec.primary().unit),
                                      value(e.best_mean, spec.primary().unit), format_p(e.p_holm)));
      }
      rounds.push_back(fmt::format("round {}: {} configurations at {} samples; best {}; dropped: {}",
                                   r.index + 1, r.racing.size(), r.target_samples,
                                   r.decision.best.empty() ? "-" : r.decision.best,
                                   dropped.empty() ? "none" : join(dropped, ", ")));
    }
    doc.bullets(rounds);
  }
  doc.heading(2, "Calls");
  doc.paragraph(calls_sentence(result) + ".");
  if (!result.analysis.notes.empty()) {
    doc.heading(2, "What these figures can and cannot say");
    doc.bullets(result.analysis.notes);
  }
  if (!result.warnings.empty()) {
    doc.heading(2, "Warnings");
    doc.bullets(result.warnings);
  }
  return doc.str();
}

json render_tune_json(const TuneSessionResult& result) {
  const Provenance p = result.analysis.provenance;
  json configs = json::array();
  for (const ConfigResult& r : result.analysis.configs) {
    json objectives = json::array(), metrics = json::array();
    for (const MetricEstimate& e : r.objectives) objectives.push_back(estimate_json(e, p));
    for (const MetricEstimate& e : r.metrics) metrics.push_back(estimate_json(e, p));
    json c = {{"label", r.config.label},
              {"options", json::parse(r.config.options.to_json())},
              {"assignments", r.config.assignments},
              {"equivalents", r.config.equivalents},
              {"load_key", r.config.load_key},
              {"status", std::string(config_status_name(r.status))},
              {"rank", r.rank},
              {"samples_ok", r.samples_ok},
              {"samples_failed", r.samples_failed},
              {"calls_ok", r.calls_ok},
              {"calls_failed", r.calls_failed},
              {"objectives", objectives},
              {"metrics", metrics},
              {"violations", r.violations},
              {"failure", r.failure}};
    c["load_ms"] = r.load_ms ? json(*r.load_ms) : json(nullptr);
    c["peak_rss_bytes"] = r.peak_rss_bytes ? json(*r.peak_rss_bytes) : json(nullptr);
    c["p_vs_best_holm"] = r.p_vs_best ? json(*r.p_vs_best) : json(nullptr);
    c["difference_from_best"] = r.difference_from_best ? json(*r.difference_from_best) : json(nullptr);
    c["eliminated_in_round"] = r.eliminated_in_round ? json(*r.eliminated_in_round + 1) : json(nullptr);
    configs.push_back(std::move(c));
  }
  json effects = json::array();
  for (const OptionEffects& fx : result.analysis.effects) effects.push_back(effects_json(fx));
  json rounds = json::array();
  for (const RaceRound& r : result.run.rounds) {
    json dropped = json::array();
    for (const Elimination& e : r.decision.eliminated) {
      dropped.push_back({{"config", e.config}, {"mean", e.mean}, {"best_mean", e.best_mean}, {"p_holm", e.p_holm}});
    }
    rounds.push_back({{"round", r.index + 1}, {"samples", r.target_samples}, {"racing", r.racing},
                      {"best", r.decision.best}, {"eliminated", dropped}});
  }
  json j = {{"study_id", result.study_id ? json(*result.study_id) : json(nullptr)},
            {"db", result.db_path},
            {"study", spec_to_json(result.spec)},
            {"machine",
             {{"host", result.machine.host},
              {"cpu", result.machine.cpu},
              {"logical_cpus", result.machine.logical_cpus},
              {"build", result.machine.build}}},
            {"backend", result.backend_name},
            {"backend_version", result.backend_version},
            {"model", result.model_label},
            {"synthetic", result.synthetic},
            {"provenance", std::string(provenance_name(p))},
            {"ignore_eos", result.ignore_eos},
            {"workload", result.workload},
            {"started", iso_timestamp_utc(result.started_unix_ms)},
            {"ended", iso_timestamp_utc(result.ended_unix_ms)},
            {"best", result.analysis.best},
            {"tied_for_best", result.analysis.tied},
            {"pareto_front", result.analysis.pareto},
            {"configurations", configs},
            {"effects", effects},
            {"race_rounds", rounds},
            {"not_tried", result.run.not_tried},
            {"calls", {{"measured", result.analysis.measured_calls},
                       {"failed", result.analysis.failed_calls},
                       {"warmup", result.analysis.warmup_calls}}},
            {"stop_reason", result.run.stop_reason},
            {"cancelled", result.run.cancelled},
            {"notes", result.analysis.notes},
            {"warnings", result.warnings}};
  return j;
}

}  // namespace chimera::lab

namespace chimera::lab {

std::string render_tune_html(const TuneSessionResult& result) {
  using report::ChartKind;
  using report::ChartSeries;
  using report::ChartSpec;
  const StudySpec& spec = result.spec;
  report::HtmlPage page(fmt::format("Chimera tune: study {}",
                                    result.study_id ? std::to_string(*result.study_id) : "(not stored)"));
  page.set_subtitle(fmt::format("{} on {} · {} · {}", result.model_label + (result.synthetic ? " (dummy weights)" : ""),
                                result.machine.host, result.backend_name, iso_timestamp_utc(result.started_unix_ms)));
  page.add_section({"report", "Report", report::markdown_to_html(render_tune_markdown(result), "md-")});

  // Every configuration's mean and 95% CI on each objective, ranked ones first.
  std::string configs_html;
  for (size_t o = 0; o < spec.objectives.size(); ++o) {
    ChartSpec chart;
    chart.kind = ChartKind::kInterval;
    chart.title = fmt::format("{} per configuration (mean, 95% CI)", spec.objectives[o].name);
    chart.x_label = "configuration";
    chart.y_label = fmt::format("{} {}", spec.objectives[o].name, spec.objectives[o].unit);
    ChartSeries series{std::string(provenance_name(result.analysis.provenance)), {}, {}};
    for (const ConfigResult& r : result.analysis.configs) {
      const MetricEstimate& e = r.objectives[o];
      if (e.values.empty()) continue;
      chart.categories.push_back(r.config.label);
      series.y.push_back(e.mean);
      series.lower.push_back(e.ci ? e.ci->lower : NAN);
      series.upper.push_back(e.ci ? e.ci->upper : NAN);
    }
    chart.series.push_back(std::move(series));
    chart.width_px = std::max(640, 48 * static_cast<int>(chart.categories.size()));
    if (!chart.categories.empty()) configs_html += report::render_svg_chart(chart);
  }
  std::vector<std::string> legend;
  for (const ConfigResult& r : result.analysis.configs) {
    legend.push_back(fmt::format("{}: {} ({})", r.config.label, config_text(r.config), status_text(r)));
  }
  report::MarkdownDocument legend_doc;
  legend_doc.bullets(legend);
  page.add_section({"configurations", "Configurations",
                    configs_html + report::markdown_to_html(legend_doc.str(), "cfg-")});

  // One small chart per option: each value's difference from the reference, with its 95% CI.
  std::string effects_html;
  for (const OptionEffects& fx : result.analysis.effects) {
    if (!fx.effects) continue;
    for (const FactorEffect& f : fx.effects->factors) {
      if (f.levels.empty()) continue;
      ChartSpec chart;
      chart.kind = ChartKind::kInterval;
      chart.title = fmt::format("{}: effect on {} ({})", f.name, fx.metric,
                                f.measurable ? "measurable" : "no measurable effect");
      chart.x_label = f.name;
      chart.y_label = fmt::format("difference from {}={} ({})", f.name, f.reference, fx.unit);
      chart.width_px = 360;
      chart.height_px = 240;
      ChartSeries series{"difference (95% CI)", {}, {}};
      chart.categories.push_back(f.reference + " (reference)");
      series.y.push_back(0);
      series.lower.push_back(NAN);
      series.upper.push_back(NAN);
      for (const LevelEffect& l : f.levels) {
        chart.categories.push_back(l.level);
        series.y.push_back(l.estimate);
        series.lower.push_back(l.ci.lower);
        series.upper.push_back(l.ci.upper);
      }
      chart.series.push_back(std::move(series));
      effects_html += report::render_svg_chart(chart);
    }
  }
  if (!effects_html.empty()) page.add_section({"effects", "Option effects", effects_html});

  if (spec.objectives.size() == 2) {
    ChartSpec chart;
    chart.kind = ChartKind::kScatter;
    chart.title = fmt::format("{} vs {} (means)", spec.objectives[0].name, spec.objectives[1].name);
    chart.x_label = fmt::format("{} {}", spec.objectives[0].name, spec.objectives[0].unit);
    chart.y_label = fmt::format("{} {}", spec.objectives[1].name, spec.objectives[1].unit);
    ChartSeries front{"Pareto front", {}, {}}, others{"dominated", {}, {}};
    for (const ConfigResult& r : result.analysis.configs) {
      if (r.rank == 0) continue;
      bool on_front = std::find(result.analysis.pareto.begin(), result.analysis.pareto.end(),
                                r.config.label) != result.analysis.pareto.end();
      ChartSeries& s = on_front ? front : others;
      s.x.push_back(r.objectives[0].mean);
      s.y.push_back(r.objectives[1].mean);
    }
    chart.series = {front, others};
    page.add_section({"pareto", "Pareto front", report::render_svg_chart(chart)});
  }
  return page.render();
}

}  // namespace chimera::lab
