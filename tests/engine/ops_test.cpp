// Row ops: the references against values computed independently (double precision, by hand), then every
// SIMD path against the references over random sizes, odd tails included.
#include "engine/kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/kernels/matmul.h"
#include "engine/quant/fp16.h"

namespace chimera::engine {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Runs `check` once per SIMD path this CPU has, with that path active, then restores the default.
template <typename F>
void for_each_simd_path(F&& check) {
  KernelPath original = active_kernel_path();
  for (KernelPath path : {KernelPath::kAvx2, KernelPath::kAvx512}) {
    if (!kernel_path_supported(path)) continue;
    set_kernel_path(path);
    SCOPED_TRACE(std::string(kernel_path_name(path)));
    check();
  }
  set_kernel_path(original);
}

const int64_t kSizes[] = {1, 7, 8, 15, 16, 17, 31, 33, 64, 100, 255, 1152, 6913};

TEST(OpsReference, RmsNormByHand) {
  const float x[2] = {3.0f, 4.0f};
  const float w[2] = {1.0f, 2.0f};
  float y[2];
  ref::rms_norm(x, w, y, 2, 0.0f);
  const double inv = 1.0 / std::sqrt(12.5);  // mean of squares (9 + 16) / 2
  EXPECT_NEAR(y[0], 3.0 * inv, 1e-6);
  EXPECT_NEAR(y[1], 4.0 * inv * 2.0, 1e-6);
  ref::rms_norm(x, nullptr, y, 2, 0.5f);  // eps enters under the root
  EXPECT_NEAR(y[1], 4.0 / std::sqrt(13.0), 1e-6);
}

TEST(OpsReference, SoftmaxByHand) {
  float x[3] = {0.0f, std::log(2.0f), std::log(4.0f)};
  ref::softmax(x, 3);
  EXPECT_NEAR(x[0], 1.0 / 7, 1e-7);
  EXPECT_NEAR(x[1], 2.0 / 7, 1e-7);
  EXPECT_NEAR(x[2], 4.0 / 7, 1e-7);
  float big[2] = {1000.0f, 1000.0f};  // max subtraction keeps this finite
  ref::softmax(big, 2);
  EXPECT_FLOAT_EQ(big[0], 0.5f);
}

TEST(OpsReference, ActivationsMatchTheirFormulas) {
  for (double v : {-6.0, -1.5, -0.1, 0.0, 0.3, 1.0, 2.5, 8.0}) {
    float g = static_cast<float>(v), s = static_cast<float>(v);
    ref::gelu_tanh(&g, 1);
    ref::silu(&s, 1);
    double gelu = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    EXPECT_NEAR(g, gelu, 1e-6 + 1e-6 * std::fabs(gelu)) << v;
    EXPECT_NEAR(s, v / (1.0 + std::exp(-v)), 1e-6) << v;
  }
}

// Rotating a pair (a, b) by angle t gives (a cos t - b sin t, a sin t + b cos t).
void expect_rotated(float a, float b, double t, float ra, float rb) {
  EXPECT_NEAR(ra, a * std::cos(t) - b * std::sin(t), 2e-6);
  EXPECT_NEAR(rb, a * std::sin(t) + b * std::cos(t), 2e-6);
}

TEST(OpsReference, RopeRotatesTheRightPairsByTheRightAngles) {
  // head_dim 6, n_rot 4, base 100, pos 3: pair 0 turns by 3, pair 1 by 3 * 100^(-2/4) = 0.3.
  const float in[6] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  RopeParams p;
  p.n_rot = 4;
  p.freq_base = 100.0f;
  for (bool neox : {false, true}) {
    float x[12];
    for (int i = 0; i < 12; ++i) x[i] = in[i % 6];
    p.neox = neox;
    for (bool use_ref : {true, false}) {
      float y[12];
      std::copy(x, x + 12, y);
      if (use_ref) ref::rope(y, 2, 6, 3, p); else rope(y, 2, 6, 3, p);
      for (int h = 0; h < 2; ++h) {
        const float* r = y + 6 * h;
        if (neox) {  // pairs (0, 2) and (1, 3)
          expect_rotated(1, 3, 3.0, r[0], r[2]);
          expect_rotated(2, 4, 0.3, r[1], r[3]);
        } else {     // pairs (0, 1) and (2, 3)
          expect_rotated(1, 2, 3.0, r[0], r[1]);
          expect_rotated(3, 4, 0.3, r[2], r[3]);
        }
        EXPECT_EQ(r[4], 5.0f);  // past n_rot: untouched
        EXPECT_EQ(r[5], 6.0f);
      }
    }
  }
}

TEST(OpsReference, RopeScalingAndFrequencyFactors) {
  const float factors[2] = {1.0f, 4.0f};
  RopeParams p;
  p.n_rot = 4;
  p.freq_base = 100.0f;
  p.freq_scale = 0.5f;           // linear scaling: angles halve
  p.freq_factors = factors;      // pair 1's angle divided by 4
  float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  ref::rope(x, 1, 4, 3, p);
  expect_rotated(1, 2, 1.5, x[0], x[1]);
  expect_rotated(3, 4, 0.3 * 0.5 / 4.0, x[2], x[3]);
}

TEST(OpsSimd, ElementwiseOpsMatchTheReferences) {
  for_each_simd_path([] {
    for (int64_t n : kSizes) {
      auto a = random_floats(static_cast<size_t>(n), 1), b = random_floats(static_cast<size_t>(n), 2);
      auto m1 = a, m2 = a;
      mul(m1.data(), b.data(), n);
      ref::mul(m2.data(), b.data(), n);
      EXPECT_EQ(m1, m2) << n;  // one IEEE operation each: bit-identical
      add(m1.data(), b.data(), n);
      ref::add(m2.data(), b.data(), n);
      EXPECT_EQ(m1, m2) << n;
      scale(m1.data(), 0.37f, n);
      ref::scale(m2.data(), 0.37f, n);
      EXPECT_EQ(m1, m2) << n;
    }
  });
}

TEST(OpsSimd, NormAndActivationsMatchTheReferences) {
  for_each_simd_path([] {
    for (int64_t n : kSizes) {
      auto x = random_floats(static_cast<size_t>(n), 3, 3.0f);
      auto w = random_floats(static_cast<size_t>(n), 4);
      std::vector<float> y1(x.size()), y2(x.size());
      rms_norm(x.data(), w.data(), y1.data(), n, 1e-6f);
      ref::rms_norm(x.data(), w.data(), y2.data(), n, 1e-6f);
      for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y1[i], y2[i], 1e-6f * std::fabs(y2[i]) + 1e-7f) << n;
      // In place (y == x) is allowed.
      auto inplace = x;
      rms_norm(inplace.data(), nullptr, inplace.data(), n, 1e-6f);
      ref::rms_norm(x.data(), nullptr, y2.data(), n, 1e-6f);
      for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(inplace[i], y2[i], 1e-6f * std::fabs(y2[i]) + 1e-7f);

      // exp-based ops: polynomial exp within ~2 ulp, so a few 1e-7 relative, plus a tiny absolute
      // allowance where the result underflows toward 0.
      auto g1 = x, g2 = x, s1 = x, s2 = x, p1 = x, p2 = x;
      gelu_tanh(g1.data(), n);
      ref::gelu_tanh(g2.data(), n);
      silu(s1.data(), n);
      ref::silu(s2.data(), n);
      softmax(p1.data(), n);
      ref::softmax(p2.data(), n);
      for (size_t i = 0; i < x.size(); ++i) {
        EXPECT_NEAR(g1[i], g2[i], 2e-6f * std::fabs(g2[i]) + 1e-6f) << "gelu " << x[i];
        EXPECT_NEAR(s1[i], s2[i], 2e-6f * std::fabs(s2[i]) + 1e-7f) << "silu " << x[i];
        EXPECT_NEAR(p1[i], p2[i], 2e-6f * p2[i] + 1e-12f) << "softmax " << n;
      }
    }
  });
}

TEST(OpsSimd, DotsAndF16ConversionsMatchTheReferences) {
  for_each_simd_path([] {
    for (int64_t n : kSizes) {
      auto a = random_floats(static_cast<size_t>(n), 5), b = random_floats(static_cast<size_t>(n), 6);
      double magnitude = 0;
      for (size_t i = 0; i < a.size(); ++i) magnitude += std::fabs(static_cast<double>(a[i]) * b[i]);
      // f32 accumulation (several partial sums) against the double reference.
      EXPECT_NEAR(dot_f32(a.data(), b.data(), n), ref::dot_f32(a.data(), b.data(), n), 1e-6 * magnitude) << n;

      std::vector<uint16_t> h1(a.size()), h2(a.size());
      auto wide = random_floats(static_cast<size_t>(n), 7, 3000.0f);  // reaches f16 overflow and rounding
      wide[0] = 1e-6f;                                                // an f16 subnormal
      f32_to_f16_row(wide.data(), h1.data(), n);
      ref::f32_to_f16_row(wide.data(), h2.data(), n);
      EXPECT_EQ(h1, h2) << n;
      std::vector<float> back1(a.size()), back2(a.size());
      f16_to_f32_row(h1.data(), back1.data(), n);
      ref::f16_to_f32_row(h1.data(), back2.data(), n);
      EXPECT_EQ(back1, back2) << n;

      ref::f32_to_f16_row(a.data(), h1.data(), n);
      EXPECT_NEAR(dot_f16_f32(h1.data(), b.data(), n), ref::dot_f16_f32(h1.data(), b.data(), n), 1e-6 * magnitude);
      auto y1 = b, y2 = b;
      axpy_f16(y1.data(), 0.75f, h1.data(), n);
      ref::axpy_f16(y2.data(), 0.75f, h1.data(), n);
      for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(y1[i], y2[i], 1e-6f * (std::fabs(y2[i]) + 1.0f));
    }
  });
}

TEST(OpsSimd, RopeMatchesTheReference) {
  const auto factors = random_floats(64, 8);
  std::vector<float> positive_factors;
  for (float f : factors) positive_factors.push_back(1.0f + std::fabs(f));
  for_each_simd_path([&] {
    for (int head_dim : {4, 6, 64, 128, 256}) {
      for (bool neox : {false, true}) {
        for (bool with_factors : {false, true}) {
          RopeParams p;
          p.n_rot = head_dim == 6 ? 4 : head_dim;
          p.freq_base = 500000.0f;
          p.freq_scale = 0.125f;
          p.neox = neox;
          p.freq_factors = with_factors && p.n_rot / 2 <= 64 ? positive_factors.data() : nullptr;
          for (int64_t pos : {0, 1, 17, 4095, 100000}) {
            auto x = random_floats(static_cast<size_t>(3 * head_dim), 9);
            auto y = x;
            rope(x.data(), 3, head_dim, pos, p);
            ref::rope(y.data(), 3, head_dim, pos, p);
            for (size_t i = 0; i < x.size(); ++i) {
              EXPECT_NEAR(x[i], y[i], 1e-6f * (std::fabs(y[i]) + 1.0f)) << head_dim << " " << pos;
            }
          }
        }
      }
    }
  });
}

}  // namespace
}  // namespace chimera::engine
