// Statistics checked against published worked examples. Every expected value below is quoted from
// the named reference (or derived by hand from its definition, with the arithmetic shown); none was
// produced by this code.
#include "lab/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace chimera::lab {
namespace {

// R's `sleep` data set (Student 1908; R documentation ?sleep): extra hours of sleep with drug 1 and 2.
const std::vector<double> kSleepGroup1 = {0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0};
const std::vector<double> kSleepGroup2 = {1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4};

TEST(Descriptive, NistNumAcc1MeanAndSd) {
  // NIST StRD univariate NumAcc1: certified mean 10000002, certified sd 1.
  std::vector<double> x = {10000001, 10000003, 10000002};
  EXPECT_DOUBLE_EQ(mean(x), 10000002.0);
  EXPECT_NEAR(sample_sd(x), 1.0, 1e-12);
}

TEST(Descriptive, NistNumAcc3And4KeepPrecisionWithLargeOffsets) {
  // NIST StRD NumAcc3 / NumAcc4: 1001 values, first c + 0.2 then 500 pairs (c + 0.1, c + 0.3) with
  // c = 1e6 and 1e7. Certified mean c + 0.2, certified sd 0.1.
  for (double c : {1e6, 1e7}) {
    std::vector<double> x = {c + 0.2};
    for (int i = 0; i < 500; ++i) {
      x.push_back(c + 0.1);
      x.push_back(c + 0.3);
    }
    EXPECT_NEAR(mean(x), c + 0.2, 1e-8) << c;
    EXPECT_NEAR(sample_sd(x), 0.1, 1e-8) << c;
  }
}

TEST(Descriptive, SleepGroupSdMatchesR) {
  // R: sd(sleep$extra[1:10]) = 1.789010, sd(sleep$extra[11:20]) = 2.002249.
  EXPECT_NEAR(sample_sd(kSleepGroup1), 1.789010, 5e-7);
  EXPECT_NEAR(sample_sd(kSleepGroup2), 2.002249, 5e-7);
}

TEST(Descriptive, PercentilesInterpolateLinearlyLikeNumpy) {
  // numpy.percentile docs: a = [[10, 7, 4], [3, 2, 1]]; np.percentile(a, 50) = 3.5.
  std::vector<double> a = {10, 7, 4, 3, 2, 1};
  EXPECT_DOUBLE_EQ(percentile(a, 0.5), 3.5);
  // By hand on 1..10: h = 9 q. q = 0.9 -> h = 8.1 -> 9 + 0.1 * (10 - 9) = 9.1 (R quantile(1:10, .9)).
  std::vector<double> one_to_ten = {3, 1, 2, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_NEAR(percentile(one_to_ten, 0.9), 9.1, 1e-12);
  // q = 0.99 -> h = 8.91 -> 9.91; q = 0 and 1 are min and max; the median of an even count averages.
  EXPECT_NEAR(percentile(one_to_ten, 0.99), 9.91, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(one_to_ten, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(one_to_ten, 1.0), 10.0);
  EXPECT_DOUBLE_EQ(median(one_to_ten), 5.5);
  Summary s = summarize(one_to_ten);
  EXPECT_EQ(s.n, 10u);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_DOUBLE_EQ(s.p50, 5.5);
  EXPECT_NEAR(s.p95, 9.55, 1e-12);  // h = 8.55
  // sd of 1..10 = sqrt(82.5 / 9) = 3.0276504 (sum of squared deviations 82.5).
  EXPECT_NEAR(s.sd, 3.0276504, 1e-7);
  EXPECT_NEAR(s.cv, 3.0276504 / 5.5, 1e-7);
}

TEST(Descriptive, SingleValueHasNoSpread) {
  std::vector<double> x = {42};
  Summary s = summarize(x);
  EXPECT_EQ(s.n, 1u);
  EXPECT_EQ(s.sd, 0);
  EXPECT_EQ(s.p99, 42);
  EXPECT_FALSE(t_ci_mean(x).has_value());
}

TEST(Distributions, IncompleteBetaClosedForms) {
  // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b; I_{1/2}(a, a) = 1/2 (symmetry).
  EXPECT_NEAR(regularized_incomplete_beta(1, 1, 0.3), 0.3, 1e-14);
  EXPECT_NEAR(regularized_incomplete_beta(3.5, 1, 0.6), std::pow(0.6, 3.5), 1e-14);
  EXPECT_NEAR(regularized_incomplete_beta(1, 4, 0.2), 1 - std::pow(0.8, 4), 1e-14);
  EXPECT_NEAR(regularized_incomplete_beta(7.25, 7.25, 0.5), 0.5, 1e-14);
  EXPECT_EQ(regularized_incomplete_beta(2, 3, 0), 0);
  EXPECT_EQ(regularized_incomplete_beta(2, 3, 1), 1);
}

TEST(Distributions, StudentTQuantilesMatchTables) {
  // R qt(): qt(.975, 1) = 12.7062047, qt(.975, 9) = 2.2621572, qt(.975, 30) = 2.0422725,
  // qt(.995, 4) = 4.6040949, qt(.95, 2) = 2.9199856; qnorm(.975) = 1.9599640.
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.7062047, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.975, 9), 2.2621572, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.0422725, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.995, 4), 4.6040949, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.95, 2), 2.9199856, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.025, 9), -2.2621572, 1e-7);
  EXPECT_NEAR(normal_quantile(0.975), 1.9599640, 1e-7);
  // df = 1 is the Cauchy distribution: F(t) = 1/2 + atan(t)/pi, so F(1) = 0.75 exactly.
  EXPECT_NEAR(student_t_cdf(1.0, 1), 0.75, 1e-14);
  // Very large df approaches the normal.
  EXPECT_NEAR(student_t_quantile(0.975, 1e7), 1.9599640, 1e-5);
}

TEST(ConfidenceInterval, OneSampleTOnSleepGroup1MatchesR) {
  // R: t.test(sleep$extra[1:10]) -> mean 0.75, 95 percent CI -0.5297804 2.0297804.
  auto ci = t_ci_mean(kSleepGroup1);
  ASSERT_TRUE(ci.has_value());
  EXPECT_NEAR(ci->lower, -0.5297804, 1e-6);
  EXPECT_NEAR(ci->upper, 2.0297804, 1e-6);
}

TEST(WelchTTest, SleepDataMatchesRDocumentation) {
  // R ?t.test example: t.test(extra ~ group, data = sleep)
  //   t = -1.8608, df = 17.776, p-value = 0.07939
  //   95 percent confidence interval: -3.3654832 0.2054832; means 0.75 and 2.33.
  auto r = welch_t_test(kSleepGroup1, kSleepGroup2);
  ASSERT_TRUE(r.has_value());
  EXPECT_NEAR(r->mean_x, 0.75, 1e-12);
  EXPECT_NEAR(r->mean_y, 2.33, 1e-12);
  EXPECT_NEAR(r->t, -1.8608, 5e-5);
  EXPECT_NEAR(r->df, 17.776, 5e-4);
  EXPECT_NEAR(r->p, 0.07939, 5e-6);
  EXPECT_NEAR(r->ci.lower, -3.3654832, 1e-6);
  EXPECT_NEAR(r->ci.upper, 0.2054832, 1e-6);
}

TEST(WelchTTest, ConstantSamplesGiveExactAnswers) {
  std::vector<double> a = {5, 5, 5}, b = {5, 5}, c = {7, 7};
  EXPECT_DOUBLE_EQ(welch_t_test(a, b)->p, 1.0);
  EXPECT_DOUBLE_EQ(welch_t_test(a, c)->p, 0.0);
  std::vector<double> one = {1};
  EXPECT_FALSE(welch_t_test(one, a).has_value());
}

TEST(PairedDifference, SleepDataMatchesRDocumentation) {
  // R ?t.test: with(sleep, t.test(extra[group == 1], extra[group == 2], paired = TRUE))
  //   t = -4.0621, df = 9, p-value = 0.002833; CI -2.4598858 -0.7001142; mean difference -1.58.
  auto r = paired_difference(kSleepGroup1, kSleepGroup2);
  ASSERT_TRUE(r.has_value());
  EXPECT_NEAR(r->mean_difference, -1.58, 1e-12);
  EXPECT_NEAR(r->t, -4.0621, 5e-5);
  EXPECT_DOUBLE_EQ(r->df, 9);
  EXPECT_NEAR(r->p, 0.002833, 5e-7);
  EXPECT_NEAR(r->ci.lower, -2.4598858, 1e-6);
  EXPECT_NEAR(r->ci.upper, -0.7001142, 1e-6);
  std::vector<double> short_x = {1, 2};
  EXPECT_FALSE(paired_difference(short_x, kSleepGroup2).has_value());
}

TEST(MannWhitney, SleepDataWithTiesMatchesR) {
  // R: wilcox.test(extra ~ group, data = sleep) -> W = 25.5, p-value = 0.06933
  // (ties present, so R uses the normal approximation with continuity correction).
  auto r = mann_whitney_u(kSleepGroup1, kSleepGroup2);
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(r->u, 25.5);
  EXPECT_FALSE(r->exact);
  EXPECT_NEAR(r->p, 0.06933, 5e-6);
}

TEST(MannWhitney, ExactSmallSampleMatchesRDocumentation) {
  // R ?wilcox.test, Hollander & Wolfe (1973) p. 69f, permeability constants:
  //   wilcox.test(x, y, alternative = "g") -> W = 35, p-value = 0.1272 (exact, one-sided).
  // No ties, so the two-sided exact p-value is twice the one-sided one: 0.2544.
  std::vector<double> x = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
  std::vector<double> y = {1.15, 0.88, 0.90, 0.74, 1.21};
  auto r = mann_whitney_u(x, y);
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(r->u, 35);
  EXPECT_TRUE(r->exact);
  EXPECT_NEAR(r->p, 2 * 0.1272, 2e-4);
  // Complete separation of 3 vs 3: only 2 of C(6,3) = 20 orderings are as extreme -> p = 0.1.
  std::vector<double> low = {1, 2, 3}, high = {4, 5, 6};
  auto separated = mann_whitney_u(low, high);
  EXPECT_DOUBLE_EQ(separated->u, 0);
  EXPECT_NEAR(separated->p, 0.1, 1e-12);
}

TEST(MannWhitney, LargeSamplesUseNormalApproximation) {
  std::vector<double> x, y;
  for (int i = 0; i < 60; ++i) {
    x.push_back(i);
    y.push_back(i + 0.5);
  }
  auto r = mann_whitney_u(x, y);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->exact);
  // By hand: x_i < y_j iff i <= j, so U = pairs with x > y = sum_{i} i = 60*59/2 = 1770.
  EXPECT_DOUBLE_EQ(r->u, 1770);
  // Near the null centre 1800: z = (1770 - 1800 + 0.5) / sqrt(60*60*121/12) = -29.5/190.526 = -0.1548.
  EXPECT_NEAR(r->z, -0.1548, 1e-4);
  EXPECT_GT(r->p, 0.8);
}

TEST(HedgesG, SleepDataByHand) {
  // From R's sds (1.789010, 2.002249): pooled sd = sqrt((1.789010^2 + 2.002249^2) / 2) = 1.898625,
  // d = (0.75 - 2.33) / 1.898625 = -0.832181. df = 18, exact J = Gamma(9) / (3 Gamma(8.5))
  // = 40320 / (3 * 14034.4073) = 0.957646, so g = -0.832181 * 0.957646 = -0.796935.
  auto g = hedges_g(kSleepGroup1, kSleepGroup2);
  ASSERT_TRUE(g.has_value());
  EXPECT_NEAR(*g, -0.796935, 5e-6);
  std::vector<double> same = {3, 3, 3};
  EXPECT_FALSE(hedges_g(same, same).has_value());  // zero pooled sd: undefined, not zero
}

TEST(Holm, AdjustsStepDownByHand) {
  // m = 5, sorted: 5 * 0.01 = 0.05; 4 * 0.02 = 0.08; 3 * 0.03 = 0.09; 2 * 0.04 = 0.08 -> 0.09 (running
  // max); 1 * 0.05 -> 0.09. Given out of order, results come back in the input's order.
  std::vector<double> p = {0.03, 0.01, 0.05, 0.02, 0.04};
  std::vector<double> adjusted = holm_adjust(p);
  std::vector<double> expected = {0.09, 0.05, 0.09, 0.08, 0.09};
  ASSERT_EQ(adjusted.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_NEAR(adjusted[i], expected[i], 1e-12) << i;
  std::vector<double> big = {0.5, 0.9};
  EXPECT_DOUBLE_EQ(holm_adjust(big)[1], 1.0);  // capped at 1
}

TEST(Bootstrap, IsReproducibleForASeedAndChangesWithIt) {
  BootstrapOptions a{2000, 7, 0.95}, b{2000, 8, 0.95};
  auto first = bootstrap_median_ci(kSleepGroup1, a);
  auto again = bootstrap_median_ci(kSleepGroup1, a);
  auto other = bootstrap_mean_difference_ci(kSleepGroup1, kSleepGroup2, b);
  auto other_again = bootstrap_mean_difference_ci(kSleepGroup1, kSleepGroup2, a);
  ASSERT_TRUE(first && again && other && other_again);
  EXPECT_EQ(first->lower, again->lower);
  EXPECT_EQ(first->upper, again->upper);
  EXPECT_NE(other->lower, other_again->lower);
}

TEST(Bootstrap, IntervalsBracketTheEstimateAndRespectBounds) {
  // The median of a resample is always between the data's min and max, and the interval of a
  // constant sample is that constant.
  auto median_ci = bootstrap_median_ci(kSleepGroup1);
  ASSERT_TRUE(median_ci);
  EXPECT_GE(median_ci->lower, -1.6);
  EXPECT_LE(median_ci->upper, 3.7);
  EXPECT_TRUE(median_ci->contains(median(kSleepGroup1)));
  std::vector<double> constant = {2, 2, 2, 2};
  auto c = bootstrap_median_ci(constant);
  EXPECT_EQ(c->lower, 2);
  EXPECT_EQ(c->upper, 2);
  // Differences: the sleep difference of means (-1.58) lies inside; the Welch CI (-3.37, 0.21) and
  // the bootstrap one should roughly agree in width for n = 10 (bootstrap is a bit narrower).
  auto diff = bootstrap_mean_difference_ci(kSleepGroup1, kSleepGroup2);
  ASSERT_TRUE(diff);
  EXPECT_TRUE(diff->contains(-1.58));
  double width = diff->upper - diff->lower;
  EXPECT_GT(width, 2.0);
  EXPECT_LT(width, 4.0);
  auto median_diff = bootstrap_median_difference_ci(kSleepGroup1, kSleepGroup2);
  EXPECT_TRUE(median_diff->contains(median(kSleepGroup1) - median(kSleepGroup2)));
  // Relative difference of clearly separated samples excludes zero: 10 vs 20 is -50%.
  std::vector<double> tens = {9, 10, 11, 10, 10}, twenties = {19, 20, 21, 20, 20};
  auto relative = bootstrap_relative_mean_difference_ci(tens, twenties);
  ASSERT_TRUE(relative);
  EXPECT_TRUE(relative->contains(-0.5));
  EXPECT_LT(relative->upper, 0);
  std::vector<double> empty;
  EXPECT_FALSE(bootstrap_median_ci(empty).has_value());
}

TEST(Distributions, FUpperTailMatchesClosedFormsAndT) {
  // F(2, d2) has the closed upper tail (1 + 2f/d2)^(-d2/2); R's qf(.95, 2, 10) = 4.102821.
  EXPECT_NEAR(f_upper_p(4.102821, 2, 10), std::pow(1 + 2 * 4.102821 / 10, -5.0), 1e-12);
  EXPECT_NEAR(f_upper_p(4.102821, 2, 10), 0.05, 1e-6);
  // F(1, df) is t(df) squared: P(F >= t^2) is the two-sided t p-value (qt(.975, 9) = 2.2621572).
  EXPECT_NEAR(f_upper_p(2.2621572 * 2.2621572, 1, 9), 0.05, 1e-7);
  EXPECT_NEAR(f_cdf(2.2621572 * 2.2621572, 1, 9), 0.95, 1e-7);
  EXPECT_EQ(f_upper_p(0.0, 3, 7), 1.0);
  EXPECT_TRUE(std::isnan(f_upper_p(1.0, 0, 7)));
}

TEST(DetectableEffect, IsTheSumOfTheTwoQuantilesTimesTheStandardError) {
  // R: qt(.975, 10) = 2.2281389, qt(.8, 10) = 0.8790578; qnorm(.975) + qnorm(.8) = 2.8015817.
  EXPECT_NEAR(minimum_detectable_difference(1.0, 10), 2.2281389 + 0.8790578, 1e-6);
  EXPECT_NEAR(minimum_detectable_difference(2.5, 1e7), 2.5 * 2.8015817, 1e-4);
  EXPECT_TRUE(std::isnan(minimum_detectable_difference(0.0, 10)));
}

TEST(DetectableEffect, ATrueDifferenceOfThatSizeIsFoundAboutFourTimesInFive) {
  // Two groups of 10 with sd 1: se of the difference sqrt(0.2), Welch df about 18. A true shift of
  // the detectable size must be called significant in roughly 80% of simulated studies.
  const int n = 10, studies = 2000;
  const double se = std::sqrt(2.0 / n);
  const double shift = minimum_detectable_difference(se, 2.0 * n - 2);
  SeededRng rng(77);
  auto gaussian = [&rng] {  // Box-Muller on the seeded generator
    double u1 = rng.uniform_open_closed(), u2 = rng.uniform_open_closed();
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  };
  int rejected = 0;
  for (int s = 0; s < studies; ++s) {
    std::vector<double> x(n), y(n);
    for (int i = 0; i < n; ++i) {
      x[i] = gaussian() + shift;
      y[i] = gaussian();
    }
    rejected += welch_t_test(x, y)->p < 0.05;
  }
  double power = static_cast<double>(rejected) / studies;
  EXPECT_GT(power, 0.74);
  EXPECT_LT(power, 0.86);
}

}  // namespace
}  // namespace chimera::lab
