// Statistics for benchmark samples: descriptive summaries, Student t and normal distributions,
// confidence intervals (t-based and seeded percentile bootstrap), Welch's t-test, Mann-Whitney U and
// Hedges' g. Two-sample functions follow R's convention: the difference is x - y.
//
// Definitions (stated so a reader can check every printed number):
// - sd is the sample standard deviation (divisor n - 1); CV = sd / |mean|.
// - percentile(q) interpolates linearly between order statistics: h = (n - 1) q, result
//   x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]) on sorted x. This is numpy's default
//   ("linear") and R's quantile type 7.
// - Student t quantiles are computed by inverting the CDF (regularized incomplete beta), for any
//   real df > 0, not read from a table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace chimera::lab {

struct Interval {
  double lower = 0;
  double upper = 0;
  double level = 0.95;  // coverage, e.g. 0.95
  bool contains(double v) const { return lower <= v && v <= upper; }
};

struct Summary {
  size_t n = 0;
  double mean = 0, sd = 0, cv = 0;  // sd and cv are 0 when n < 2
  double min = 0, max = 0;
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0;  // p50 is the median
};

// Descriptive statistics. Empty input gives NaN for mean/percentiles (callers check n first).
double mean(std::span<const double> x);
double sample_sd(std::span<const double> x);      // divisor n - 1; 0 when n < 2
double percentile(std::span<const double> x, double q);  // q in [0, 1]; x need not be sorted
double percentile_sorted(std::span<const double> sorted, double q);
double median(std::span<const double> x);
Summary summarize(std::span<const double> x);

// Distributions.
double regularized_incomplete_beta(double a, double b, double x);  // I_x(a, b)
double normal_cdf(double z);
double normal_quantile(double p);  // p in (0, 1)
double student_t_cdf(double t, double df);
double student_t_quantile(double p, double df);  // p in (0, 1), df > 0 (may be fractional)
// P(|T| >= |t|) for T ~ t(df).
double student_t_two_sided_p(double t, double df);

// Fisher's F distribution: P(F <= f) and the upper tail P(F >= f), for d1, d2 > 0.
double f_cdf(double f, double d1, double d2);
double f_upper_p(double f, double d1, double d2);

// The smallest true difference a two-sided test at `alpha` would detect with probability `power`,
// given the standard error of the difference and its degrees of freedom:
// (t_{1-alpha/2, df} + t_{power, df}) * se. Printed beside every "no significant difference", so
// "no effect" is read as "no effect larger than this". NaN when se or df is not positive.
double minimum_detectable_difference(double se, double df, double alpha = 0.05, double power = 0.8);

// t-based confidence interval of the mean; nullopt when n < 2.
std::optional<Interval> t_ci_mean(std::span<const double> x, double level = 0.95);

// splitmix64: small, well mixed and identical on every platform and standard library (the
// std::*_distribution classes are not), for reproducible resampling, seeds and arrival times.
class SeededRng {
 public:
  explicit SeededRng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  uint64_t below(uint64_t n);  // uniform in [0, n), without modulo bias; n > 0
  double uniform_open_closed();  // uniform in (0, 1]

 private:
  uint64_t state_;
};

// Seeded percentile bootstrap (SeededRng), so the same seed gives the same interval everywhere.
struct BootstrapOptions {
  int iterations = 5000;
  uint64_t seed = 0x5eed;
  double level = 0.95;
};
using OneSampleStatistic = std::function<double(std::span<const double>)>;
using TwoSampleStatistic = std::function<double(std::span<const double>, std::span<const double>)>;
// nullopt when a sample is empty.
std::optional<Interval> bootstrap_ci(std::span<const double> x, const OneSampleStatistic& statistic,
                                     const BootstrapOptions& options = {});
// Resamples x and y independently.
std::optional<Interval> bootstrap_ci(std::span<const double> x, std::span<const double> y,
                                     const TwoSampleStatistic& statistic,
                                     const BootstrapOptions& options = {});
std::optional<Interval> bootstrap_median_ci(std::span<const double> x, const BootstrapOptions& o = {});
std::optional<Interval> bootstrap_mean_difference_ci(std::span<const double> x,
                                                     std::span<const double> y,
                                                     const BootstrapOptions& o = {});
std::optional<Interval> bootstrap_median_difference_ci(std::span<const double> x,
                                                       std::span<const double> y,
                                                       const BootstrapOptions& o = {});
// Interval of mean(x) / mean(y) - 1 (a relative change, e.g. -0.31 = x is 31% below y).
std::optional<Interval> bootstrap_relative_mean_difference_ci(std::span<const double> x,
                                                              std::span<const double> y,
                                                              const BootstrapOptions& o = {});

// Welch's unequal-variance t-test of mean(x) - mean(y), Welch-Satterthwaite df, two-sided p.
struct WelchResult {
  double mean_x = 0, mean_y = 0;
  double difference = 0;  // mean_x - mean_y
  double t = 0, df = 0, p = 1;
  Interval ci;  // of the difference
};
// nullopt when either sample has fewer than 2 values.
std::optional<WelchResult> welch_t_test(std::span<const double> x, std::span<const double> y,
                                        double level = 0.95);

// The relative change mean(x) / mean(y) - 1 with a t-based interval by Fieller's theorem, from the
// same statistic as Welch's test: the set of ratios r for which |mean(x) - r mean(y)| / sqrt(vx +
// r^2 vy) <= t_{(1+level)/2, df}, where vx, vy are the squared standard errors of the means and df
// is the Welch-Satterthwaite df of the difference (fixed at r = 1, the test's own df). Fieller, not
// the delta method: with that df, r = 1 lies inside the interval exactly when Welch's test at 1 -
// level does not reject, so the printed relative CI and the printed p never disagree; the delta
// method's symmetric interval around the ratio breaks that at small n and when means are far apart.
struct RelativeInterval {
  std::optional<Interval> ci;  // of mean(x) / mean(y) - 1; nullopt when it cannot be given
  double ratio = 0;            // the point estimate mean(x) / mean(y)
  double df = 0;
  std::string why_none;  // "n < 2", "the denominator's mean is not distinguishable from 0 ..."
};
RelativeInterval fieller_relative_ci(std::span<const double> x, std::span<const double> y,
                                     double level = 0.95);

// Two one-sided tests (TOST) of equivalence of the means within a relative margin: H0 is
// mean(x) / mean(y) <= 1 - margin or >= 1 + margin; each side is Welch's t of mean(x) - (1 -+
// margin) mean(y) with the df of the difference (as fieller_relative_ci), so "equivalent at alpha"
// holds exactly when the (1 - 2 alpha) Fieller interval lies inside [1 - margin, 1 + margin].
struct EquivalenceResult {
  double margin = 0;  // relative: 0.05 = +-5 % of mean(y)
  double p = 1;       // max of the two one-sided p-values
  double p_lower = 1, p_upper = 1;
  std::optional<Interval> ci;  // the (1 - 2 alpha) relative interval (mean(x) / mean(y) - 1)
  bool equivalent = false;     // p < alpha
};
// nullopt when either sample has fewer than 2 values or mean(y) is not positive.
std::optional<EquivalenceResult> tost_relative(std::span<const double> x, std::span<const double> y,
                                               double margin, double alpha = 0.05);

// Paired differences d = x - y: mean, t CI, one-sample t-test of mean(d) = 0 (two-sided).
struct PairedResult {
  size_t n = 0;
  double mean_difference = 0, sd_difference = 0;
  double t = 0, df = 0, p = 1;
  Interval ci;
};
// nullopt when sizes differ or n < 2.
std::optional<PairedResult> paired_difference(std::span<const double> x, std::span<const double> y,
                                              double level = 0.95);

// Mann-Whitney U (Wilcoxon rank-sum), two-sided. u is R's W: pairs with x > y plus half the ties.
// Exact null distribution when there are no ties and both samples are under 50 (R's rule); else a
// normal approximation with tie-corrected variance and a 0.5 continuity correction.
struct MannWhitneyResult {
  double u = 0;
  double z = 0;  // 0 for the exact test
  double p = 1;
  bool exact = false;
};
// nullopt when either sample is empty.
std::optional<MannWhitneyResult> mann_whitney_u(std::span<const double> x,
                                                std::span<const double> y);

// Holm-Bonferroni step-down adjustment of m p-values (same order as given): sorted ascending, the
// k-th smallest (0-based) becomes max over j <= k of min(1, (m - j) p_(j)). Controls the family-wise
// error rate, so testing ten metrics does not make a "difference" appear by chance.
std::vector<double> holm_adjust(std::span<const double> p);

// Hedges' g of mean(x) - mean(y): Cohen's d with the pooled sd, times the exact small-sample
// correction J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df = nx + ny - 2.
// nullopt when df < 2 or the pooled sd is 0.
std::optional<double> hedges_g(std::span<const double> x, std::span<const double> y);

}  // namespace chimera::lab
