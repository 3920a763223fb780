// The relative-change CI agrees with the test printed beside it: over 1,000 simulated A/A and A/B
// data sets (small n, unequal variances, as benchmark arms are), Fieller's interval excludes 0
// exactly when Welch's test rejects; A/A data sets are called different about 5% of the time; TOST
// declares equivalence exactly when the 90% interval lies inside the margin.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "lab/bench_report.h"
#include "lab/stats.h"

namespace chimera::lab {
namespace {

struct Simulator {
  SeededRng rng{20240917};
  double gaussian() {  // Box-Muller on the seeded generator
    double u1 = rng.uniform_open_closed(), u2 = rng.uniform_open_closed();
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }
  std::vector<double> sample(size_t n, double mean, double sd) {
    std::vector<double> x(n);
    for (double& v : x) v = mean + sd * gaussian();
    return x;
  }
  size_t between(size_t lo, size_t hi) { return lo + static_cast<size_t>(rng.below(hi - lo + 1)); }
};

TEST(RelativeCi, ExcludesZeroExactlyWhenWelchRejectsOverAThousandDataSets) {
  Simulator sim;
  int aa = 0, aa_rejected = 0, ab = 0, ab_rejected = 0, disagreements = 0, unbounded = 0;
  for (int i = 0; i < 1000; ++i) {
    bool same = i % 2 == 0;  // half A/A, half A/B with a 0-15% shift
    size_t na = sim.between(3, 8), nb = sim.between(3, 8);
    double base = 50 + 100 * sim.rng.uniform_open_closed();  // 50-150, like tok/s or ms
    double shift = same ? 0 : base * 0.15 * sim.rng.uniform_open_closed();
    double sd_a = base * (0.01 + 0.05 * sim.rng.uniform_open_closed());
    double sd_b = base * (0.01 + 0.05 * sim.rng.uniform_open_closed());
    std::vector<double> a = sim.sample(na, base, sd_a), b = sim.sample(nb, base + shift, sd_b);
    auto welch = welch_t_test(b, a);
    ASSERT_TRUE(welch);
    RelativeInterval relative = fieller_relative_ci(b, a, 0.95);
    if (!relative.ci) {
      ++unbounded;
      continue;
    }
    bool rejects = welch->p < 0.05;
    bool excludes_zero = !relative.ci->contains(0.0);
    // At the boundary itself (|t| equal to the quantile to 9 digits) either answer is right.
    bool boundary = std::fabs(std::fabs(welch->t) - student_t_quantile(0.975, welch->df)) < 1e-9;
    if (rejects != excludes_zero && !boundary) ++disagreements;
    // The point estimate lies inside its own interval.
    EXPECT_TRUE(relative.ci->contains(relative.ratio - 1)) << i;
    (same ? aa : ab) += 1;
    (same ? aa_rejected : ab_rejected) += rejects;
  }
  EXPECT_EQ(disagreements, 0);
  EXPECT_EQ(unbounded, 0);  // means of 50-150 with CVs under 6% are never indistinguishable from 0
  // 500 A/A data sets at alpha 0.05: 25 expected, binomial sd 4.9; allow about 2.5 sd.
  double false_positive_rate = static_cast<double>(aa_rejected) / aa;
  std::printf("A/A: %d of %d rejected (%.1f%%); A/B: %d of %d rejected\n", aa_rejected, aa,
              false_positive_rate * 100, ab_rejected, ab);
  EXPECT_GT(false_positive_rate, 0.025) << aa_rejected << " of " << aa;
  EXPECT_LT(false_positive_rate, 0.075) << aa_rejected << " of " << aa;
  // The A/B sets have real shifts: the test must find many of them.
  EXPECT_GT(ab_rejected, ab / 3) << ab_rejected << " of " << ab;
}

TEST(RelativeCi, SaysWhyWhenNoBoundedIntervalExists) {
  std::vector<double> one = {10}, two = {10, 11};
  EXPECT_FALSE(fieller_relative_ci(two, one).ci);
  EXPECT_EQ(fieller_relative_ci(two, one).why_none, "n < 2 in an arm");
  // A reference mean of 0.5 with sd 10 at n = 3: no ratio can be bounded.
  std::vector<double> noisy = {-9.5, 0.5, 10.5}, b = {5, 6, 7};
  RelativeInterval r = fieller_relative_ci(b, noisy);
  EXPECT_FALSE(r.ci);
  EXPECT_NE(r.why_none.find("not distinguishable from 0"), std::string::npos) << r.why_none;
}

TEST(RelativeCi, MatchesFiellersClosedFormByHand) {
  // a = {10, 12, 14}: mean 12, var 4, se^2 4/3; b = {15, 18, 21}: mean 18, var 9, se^2 3.
  // Welch df = (4/3 + 3)^2 / ((4/3)^2 / 2 + 3^2 / 2) = 18.7778 / 5.3889 = 3.4845.
  std::vector<double> a = {10, 12, 14}, b = {15, 18, 21};
  RelativeInterval r = fieller_relative_ci(b, a, 0.95);
  ASSERT_TRUE(r.ci);
  EXPECT_NEAR(r.df, 3.4845, 1e-3);
  double t = student_t_quantile(0.975, r.df);
  // Roots of (144 - t^2 4/3) r^2 - 2 (216) r + (324 - 3 t^2) = 0.
  double qa = 144 - t * t * 4.0 / 3, qb = -432, qc = 324 - 3 * t * t;
  double root = std::sqrt(qb * qb - 4 * qa * qc);
  EXPECT_NEAR(r.ci->lower, (-qb - root) / (2 * qa) - 1, 1e-9);
  EXPECT_NEAR(r.ci->upper, (-qb + root) / (2 * qa) - 1, 1e-9);
  EXPECT_NEAR(r.ratio, 1.5, 1e-12);
}

TEST(Equivalence, TostAgreesWithTheNinetyPercentIntervalOverAThousandDataSets) {
  Simulator sim;
  int equivalent_same = 0, equivalent_far = 0, disagreements = 0;
  for (int i = 0; i < 1000; ++i) {
    bool same = i % 2 == 0;
    size_t n = sim.between(5, 12);
    std::vector<double> a = sim.sample(n, 100, 1.5), b = sim.sample(n, same ? 100 : 112, 1.5);
    auto e = tost_relative(b, a, 0.05, 0.05);
    ASSERT_TRUE(e);
    ASSERT_TRUE(e->ci);
    bool inside = e->ci->lower > -0.05 && e->ci->upper < 0.05;
    if (inside != e->equivalent) ++disagreements;
    (same ? equivalent_same : equivalent_far) += e->equivalent;
  }
  EXPECT_EQ(disagreements, 0);
  // Identical means with sd 1.5% and n >= 5: nearly always shown within +-5%; a 12% shift never.
  EXPECT_GT(equivalent_same, 450);
  EXPECT_EQ(equivalent_far, 0);
}

TEST(Equivalence, MarginsParseAsPercentOrFraction) {
  EXPECT_DOUBLE_EQ(*parse_equivalence_margin("5%"), 0.05);
  EXPECT_DOUBLE_EQ(*parse_equivalence_margin("0.05"), 0.05);
  EXPECT_DOUBLE_EQ(*parse_equivalence_margin(" 2.5 % "), 0.025);
  auto bad = parse_equivalence_margin("five");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--equivalence five"), std::string::npos);
  EXPECT_FALSE(parse_equivalence_margin("150%").ok());
  EXPECT_FALSE(parse_equivalence_margin("0").ok());
}

TEST(Verdict, NoSignificantDifferenceCarriesTheDetectableDifferenceAndEquivalence) {
  Comparison c;
  c.metric = "ttft_ms";
  c.unit = "ms";
  c.n_a = c.n_b = 3;
  c.mean_a = 200;
  c.mean_b = 210;
  c.welch = WelchResult{};
  c.welch->p = 0.02;
  c.p_holm = 0.11;
  c.family_size = 10;
  c.relative_ci = Interval{0.01, 0.09, 0.95};
  c.detectable_difference = 37.5;
  EquivalenceResult e;
  e.margin = 0.05;
  e.p = 0.2;
  e.ci = Interval{-0.01, 0.11, 0.9};
  c.equivalence = e;
  c.p_equivalence_holm = 0.6;
  std::string v = verdict_sentence(c, 0.05, 0.95, "chimera", "baseline");
  EXPECT_EQ(v,
            "no significant difference in ttft_ms between chimera and baseline (p = 0.11, "
            "Holm-adjusted over 10 metrics; unadjusted p = 0.020); smallest difference detectable "
            "at 80% power: 37.50 ms (19% of A); not shown equivalent within \u00b15% (TOST p = "
            "0.60, Holm-adjusted, 90% CI -1.0% to +11.0%)");
}

}  // namespace
}  // namespace chimera::lab
