// From a study's calls to its findings: samples per configuration, each configuration's mean and 95%
// CI per objective, which ones are tied for best (not significantly worse than the best, Welch's test
// Holm-adjusted over the comparisons), which break a constraint, truncate the prompt or fail, each
// option's effect (tune_effects.h), the Pareto front of two objectives, and the race's eliminations.
//
// A sample is one pass of the workload for one configuration (for the prompt workload: each prompt
// once, with the same seeds as every other configuration's sample of that index); its value is the
// mean of its calls' per-call metric. Samples, not calls, are the independent units of the tests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lab/call_meta.h"
#include "lab/stats.h"
#include "lab/tune_effects.h"
#include "lab/tune_spec.h"
#include "util/provenance.h"

namespace chimera::lab {

struct Sample {
  std::string config;
  int64_t index = 0;
  std::vector<const MeasuredCall*> calls;  // by call index; nullptr where none was stored
  bool complete() const;
  bool ok() const;         // complete and every call succeeded
  bool truncated() const;  // a call's prompt did not fit num_ctx
};

// Measured calls (warm-ups skipped) grouped by configuration label (CallMeta::arm) and sample index
// (CallMeta::repetition); CallMeta::prompt_index is the call's index in its sample.
std::map<std::string, std::map<int64_t, Sample>> collect_samples(
    const std::vector<MeasuredCall>& calls, int calls_per_sample);

// The sample's value for an objective; nullopt when a call lacks the metric or the sample is not ok.
// Goodput counts the tokens of calls that meet every per-call constraint.
std::optional<double> sample_value(const Sample& sample, const ObjectiveInfo& objective,
                                   const std::vector<Constraint>& constraints);

// One race round's decision over the configurations still in it: the best, and every one
// significantly worse than it, Holm over the comparisons. The test is a t-test on the log values
// with the variance pooled over every configuration in the round (speeds and latencies vary by a
// factor, so their log spreads agree, and the pooled degrees of freedom give the test power at 2
// samples each); Welch per pair when a value is not positive. Configurations with fewer than 2
// values can be neither best nor eliminated.
struct Elimination {
  std::string config;
  double mean = 0, best_mean = 0;
  double p_holm = 1;
};
struct RaceDecision {
  std::string best;
  std::vector<Elimination> eliminated;
};
RaceDecision race_decision(const std::map<std::string, std::vector<double>>& values,
                           bool higher_is_better, double alpha);

struct RaceRound {
  int index = 0;
  int target_samples = 0;
  std::vector<std::string> racing;  // in the round
  RaceDecision decision;
};

struct MetricEstimate {
  std::string metric, unit;
  bool higher_is_better = true;
  std::vector<double> values;  // per ok sample
  double mean = 0;
  std::optional<Interval> ci;  // t-based, n >= 2
};

enum class ConfigStatus {
  kBest,
  kTiedForBest,
  kWorse,         // significantly worse than the best
  kEliminated,    // dropped by the race
  kInfeasible,    // breaks a constraint
  kTruncated,     // its context cannot hold the prompt: reported, never ranked
  kFailed,        // its calls failed
  kTooFewSamples, // fewer than 2 ok samples
  kNotTried,      // random search: not drawn
};
std::string_view config_status_name(ConfigStatus s);

struct ConfigResult {
  Configuration config;
  ConfigStatus status = ConfigStatus::kTooFewSamples;
  int rank = 0;  // 1 = best; 0 when not ranked
  int64_t samples_ok = 0, samples_failed = 0, calls_ok = 0, calls_failed = 0;
  std::vector<MetricEstimate> objectives;  // as in the spec
  // decode_tps, prefill_tps, ttft_ms and e2e_ms whatever the objectives (for profiles and tables).
  std::vector<MetricEstimate> metrics;
  const MetricEstimate* metric(std::string_view name) const;
  std::map<std::string, double> statistics;  // constraint statistics: "ttft_ms p95" -> value
  std::vector<std::string> violations;       // "ttft_p95<500ms: 812.4 ms"
  std::optional<double> load_ms;             // median warm-up load time of its block
  std::optional<double> peak_rss_bytes;      // from the hardware monitor, when given
  std::optional<double> p_vs_best;           // Holm-adjusted, when compared
  std::optional<double> difference_from_best;  // mean - best mean (primary objective)
  std::string failure;                       // the first error, for failed configurations
  std::optional<int> eliminated_in_round;
};

struct OptionEffects {
  std::string metric, unit;
  std::optional<EffectsResult> effects;  // unset when the design cannot separate them
  std::string why_not;                   // why it is unset
};

struct TuneAnalysis {
  std::vector<ConfigResult> configs;  // ranked first (by rank), then the others
  std::string best;                   // label; "" when nothing could be ranked
  std::vector<std::string> tied;      // labels tied for best, the best included
  std::vector<OptionEffects> effects; // per objective metric
  std::vector<std::string> pareto;    // two objectives: the non-dominated configurations
  int64_t measured_calls = 0, warmup_calls = 0, failed_calls = 0;
  Provenance provenance = Provenance::kMeasured;  // synthetic on a dummy-weight model
  std::vector<std::string> notes;     // what the figures can and cannot say
};

struct AnalysisInput {
  const StudySpec* spec = nullptr;
  const std::vector<Configuration>* configs = nullptr;
  const std::vector<MeasuredCall>* calls = nullptr;  // warm-ups included
  int calls_per_sample = 1;
  std::vector<RaceRound> rounds;
  std::vector<std::string> not_tried;
  std::map<std::string, double> peak_rss_bytes;  // per configuration label, when monitored
  bool synthetic = false;
};

TuneAnalysis analyze_study(const AnalysisInput& input);

}  // namespace chimera::lab
