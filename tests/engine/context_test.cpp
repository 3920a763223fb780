// Context: several sequences advanced in one batch must each get exactly what they would get alone
// (the server's continuous batching relies on it), and malformed batches are refused before
// anything is written.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine/engine.h"
#include "engine/model/model_config.h"
#include "engine/tiny_model.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

using chimera::testing::TempDir;
using chimera::testing::TinyModelSpec;
using ::testing::HasSubstr;

class ContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    TinyModelSpec spec;  // gemma3 with sliding layers (window 8) and GQA
    spec.type = GgmlType::kF16;
    model_ = new std::shared_ptr<const Model>(write_and_load_tiny_model(spec, dir_->file("m.gguf")));
    ASSERT_NE(*model_, nullptr);
  }
  static void TearDownTestSuite() {
    delete model_;
    delete dir_;
  }
  static std::unique_ptr<Context> make(int n_seq, int n_batch) {
    ContextOptions o;
    o.n_seq_max = n_seq;
    o.n_ctx_per_seq = 64;
    o.n_batch = n_batch;
    o.num_thread = 2;
    auto c = Context::create(*model_, o);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return std::move(*c);
  }
  static int n_vocab() { return (*model_)->config().n_vocab; }
  static std::vector<int32_t> tokens(int n, int salt) {
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) out.push_back(5 + (i * 37 + salt * 101) % (n_vocab() - 5));
    return out;
  }
  static inline TempDir* dir_ = nullptr;
  static inline std::shared_ptr<const Model>* model_ = nullptr;
};

double max_relative_diff(const float* a, const float* b, int n) {
  double diff = 0.0, scale = 0.0;
  for (int i = 0; i < n; ++i) {
    diff = std::max(diff, static_cast<double>(std::abs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::abs(b[i])));
  }
  return diff / scale;
}

TEST_F(ContextTest, SequencesDecodedTogetherMatchEachDecodedAlone) {
  // Three prompts of different lengths (longer than the window), then 6 decode steps each.
  const std::vector<std::vector<int32_t>> prompts = {tokens(12, 1), tokens(20, 2), tokens(5, 3)};
  const int steps = 6;
  const int V = n_vocab();
  // Alone: each sequence in its own one-slot context, prompt then one token per step (its own
  // argmax).
  std::vector<std::vector<std::vector<float>>> alone(3);
  std::vector<std::vector<int32_t>> generated(3);
  for (size_t s = 0; s < 3; ++s) {
    auto ctx = make(1, 8);
    std::vector<float> logits(static_cast<size_t>(V));
    const auto& p = prompts[s];
    for (size_t begin = 0; begin < p.size(); begin += 8) {
      std::vector<BatchToken> batch;
      for (size_t i = begin; i < std::min(p.size(), begin + 8); ++i) {
        batch.push_back({p[i], 0, static_cast<int32_t>(i), i + 1 == p.size()});
      }
      ASSERT_TRUE(ctx->decode(batch, logits.data()).is_ok());
    }
    alone[s].push_back(logits);
    for (int step = 0; step < steps; ++step) {
      int32_t next =
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      generated[s].push_back(next);
      BatchToken t{next, 0, static_cast<int32_t>(p.size()) + step, true};
      ASSERT_TRUE(ctx->decode(std::span<const BatchToken>(&t, 1), logits.data()).is_ok());
      alone[s].push_back(logits);
    }
  }
  // Together: one 3-slot context; prompts interleaved token by token in batches of 8, then one
  // batch per step carrying one token of each sequence.
  auto ctx = make(3, 8);
  std::vector<BatchToken> all;
  size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.size());
  for (size_t i = 0; i < longest; ++i) {
    for (int32_t s = 0; s < 3; ++s) {
      const auto& p = prompts[static_cast<size_t>(s)];
      if (i < p.size()) all.push_back({p[i], s, static_cast<int32_t>(i), i + 1 == p.size()});
    }
  }
  std::vector<float> logits(3 * static_cast<size_t>(V));
  for (size_t begin = 0; begin < all.size(); begin += 8) {
    std::vector<BatchToken> batch(
        all.begin() + static_cast<ptrdiff_t>(begin),
        all.begin() + static_cast<ptrdiff_t>(std::min(all.size(), begin + 8)));
    int wanted = 0;
    for (const auto& t : batch) wanted += t.want_logits;
    std::vector<float> out(static_cast<size_t>(std::max(wanted, 1) * V));
    ASSERT_TRUE(ctx->decode(batch, out.data()).is_ok());
    int row = 0;
    for (const auto& t : batch) {
      if (!t.want_logits) continue;
      EXPECT_LT(max_relative_diff(&out[static_cast<size_t>(row * V)],
                                  alone[static_cast<size_t>(t.seq)][0].data(), V),
                1e-4)
          << "prompt logits of sequence " << t.seq;
      ++row;
    }
  }
  for (int step = 0; step < steps; ++step) {
    std::vector<BatchToken> batch;
    for (int32_t s = 0; s < 3; ++s) {
      batch.push_back({generated[static_cast<size_t>(s)][static_cast<size_t>(step)], s,
                       static_cast<int32_t>(prompts[static_cast<size_t>(s)].size()) + step, true});
    }
    ASSERT_TRUE(ctx->decode(batch, logits.data()).is_ok());
    for (size_t s = 0; s < 3; ++s) {
      EXPECT_LT(max_relative_diff(&logits[s * static_cast<size_t>(V)],
                                  alone[s][static_cast<size_t>(step) + 1].data(), V),
                1e-4)
          << "sequence " << s << " step " << step;
    }
  }
}

TEST_F(ContextTest, AClearedSequenceStartsAfreshWhileOthersKeepTheirState) {
  auto ctx = make(2, 16);
  const int V = n_vocab();
  auto prefill = [&](int32_t seq, const std::vector<int32_t>& p, std::vector<float>& out) {
    std::vector<BatchToken> batch;
    for (size_t i = 0; i < p.size(); ++i)
      batch.push_back({p[i], seq, static_cast<int32_t>(i), i + 1 == p.size()});
    return ctx->decode(batch, out.data());
  };
  std::vector<float> first(static_cast<size_t>(V)), again(static_cast<size_t>(V)),
      other(static_cast<size_t>(V));
  ASSERT_TRUE(prefill(0, tokens(10, 4), first).is_ok());
  ASSERT_TRUE(prefill(1, tokens(10, 5), other).is_ok());
  ctx->clear_sequence(0);
  ASSERT_TRUE(prefill(0, tokens(10, 4), again).is_ok());
  EXPECT_LT(max_relative_diff(again.data(), first.data(), V), 1e-6);
  // Sequence 1 continues at position 10, which it could not if the clear had touched it.
  BatchToken t{7, 1, 10, true};
  EXPECT_TRUE(ctx->decode(std::span<const BatchToken>(&t, 1), other.data()).is_ok());
}

TEST_F(ContextTest, MalformedBatchesAreRefused) {
  auto ctx = make(2, 4);
  std::vector<float> logits(static_cast<size_t>(4 * n_vocab()));
  auto decode = [&](std::vector<BatchToken> batch) { return ctx->decode(batch, logits.data()); };

  Status skip = decode({{5, 0, 1, true}});  // sequence 0 is empty: position 0 comes first
  EXPECT_EQ(skip.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(skip.message(), HasSubstr("expects position 0"));

  EXPECT_EQ(decode({{5, 2, 0, true}}).code(), ErrorCode::kInvalidArgument);  // no slot 2
  EXPECT_EQ(decode({{n_vocab(), 0, 0, true}}).code(),
            ErrorCode::kInvalidArgument);  // id out of range
  EXPECT_EQ(
      decode(
          {{5, 0, 0, false}, {5, 0, 1, false}, {5, 0, 2, false}, {5, 0, 3, false}, {5, 0, 4, true}})
          .code(),
      ErrorCode::kInvalidArgument);  // more than n_batch
  EXPECT_EQ(ctx->decode(std::vector<BatchToken>{{5, 0, 0, true}}, nullptr).code(),
            ErrorCode::kInvalidArgument);
  // Nothing was written by the refused batches: sequence 0 still starts at 0.
  EXPECT_TRUE(decode({{5, 0, 0, true}}).is_ok());
}

TEST_F(ContextTest, AFullSequenceSaysSo) {
  ContextOptions o;
  o.n_ctx_per_seq = 4;
  o.n_batch = 4;
  auto ctx = Context::create(*model_, o);
  ASSERT_TRUE(ctx.ok());
  std::vector<float> logits(static_cast<size_t>(n_vocab()));
  std::vector<BatchToken> four = {
      {5, 0, 0, false}, {6, 0, 1, false}, {7, 0, 2, false}, {8, 0, 3, true}};
  ASSERT_TRUE((*ctx)->decode(four, logits.data()).is_ok());
  BatchToken fifth{9, 0, 4, true};
  Status s = (*ctx)->decode(std::span<const BatchToken>(&fifth, 1), logits.data());
  EXPECT_EQ(s.code(), ErrorCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("num_ctx 4"));
}

}  // namespace
}  // namespace chimera::engine
