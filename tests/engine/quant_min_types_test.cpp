// Q4_1 and Q5_1 (value = d * code + m per 32-value block): the block layouts on hand-built blocks,
// the reference quantizer's choices, and every matmul path (scalar reference, AVX2, AVX-512,
// AVX-512 VNNI tiles, f32-panel prefill, VNNI interleaved strips) against the scalar kernel.
//
// The m term is what these types add: m times the sum of a block's activations. Activations drawn
// symmetric around 0 would nearly cancel it, so the products here use all-positive activations,
// where a wrong or missing m term moves every output by O(m * sum x).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/matmul.h"
#include "engine/kernels/weight_interleave.h"
#include "engine/quant/fp16.h"
#include "engine/quant/quant.h"
#include "engine/runtime/thread_pool.h"

namespace chimera::engine {
namespace {

constexpr uint16_t kF16Half = 0x3800, kF16Quarter = 0x3400, kF16MinusTwo = 0xC000,
                   kF16MinusThree = 0xC200;

std::vector<float> dequantize(GgmlType type, const void* data, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(type, data, out.data(), n);
  return out;
}

std::vector<KernelPath> supported_paths() {
  std::vector<KernelPath> paths;
  for (KernelPath p :
       {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512, KernelPath::kAvx512Vnni}) {
    if (kernel_path_supported(p)) paths.push_back(p);
  }
  return paths;
}

// Restores the kernel path a test forced.
class PathGuard {
 public:
  PathGuard() : original_(active_kernel_path()) {}
  ~PathGuard() { set_kernel_path(original_); }

 private:
  KernelPath original_;
};

TEST(MinTypes, AreComputableWithTheirGgmlGeometry) {
  EXPECT_EQ(ggml_type_info(GgmlType::kQ4_1).block_bytes, 20);
  EXPECT_EQ(ggml_type_info(GgmlType::kQ5_1).block_bytes, 24);
  for (GgmlType type : {GgmlType::kQ4_1, GgmlType::kQ5_1}) {
    EXPECT_TRUE(ggml_type_info(type).is_computable) << ggml_type_name(type);
    EXPECT_TRUE(can_quantize(type)) << ggml_type_name(type);
    EXPECT_TRUE(matmul_supports(type)) << ggml_type_name(type);
    EXPECT_NE(computable_type_list().find(ggml_type_name(type)), std::string::npos);
  }
}

TEST(MinTypes, Q4_1DequantizesToDTimesCodePlusM) {
  BlockQ4_1 block{};
  block.d = kF16Half;
  block.m = kF16MinusTwo;
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto y = dequantize(GgmlType::kQ4_1, &block, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * j - 2.0f) << j;              // low nibble j: value j
    EXPECT_EQ(y[j + 16], 0.5f * (15 - j) - 2.0f) << j;  // high nibble: value j + 16
  }
}

TEST(MinTypes, Q5_1TakesTheFifthBitFromQh) {
  BlockQ5_1 block{};
  block.d = kF16Quarter;
  block.m = kF16MinusThree;
  const uint32_t qh = 0x80000001u | (1u << 5) | (1u << 20);  // codes 0, 5, 20, 31 get +16
  std::memcpy(block.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(3 | (12 << 4));
  auto y = dequantize(GgmlType::kQ5_1, &block, 32);
  EXPECT_EQ(y[0], 0.25f * (3 + 16) - 3.0f);
  EXPECT_EQ(y[1], 0.25f * 3 - 3.0f);
  EXPECT_EQ(y[5], 0.25f * (3 + 16) - 3.0f);
  EXPECT_EQ(y[16], 0.25f * 12 - 3.0f);
  EXPECT_EQ(y[20], 0.25f * (12 + 16) - 3.0f);
  EXPECT_EQ(y[30], 0.25f * 12 - 3.0f);
  EXPECT_EQ(y[31], 0.25f * (12 + 16) - 3.0f);
}

// ggml's choice: m = the block's minimum, d = (max - min) / (2^bits - 1), code = trunc((x - m) / d
// + 0.5): the minimum gets code 0, the maximum the top code.
TEST(MinTypes, QuantizerMapsTheBlockRangeOntoTheCodes) {
  std::vector<float> x(32, 0.5f);
  x[3] = -1.0f;  // min
  x[7] = 2.0f;   // max
  x[9] = 0.45f;
  BlockQ4_1 q4;
  quantize_row(GgmlType::kQ4_1, x.data(), &q4, 32);
  EXPECT_EQ(f16_to_f32(q4.m), -1.0f);
  EXPECT_EQ(q4.d, f32_to_f16(3.0f / 15.0f));
  EXPECT_EQ(q4.qs[3] & 0xF, 0);
  EXPECT_EQ(q4.qs[7] & 0xF, 15);
  EXPECT_EQ(q4.qs[9] & 0xF, 7);  // (0.45 + 1) / 0.2 + 0.5 = 7.75
  BlockQ5_1 q5;
  quantize_row(GgmlType::kQ5_1, x.data(), &q5, 32);
  EXPECT_EQ(f16_to_f32(q5.m), -1.0f);
  EXPECT_EQ(q5.d, f32_to_f16(3.0f / 31.0f));
  uint32_t qh;
  std::memcpy(&qh, q5.qh, 4);
  auto code = [&](int j) {
    return (j < 16 ? q5.qs[j] & 0xF : q5.qs[j - 16] >> 4) | (((qh >> j) & 1) << 4);
  };
  EXPECT_EQ(code(3), 0);
  EXPECT_EQ(code(7), 31);
  EXPECT_EQ(code(9), 15);  // 1.45 / (3 / 31) + 0.5 = 15.48
  x[20] = 1.0f;
  quantize_row(GgmlType::kQ5_1, x.data(), &q5, 32);
  std::memcpy(&qh, q5.qh, 4);
  EXPECT_EQ(code(20), 21);  // 2 / (3 / 31) + 0.5 = 21.17: bit 4 in qh, 5 in the high nibble
}

// Round trips: within half a step of (max - min) / (2^bits - 1) plus the f16 rounding of d and m.
TEST(MinTypes, RoundTripErrorWithinHalfAStep) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.3f, 1.0f);  // off-centre: m matters
  std::vector<float> x(4096);
  for (float& v : x) v = dist(rng);
  for (auto [type, top] : {std::pair{GgmlType::kQ4_1, 15}, std::pair{GgmlType::kQ5_1, 31}}) {
    std::vector<uint8_t> q(*ggml_row_bytes(type, 4096));
    quantize_row(type, x.data(), q.data(), 4096);
    const std::vector<float> y = dequantize(type, q.data(), 4096);
    for (size_t b = 0; b < x.size(); b += 32) {
      float lo = x[b], hi = x[b];
      for (size_t i = b; i < b + 32; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
      const double step = (hi - lo) / top;
      const double bound = 0.5 * step + std::ldexp(1.0, -10) * (std::fabs(lo) + (hi - lo));
      for (size_t i = b; i < b + 32; ++i)
        ASSERT_LE(std::fabs(static_cast<double>(x[i]) - y[i]), bound)
            << ggml_type_name(type) << " at " << i;
    }
  }
}

// One block of each type, small-integer activations (exact in every activation format: d = 1):
// sum_j (d * code_j + m) * x_j, worked out here, is what every path must give, to the bit (every
// partial sum is a multiple of 1/4 well below 2^24).
TEST(MinTypes, HandComputedProductsOnEveryPath) {
  BlockQ4_1 q4{};
  q4.d = kF16Half;
  q4.m = kF16MinusTwo;
  for (int j = 0; j < 16; ++j) q4.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  BlockQ5_1 q5{};
  q5.d = kF16Quarter;
  q5.m = kF16MinusThree;
  const uint32_t qh = 0xA5A50F0Fu;
  std::memcpy(q5.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) q5.qs[j] = static_cast<uint8_t>((j * 5 % 16) | ((j * 3 % 16) << 4));
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = j == 31 ? 127.0f : static_cast<float>(j + 1);
  double expected4 = 0, expected5 = 0;
  for (int j = 0; j < 32; ++j) {
    const int c4 = j < 16 ? j : 15 - (j - 16);
    const int n5 = j < 16 ? j * 5 % 16 : (j - 16) * 3 % 16;
    const int c5 = n5 | static_cast<int>(((qh >> j) & 1) << 4);
    expected4 += (0.5 * c4 - 2.0) * x[j];
    expected5 += (0.25 * c5 - 3.0) * x[j];
  }
  const WeightMatrix w4{&q4, GgmlType::kQ4_1, 1, 32, sizeof q4},
      w5{&q5, GgmlType::kQ5_1, 1, 32, sizeof q5};
  MatmulScratch scratch;
  ThreadPool pool(1);
  PathGuard guard;
  for (KernelPath path : supported_paths()) {
    set_kernel_path(path);
    float y4 = NAN, y5 = NAN;
    matmul(w4, x.data(), 1, &y4, pool, scratch);
    matmul(w5, x.data(), 1, &y5, pool, scratch);
    EXPECT_EQ(y4, static_cast<float>(expected4)) << kernel_path_name(path);
    EXPECT_EQ(y5, static_cast<float>(expected5)) << kernel_path_name(path);
  }
}

struct Weights {
  std::vector<uint8_t> bytes;
  WeightMatrix w;
  std::vector<float> dequantized;
};

Weights make_weights(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.02f, 0.05f);  // off-centre rows: m far from -amax
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (float& v : values) v = dist(rng);
  Weights m;
  const size_t row_bytes = *ggml_row_bytes(type, cols);
  m.bytes.resize(row_bytes * static_cast<size_t>(rows));
  EXPECT_TRUE(quantize_matrix(type, values.data(), rows, cols, m.bytes.data(), nullptr).is_ok());
  m.w = WeightMatrix{m.bytes.data(), type, rows, cols, row_bytes};
  m.dequantized.resize(values.size());
  for (int64_t r = 0; r < rows; ++r) dequantize_weight_row(m.w, r, m.dequantized.data() + r * cols);
  return m;
}

// Integer activations in [0, 127] with 127 in every 32-value block: every activation format holds
// them exactly (d = 1), so every path computes the same exact dot up to f32 rounding, and the m
// term (m * sum x, all positive) is large.
std::vector<float> exact_positive_activations(int64_t n_tokens, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 127);
  std::vector<float> x(static_cast<size_t>(n_tokens * cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 32 == 7 ? 127 : code(rng));
  return x;
}

// Outputs of `w` on path `path` for x (n_tokens rows).
std::vector<float> run_path(KernelPath path, const WeightMatrix& w, const std::vector<float>& x,
                            int64_t n_tokens, ThreadPool& pool, MatmulScratch& scratch) {
  set_kernel_path(path);
  std::vector<float> y(static_cast<size_t>(w.rows * n_tokens), NAN);
  matmul(w, x.data(), n_tokens, y.data(), pool, scratch);
  return y;
}

void expect_same_products(const Weights& m, const std::vector<float>& x, int64_t n_tokens,
                          const std::vector<float>& got, const std::vector<float>& scalar,
                          const std::string& what) {
  std::vector<float> exact(got.size());
  matmul_reference(m.w, x.data(), n_tokens, exact.data());
  const int64_t rows = m.w.rows, cols = m.w.cols;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double magnitude = 0;
      for (int64_t c = 0; c < cols; ++c)
        magnitude +=
            std::fabs(static_cast<double>(m.dequantized[static_cast<size_t>(r * cols + c)]) *
                      x[static_cast<size_t>(t * cols + c)]);
      const size_t i = static_cast<size_t>(t * rows + r);
      ASSERT_NEAR(got[i], scalar[i], 1e-5 * magnitude) << what << " row " << r << " token " << t;
      ASSERT_NEAR(got[i], exact[i], 1e-5 * magnitude) << what << " row " << r << " token " << t;
    }
  }
}

// Ragged shapes on every path against the scalar kernel: row counts around the tiles' row blocks
// (2, 6, 16, 32), columns of 1..50 blocks (partial 4-block groups; 1600 past the panels' whole-row
// limit of 1536), token counts of decode (1), batched decode (2..8, the tiles' and strips' widths)
// and prefill (12..40: the f32 panels on AVX-512).
TEST(MinTypes, EveryPathMatchesTheScalarKernelOnRaggedShapes) {
  PathGuard guard;
  MatmulScratch scratch;
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::kQ4_1, GgmlType::kQ5_1}) {
    for (int64_t rows : {1, 5, 7, 19, 37}) {
      for (int64_t cols : {32, 96, 160, 224, 864, 1600}) {
        Weights m = make_weights(type, rows, cols, static_cast<uint32_t>(rows * 31 + cols));
        for (int64_t n_tokens : {1, 2, 3, 5, 8, 13, 17, 40}) {
          const auto x =
              exact_positive_activations(n_tokens, cols, static_cast<uint32_t>(cols + n_tokens));
          const auto scalar = run_path(KernelPath::kScalar, m.w, x, n_tokens, pool, scratch);
          for (KernelPath path : supported_paths()) {
            const auto got = run_path(path, m.w, x, n_tokens, pool, scratch);
            expect_same_products(m, x, n_tokens, got, scalar,
                                 std::string(ggml_type_name(type)) + " " +
                                     std::string(kernel_path_name(path)) + " rows " +
                                     std::to_string(rows) + " cols " + std::to_string(cols) +
                                     " tokens " + std::to_string(n_tokens));
          }
        }
      }
    }
  }
}

// The same for matrices repacked into 16-row strips at load (the VNNI path's own kernel; the other
// paths restore rows), against the scalar kernel on the row-major original.
TEST(MinTypes, InterleavedMatricesMatchTheScalarKernel) {
  PathGuard guard;
  MatmulScratch scratch;
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::kQ4_1, GgmlType::kQ5_1}) {
    for (int64_t rows : {16, 48}) {
      for (int64_t cols : {32, 160, 896}) {
        Weights m = make_weights(type, rows, cols, static_cast<uint32_t>(rows + cols));
        ASSERT_TRUE(can_interleave(m.w));
        std::vector<uint8_t> packed(m.bytes.size());
        interleave_strips_fast(m.w, 0, rows / kInterleaveRows, packed.data());
        WeightMatrix iw = m.w;
        iw.data = packed.data();
        iw.interleaved = true;
        for (int64_t n_tokens : {1, 2, 8, 9, 17}) {
          const auto x = exact_positive_activations(n_tokens, cols,
                                                    static_cast<uint32_t>(cols * 3 + n_tokens));
          const auto scalar = run_path(KernelPath::kScalar, m.w, x, n_tokens, pool, scratch);
          for (KernelPath path : supported_paths()) {
            const auto got = run_path(path, iw, x, n_tokens, pool, scratch);
            expect_same_products(m, x, n_tokens, got, scalar,
                                 std::string(ggml_type_name(type)) + " interleaved " +
                                     std::string(kernel_path_name(path)) + " rows " +
                                     std::to_string(rows) + " cols " + std::to_string(cols) +
                                     " tokens " + std::to_string(n_tokens));
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace chimera::engine
