// Differential tests of the attention kernels against the plain two-pass reference in double:
// many head sizes, GQA group sizes, key ranges (one key, a long causal run, a sliding window that
// wraps around the ring), F16 and Q8_0 caches, on every kernel path this CPU has. Tolerance:
// outputs are convex combinations of value rows (|v| <~ 4), so |fast - reference| < 2e-5 absolute
// covers f32 accumulation and the polynomial exp (~1e-7 relative) with a wide margin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "engine/kernels/attention.h"
#include "engine/kernels/matmul.h"
#include "engine/quant/quant.h"

namespace chimera::engine {
namespace {

struct Shape {
  int head_dim;
  int n_q;
  int64_t n_cells;
  int64_t first_pos;
  int64_t last_pos;
  GgmlType type;
};

struct Fixture {
  std::vector<uint8_t> k, v;
  std::vector<float> q, out_fast, out_ref;
  std::vector<float> sinks;  // one logit per query head (gpt-oss), of the scores' order
  KvHeadView view;
  AttentionQuery query;
};

void build(const Shape& s, uint64_t seed, Fixture& f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const size_t row_bytes = *ggml_row_bytes(s.type, s.head_dim);
  f.k.resize(row_bytes * static_cast<size_t>(s.n_cells));
  f.v.resize(f.k.size());
  std::vector<float> row(static_cast<size_t>(s.head_dim));
  for (int64_t c = 0; c < s.n_cells; ++c) {
    for (auto& x : row) x = normal(rng);
    quantize_row(s.type, row.data(), f.k.data() + static_cast<size_t>(c) * row_bytes, s.head_dim);
    for (auto& x : row) x = normal(rng);
    quantize_row(s.type, row.data(), f.v.data() + static_cast<size_t>(c) * row_bytes, s.head_dim);
  }
  // Query scaled as the forward pass scales it (1/sqrt(head_dim)), times 3 for peaked softmaxes.
  f.q.resize(static_cast<size_t>(s.n_q * s.head_dim));
  for (auto& x : f.q) x = 3.0f * normal(rng) / std::sqrt(static_cast<float>(s.head_dim));
  f.sinks.resize(static_cast<size_t>(s.n_q));
  for (auto& x : f.sinks) x = 2.0f * normal(rng);
  f.out_fast.assign(f.q.size(), NAN);
  f.out_ref.assign(f.q.size(), NAN);
  f.view = {f.k.data(), f.v.data(), s.n_cells, row_bytes, s.type};
  f.query.q = f.q.data();
  f.query.n_q = s.n_q;
  f.query.q_stride = s.head_dim;
  f.query.head_dim = s.head_dim;
  f.query.first_pos = s.first_pos;
  f.query.last_pos = s.last_pos;
  f.query.out_stride = s.head_dim;
}

std::vector<Shape> shapes() {
  std::vector<Shape> out;
  for (GgmlType type : {GgmlType::kF16, GgmlType::kQ8_0}) {
    for (int hd : {32, 64, 128, 256}) {
      for (int n_q : {1, 2, 4, 8, 16}) {
        out.push_back({hd, n_q, 64, 0, 0, type});      // the first token: one key
        out.push_back({hd, n_q, 300, 0, 299, type});   // a causal run over a global cache
        out.push_back({hd, n_q, 40, 25, 57, type});    // a window that wraps around a 40-cell ring
        out.push_back({hd, n_q, 600, 17, 530, type});  // long, not a multiple of the block
      }
    }
  }
  return out;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b,
                  const std::string& what) {
  double max_diff = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    max_diff = std::max(max_diff, static_cast<double>(std::abs(a[i] - b[i])));
  EXPECT_LT(max_diff, 2e-5) << what;
}

std::string describe(const Shape& s) {
  return "head_dim " + std::to_string(s.head_dim) + " n_q " + std::to_string(s.n_q) + " cells " +
         std::to_string(s.n_cells) + " keys " + std::to_string(s.first_pos) + ".." +
         std::to_string(s.last_pos) + " " + std::string(ggml_type_name(s.type));
}

TEST(Attention, PortableKernelMatchesReference) {
  uint64_t seed = 1;
  for (const Shape& s : shapes()) {
    Fixture f;
    build(s, seed++, f);
    f.query.out = f.out_ref.data();
    attention_reference(f.view, f.query);
    f.query.out = f.out_fast.data();
    detail::attention_portable(f.view, f.query);
    expect_close(f.out_fast, f.out_ref, describe(s));
  }
}

TEST(Attention, DispatchedKernelMatchesReferenceOnEveryPath) {
  const KernelPath original = active_kernel_path();
  for (KernelPath path :
       {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512, KernelPath::kAvx512Vnni}) {
    if (!kernel_path_supported(path)) continue;
    set_kernel_path(path);
    uint64_t seed = 1000;
    for (const Shape& s : shapes()) {
      for (bool sinks : {false, true}) {  // attention sinks join the denominator only
        Fixture f;
        build(s, seed++, f);
        if (sinks) f.query.sink = f.sinks.data();
        f.query.out = f.out_ref.data();
        attention_reference(f.view, f.query);
        f.query.out = f.out_fast.data();
        attention(f.view, f.query);
        expect_close(
            f.out_fast, f.out_ref,
            std::string(kernel_path_name(path)) + " " + describe(s) + (sinks ? " with sinks" : ""));
      }
    }
  }
  set_kernel_path(original);
}

// Prefill tiles: consecutive tokens x a GQA group against shared key blocks, each token with its
// own causal end and (sliding) start, over a global cache and a wrapping ring; compared per token
// with the reference on every kernel path.
TEST(Attention, TilesMatchThePerTokenReference) {
  const KernelPath original = active_kernel_path();
  struct TileShape {
    int head_dim, n_q, n_tokens;
    int64_t n_cells, first_token_pos;
    int window;  // 0: global
  };
  const std::vector<TileShape> tile_shapes = {
      {256, 4, 4, 600, 0, 0},   {256, 4, 4, 600, 300, 0},   {64, 2, 8, 600, 17, 0},
      {128, 1, 16, 600, 40, 0}, {256, 4, 3, 600, 5, 0},     {64, 4, 4, 40, 37, 8},
      {64, 4, 4, 40, 3, 8},     {256, 4, 4, 530, 600, 512}, {32, 16, 1, 64, 10, 0},
      {64, 3, 5, 64, 20, 0},
  };
  for (KernelPath path :
       {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512, KernelPath::kAvx512Vnni}) {
    if (!kernel_path_supported(path)) continue;
    set_kernel_path(path);
    uint64_t seed = 500;
    for (const auto& [ts, sinks] : [&] {
           std::vector<std::pair<TileShape, bool>> out;
           for (const TileShape& t : tile_shapes) out.insert(out.end(), {{t, false}, {t, true}});
           return out;
         }()) {
      // One fixture holds every token's queries (n_tokens x n_q heads) and the cache.
      Fixture f;
      build({ts.head_dim, ts.n_q * ts.n_tokens, ts.n_cells, 0, 0, GgmlType::kF16}, seed++, f);
      std::vector<int64_t> first(static_cast<size_t>(ts.n_tokens)), last(first.size());
      for (int t = 0; t < ts.n_tokens; ++t) {
        last[static_cast<size_t>(t)] = ts.first_token_pos + t;
        first[static_cast<size_t>(t)] =
            ts.window > 0 ? std::max<int64_t>(0, last[static_cast<size_t>(t)] - ts.window + 1) : 0;
      }
      AttentionTile tile;
      tile.q = f.q.data();
      tile.n_tokens = ts.n_tokens;
      tile.n_q = ts.n_q;
      tile.q_token_stride = int64_t{ts.n_q} * ts.head_dim;
      tile.head_dim = ts.head_dim;
      tile.first_pos = first.data();
      tile.last_pos = last.data();
      tile.out = f.out_fast.data();
      tile.out_token_stride = tile.q_token_stride;
      if (sinks) tile.sink = f.sinks.data();  // the group's n_q heads, the same every token
      attention_tile(f.view, tile);
      for (int t = 0; t < ts.n_tokens; ++t) {
        AttentionQuery q = f.query;
        q.q = f.q.data() + t * tile.q_token_stride;
        q.n_q = ts.n_q;
        q.first_pos = first[static_cast<size_t>(t)];
        q.last_pos = last[static_cast<size_t>(t)];
        q.out = f.out_ref.data() + t * tile.q_token_stride;
        q.sink = tile.sink;
        attention_reference(f.view, q);
      }
      expect_close(f.out_fast, f.out_ref,
                   std::string(kernel_path_name(path)) + " tile head_dim " +
                       std::to_string(ts.head_dim) + " n_q " + std::to_string(ts.n_q) + " tokens " +
                       std::to_string(ts.n_tokens) + " at " + std::to_string(ts.first_token_pos) +
                       (sinks ? " with sinks" : ""));
    }
  }
  set_kernel_path(original);
}

// Hand-computed case: two keys with scores 0 and ln 3 give weights 1/4 and 3/4.
TEST(Attention, WeightsFollowTheSoftmaxOfTheScores) {
  const int hd = 32;
  std::vector<float> k0(hd, 0.0f), k1(hd, 0.0f), v0(hd, 1.0f), v1(hd, 5.0f), q(hd, 0.0f);
  k1[0] = std::log(3.0f);
  q[0] = 1.0f;
  const size_t rb = *ggml_row_bytes(GgmlType::kF16, hd);
  std::vector<uint8_t> k(2 * rb), v(2 * rb);
  quantize_row(GgmlType::kF16, k0.data(), k.data(), hd);
  quantize_row(GgmlType::kF16, k1.data(), k.data() + rb, hd);
  quantize_row(GgmlType::kF16, v0.data(), v.data(), hd);
  quantize_row(GgmlType::kF16, v1.data(), v.data() + rb, hd);
  std::vector<float> out(hd);
  AttentionQuery query{q.data(), 1, hd, hd, 0, 1, out.data(), hd};
  attention({k.data(), v.data(), 2, rb, GgmlType::kF16}, query);
  // 0.25 * 1 + 0.75 * 5 = 4, up to the f16 rounding of ln 3 in the key.
  for (float x : out) EXPECT_NEAR(x, 4.0f, 2e-3f);
  // A window of one key (the current one) sees only v1.
  query.first_pos = 1;
  attention({k.data(), v.data(), 2, rb, GgmlType::kF16}, query);
  for (float x : out) EXPECT_FLOAT_EQ(x, 5.0f);
}

}  // namespace
}  // namespace chimera::engine
