// `chimera tune --analyze FILE.csv|json`: reads a sweep someone already ran (the prior system's
// gemma3 sweep, a community CSV) and says what it can and cannot support: how many samples each
// configuration has (one means no CI and no test between two configurations), how the top
// configurations' spread compares with the noise (from replicates where there are some, else from the
// main-effects model's residual, which assumes the options do not interact), and which options had
// a measurable effect and which had none at the size the sweep could detect.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/tune_effects.h"
#include "util/status.h"

namespace chimera::agent {

struct SweepMetric {
  std::string column, metric, unit;
  bool higher_is_better = true;
  std::vector<std::pair<std::string, double>> top;  // up to 10 configurations by mean, best first
  double top_spread = 0;                             // best - 10th (or last) mean, absolute
  std::optional<double> noise_sd;                    // of one sample
  std::string noise_source;                          // "replicates (k configurations)" / "residual ..."
  std::optional<double> top_two_p;                   // Welch, when both have replicates
  std::optional<lab::EffectsResult> effects;
  std::string effects_unavailable;
};

struct SweepAnalysis {
  std::string path;
  int64_t rows = 0, failed_rows = 0, used_rows = 0;
  std::vector<std::string> factors;        // option columns that vary
  std::vector<std::string> constant;       // option columns with one value: "num_batch=512"
  std::string replicate_column;            // "run" when there is one
  size_t configurations = 0;
  size_t min_samples = 0, max_samples = 0;
  std::vector<SweepMetric> metrics;
  std::vector<std::string> supports, cannot_support;  // the verdicts, phrased by code
};

Result<SweepAnalysis> analyze_sweep_file(const std::string& path, double alpha = 0.05);
std::string render_sweep_analysis(const SweepAnalysis& analysis);
nlohmann::json sweep_analysis_json(const SweepAnalysis& analysis);

}  // namespace chimera::agent
