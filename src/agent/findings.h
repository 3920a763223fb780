// The findings engine: what a folder of benchmark data says, and what it cannot say, derived by
// code from the ingested tables and phrased by code, each finding citing the fact ids it rests on
// (the facts table gains the derived figures a finding states: spreads, effects, p-values), with
// the figures' provenance. The reports are built from these; the model's prose is an addition.
//
// Per data set (one table of one file):
// - best and worst configuration per metric (decode tok/s, TTFT, load, memory, ...) with the
// spread,
//   and whether the top two can be told apart;
// - per option (a column that varies: num_ctx, num_gpu, temperature, quantization, model ...) its
//   effect on each metric across matched rows (the other options equal), tested against the spread
//   between replicates when the data has replicates (Welch-type t on the pooled
//   within-configuration variance, Bonferroni over level pairs), and said to be untellable when it
//   has none;
// - outliers (robust: median and MAD within a model), a cold first call whose TTFT holds a model
// load;
// - failed rows, rows whose prompt was truncated.
// Across data sets: the same model and configuration with different figures (contradictions),
// "expected" figures against the data, model against model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/facts.h"
#include "agent/ingest.h"
#include "agent/profiles.h"
#include "util/provenance.h"

namespace chimera::agent {

enum class FindingTopic {
  kBestWorst,
  kOptionEffect,
  kReplicates,
  kOutlier,
  kColdStart,
  kFailure,
  kTruncation,
  kContradiction,
  kExpected,
  kModelComparison,
  kRunComparison,  // this run's A/B comparison
  kRunExpected,    // this run's measurement against a profile's expected figure
};
std::string_view finding_topic_name(FindingTopic topic);

// Whether the data can support the difference a finding states.
enum class Support {
  kSupported,      // larger than the noise the data measures (a test rejects)
  kNotSupported,   // within that noise (a test does not reject)
  kCannotTell,     // the data has no measure of noise (one sample per configuration)
  kNotApplicable,  // an observation, not a difference (a failure count)
};
std::string_view support_name(Support support);

// A level of an option and a metric's mean there, for the small effect charts.
struct EffectLevel {
  std::string value;
  double mean = 0;
  std::optional<double> lower, upper;  // 95% t CI of the level's mean, when it has replicates
  int64_t n = 0;
};

struct DataFinding {
  FindingTopic topic = FindingTopic::kBestWorst;
  std::string dataset;  // "ollama_sweep/runs.csv" (+ " / table" for JSON and Markdown tables)
  std::string text;     // one or two sentences, citing [ids]
  std::vector<std::string> fact_ids;
  Provenance provenance = Provenance::kDerived;
  Support support = Support::kNotApplicable;
  double weight = 0;  // higher comes first among Key Findings
  // Option effects only: what the chart shows.
  std::string option, metric, unit;
  std::vector<EffectLevel> levels;
};

struct FindingsContext {
  // Profiles whose expected figures are checked against the data (the Chimera profile).
  std::vector<Profile> profiles;
  double alpha = 0.05;
};

// Analyses every table of the ingested folder. Adds the derived figures its findings state to
// `facts` (kind S, statistic "difference", "spread", "p-value", ...), so every number in a
// finding's text is a fact the validator can ground.
std::vector<DataFinding> build_findings(const IngestResult& ingest, FactsTable& facts,
                                        const FindingsContext& context = {});

// The findings of one topic, in order.
std::vector<const DataFinding*> findings_of(const std::vector<DataFinding>& findings,
                                            std::initializer_list<FindingTopic> topics);

// Key findings: the most informative ones first (by weight), at most `limit`.
std::vector<const DataFinding*> key_findings(const std::vector<DataFinding>& findings,
                                             size_t limit);

}  // namespace chimera::agent
