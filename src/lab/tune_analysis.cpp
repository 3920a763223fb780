#include "lab/tune_analysis.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "lab/metrics.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

// The call's value of a constraint metric (itl: the call's own statistic over its tokens).
std::optional<double> call_metric(const CallMetrics& m, const Constraint& c) {
  if (c.metric == "itl_ms") {
    if (m.itl_ms.empty()) return std::nullopt;
    if (c.statistic == "mean") return mean(m.itl_ms);
    if (c.statistic == "max") return *std::max_element(m.itl_ms.begin(), m.itl_ms.end());
    double q = std::stod(c.statistic.substr(1)) / 100.0;
    return percentile(m.itl_ms, q);
  }
  if (const MetricValue* v = m.find(c.metric)) return v->value;
  return std::nullopt;
}

bool meets(const Constraint& c, double value) { return c.less_than ? value < c.value : value > c.value; }

double statistic_of(const std::vector<double>& values, const std::string& statistic) {
  if (statistic == "mean") return mean(values);
  if (statistic == "max") return *std::max_element(values.begin(), values.end());
  return percentile(values, std::stod(statistic.substr(1)) / 100.0);
}

std::string value_text(double value, const std::string& unit) {
  if (unit == "bytes") return fmt::format("{:.0f} MiB", value / (1024.0 * 1024.0));
  return fmt::format("{:.1f} {}", value, unit);
}

bool better(double a, double b, bool higher_is_better) { return higher_is_better ? a > b : a < b; }

// Level index of each axis for a configuration (from its "name=value" assignments).
std::vector<int> level_row(const Configuration& c, const std::vector<ParamAxis>& axes) {
  std::vector<int> row;
  for (size_t a = 0; a < axes.size(); ++a) {
    const std::string& assignment = c.assignments[a];
    std::string value = assignment.substr(assignment.find('=') + 1);
    auto it = std::find(axes[a].values.begin(), axes[a].values.end(), value);
    row.push_back(static_cast<int>(it - axes[a].values.begin()));
  }
  return row;
}

}  // namespace

const MetricEstimate* ConfigResult::metric(std::string_view name) const {
  for (const MetricEstimate& m : metrics) {
    if (m.metric == name) return &m;
  }
  return nullptr;
}

bool Sample::complete() const {
  return std::all_of(calls.begin(), calls.end(), [](const MeasuredCall* c) { return c != nullptr; });
}

bool Sample::ok() const {
  return complete() &&
         std::all_of(calls.begin(), calls.end(), [](const MeasuredCall* c) { return c->record.ok; });
}

bool Sample::truncated() const {
  return std::any_of(calls.begin(), calls.end(),
                     [](const MeasuredCall* c) { return c != nullptr && c->record.prompt_truncated; });
}

std::map<std::string, std::map<int64_t, Sample>> collect_samples(
    const std::vector<MeasuredCall>& calls, int calls_per_sample) {
  std::map<std::string, std::map<int64_t, Sample>> out;
  for (const MeasuredCall& call : calls) {
    if (call.meta.warmup) continue;
    const int64_t slot = call.meta.prompt_index;
    if (slot < 0 || slot >= calls_per_sample) continue;
    Sample& s = out[call.meta.arm][call.meta.repetition];
    if (s.calls.empty()) {
      s.config = call.meta.arm;
      s.index = call.meta.repetition;
      s.calls.assign(static_cast<size_t>(calls_per_sample), nullptr);
    }
    s.calls[static_cast<size_t>(slot)] = &call;  // a later copy of the same call replaces it
  }
  return out;
}

std::optional<double> sample_value(const Sample& sample, const ObjectiveInfo& objective,
                                   const std::vector<Constraint>& constraints) {
  if (!sample.ok()) return std::nullopt;
  if (objective.metric == "goodput_tps") {
    double good_tokens = 0, seconds = 0;
    for (const MeasuredCall* call : sample.calls) {
      CallMetrics m = compute_call_metrics(call->record);
      const MetricValue* e2e = m.find(kE2eMs);
      if (e2e == nullptr) return std::nullopt;
      seconds += e2e->value / 1000.0;
      bool good = true;
      for (const Constraint& c : constraints) {
        if (!c.per_call()) continue;
        std::optional<double> v = call_metric(m, c);
        good = good && v && meets(c, *v);
      }
      if (good) good_tokens += static_cast<double>(m.generated_tokens);
    }
    if (!(seconds > 0)) return std::nullopt;
    return good_tokens / seconds;
  }
  double sum = 0;
  for (const MeasuredCall* call : sample.calls) {
    CallMetrics m = compute_call_metrics(call->record);
    const MetricValue* v = m.find(objective.metric);
    if (v == nullptr) return std::nullopt;
    sum += v->value;
  }
  return sum / static_cast<double>(sample.calls.size());
}

RaceDecision race_decision(const std::map<std::string, std::vector<double>>& values,
                           bool higher_is_better, double alpha) {
  RaceDecision d;
  // Speeds and latencies vary multiplicatively, so on the log scale every configuration has about
  // the same spread: one variance pooled over all of them gives the tests their degrees of freedom
  // even at 2 samples each. A non-positive value (which a rate or latency cannot be) falls back to
  // Welch's test per pair.
  bool logs = true;
  for (const auto& [label, v] : values) {
    for (double x : v) logs = logs && x > 0 && std::isfinite(x);
  }
  std::map<std::string, std::vector<double>> scale;
  double ss = 0, df = 0;
  for (const auto& [label, v] : values) {
    if (v.size() < 2) continue;
    std::vector<double>& s = scale[label];
    for (double x : v) s.push_back(logs ? std::log(x) : x);
    const double m = mean(s);
    for (double x : s) ss += (x - m) * (x - m);
    df += static_cast<double>(s.size() - 1);
  }
  double best_scaled = 0;
  for (const auto& [label, s] : scale) {
    double m = mean(s);
    if (d.best.empty() || better(m, best_scaled, higher_is_better)) d.best = label, best_scaled = m;
  }
  if (d.best.empty()) return d;
  const std::vector<double>& best = scale.at(d.best);
  const double pooled_sd = df > 0 ? std::sqrt(ss / df) : 0;
  std::vector<std::string> others;
  std::vector<double> p;
  for (const auto& [label, s] : scale) {
    if (label == d.best) continue;
    double pv = 1.0;
    if (logs) {
      const double diff = mean(best) - mean(s);
      const double se = pooled_sd * std::sqrt(1.0 / static_cast<double>(s.size()) +
                                              1.0 / static_cast<double>(best.size()));
      pv = se > 0 ? student_t_two_sided_p(diff / se, df) : (diff == 0 ? 1.0 : 0.0);
    } else if (auto w = welch_t_test(values.at(label), values.at(d.best))) {
      pv = w->p;
    }
    others.push_back(label);
    p.push_back(pv);
  }
  std::vector<double> adjusted = holm_adjust(p);
  const double best_mean = mean(values.at(d.best));
  for (size_t i = 0; i < others.size(); ++i) {
    if (adjusted[i] < alpha) {
      d.eliminated.push_back({others[i], mean(values.at(others[i])), best_mean, adjusted[i]});
    }
  }
  return d;
}

std::string_view config_status_name(ConfigStatus s) {
  switch (s) {
    case ConfigStatus::kBest: return "best";
    case ConfigStatus::kTiedForBest: return "tied for best";
    case ConfigStatus::kWorse: return "worse";
    case ConfigStatus::kEliminated: return "eliminated";
    case ConfigStatus::kInfeasible: return "breaks a constraint";
    case ConfigStatus::kTruncated: return "prompt truncated";
    case ConfigStatus::kFailed: return "failed";
    case ConfigStatus::kTooFewSamples: return "too few samples";
    case ConfigStatus::kNotTried: return "not tried";
  }
  return "";
}

TuneAnalysis analyze_study(const AnalysisInput& in) {
  const StudySpec& spec = *in.spec;
  TuneAnalysis out;
  out.provenance = in.synthetic ? Provenance::kSynthetic : Provenance::kMeasured;
  auto samples = collect_samples(*in.calls, in.calls_per_sample);

  // Load time per load block, from the warm-up calls (the load is theirs, never a measured call's).
  std::map<std::string, std::string> key_of;
  for (const Configuration& c : *in.configs) key_of[c.label] = c.load_key;
  std::map<std::string, std::vector<double>> load_by_key;
  for (const MeasuredCall& call : *in.calls) {
    if (call.meta.warmup) {
      ++out.warmup_calls;
      if (call.record.ok && call.record.server.load_ns && *call.record.server.load_ns > 0) {
        load_by_key[key_of[call.meta.arm]].push_back(static_cast<double>(*call.record.server.load_ns) /
                                                     1e6);
      }
    } else {
      ++out.measured_calls;
      if (!call.record.ok) ++out.failed_calls;
    }
  }
  std::map<std::string, int> eliminated_round;
  for (const RaceRound& r : in.rounds) {
    for (const Elimination& e : r.decision.eliminated) eliminated_round[e.config] = r.index;
  }
  std::set<std::string> not_tried(in.not_tried.begin(), in.not_tried.end());

  for (const Configuration& config : *in.configs) {
    ConfigResult r;
    r.config = config;
    std::vector<const Sample*> ok_samples;
    std::vector<const MeasuredCall*> ok_calls;
    bool truncated = false;
    for (const auto& [index, s] : samples[config.label]) {
      truncated = truncated || s.truncated();
      for (const MeasuredCall* c : s.calls) {
        if (c == nullptr) continue;
        if (c->record.ok) {
          ++r.calls_ok;
          ok_calls.push_back(c);
        } else {
          ++r.calls_failed;
          if (r.failure.empty()) r.failure = c->record.error;
        }
      }
      if (s.ok()) {
        ++r.samples_ok;
        ok_samples.push_back(&s);
      } else if (s.complete()) {
        ++r.samples_failed;
      }
    }
    auto estimate = [&](const ObjectiveInfo& o) {
      MetricEstimate e{std::string(o.metric), std::string(o.unit), o.higher_is_better, {}, 0, {}};
      for (const Sample* s : ok_samples) {
        if (auto v = sample_value(*s, o, spec.constraints)) e.values.push_back(*v);
      }
      if (!e.values.empty()) e.mean = mean(e.values);
      e.ci = t_ci_mean(e.values);
      // Every objective is a rate or a duration: its mean cannot be negative. With few, noisy samples
      // the t-interval reaches below zero; the bound that says something is 0.
      if (e.ci && e.ci->lower < 0.0) e.ci->lower = 0.0;
      return e;
    };
    for (const ObjectiveInfo& o : spec.objectives) r.objectives.push_back(estimate(o));
    for (const ObjectiveInfo& o : objective_catalog()) {
      if (o.metric != "goodput_tps") r.metrics.push_back(estimate(o));
    }
    if (auto it = load_by_key.find(config.load_key); it != load_by_key.end()) {
      r.load_ms = median(it->second);
    }
    if (auto it = in.peak_rss_bytes.find(config.label); it != in.peak_rss_bytes.end()) {
      r.peak_rss_bytes = it->second;
    }
    // Constraints, on the configuration's successful calls (point estimates).
    std::vector<CallMetrics> metrics;
    for (const MeasuredCall* c : ok_calls) metrics.push_back(compute_call_metrics(c->record));
    for (const Constraint& c : spec.constraints) {
      std::optional<double> stat;
      if (c.metric == "rss_bytes") {
        stat = r.peak_rss_bytes;
      } else if (c.metric == "load_ms") {
        stat = r.load_ms;
      } else if (c.metric == "itl_ms") {
        std::vector<double> all;
        for (const CallMetrics& m : metrics) all.insert(all.end(), m.itl_ms.begin(), m.itl_ms.end());
        if (!all.empty()) stat = statistic_of(all, c.statistic);
      } else {
        std::vector<double> values;
        for (const CallMetrics& m : metrics) {
          if (const MetricValue* v = m.find(c.metric)) values.push_back(v->value);
        }
        if (!values.empty()) stat = statistic_of(values, c.statistic);
      }
      if (!stat) continue;
      r.statistics[fmt::format("{} {}", c.metric, c.statistic)] = *stat;
      if (!meets(c, *stat)) r.violations.push_back(fmt::format("{}: {}", c.text, value_text(*stat, c.unit)));
    }
    if (not_tried.count(config.label)) {
      r.status = ConfigStatus::kNotTried;
    } else if (r.samples_ok == 0 && (r.samples_failed > 0 || r.calls_failed > 0)) {
      r.status = ConfigStatus::kFailed;
    } else if (truncated) {
      r.status = ConfigStatus::kTruncated;
    } else if (!r.violations.empty()) {
      r.status = ConfigStatus::kInfeasible;
    } else if (eliminated_round.count(config.label)) {
      r.status = ConfigStatus::kEliminated;
      r.eliminated_in_round = eliminated_round[config.label];
    } else if (r.objectives.front().values.size() < 2) {
      r.status = ConfigStatus::kTooFewSamples;
    } else {
      r.status = ConfigStatus::kWorse;  // settled below
    }
    out.configs.push_back(std::move(r));
  }

  // Ranking with ties on the primary objective.
  const ObjectiveInfo& primary = spec.primary();
  std::vector<ConfigResult*> ranked;
  for (ConfigResult& r : out.configs) {
    if (r.status == ConfigStatus::kWorse) ranked.push_back(&r);
  }
  std::sort(ranked.begin(), ranked.end(), [&](const ConfigResult* a, const ConfigResult* b) {
    return better(a->objectives[0].mean, b->objectives[0].mean, primary.higher_is_better);
  });
  if (!ranked.empty()) {
    ConfigResult& best = *ranked.front();
    best.status = ConfigStatus::kBest;
    out.best = best.config.label;
    out.tied.push_back(best.config.label);
    std::vector<double> p;
    for (size_t i = 1; i < ranked.size(); ++i) {
      auto w = welch_t_test(ranked[i]->objectives[0].values, best.objectives[0].values);
      p.push_back(w ? w->p : 1.0);
    }
    std::vector<double> adjusted = holm_adjust(p);
    for (size_t i = 0; i < ranked.size(); ++i) {
      ranked[i]->rank = static_cast<int>(i + 1);
      ranked[i]->difference_from_best = ranked[i]->objectives[0].mean - best.objectives[0].mean;
      if (i == 0) continue;
      ranked[i]->p_vs_best = adjusted[i - 1];
      if (adjusted[i - 1] >= spec.alpha) {
        ranked[i]->status = ConfigStatus::kTiedForBest;
        out.tied.push_back(ranked[i]->config.label);
      }
    }
  }
  std::stable_sort(out.configs.begin(), out.configs.end(), [](const ConfigResult& a, const ConfigResult& b) {
    if ((a.rank > 0) != (b.rank > 0)) return a.rank > 0;
    return a.rank < b.rank;
  });

  // Option effects per objective, on every valid sample (eliminated and infeasible ones too: they
  // are measurements all the same).
  const bool replicated = std::any_of(out.configs.begin(), out.configs.end(),
                                      [](const ConfigResult& r) { return r.samples_ok >= 2; });
  for (size_t o = 0; o < spec.objectives.size(); ++o) {
    OptionEffects fx{std::string(spec.objectives[o].metric), std::string(spec.objectives[o].unit), {}, ""};
    EffectsInput input;
    input.replicated = replicated;
    for (const ParamAxis& a : spec.axes) {
      input.factors.push_back(a.name);
      input.levels.push_back(a.values);
    }
    for (const ConfigResult& r : out.configs) {
      if (r.status == ConfigStatus::kFailed || r.status == ConfigStatus::kTruncated ||
          r.status == ConfigStatus::kNotTried) {
        continue;
      }
      std::vector<int> row = level_row(r.config, spec.axes);
      for (double v : r.objectives[o].values) {
        input.rows.push_back(row);
        input.y.push_back(v);
      }
    }
    auto effects = main_effects(input, spec.alpha);
    if (effects.ok()) {
      fx.effects = std::move(*effects);
    } else {
      fx.why_not = effects.status().message();
    }
    out.effects.push_back(std::move(fx));
  }

  // Pareto front of two objectives over the ranked and tied configurations' means.
  if (spec.objectives.size() == 2) {
    std::vector<const ConfigResult*> candidates;
    for (const ConfigResult& r : out.configs) {
      if (r.rank > 0 && r.objectives[1].values.size() >= 1) candidates.push_back(&r);
    }
    for (const ConfigResult* a : candidates) {
      bool dominated = false;
      for (const ConfigResult* b : candidates) {
        if (a == b) continue;
        bool no_worse = true, strictly = false;
        for (size_t o = 0; o < 2; ++o) {
          double va = a->objectives[o].mean, vb = b->objectives[o].mean;
          bool hib = spec.objectives[o].higher_is_better;
          if (better(va, vb, hib)) no_worse = false;
          if (better(vb, va, hib)) strictly = true;
        }
        if (no_worse && strictly) dominated = true;
      }
      if (!dominated) out.pareto.push_back(a->config.label);
    }
  }

  // What the figures can and cannot say.
  for (const ParamAxis& axis : spec.axes) {
    if (axis.knob == KnobClass::kSampling) {
      out.notes.push_back(fmt::format(
          "{} changes which tokens are sampled, not how the model runs: with every call generating "
          "{} tokens, it can change speed only through the sampler's own cost",
          axis.name, spec.num_predict));
    }
  }
  if (!spec.ignore_eos) {
    out.notes.push_back(
        "this backend cannot ignore end-of-sequence: a call may stop before num_predict, so "
        "tokens/s are compared per generated token and e2e_ms compares unequal amounts of work");
  }
  if (spec.strategy == Strategy::kRace && !in.rounds.empty()) {
    out.notes.push_back(
        "the race tests after every round (Holm within a round, alpha split over the rounds); a "
        "configuration it dropped early was measured fewer times than the ones it kept");
  }
  for (const ConfigResult& r : out.configs) {
    if (r.status == ConfigStatus::kInfeasible) {
      out.notes.push_back(
          "constraints are checked on point estimates (the p95 of the calls measured, say), not with "
          "a confidence bound");
      break;
    }
  }
  if (in.synthetic) {
    out.notes.push_back("dummy-weight model: the timings are real for this architecture on this "
                        "machine, the generated text is meaningless");
  }
  return out;
}

}  // namespace chimera::lab
