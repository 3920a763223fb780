// What each option does to a metric: main effects of categorical factors (the options a study
// varied) on one response, by ordinary least squares with treatment coding (each factor's first level
// is its reference), so an unbalanced design (a race that measured some configurations more) is
// still read right, each option's effect adjusted for the others.
//
// Standard errors:
//   replicated designs (some configuration measured at least twice): HC3 heteroscedasticity-robust
//     errors (MacKinnon & White 1985), since one option (threads) can change the noise as well as
//     the mean;
//   unreplicated designs (one sample per configuration, as old sweeps are): classical errors from
//     the residual of the main-effects model, which then stands for the interactions. That is only
//     an estimate of noise under the assumption that the options do not interact; the result says so.
// Per option: a Wald F test that all its levels equal the reference, Holm-adjusted over the options
// tested; per level: the difference from the reference with its CI and the smallest difference the
// study could have detected at 80% power (minimum_detectable_difference).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lab/stats.h"
#include "util/status.h"

namespace chimera::lab {

struct EffectsInput {
  std::vector<std::string> factors;              // option names
  std::vector<std::vector<std::string>> levels;  // per factor; levels[f][0] is the reference
  std::vector<std::vector<int>> rows;            // per observation: a level index per factor
  std::vector<double> y;                         // the response, per observation
  bool replicated = true;                        // HC3 when true, classical when false
};

struct LevelEffect {
  std::string level;
  size_t n = 0;                // observations at this level
  double estimate = 0;         // difference from the reference level, in the response's unit
  double se = 0;
  Interval ci;
  double p = 1;                // two-sided, unadjusted
  double detectable = 0;       // smallest difference detectable at 80% power
};

struct FactorEffect {
  std::string name;
  std::string reference;
  size_t reference_n = 0;
  std::vector<LevelEffect> levels;     // the non-reference levels that were measured
  std::vector<std::string> unmeasured; // levels with no observation (random search)
  double f = 0, df1 = 0, df2 = 0;
  double p = 1;       // Wald F test, unadjusted
  double p_holm = 1;  // Holm-adjusted over the factors tested
  bool measurable = false;  // p_holm < alpha
  double detectable = 0;    // the largest of its levels' detectable differences
  // The largest absolute estimate over its levels (0 when it has none).
  double largest_effect() const;
};

struct EffectsResult {
  std::vector<FactorEffect> factors;
  size_t n = 0;
  int64_t df_residual = 0;
  double mean = 0;          // of the response, for relative figures
  double residual_sd = 0;
  std::string se_method;    // "HC3 (heteroscedasticity-robust)" or "classical, ..."
};

// kUnsupported when the design cannot separate the options (too few configurations, or two
// options confounded), naming why.
Result<EffectsResult> main_effects(const EffectsInput& input, double alpha = 0.05,
                                   double level = 0.95);

}  // namespace chimera::lab
