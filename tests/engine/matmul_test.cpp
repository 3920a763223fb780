// matmul: every kernel path x every weight type x many shapes against matmul_reference (dequantized
// weights, unquantized activations, double accumulation).
//
// Tolerance. The kernels quantize each token's activations to 8 bits per block (32 values for the *_0
// weight types, 256 for the K-quants) with step d_b = amax_b / 127, so each activation moves by at most
// d_b / 2 (plus 2^-11 relative when d is stored as f16: < 0.57 d_b in all). The output error is then at
// most sum_b 0.57 d_b sum_{i in b} |w_i| (exact bound, computed per output below), plus f32 rounding of
// the accumulation, bounded by n_terms * 2^-23 * sum |w_i x_i|. A second test uses integer activations
// that every path quantizes exactly, where only the f32 rounding remains.
#include "engine/kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/membw.h"
#include "engine/kernels/weight_interleave.h"
#include "engine/quant/quant.h"
#include "engine/runtime/thread_pool.h"

namespace chimera::engine {
namespace {

const GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
                           GgmlType::kQ4_0, GgmlType::kQ5_0, GgmlType::kQ4_1, GgmlType::kQ5_1,
                           GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kMXFP4};
// The types repacked into 16-row strips at load (weight_interleave.h).
const GgmlType kInterleavedTypes[] = {GgmlType::kQ4_0, GgmlType::kQ5_0, GgmlType::kQ4_1,
                                      GgmlType::kQ5_1, GgmlType::kQ8_0, GgmlType::kQ4_K,
                                      GgmlType::kQ6_K, GgmlType::kMXFP4};

bool is_k_quant(GgmlType t) { return t == GgmlType::kQ4_K || t == GgmlType::kQ5_K || t == GgmlType::kQ6_K; }
bool is_float(GgmlType t) { return t == GgmlType::kF32 || t == GgmlType::kF16 || t == GgmlType::kBF16; }

struct Matrix {
  std::vector<uint8_t> bytes;
  WeightMatrix w;
  std::vector<float> dequantized;  // rows x cols
};

Matrix make_matrix(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    float row_scale = 0.2f + static_cast<float>(r % 7);  // rows of different magnitude
    for (int64_t c = 0; c < cols; ++c) values[static_cast<size_t>(r * cols + c)] = dist(rng) * row_scale;
  }
  Matrix m;
  size_t row_bytes = *ggml_row_bytes(type, cols);
  m.bytes.resize(row_bytes * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    quantize_row(type, values.data() + r * cols, m.bytes.data() + static_cast<size_t>(r) * row_bytes, cols);
  }
  m.w = WeightMatrix{m.bytes.data(), type, rows, cols, row_bytes};
  m.dequantized.resize(values.size());
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(type, m.bytes.data() + static_cast<size_t>(r) * row_bytes, m.dequantized.data() + r * cols, cols);
  }
  return m;
}

std::vector<float> make_activations(int64_t n_tokens, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tokens * cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = dist(rng) * (i % 61 == 0 ? 30.0f : 1.0f);  // outliers
  return x;
}

// The bound from the header comment, for output (r, t). act_block: the values per activation scale
// (0: the type's path's own, 256 for K-quants, else 32).
double error_bound(const Matrix& m, const std::vector<float>& x, int64_t r, int64_t t,
                   int64_t act_block = 0) {
  const int64_t cols = m.w.cols;
  const float* w = m.dequantized.data() + r * cols;
  const float* xt = x.data() + t * cols;
  double magnitude = 0;
  for (int64_t c = 0; c < cols; ++c) magnitude += std::fabs(static_cast<double>(w[c]) * xt[c]);
  double terms = static_cast<double>(cols);
  double quantization = 0;
  if (!is_float(m.w.type)) {
    const int64_t block = act_block != 0 ? act_block : is_k_quant(m.w.type) ? 256 : 32;
    for (int64_t b = 0; b < cols; b += block) {
      double amax = 0, wsum = 0;
      for (int64_t c = b; c < b + block; ++c) {
        amax = std::max(amax, std::fabs(static_cast<double>(xt[c])));
        wsum += std::fabs(static_cast<double>(w[c]));
      }
      quantization += 0.57 * amax / 127.0 * wsum;
    }
  }
  return quantization + terms * std::ldexp(1.0, -23) * magnitude + 1e-30;
}

std::vector<KernelPath> supported_paths() {
  std::vector<KernelPath> paths;
  for (KernelPath p : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512, KernelPath::kAvx512Vnni}) {
    if (kernel_path_supported(p)) paths.push_back(p);
  }
  return paths;
}

struct Shape {
  int64_t rows, cols_blocks, n_tokens;  // cols = cols_blocks * the type's block (32 for float types)
};
// Odd row counts (rows left after a micro-kernel's row block), column counts that are not a multiple of
// the kernels' 4-block groups, and token counts on both sides of the prefill tile sizes.
const Shape kShapes[] = {{1, 1, 1},   {3, 3, 1},   {16, 5, 1},   {37, 4, 1},  {8, 36, 1},  {5, 2, 2},
                         {7, 7, 3},   {16, 4, 5},  {13, 3, 8},   {9, 5, 17},  {33, 2, 20}, {64, 4, 33},
                         {4, 9, 64}};

class MatmulPaths : public ::testing::TestWithParam<KernelPath> {
 protected:
  void SetUp() override {
    original_ = active_kernel_path();
    set_kernel_path(GetParam());
    ASSERT_EQ(active_kernel_path(), GetParam());
  }
  void TearDown() override { set_kernel_path(original_); }
  KernelPath original_ = KernelPath::kScalar;
};

TEST_P(MatmulPaths, EveryTypeAndShapeWithinTheQuantizationBound) {
  MatmulScratch scratch;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (GgmlType type : kTypes) {
      const int64_t block = is_k_quant(type) ? 256 : 32;
      for (const Shape& s : kShapes) {
        if (is_k_quant(type) && s.cols_blocks > 5) continue;  // keep K-quant rows short: same code paths
        const int64_t cols = s.cols_blocks * block;
        Matrix m = make_matrix(type, s.rows, cols, static_cast<uint32_t>(s.rows * 131 + cols));
        auto x = make_activations(s.n_tokens, cols, static_cast<uint32_t>(cols + s.n_tokens));
        std::vector<float> y(static_cast<size_t>(s.rows * s.n_tokens), NAN), expected(y.size());
        matmul(m.w, x.data(), s.n_tokens, y.data(), pool, scratch);
        matmul_reference(m.w, x.data(), s.n_tokens, expected.data());
        for (int64_t t = 0; t < s.n_tokens; ++t) {
          for (int64_t r = 0; r < s.rows; ++r) {
            size_t i = static_cast<size_t>(t * s.rows + r);
            ASSERT_NEAR(y[i], expected[i], error_bound(m, x, r, t))
                << ggml_type_name(type) << " rows " << s.rows << " cols " << cols << " tokens " << s.n_tokens
                << " threads " << threads << " at row " << r << " token " << t;
          }
        }
      }
    }
  }
}

// Integer activations in [-127, 127] with +-127 in every 32-value block quantize exactly (d = 1) for
// both Q8_0 and Q8_K, so each path must reproduce the exact dot product up to f32 rounding. Shapes cover
// full and partial 4-block groups, several super-blocks, and every tile remainder.
TEST_P(MatmulPaths, ExactlyQuantizableActivationsGiveTheExactDot) {
  MatmulScratch scratch;
  ThreadPool pool(2);
  for (GgmlType type : kTypes) {
    const std::vector<int64_t> col_options =
        is_k_quant(type) ? std::vector<int64_t>{256, 1280, 2048} : std::vector<int64_t>{96, 160, 224, 512};
    for (int64_t cols : col_options) {
      for (int64_t rows : {1, 7, 19}) {
        for (int64_t n_tokens : {1, 5, 6, 20}) {  // 20: the prefill (panel) path too
          std::vector<float> x(static_cast<size_t>(n_tokens * cols));
          std::mt19937 rng(static_cast<uint32_t>(cols + rows + n_tokens));
          std::uniform_int_distribution<int> code(-127, 127);
          for (size_t i = 0; i < x.size(); ++i) {
            x[i] = static_cast<float>(i % 32 == 5 ? (i % 64 == 5 ? 127 : -127) : code(rng));
          }
          Matrix m = make_matrix(type, rows, cols, static_cast<uint32_t>(99 + cols));
          std::vector<float> y(static_cast<size_t>(rows * n_tokens)), expected(y.size());
          matmul(m.w, x.data(), n_tokens, y.data(), pool, scratch);
          matmul_reference(m.w, x.data(), n_tokens, expected.data());
          for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t r = 0; r < rows; ++r) {
              double magnitude = 0;
              for (int64_t c = 0; c < cols; ++c) {
                magnitude += std::fabs(static_cast<double>(m.dequantized[static_cast<size_t>(r * cols + c)]) *
                                       x[static_cast<size_t>(t * cols + c)]);
              }
              size_t i = static_cast<size_t>(t * rows + r);
              ASSERT_NEAR(y[i], expected[i], 1e-5 * magnitude)
                  << ggml_type_name(type) << " rows " << rows << " cols " << cols << " tokens " << n_tokens
                  << " at row " << r << " token " << t;
            }
          }
        }
      }
    }
  }
}

// Float weights have 1-wide blocks, so rows need not be a multiple of the 16-lane vectors: short rows
// (40), rows the prefill path takes whole (600, 1208: up to 1536 columns) and rows it splits into
// 256-column chunks with a tail (1700 = 6 x 256 + 164) must match the reference too.
TEST_P(MatmulPaths, FloatRowsOfAnyLengthInPrefill) {
  MatmulScratch scratch;
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    for (int64_t cols : {40, 600, 1208, 1700}) {
      Matrix m = make_matrix(type, 37, cols, static_cast<uint32_t>(cols));
      const int64_t n_tokens = 20;
      auto x = make_activations(n_tokens, cols, 5);
      std::vector<float> y(static_cast<size_t>(37 * n_tokens)), expected(y.size());
      matmul(m.w, x.data(), n_tokens, y.data(), pool, scratch);
      matmul_reference(m.w, x.data(), n_tokens, expected.data());
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = 0; r < 37; ++r) {
          double magnitude = 0;
          for (int64_t c = 0; c < cols; ++c) {
            magnitude += std::fabs(static_cast<double>(m.dequantized[static_cast<size_t>(r * cols + c)]) *
                                   x[static_cast<size_t>(t * cols + c)]);
          }
          const size_t i = static_cast<size_t>(t * 37 + r);
          ASSERT_NEAR(y[i], expected[i], 1e-5 * magnitude)
              << ggml_type_name(type) << " cols " << cols << " row " << r << " token " << t;
        }
      }
    }
  }
}

TEST_P(MatmulPaths, ThreadCountDoesNotChangeTheResult) {
  MatmulScratch scratch;
  ThreadPool one(1), three(3);
  for (GgmlType type : kTypes) {
    Matrix m = make_matrix(type, 45, 512, 3);
    auto x = make_activations(3, 512, 4);
    std::vector<float> a(45 * 3), b(45 * 3);
    matmul(m.w, x.data(), 3, a.data(), one, scratch);
    matmul(m.w, x.data(), 3, b.data(), three, scratch);
    EXPECT_EQ(a, b) << ggml_type_name(type);  // each output is computed by one thread, same order
  }
}

// Decode splits the rows of one call (several matrices, back to back) into ~128 KiB chunks that a
// thread done with its own share takes from the others: whichever thread computes a chunk, every row
// must come out once and exactly as with one thread. Matrices large enough for several chunks each,
// with chunk boundaries inside and across matrices; repeated, since which thread steals varies. The
// next-call hint (a worker prefetching after its share) must change nothing either.
TEST_P(MatmulPaths, DecodeChunksGiveEveryRowOnceWhoeverTakesThem) {
  MatmulScratch scratch;
  ThreadPool one(1), three(3);
  Matrix a = make_matrix(GgmlType::kF16, 1000, 256, 1), b = make_matrix(GgmlType::kQ8_0, 720, 256, 2);
  Matrix c = make_matrix(GgmlType::kF32, 300, 256, 3);
  const WeightMatrix ws[] = {a.w, b.w, c.w};
  for (int64_t n_tokens : {1, 3}) {
    auto x = make_activations(n_tokens, 256, 11);
    std::vector<std::vector<float>> expected(3);
    std::vector<float*> expected_out;
    for (size_t i = 0; i < 3; ++i) {
      expected[i].resize(static_cast<size_t>(ws[i].rows * n_tokens));
      expected_out.push_back(expected[i].data());
    }
    matmul_multi(ws, x.data(), n_tokens, expected_out, one, scratch);
    for (int round = 0; round < 20; ++round) {
      std::vector<std::vector<float>> got(3);
      std::vector<float*> out;
      for (size_t i = 0; i < 3; ++i) {
        got[i].assign(expected[i].size(), NAN);
        out.push_back(got[i].data());
      }
      matmul_multi(ws, x.data(), n_tokens, out, three, scratch, {&ws[0], 1});
      for (size_t i = 0; i < 3; ++i) ASSERT_EQ(got[i], expected[i]) << "matrix " << i << " round " << round;
      std::vector<float> single(expected[0].size(), NAN);
      matmul(a.w, x.data(), n_tokens, single.data(), three, scratch, ws);
      ASSERT_EQ(single, expected[0]) << "round " << round;
    }
  }
}

TEST_P(MatmulPaths, MultiEqualsSeparateCalls) {
  MatmulScratch scratch;
  ThreadPool pool(2);
  // A Q4_K_M-like q/k/v trio (two converters) plus a float matrix, sharing 512 input columns.
  Matrix q = make_matrix(GgmlType::kQ5_0, 37, 512, 1), k = make_matrix(GgmlType::kQ5_0, 9, 512, 2);
  Matrix v = make_matrix(GgmlType::kQ8_0, 9, 512, 3), f = make_matrix(GgmlType::kF16, 5, 512, 4);
  Matrix kq = make_matrix(GgmlType::kQ4_K, 11, 512, 5);
  for (int64_t n_tokens : {1, 6}) {
    auto x = make_activations(n_tokens, 512, 9);
    const WeightMatrix ws[] = {q.w, k.w, v.w, f.w, kq.w};
    std::vector<std::vector<float>> separate(5), fused(5);
    std::vector<float*> outputs;
    for (size_t i = 0; i < 5; ++i) {
      separate[i].resize(static_cast<size_t>(ws[i].rows * n_tokens));
      fused[i].assign(separate[i].size(), NAN);
      matmul(ws[i], x.data(), n_tokens, separate[i].data(), pool, scratch);
      outputs.push_back(fused[i].data());
    }
    matmul_multi(ws, x.data(), n_tokens, outputs, pool, scratch);
    for (size_t i = 0; i < 5; ++i) EXPECT_EQ(fused[i], separate[i]) << "matrix " << i << " tokens " << n_tokens;
  }
}

// matmul_each: every matrix its own input (MoE decode's routed experts), one dispatch; the same
// products as one call each, inputs shared by two matrices converted once, and more matrices than
// one dispatch takes (16) falling back to one call each.
TEST_P(MatmulPaths, EachWithItsOwnInputEqualsSeparateCalls) {
  MatmulScratch scratch;
  ThreadPool pool(2);
  std::vector<Matrix> ms;
  for (int i = 0; i < 18; ++i) {
    const GgmlType type = i % 3 == 0 ? GgmlType::kQ4_K : i % 3 == 1 ? GgmlType::kQ6_K : GgmlType::kQ8_0;
    ms.push_back(make_matrix(type, 24 + i, 512, static_cast<uint32_t>(40 + i)));
  }
  for (size_t count : {size_t{3}, size_t{16}, size_t{18}}) {
    std::vector<WeightMatrix> ws;
    std::vector<std::vector<float>> inputs, separate(count), each(count);
    std::vector<const float*> xs;
    std::vector<float*> outputs;
    for (size_t i = 0; i < count; ++i) inputs.push_back(make_activations(1, 512, static_cast<uint32_t>(7 + i)));
    for (size_t i = 0; i < count; ++i) {
      ws.push_back(ms[i].w);
      xs.push_back(inputs[i % 2 == 1 ? i - 1 : i].data());  // pairs share an input, as gate and up do
      separate[i].resize(static_cast<size_t>(ws[i].rows));
      each[i].assign(separate[i].size(), NAN);
      matmul(ws[i], xs[i], 1, separate[i].data(), pool, scratch);
      outputs.push_back(each[i].data());
    }
    matmul_each(ws, xs, 1, outputs, pool, scratch);
    for (size_t i = 0; i < count; ++i) EXPECT_EQ(each[i], separate[i]) << "matrix " << i << " of " << count;
  }
}

std::string path_name(const ::testing::TestParamInfo<KernelPath>& info) {
  return std::string(kernel_path_name(info.param));
}

// Q4_0 / Q5_0 / Q4_1 / Q5_1 / Q8_0 / Q4_K / Q6_K / MXFP4 matrices repacked into 16-row strips at load
// (weight_interleave.h): every path reads them (the VNNI kernels natively, the others through the
// row-restoring fallback) within the same bound as the row-major matrix, for decode (1 token),
// batched decode and prompt token counts.
TEST_P(MatmulPaths, InterleavedMatricesGiveTheSameProducts) {
  MatmulScratch scratch;
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    for (GgmlType type : kInterleavedTypes) {
      for (int64_t rows : {16, 48, 80}) {
        for (int64_t cols : {32, 160, 512, 768}) {
          if (cols % interleave_layout(type)->block_values != 0) continue;
          Matrix m = make_matrix(type, rows, cols, static_cast<uint32_t>(rows * 7 + cols));
          ASSERT_TRUE(can_interleave(m.w));
          std::vector<uint8_t> packed(m.bytes.size());
          interleave_strips(m.w, 0, rows / kInterleaveRows, packed.data());
          Matrix im = m;
          im.w.data = packed.data();
          im.w.interleaved = true;
          for (int64_t n_tokens : {1, 2, 5, 8, 9, 16, 17, 40}) {
            auto x = make_activations(n_tokens, cols, static_cast<uint32_t>(cols + n_tokens));
            // Odd token counts: all-positive activations, so the weights' offsets (code offsets,
            // Q4_K's mins) add up across a block instead of cancelling out.
            if (n_tokens % 2 == 1) {
              for (float& v : x) v = std::fabs(v);
            }
            std::vector<float> y(static_cast<size_t>(rows * n_tokens), NAN), expected(y.size());
            matmul(im.w, x.data(), n_tokens, y.data(), pool, scratch);
            matmul_reference(m.w, x.data(), n_tokens, expected.data());
            for (int64_t t = 0; t < n_tokens; ++t) {
              for (int64_t r = 0; r < rows; ++r) {
                const size_t i = static_cast<size_t>(t * rows + r);
                // Interleaved kernels quantize activations per 32 values, K-quants too.
                ASSERT_NEAR(y[i], expected[i], error_bound(m, x, r, t, 32))
                    << ggml_type_name(type) << " rows " << rows << " cols " << cols << " tokens " << n_tokens
                    << " threads " << threads << " at row " << r << " token " << t;
              }
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllSupported, MatmulPaths, ::testing::ValuesIn(supported_paths()), path_name);

TEST(Matmul, HandComputedQ4_0Product) {
  // One Q4_0 row of 32 values, d = 0.5, codes 0..15 (value (q - 8) * 0.5) in both halves; activations
  // 1..32 scaled so the largest is 127 (exact in Q8_0). Expected: sum_j 0.5 (q_j - 8) x_j by hand.
  BlockQ4_0 block{};
  block.d = 0x3800;  // 0.5
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(j | (j << 4));
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = j == 31 ? 127.0f : static_cast<float>(j + 1);
  double expected = 0;
  for (int j = 0; j < 32; ++j) expected += 0.5 * ((j % 16) - 8) * x[j];
  WeightMatrix w{&block, GgmlType::kQ4_0, 1, 32, sizeof block};
  MatmulScratch scratch;
  ThreadPool pool(1);
  for (KernelPath path : supported_paths()) {
    set_kernel_path(path);
    float y = NAN;
    matmul(w, x.data(), 1, &y, pool, scratch);
    EXPECT_EQ(y, static_cast<float>(expected)) << kernel_path_name(path);
  }
  set_kernel_path(supported_paths().back());
}

TEST(Matmul, ScratchIsAlignedAndGrowsOnlyWhenNeeded) {
  MatmulScratch scratch;
  void* small = scratch.reserve(100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small) % 64, 0u);
  size_t capacity = scratch.capacity();
  EXPECT_EQ(scratch.reserve(50), small);
  EXPECT_EQ(scratch.capacity(), capacity);
  void* big = scratch.reserve(1 << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big) % 64, 0u);
  EXPECT_GE(scratch.capacity(), 1u << 20);
}

TEST(Matmul, SupportedTypes) {
  for (GgmlType type : kTypes) EXPECT_TRUE(matmul_supports(type)) << ggml_type_name(type);
  EXPECT_FALSE(matmul_supports(GgmlType::kQ2_K));
  EXPECT_FALSE(matmul_supports(GgmlType::kIQ4_NL));
}

TEST(MemoryBandwidth, ReportsPlausibleFiguresForTheBufferItRead) {
  ThreadPool pool(2);
  ReadBandwidthOptions options;
  options.buffer_bytes = size_t{32} << 20;
  options.passes = 2;
  Result<ReadBandwidth> r = measure_read_bandwidth(pool, options);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->threads, 2);
  EXPECT_EQ(r->passes, 2);
  EXPECT_GE(r->buffer_bytes, (size_t{32} << 20) - 256);
  EXPECT_LE(r->buffer_bytes, size_t{32} << 20);
  EXPECT_GT(r->median_gb_per_s, 0.01);  // any machine reads faster than 10 MB/s
  EXPECT_GE(r->best_gb_per_s, r->median_gb_per_s);
  EXPECT_LT(r->best_gb_per_s, 10000.0);  // and slower than 10 TB/s: the timing is real
  // A pass is all its windows' bytes over all their time: never faster than its best window.
  EXPECT_LE(r->best_pass_gb_per_s, r->best_gb_per_s * (1 + 1e-9));
  EXPECT_GT(r->best_pass_gb_per_s, 0.01);
}

// Given memory to read (bench engine hands it the model's weights), the probe reads that, from its
// first 16-byte boundary, and leaves it as it was; too little memory is an error that says how much.
TEST(MemoryBandwidth, ReadsTheCallersMemoryAndLeavesItAsItWas) {
  ThreadPool pool(2);
  std::vector<uint8_t> memory((size_t{16} << 20) + 64);
  for (size_t i = 0; i < memory.size(); ++i) memory[i] = static_cast<uint8_t>(i * 131 + 7);
  const std::vector<uint8_t> copy = memory;
  ReadBandwidthOptions options;
  options.passes = 1;
  options.source = std::span<const uint8_t>(memory.data() + 3, size_t{16} << 20);
  Result<ReadBandwidth> r = measure_read_bandwidth(pool, options);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_LE(r->buffer_bytes, size_t{16} << 20);
  EXPECT_GE(r->buffer_bytes, (size_t{16} << 20) - 16 - 256);
  EXPECT_GT(r->median_gb_per_s, 0.01);
  EXPECT_GE(r->best_gb_per_s, r->median_gb_per_s);
  EXPECT_TRUE(memory == copy);

  options.source = std::span<const uint8_t>(memory.data(), 100);
  Result<ReadBandwidth> tiny = measure_read_bandwidth(pool, options);
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.status().to_string().find("100 bytes"), std::string::npos) << tiny.status().to_string();
}

TEST(Matmul, KernelPathNames) {
  EXPECT_EQ(kernel_path_name(KernelPath::kScalar), "scalar");
  EXPECT_EQ(kernel_path_name(KernelPath::kAvx2), "avx2");
  EXPECT_EQ(kernel_path_name(KernelPath::kAvx512), "avx512");
  EXPECT_EQ(kernel_path_name(KernelPath::kAvx512Vnni), "avx512vnni");
  EXPECT_TRUE(kernel_path_supported(KernelPath::kScalar));
}

}  // namespace
// The load-time repack: the fast (AVX-512) and the reference versions write the same bytes, and
// each row reads back exactly as the original.
TEST(WeightInterleave, FastRepackMatchesTheReferenceAndRowsReadBack) {
  for (GgmlType type : kInterleavedTypes) {
    Matrix m = make_matrix(type, 64, 1280, static_cast<uint32_t>(type) + 3u);
    std::vector<uint8_t> reference(m.bytes.size()), fast(m.bytes.size(), 0xAB);
    interleave_strips(m.w, 0, 4, reference.data());
    interleave_strips_fast(m.w, 0, 2, fast.data());  // two calls: strips land at their own offsets
    interleave_strips_fast(m.w, 2, 4, fast.data());
    EXPECT_EQ(fast, reference) << ggml_type_name(type);
    WeightMatrix iw = m.w;
    iw.data = reference.data();
    iw.interleaved = true;
    EXPECT_FALSE(can_interleave(iw));  // already repacked
    std::vector<float> row(1280);
    for (int64_t r : {0, 1, 15, 16, 37, 63}) {
      dequantize_weight_row(iw, r, row.data());
      for (int64_t c = 0; c < 1280; ++c) {
        ASSERT_EQ(row[static_cast<size_t>(c)], m.dequantized[static_cast<size_t>(r * 1280 + c)])
            << ggml_type_name(type) << " row " << r << " col " << c;
      }
    }
  }
  // Not repackable: other types, and row counts that do not fill strips of 16.
  EXPECT_FALSE(can_interleave(make_matrix(GgmlType::kQ4_0, 20, 64, 1).w));
  EXPECT_FALSE(can_interleave(make_matrix(GgmlType::kQ5_K, 16, 256, 1).w));
}

}  // namespace chimera::engine
