// Option effects by least squares, checked against hand-derived figures: in a balanced design the
// main effect is the difference of marginal means, and the unreplicated 2x2 case has closed forms.
#include "lab/tune_effects.h"

#include <gtest/gtest.h>

#include <cmath>

namespace chimera::lab {
namespace {

EffectsInput two_by_two(const std::vector<double>& y_per_cell, int replicates,
                        const std::vector<double>& noise) {
  EffectsInput in;
  in.factors = {"num_thread", "temperature"};
  in.levels = {{"1", "2"}, {"0.2", "0.8"}};
  size_t k = 0;
  for (int r = 0; r < replicates; ++r) {
    for (int a = 0; a < 2; ++a) {
      for (int b = 0; b < 2; ++b) {
        in.rows.push_back({a, b});
        in.y.push_back(y_per_cell[static_cast<size_t>(a * 2 + b)] + noise[k++ % noise.size()]);
      }
    }
  }
  in.replicated = replicates > 1;
  return in;
}

TEST(TuneEffects, UnreplicatedTwoByTwoMatchesTheClosedForm) {
  // Cells (A0B0, A0B1, A1B0, A1B1) = 1, 2, 5, 8. Main effect of A = (5+8)/2 - (1+2)/2 = 5. The
  // additive model's residuals are +-(1-2-5+8)/4 = +-0.5 each, RSS = 1, df = 1, and the standard
  // error of a two-level main effect is s * sqrt(1/2 + 1/2) = 1. t = 5 on 1 df: p = 1 - (2/pi)
  // atan(5) = 0.125666.
  auto r = main_effects(two_by_two({1, 2, 5, 8}, 1, {0}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->df_residual, 1);
  const FactorEffect& a = r->factors[0];
  ASSERT_EQ(a.levels.size(), 1u);
  EXPECT_NEAR(a.levels[0].estimate, 5.0, 1e-12);
  EXPECT_NEAR(a.levels[0].se, 1.0, 1e-12);
  EXPECT_NEAR(a.levels[0].p, 1 - 2 / M_PI * std::atan(5.0), 1e-9);
  EXPECT_NEAR(a.p, a.levels[0].p, 1e-9) << "a two-level factor's F test is its t test";
  EXPECT_NE(r->se_method.find("do not interact"), std::string::npos);
  // B: (2+8)/2 - (1+5)/2 = 2.
  EXPECT_NEAR(r->factors[1].levels[0].estimate, 2.0, 1e-12);
}

TEST(TuneEffects, ReplicatedDesignFindsTheRealEffectAndNotTheNullOne) {
  // num_thread 2 adds 10 tok/s; temperature adds nothing; noise of +-0.5.
  std::vector<double> noise = {0.3, -0.2, 0.5, -0.4, 0.1, -0.5, 0.2, 0.0, -0.3, 0.4, -0.1, 0.25};
  auto r = main_effects(two_by_two({20, 20, 30, 30}, 6, noise));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const FactorEffect& threads = r->factors[0];
  const FactorEffect& temperature = r->factors[1];
  EXPECT_TRUE(threads.measurable);
  EXPECT_TRUE(threads.levels[0].ci.contains(10.0));
  EXPECT_GT(threads.levels[0].ci.lower, 9.0);
  EXPECT_FALSE(temperature.measurable) << "p = " << temperature.p_holm;
  EXPECT_LT(std::abs(temperature.levels[0].estimate), temperature.detectable)
      << "no effect means: smaller than the study could have seen";
  EXPECT_GT(temperature.detectable, 0.0);
  EXPECT_NE(r->se_method.find("HC3"), std::string::npos);
  // Balanced: the estimate is exactly the difference of the marginal means.
  double hi = 0, lo = 0;
  int nh = 0, nl = 0;
  auto in = two_by_two({20, 20, 30, 30}, 6, noise);
  for (size_t i = 0; i < in.y.size(); ++i) {
    (in.rows[i][1] == 1 ? hi : lo) += in.y[i];
    (in.rows[i][1] == 1 ? nh : nl)++;
  }
  EXPECT_NEAR(temperature.levels[0].estimate, hi / nh - lo / nl, 1e-9);
}

TEST(TuneEffects, ConfoundedOrTooSmallDesignsSayWhy) {
  EffectsInput in;
  in.factors = {"num_ctx", "num_batch"};
  in.levels = {{"512", "1024"}, {"64", "128"}};
  // num_ctx and num_batch always change together: their effects cannot be told apart.
  for (int r = 0; r < 4; ++r) {
    in.rows.push_back({0, 0});
    in.y.push_back(10 + r * 0.1);
    in.rows.push_back({1, 1});
    in.y.push_back(12 + r * 0.1);
  }
  auto r = main_effects(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot separate"), std::string::npos);
  in.rows.resize(2);
  in.y.resize(2);
  r = main_effects(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("too few"), std::string::npos);
}

TEST(TuneEffects, LevelsNeverMeasuredAreListedNotInvented) {
  EffectsInput in;
  in.factors = {"num_gpu"};
  in.levels = {{"999", "80", "40"}};
  for (int r = 0; r < 3; ++r) {
    in.rows.push_back({0});
    in.y.push_back(100 + r);
    in.rows.push_back({2});
    in.y.push_back(60 + r);
  }
  auto r = main_effects(in);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->factors[0].levels.size(), 1u);
  EXPECT_EQ(r->factors[0].levels[0].level, "40");
  EXPECT_EQ(r->factors[0].unmeasured, (std::vector<std::string>{"80"}));
  EXPECT_NEAR(r->factors[0].levels[0].estimate, -40.0, 1e-9);
}

}  // namespace
}  // namespace chimera::lab
