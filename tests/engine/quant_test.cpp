// Quantizer and dequantizer tests. Dequantization is checked on hand-built blocks whose expected values
// are worked out from the layout spec (engine-reference.md §2.2); quantization by round trips with error
// bounds derived from each format's step size.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/quant/fp16.h"
#include "engine/quant/quant.h"
#include "engine/runtime/thread_pool.h"

namespace chimera::engine {
namespace {

constexpr uint16_t kF16One = 0x3C00, kF16Half = 0x3800, kF16Quarter = 0x3400, kF16Two = 0x4000;

std::vector<float> dequantize(GgmlType type, const void* data, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(type, data, out.data(), n);
  return out;
}

TEST(Dequantize, FloatTypes) {
  const uint16_t f16[] = {0x3C00, 0xC000, 0x7BFF, 0x0001};  // 1, -2, 65504, 2^-24
  auto f = dequantize(GgmlType::kF16, f16, 4);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[1], -2.0f);
  EXPECT_EQ(f[2], 65504.0f);
  EXPECT_EQ(f[3], std::ldexp(1.0f, -24));
  const uint16_t bf16[] = {0x3F80, 0xC040, 0x4049};  // 1, -3, 3.140625
  auto b = dequantize(GgmlType::kBF16, bf16, 3);
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -3.0f);
  EXPECT_EQ(b[2], 3.140625f);
}

TEST(Dequantize, Q4_0LowNibblesAreTheFirstHalf) {
  BlockQ4_0 block{};
  block.d = kF16Half;
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto y = dequantize(GgmlType::kQ4_0, &block, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8)) << j;              // low nibble j
    EXPECT_EQ(y[j + 16], 0.5f * ((15 - j) - 8)) << j;  // high nibble 15-j
  }
}

TEST(Dequantize, Q5_0HighBitsComeFromQh) {
  BlockQ5_0 block{};
  block.d = kF16Quarter;
  const uint32_t qh = 0x80000001u | (1u << 5) | (1u << 20);  // values 0, 5, 20, 31 get +16
  std::memcpy(block.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(3 | (12 << 4));
  auto y = dequantize(GgmlType::kQ5_0, &block, 32);
  EXPECT_EQ(y[0], 0.25f * (3 + 16 - 16));
  EXPECT_EQ(y[1], 0.25f * (3 - 16));
  EXPECT_EQ(y[5], 0.25f * (3 + 16 - 16));
  EXPECT_EQ(y[16], 0.25f * (12 - 16));
  EXPECT_EQ(y[20], 0.25f * (12 + 16 - 16));
  EXPECT_EQ(y[31], 0.25f * (12 + 16 - 16));
  EXPECT_EQ(y[30], 0.25f * (12 - 16));
}

// MXFP4 (engine-reference-models.md §8): code c is the E2M1 value {0, .5, 1, 1.5, 2, 3, 4, 6} (c < 8)
// or its negative (c >= 8), times 2^(e - 127); low nibbles first.
TEST(Dequantize, MXFP4CodesAreE2M1ValuesTimesThePowerOfTwo) {
  const float e2m1[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  BlockMXFP4 block{};
  block.e = 127;  // 2^0
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto y = dequantize(GgmlType::kMXFP4, &block, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], e2m1[j]) << j;
    EXPECT_EQ(y[j + 16], e2m1[15 - j]) << j;
  }
  block.e = 130;  // 2^3: code 7 (6) is 48, code 9 (-0.5) is -4
  y = dequantize(GgmlType::kMXFP4, &block, 32);
  EXPECT_EQ(y[7], 48.0f);
  EXPECT_EQ(y[9], -4.0f);
  block.e = 0;  // 2^-127, a denormal f32: code 1 (0.5) is 2^-128
  y = dequantize(GgmlType::kMXFP4, &block, 32);
  EXPECT_EQ(y[1], std::ldexp(1.0f, -128));
  EXPECT_EQ(y[2], std::ldexp(1.0f, -127));
}

TEST(Dequantize, Q8_0) {
  BlockQ8_0 block{};
  block.d = kF16Two;
  for (int j = 0; j < 32; ++j) block.qs[j] = static_cast<int8_t>(j % 2 == 0 ? -j : j * 3);
  auto y = dequantize(GgmlType::kQ8_0, &block, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 2.0f * (j % 2 == 0 ? -j : j * 3)) << j;
}

// 12 scale bytes and the (scale, min) each sub-block gets, worked out by hand from the 6-bit packing:
// j<4: scale = s[j]&63, min = s[j+4]&63; j>=4: scale = s[j+4]&15 | (s[j-4]>>6)<<4, min = s[j+4]>>4 | (s[j]>>6)<<4.
const uint8_t kKScales[12] = {0x41, 0x02, 0x03, 0xC4, 0x05, 0x46, 0x07, 0x08, 0x21, 0x43, 0x65, 0x87};
const int kKScale[8] = {1, 2, 3, 4, 17, 3, 5, 55};
const int kKMin[8] = {5, 6, 7, 8, 2, 20, 6, 8};

TEST(Dequantize, K4ScalePacking) {
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k4_scale_min(j, kKScales, &sc, &m);
    EXPECT_EQ(sc, kKScale[j]) << j;
    EXPECT_EQ(m, kKMin[j]) << j;
  }
}

TEST(Dequantize, Q4_K) {
  BlockQ4_K block{};
  block.d = kF16One;
  block.dmin = kF16Half;
  std::memcpy(block.scales, kKScales, 12);
  for (int i = 0; i < 128; ++i) block.qs[i] = static_cast<uint8_t>((i % 16) | ((15 - i % 16) << 4));
  auto y = dequantize(GgmlType::kQ4_K, &block, 256);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      int lo = (32 * c + l) % 16, hi = 15 - lo;
      EXPECT_EQ(y[64 * c + l], 1.0f * kKScale[2 * c] * lo - 0.5f * kKMin[2 * c]) << c << " " << l;
      EXPECT_EQ(y[64 * c + 32 + l], 1.0f * kKScale[2 * c + 1] * hi - 0.5f * kKMin[2 * c + 1]) << c << " " << l;
    }
  }
}

TEST(Dequantize, Q5_K) {
  BlockQ5_K block{};
  block.d = kF16Half;
  block.dmin = kF16One;
  std::memcpy(block.scales, kKScales, 12);
  for (int i = 0; i < 128; ++i) block.qs[i] = static_cast<uint8_t>(7 | (9 << 4));
  // qh[l] bit j is the fifth bit of sub-block j's value l: set it for even l only.
  for (int l = 0; l < 32; ++l) block.qh[l] = l % 2 == 0 ? 0xFF : 0x00;
  auto y = dequantize(GgmlType::kQ5_K, &block, 256);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      int extra = l % 2 == 0 ? 16 : 0;
      EXPECT_EQ(y[64 * c + l], 0.5f * kKScale[2 * c] * (7 + extra) - 1.0f * kKMin[2 * c]);
      EXPECT_EQ(y[64 * c + 32 + l], 0.5f * kKScale[2 * c + 1] * (9 + extra) - 1.0f * kKMin[2 * c + 1]);
    }
  }
}

TEST(Dequantize, Q6_K) {
  BlockQ6_K block{};
  block.d = kF16Half;
  for (int s = 0; s < 16; ++s) block.scales[s] = static_cast<int8_t>(s % 2 == 0 ? s + 1 : -(s + 1));
  // Every ql byte: low nibble 5, high nibble 10. Every qh byte 0b11'10'01'00: the four values sharing it
  // (l, l+32, l+64, l+96 of a half) get top bits 0, 1, 2, 3.
  std::memset(block.ql, 5 | (10 << 4), sizeof block.ql);
  std::memset(block.qh, 0xE4, sizeof block.qh);
  auto y = dequantize(GgmlType::kQ6_K, &block, 256);
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int q[4] = {5 + (0 << 4) - 32, 5 + (1 << 4) - 32, 10 + (2 << 4) - 32, 10 + (3 << 4) - 32};
      for (int k = 0; k < 4; ++k) {
        int index = 128 * h + 32 * k + l;  // value index; its scale covers 16 consecutive values
        float expected = 0.5f * static_cast<float>(block.scales[index / 16]) * static_cast<float>(q[k]);
        EXPECT_EQ(y[index], expected) << index;
      }
    }
  }
}

TEST(Dequantize, Q8_K) {
  BlockQ8_K block{};
  block.d = 0.125f;
  for (int j = 0; j < 256; ++j) block.qs[j] = static_cast<int8_t>(j - 128);
  auto y = dequantize(GgmlType::kQ8_K, &block, 256);
  for (int j = 0; j < 256; ++j) EXPECT_EQ(y[j], 0.125f * (j - 128));
}

// ---------------------------------------------------------------------------------------------------
// Round trips.

std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct RoundTrip {
  double rel_rmse;        // RMSE / RMS of the data
  double worst_block;     // max over blocks of (max |error| / max |x| in the block)
};

RoundTrip round_trip(GgmlType type, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(*ggml_row_bytes(type, n));
  quantize_row(type, x.data(), q.data(), n);
  auto y = dequantize(type, q.data(), n);
  const int64_t block = ggml_type_info(type).block_size > 1 ? ggml_type_info(type).block_size : 32;
  double se = 0, ss = 0, worst = 0;
  for (int64_t b = 0; b < n; b += block) {
    double amax = 0, emax = 0;
    for (int64_t i = b; i < b + block; ++i) {
      double e = static_cast<double>(x[static_cast<size_t>(i)]) - y[static_cast<size_t>(i)];
      se += e * e;
      ss += static_cast<double>(x[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)];
      amax = std::max(amax, std::fabs(static_cast<double>(x[static_cast<size_t>(i)])));
      emax = std::max(emax, std::fabs(e));
    }
    if (amax > 0) worst = std::max(worst, emax / amax);
  }
  return {std::sqrt(se / ss), worst};
}

// Per-type bounds. *_0 types: the step is amax/127 (Q8_0), amax/8 (Q4_0), amax/16 (Q5_0); rounding
// costs at most half a step, except the one code lost on the positive side of Q4_0/Q5_0 (up to a whole
// step), plus 2^-11 relative for the f16 scale. RMSE bounds are for Gaussian data (about step/sqrt(12)
// of a block's amax ~ 2.1 sigma) with margin. K-quants have fitted scales: their bounds are the
// published quality of these formats on Gaussian data with margin, and a whole step of the sub-block's
// plain min-max grid for the worst element.
struct Bound {
  GgmlType type;
  double rel_rmse;
  double worst_block;
};
const Bound kBounds[] = {
    {GgmlType::kF32, 0.0, 0.0},
    {GgmlType::kF16, 0.0005, 0.0005},
    {GgmlType::kBF16, 0.004, 0.004},
    {GgmlType::kQ8_0, 0.01, 0.5 / 127 * 1.01 + 1.0 / 2048},
    {GgmlType::kQ5_0, 0.06, 1.0 / 16 * 1.01},
    {GgmlType::kQ4_0, 0.12, 1.0 / 8 * 1.01},
    // *_1 types: half a step of (max - min) / 15 or / 31, at most amax / 15 or amax / 31, plus the
    // f16 rounding of d and m.
    {GgmlType::kQ4_1, 0.12, 1.0 / 15 * 1.01 + 1.0 / 1024},
    {GgmlType::kQ5_1, 0.06, 1.0 / 31 * 1.01 + 1.0 / 1024},
    {GgmlType::kQ6_K, 0.025, 2.0 / 32},
    {GgmlType::kQ5_K, 0.045, 2.0 / 31},
    {GgmlType::kQ4_K, 0.095, 2.0 / 15},
    // MXFP4: e puts amax in [4, 8) x 2^(e-127) while the largest code is 6, so amax near the top of
    // that range clips by up to a quarter of it; elsewhere half the widest step (2) of an amax >= 4.
    {GgmlType::kMXFP4, 0.15, 0.25},
};

TEST(QuantizeRoundTrip, ErrorWithinTheFormatsBound) {
  for (const Bound& bound : kBounds) {
    for (uint32_t seed : {1u, 2u, 3u}) {
      auto x = gaussian(4096, seed, seed == 3 ? 0.05f : 1.0f);  // 0.05: a typical weight scale
      if (seed == 2) {
        for (size_t i = 0; i < x.size(); i += 97) x[i] *= 20.0f;  // outliers, as real activations have
      }
      RoundTrip r = round_trip(bound.type, x);
      // The RMSE bound is for Gaussian data; blocks holding an outlier get a coarser step by design.
      if (seed != 2) {
        EXPECT_LE(r.rel_rmse, bound.rel_rmse) << ggml_type_name(bound.type) << " seed " << seed;
      }
      EXPECT_LE(r.worst_block, bound.worst_block) << ggml_type_name(bound.type) << " seed " << seed;
    }
  }
}

TEST(QuantizeRoundTrip, ExactlyRepresentableBlocksSurvive) {
  // Q4_0: codes (k - 8) * 0.5 with -4 the largest magnitude, so d = -4 / -8 = 0.5 exactly.
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = 0.5f * static_cast<float>((i * 7) % 16 - 8);
  x[3] = -4.0f;
  std::vector<uint8_t> q(18);
  quantize_row(GgmlType::kQ4_0, x.data(), q.data(), 32);
  EXPECT_EQ(dequantize(GgmlType::kQ4_0, q.data(), 32), x);
  // Q8_0: integers times 1/8 with 127/8 the largest magnitude: d = 1/8 exactly.
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i * 5 % 255 - 127) / 8.0f;
  x[0] = 127.0f / 8.0f;
  std::vector<uint8_t> q8(34);
  quantize_row(GgmlType::kQ8_0, x.data(), q8.data(), 32);
  EXPECT_EQ(dequantize(GgmlType::kQ8_0, q8.data(), 32), x);
}

TEST(QuantizeRoundTrip, ZerosStayZero) {
  std::vector<float> zeros(512, 0.0f);
  for (const Bound& bound : kBounds) {
    std::vector<uint8_t> q(*ggml_row_bytes(bound.type, 512));
    quantize_row(bound.type, zeros.data(), q.data(), 512);
    for (float v : dequantize(bound.type, q.data(), 512)) EXPECT_EQ(v, 0.0f) << ggml_type_name(bound.type);
  }
}

TEST(QuantizeRow, Q4_0PicksTheSignedMaximumAsGgml) {
  // The value of largest magnitude maps to code 0 (d = max / -8): here -2 -> d = 0.25, code 0.
  std::vector<float> x(32, 0.0f);
  x[0] = -2.0f;
  x[1] = 1.0f;
  BlockQ4_0 block;
  quantize_row(GgmlType::kQ4_0, x.data(), &block, 32);
  EXPECT_EQ(f16_to_f32(block.d), 0.25f);
  EXPECT_EQ(block.qs[0] & 0xF, 0);   // -2 / 0.25 + 8 = 0
  EXPECT_EQ(block.qs[1] & 0xF, 12);  // 1 / 0.25 + 8 = 12
  EXPECT_EQ(block.qs[2] & 0xF, 8);   // 0 -> 8
}

// ggml's quantize_row_mxfp4_ref: e = floor(log2 amax) - 2 + 127, each value the nearest code, the
// lower code on a tie.
TEST(QuantizeRow, MXFP4ExponentFromTheBlockMaximumAndNearestCodes) {
  std::vector<float> x(32, 0.0f);
  x[0] = 5.0f;    // amax: floor(log2 5) = 2 -> e = 127, codes are E2M1 values as they are
  x[1] = -1.2f;   // nearest -1 (code 10)
  x[2] = 0.26f;   // nearest 0.5 (code 1)
  x[16] = 7.0f;   // beyond the largest code: 6 (code 7); also the new amax -> e still 127
  x[17] = -0.2f;  // nearest -0 (code 8)... 0 (code 0) comes first and is as near
  BlockMXFP4 block;
  quantize_row(GgmlType::kMXFP4, x.data(), &block, 32);
  EXPECT_EQ(block.e, 127);
  EXPECT_EQ(block.qs[0] & 0xF, 6);  // 5 is as near 4 (code 6) as 6 (code 7): the first wins
  EXPECT_EQ(block.qs[1] & 0xF, 10);
  EXPECT_EQ(block.qs[2] & 0xF, 1);
  EXPECT_EQ(block.qs[0] >> 4, 7);
  EXPECT_EQ(block.qs[1] >> 4, 0);
  EXPECT_EQ(block.qs[3], 0);
}

TEST(QuantizeRow, Q8_KScaleAndBlockSums) {
  auto x = gaussian(512, 7);
  x[100] = -9.0f;  // the largest magnitude of block 0 maps to -127 exactly (iscale = -127 / max)
  std::vector<BlockQ8_K> q(2);
  quantize_row_q8_k(x.data(), q.data(), 512);
  EXPECT_FLOAT_EQ(q[0].d, 9.0f / 127.0f);
  EXPECT_EQ(q[0].qs[100], -127);
  for (const auto& block : q) {
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += block.qs[16 * g + l];
      EXPECT_EQ(block.bsums[g], sum);
    }
  }
  for (int i = 0; i < 512; ++i) {
    const BlockQ8_K& b = q[static_cast<size_t>(i / 256)];
    EXPECT_LE(std::fabs(b.d * b.qs[i % 256] - x[static_cast<size_t>(i)]), std::fabs(b.d) * 0.5f * 1.0001f);
  }
}

TEST(QuantizeRow, Q8_0ActivationRoundsHalfAwayFromZero) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;  // d = 1
  x[1] = 2.5f;    // roundf: 3 (ties away from zero)
  x[2] = -2.5f;
  BlockQ8_0 block;
  quantize_row_q8_0(x.data(), &block, 32);
  EXPECT_EQ(f16_to_f32(block.d), 1.0f);
  EXPECT_EQ(block.qs[0], 127);
  EXPECT_EQ(block.qs[1], 3);
  EXPECT_EQ(block.qs[2], -3);
}

// The 4-lane scale searches must reproduce the scalar (ggml-equivalent) searches bit for bit, so files
// do not depend on which one ran.
TEST(ScaleSearch, FourLaneSearchesMatchTheScalarOnesExactly) {
  std::mt19937 rng(17);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<float> x(128), w(128);
    for (int i = 0; i < 128; ++i) x[i] = dist(rng) * (trial % 5 == 0 ? 1e-3f : 1.0f);
    const int kind = trial % 7;
    if (kind == 1) std::fill(x.begin() + 32, x.begin() + 64, 0.5f);   // a flat group
    if (kind == 2) std::fill(x.begin(), x.begin() + 32, 0.0f);        // an all-zero group
    if (kind == 3) {
      for (auto& v : x) v = std::fabs(v);  // no negative values (min > 0)
    }
    if (kind == 4) x[70] = 40.0f;                                     // an outlier
    for (int i = 0; i < 128; ++i) w[i] = 0.3f + std::fabs(x[i]);
    for (int nmax : {15, 31}) {
      uint8_t l4[128], l1[128];
      float s4[4], m4[4];
      quant_detail::fit_scale_min_x4(x.data(), w.data(), 32, 32, nmax, l4, s4, m4, -1.0f, 0.1f, 20);
      for (int g = 0; g < 4; ++g) {
        float m1;
        float s1 = quant_detail::fit_scale_min(x.data() + 32 * g, w.data() + 32 * g, 32, nmax, l1 + 32 * g, &m1, -1.0f, 0.1f, 20);
        ASSERT_EQ(std::memcmp(&s1, &s4[g], 4), 0) << trial << " " << g << " " << s1 << " " << s4[g];
        ASSERT_EQ(std::memcmp(&m1, &m4[g], 4), 0) << trial << " " << g;
      }
      ASSERT_EQ(std::memcmp(l1, l4, 128), 0) << trial;
    }
    int8_t q4[64], q1[64];
    float s4[4];
    quant_detail::fit_symmetric_x4(x.data(), 16, 16, 32, q4, s4);
    for (int g = 0; g < 4; ++g) {
      float s1 = quant_detail::fit_symmetric(x.data() + 16 * g, 16, 32, q1 + 16 * g);
      ASSERT_EQ(std::memcmp(&s1, &s4[g], 4), 0) << trial << " " << g;
    }
    ASSERT_EQ(std::memcmp(q1, q4, 64), 0) << trial;
  }
}

TEST(QuantizeMatrix, ValidatesAndMatchesRowByRow) {
  ThreadPool pool(2);
  auto x = gaussian(8 * 512, 11);
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_0, GgmlType::kF16}) {
    size_t row_bytes = *ggml_row_bytes(type, 512);
    std::vector<uint8_t> parallel(8 * row_bytes), serial(8 * row_bytes);
    ASSERT_TRUE(quantize_matrix(type, x.data(), 8, 512, parallel.data(), &pool).is_ok());
    for (int r = 0; r < 8; ++r) quantize_row(type, x.data() + r * 512, serial.data() + r * row_bytes, 512);
    EXPECT_EQ(parallel, serial) << ggml_type_name(type);
  }
  std::vector<uint8_t> out(1024);
  Status bad_cols = quantize_matrix(GgmlType::kQ4_K, x.data(), 1, 96, out.data(), &pool);
  EXPECT_EQ(bad_cols.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad_cols.message().find("multiple of 256"), std::string::npos) << bad_cols.message();
  Status bad_type = quantize_matrix(GgmlType::kQ2_K, x.data(), 1, 256, out.data(), nullptr);
  EXPECT_EQ(bad_type.code(), ErrorCode::kUnsupported);
  EXPECT_NE(bad_type.message().find("Q2_K"), std::string::npos) << bad_type.message();
}

}  // namespace
}  // namespace chimera::engine
