#include "lab/concurrency.h"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

namespace chimera::lab {
namespace {

LatencyPercentiles percentiles_of(const ArmMetrics& metrics, std::string_view name) {
  LatencyPercentiles out;
  if (const MetricSummary* m = metrics.find(name)) {
    out.n = m->summary.n;
    out.p50 = m->summary.p50;
    out.p90 = m->summary.p90;
    out.p99 = m->summary.p99;
  }
  return out;
}

std::vector<double> per_call_values(const ArmMetrics& metrics, std::string_view name) {
  const MetricSummary* m = metrics.find(name);
  return m ? m->per_call : std::vector<double>{};
}

std::string percent(double fraction) { return fmt::format("{:.1f}%", fraction * 100); }
std::string signed_percent(double fraction) { return fmt::format("{:+.1f}%", fraction * 100); }

}  // namespace

bool RepetitionWalls::complete() const {
  if (agents.empty() || sequential_ns <= 0 || concurrent_ns <= 0) return false;
  for (const auto& a : agents) {
    if (!a.solo_ok || !a.concurrent_ok || a.solo_ns <= 0 || a.concurrent_ns <= 0) return false;
  }
  return true;
}

RatioEstimate log_ratio_estimate(std::span<const double> ratios, double level) {
  RatioEstimate out;
  std::vector<double> logs;
  for (double r : ratios) {
    if (!std::isfinite(r) || r <= 0) continue;
    out.values.push_back(r);
    logs.push_back(std::log(r));
  }
  out.n = logs.size();
  if (logs.empty()) {
    out.estimate = NAN;
    return out;
  }
  out.estimate = std::exp(mean(logs));
  if (auto ci = t_ci_mean(logs, level)) {
    out.ci = Interval{std::exp(ci->lower), std::exp(ci->upper), level};
  }
  return out;
}

MeanEstimate mean_estimate(std::span<const double> values, double level) {
  MeanEstimate out;
  for (double v : values) {
    if (std::isfinite(v)) out.values.push_back(v);
  }
  out.n = out.values.size();
  out.mean = out.values.empty() ? NAN : mean(out.values);
  out.ci = t_ci_mean(out.values, level);
  return out;
}

double jain_fairness(std::span<const double> x) {
  if (x.empty()) return NAN;
  double sum = 0, squares = 0;
  for (double v : x) {
    sum += v;
    squares += v * v;
  }
  if (squares <= 0) return NAN;
  return sum * sum / (static_cast<double>(x.size()) * squares);
}

double balance_ratio(std::span<const int64_t> agent_ns, int64_t wall_ns) {
  if (wall_ns <= 0) return NAN;
  double sum = 0;
  for (int64_t t : agent_ns) sum += static_cast<double>(t);
  return sum / static_cast<double>(wall_ns);
}

std::string_view contention_kind_name(ContentionKind kind) {
  switch (kind) {
    case ContentionKind::kContention:
      return "contention";
    case ContentionKind::kNone:
      return "no significant contention";
    case ContentionKind::kFaster:
      return "faster concurrently";
    case ContentionKind::kInsufficient:
      return "insufficient data";
  }
  return "unknown";
}

ContentionVerdict contention_test(std::span<const double> solo, std::span<const double> concurrent,
                                  double alpha) {
  ContentionVerdict v;
  v.solo_calls = solo.size();
  v.concurrent_calls = concurrent.size();
  v.solo_mean_tps = solo.empty() ? NAN : mean(solo);
  v.concurrent_mean_tps = concurrent.empty() ? NAN : mean(concurrent);
  v.minimum_detectable_tps = NAN;
  v.welch = welch_t_test(concurrent, solo, 1 - alpha);
  if (!v.welch) {
    v.kind = ContentionKind::kInsufficient;
    v.sentence = fmt::format(
        "no contention test: it needs at least 2 successful calls per phase ({} solo, {} "
        "concurrent)",
        v.solo_calls, v.concurrent_calls);
    return v;
  }
  // Fieller's interval from the Welch statistic itself, so the printed CI excludes 0 exactly when
  // the printed p is below alpha (a bootstrap interval disagreed with p at a few calls per phase).
  v.relative_change = fieller_relative_ci(concurrent, solo, 1 - alpha).ci;
  double relative = v.solo_mean_tps != 0 ? v.concurrent_mean_tps / v.solo_mean_tps - 1 : NAN;
  std::string ci_text = v.relative_change ? fmt::format(" ({:.0f}% CI {} to {})", (1 - alpha) * 100,
                                                        signed_percent(v.relative_change->lower),
                                                        signed_percent(v.relative_change->upper))
                                          : std::string();
  const WelchResult& w = *v.welch;
  if (w.p < alpha) {
    v.kind = w.difference < 0 ? ContentionKind::kContention : ContentionKind::kFaster;
    v.sentence = fmt::format(
        "{}: per-call decode rate {:.2f} tok/s concurrently vs {:.2f} solo, {} {}{}; Welch p = "
        "{:.3g} over {} and {} calls",
        v.kind == ContentionKind::kContention ? "contention" : "no contention",
        v.concurrent_mean_tps, v.solo_mean_tps, percent(std::abs(relative)),
        w.difference < 0 ? "slower" : "faster", ci_text, w.p, v.concurrent_calls, v.solo_calls);
  } else {
    v.kind = ContentionKind::kNone;
    // The standard error of the Welch difference, from the samples (t may be 0).
    double sx = sample_sd(concurrent), sy = sample_sd(solo);
    double se = std::sqrt(sx * sx / static_cast<double>(concurrent.size()) +
                          sy * sy / static_cast<double>(solo.size()));
    v.minimum_detectable_tps = minimum_detectable_difference(se, w.df, alpha);
    v.sentence = fmt::format(
        "no significant contention: per-call decode rate {:.2f} tok/s concurrently vs {:.2f} solo, "
        "{}{}, Welch p = {:.3g} over {} and {} calls; a change of {} tok/s or more would have "
        "been detected with 80% power",
        v.concurrent_mean_tps, v.solo_mean_tps, signed_percent(relative), ci_text, w.p,
        v.concurrent_calls, v.solo_calls,
        std::isfinite(v.minimum_detectable_tps) ? fmt::format("{:.2f}", v.minimum_detectable_tps)
                                                : std::string("(unknown)"));
  }
  return v;
}

ConcurrencyAnalysis analyze_concurrency(int agents, std::span<const RepetitionWalls> repetitions,
                                        std::span<const llm::CallRecord* const> solo_calls,
                                        std::span<const llm::CallRecord* const> concurrent_calls,
                                        double level) {
  ConcurrencyAnalysis a;
  a.agents = agents;
  a.level = level;
  a.repetitions = repetitions.size();
  std::vector<double> speedups, sequential_s, concurrent_s, fairness, balance, solo_tps, conc_tps;
  std::vector<std::vector<double>> slowdowns, solo_ms, conc_ms;
  std::vector<std::string> names;
  for (const RepetitionWalls& r : repetitions) {
    if (!r.complete()) continue;
    ++a.repetitions_complete;
    speedups.push_back(static_cast<double>(r.sequential_ns) / static_cast<double>(r.concurrent_ns));
    sequential_s.push_back(static_cast<double>(r.sequential_ns) / 1e9);
    concurrent_s.push_back(static_cast<double>(r.concurrent_ns) / 1e9);
    std::vector<double> kept;
    std::vector<int64_t> during;
    int64_t tokens_solo = 0, tokens_concurrent = 0;
    for (size_t i = 0; i < r.agents.size(); ++i) {
      const AgentWalls& w = r.agents[i];
      if (i >= names.size()) {
        names.push_back(w.agent);
        slowdowns.emplace_back();
        solo_ms.emplace_back();
        conc_ms.emplace_back();
      }
      double solo = static_cast<double>(w.solo_ns), conc = static_cast<double>(w.concurrent_ns);
      kept.push_back(solo / conc);
      during.push_back(w.concurrent_ns);
      slowdowns[i].push_back(conc / solo);
      solo_ms[i].push_back(solo / 1e6);
      conc_ms[i].push_back(conc / 1e6);
      tokens_solo += w.solo_tokens;
      tokens_concurrent += w.concurrent_tokens;
    }
    fairness.push_back(jain_fairness(kept));
    balance.push_back(balance_ratio(during, r.concurrent_ns));
    solo_tps.push_back(static_cast<double>(tokens_solo) /
                       (static_cast<double>(r.sequential_ns) / 1e9));
    conc_tps.push_back(static_cast<double>(tokens_concurrent) /
                       (static_cast<double>(r.concurrent_ns) / 1e9));
  }
  a.speedup = log_ratio_estimate(speedups, level);
  a.efficiency = agents > 0 ? a.speedup.estimate / agents : NAN;
  if (a.speedup.ci && agents > 0) {
    a.efficiency_ci = Interval{a.speedup.ci->lower / agents, a.speedup.ci->upper / agents, level};
  }
  a.sequential_wall_s = mean_estimate(sequential_s, level);
  a.concurrent_wall_s = mean_estimate(concurrent_s, level);
  a.fairness = mean_estimate(fairness, level);
  a.balance_ratio = mean_estimate(balance, level);
  a.solo_aggregate_tps = mean_estimate(solo_tps, level);
  a.concurrent_aggregate_tps = mean_estimate(conc_tps, level);
  for (size_t i = 0; i < names.size(); ++i) {
    a.agents_slowdown.push_back({names[i], log_ratio_estimate(slowdowns[i], level),
                                 summarize(solo_ms[i]), summarize(conc_ms[i])});
  }
  a.solo_calls = summarize_calls(solo_calls, level);
  a.concurrent_calls = summarize_calls(concurrent_calls, level);
  a.solo_ttft_ms = percentiles_of(a.solo_calls, kTtftMs);
  a.concurrent_ttft_ms = percentiles_of(a.concurrent_calls, kTtftMs);
  a.solo_itl_ms = percentiles_of(a.solo_calls, kItlMs);
  a.concurrent_itl_ms = percentiles_of(a.concurrent_calls, kItlMs);
  a.contention = contention_test(per_call_values(a.solo_calls, kDecodeTps),
                                 per_call_values(a.concurrent_calls, kDecodeTps), 1 - level);
  if (a.solo_calls.synthetic || a.concurrent_calls.synthetic) a.provenance = Provenance::kSynthetic;
  return a;
}

namespace {

nlohmann::json interval_json(const std::optional<Interval>& ci) {
  if (!ci) return nullptr;
  return {{"lower", ci->lower}, {"upper", ci->upper}, {"level", ci->level}};
}

// NaN is not JSON: a figure that could not be computed is null.
nlohmann::json number_json(double v) { return std::isfinite(v) ? nlohmann::json(v) : nullptr; }

nlohmann::json ratio_json(const RatioEstimate& r) {
  return {{"n", r.n},
          {"geometric_mean", number_json(r.estimate)},
          {"ci", interval_json(r.ci)},
          {"per_repetition", r.values}};
}

nlohmann::json mean_json(const MeanEstimate& m) {
  return {{"n", m.n},
          {"mean", number_json(m.mean)},
          {"ci", interval_json(m.ci)},
          {"per_repetition", m.values}};
}

nlohmann::json percentiles_json(const LatencyPercentiles& p) {
  if (p.n == 0) return nullptr;
  return {{"n", p.n}, {"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}};
}

}  // namespace

nlohmann::json concurrency_to_json(const ConcurrencyAnalysis& a) {
  nlohmann::json agents = nlohmann::json::array();
  for (const auto& s : a.agents_slowdown) {
    agents.push_back(
        {{"agent", s.agent},
         {"slowdown", ratio_json(s.slowdown)},
         {"solo_ms_mean", number_json(s.solo_ms.n ? s.solo_ms.mean : NAN)},
         {"concurrent_ms_mean", number_json(s.concurrent_ms.n ? s.concurrent_ms.mean : NAN)}});
  }
  const ContentionVerdict& c = a.contention;
  nlohmann::json contention = {{"verdict", contention_kind_name(c.kind)},
                               {"sentence", c.sentence},
                               {"solo_calls", c.solo_calls},
                               {"concurrent_calls", c.concurrent_calls},
                               {"solo_mean_decode_tps", number_json(c.solo_mean_tps)},
                               {"concurrent_mean_decode_tps", number_json(c.concurrent_mean_tps)},
                               {"relative_change_ci", interval_json(c.relative_change)},
                               {"minimum_detectable_tps", number_json(c.minimum_detectable_tps)}};
  if (c.welch) {
    contention["welch"] = {{"difference", c.welch->difference},
                           {"t", c.welch->t},
                           {"df", c.welch->df},
                           {"p", c.welch->p}};
  }
  return {{"agents", a.agents},
          {"provenance", provenance_name(a.provenance)},
          {"level", a.level},
          {"repetitions", a.repetitions},
          {"repetitions_complete", a.repetitions_complete},
          {"speedup", ratio_json(a.speedup)},
          {"speedup_method",
           "sequential wall / concurrent wall per repetition; geometric mean; t-interval of the "
           "mean log ratio, exponentiated"},
          {"efficiency", number_json(a.efficiency)},
          {"efficiency_ci", interval_json(a.efficiency_ci)},
          {"sequential_wall_s", mean_json(a.sequential_wall_s)},
          {"concurrent_wall_s", mean_json(a.concurrent_wall_s)},
          {"fairness_jain", mean_json(a.fairness)},
          {"balance_ratio_prior_system", mean_json(a.balance_ratio)},
          {"solo_aggregate_tps", mean_json(a.solo_aggregate_tps)},
          {"concurrent_aggregate_tps", mean_json(a.concurrent_aggregate_tps)},
          {"agents_slowdown", agents},
          {"ttft_ms",
           {{"solo", percentiles_json(a.solo_ttft_ms)},
            {"concurrent", percentiles_json(a.concurrent_ttft_ms)}}},
          {"itl_ms",
           {{"solo", percentiles_json(a.solo_itl_ms)},
            {"concurrent", percentiles_json(a.concurrent_itl_ms)}}},
          {"calls",
           {{"solo_ok", a.solo_calls.ok},
            {"solo_failed", a.solo_calls.failed},
            {"concurrent_ok", a.concurrent_calls.ok},
            {"concurrent_failed", a.concurrent_calls.failed}}},
          {"contention", contention}};
}

}  // namespace chimera::lab
