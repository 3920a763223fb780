// Prompt caching: a sequence that starts from a cached prefix computes what it would have computed
// from scratch (bit for bit when its batches are the same; within a stated tolerance when they are
// split differently), the cache never holds more than its budget, evicts the least recently used
// prefixes first, never evicts what running sequences hang from, and Session reuses the previous
// call's prompt and answer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "engine/engine.h"
#include "engine/model/model_config.h"
#include "engine/tiny_model.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

using chimera::testing::TempDir;
using chimera::testing::TinyModelSpec;
using ::testing::HasSubstr;

constexpr int kWindow = 8;  // the tiny model's sliding window, so blocks are 8 positions

class PromptCacheTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    TinyModelSpec spec;  // gemma3: sliding layers (window 8) and global ones, GQA
    spec.type = GgmlType::kF16;
    spec.sliding_window = kWindow;
    model_ = new std::shared_ptr<const Model>(write_and_load_tiny_model(spec, dir_->file("m.gguf")));
    ASSERT_NE(*model_, nullptr);
  }
  static void TearDownTestSuite() {
    delete model_;
    delete dir_;
  }
  static const std::shared_ptr<const Model>& model() { return *model_; }
  static int n_vocab() { return model()->config().n_vocab; }

  static std::shared_ptr<PromptCache> cache(int64_t max_bytes, GgmlType kv = GgmlType::kF16) {
    PromptCacheOptions o;
    o.max_bytes = max_bytes;
    auto c = PromptCache::create(model(), kv, o);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? *c : nullptr;
  }
  static std::unique_ptr<Context> context(std::shared_ptr<PromptCache> cache, int n_batch,
                                          GgmlType kv = GgmlType::kF16, int n_seq = 1) {
    ContextOptions o;
    o.n_seq_max = n_seq;
    o.n_ctx_per_seq = 160;
    o.n_batch = n_batch;
    o.num_thread = 2;
    o.kv_type = kv;
    o.prompt_cache = std::move(cache);
    auto c = Context::create(model(), o);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? std::move(*c) : nullptr;
  }
  static std::vector<int32_t> tokens(int n, int salt) {
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i)
      out.push_back(5 + (i * 37 + salt * 101 + i * i * salt) % (n_vocab() - 5));
    return out;
  }
  static std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  // Decodes tokens[from..] into `seq` in batches that start at multiples of n_batch counted from
  // `from`, logits for every position, then `steps` greedy decode steps; returns every logits row.
  static std::vector<float> run(Context& ctx, const std::vector<int32_t>& tokens, int32_t from,
                                int steps, int32_t seq = 0) {
    const int n_batch = ctx.options().n_batch;
    const size_t V = static_cast<size_t>(n_vocab());
    std::vector<float> out;
    std::vector<float> rows;
    for (int32_t begin = from; begin < static_cast<int32_t>(tokens.size()); begin += n_batch) {
      std::vector<BatchToken> batch;
      for (int32_t p = begin;
           p < std::min<int32_t>(static_cast<int32_t>(tokens.size()), begin + n_batch); ++p) {
        batch.push_back({tokens[static_cast<size_t>(p)], seq, p, true});
      }
      rows.resize(batch.size() * V);
      EXPECT_TRUE(ctx.decode(batch, rows.data()).is_ok());
      out.insert(out.end(), rows.begin(), rows.end());
    }
    int32_t pos = static_cast<int32_t>(tokens.size());
    for (int s = 0; s < steps; ++s, ++pos) {
      const float* last = out.data() + out.size() - V;
      const auto next = static_cast<int32_t>(std::max_element(last, last + V) - last);
      BatchToken t{next, seq, pos, true};
      rows.resize(V);
      EXPECT_TRUE(ctx.decode(std::span<const BatchToken>(&t, 1), rows.data()).is_ok());
      out.insert(out.end(), rows.begin(), rows.end());
    }
    return out;
  }

  static inline TempDir* dir_ = nullptr;
  static inline std::shared_ptr<const Model>* model_ = nullptr;
};

double max_relative_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::abs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::abs(b[i])));
  }
  return diff / scale;
}

class PromptCacheKvTest : public PromptCacheTest, public ::testing::WithParamInterface<GgmlType> {};

// The computation is the same with and without the cache when the restored prefix ends where a
// fresh run's batch would begin: the same batches reach the same kernels, so every logit of the
// tail and of the decode steps after it must be the same bits.
TEST_P(PromptCacheKvTest, ARestoredPrefixGivesTheSameLogitsBitForBit) {
  const GgmlType kv = GetParam();
  const std::vector<int32_t> prefix = tokens(40, 1);  // 5 blocks, 5 sliding windows
  const std::vector<int32_t> first = concat(prefix, tokens(13, 2));
  std::vector<int32_t> tail = tokens(19, 3);
  ASSERT_NE(tail[0], first[40]);
  const std::vector<int32_t> second = concat(prefix, tail);

  auto shared = cache(int64_t{64} << 20, kv);
  auto cached = context(shared, kWindow, kv);
  run(*cached, first, 0, 4);
  cached->clear_sequence(0);
  const int32_t restored = cached->restore_prefix(0, second);
  ASSERT_EQ(restored, 40) << "the five blocks of the shared prefix";
  const std::vector<float> with_cache = run(*cached, second, restored, 6);

  auto fresh = context(nullptr, kWindow, kv);
  std::vector<float> without = run(*fresh, second, 0, 6);
  const size_t V = static_cast<size_t>(n_vocab());
  without.erase(without.begin(), without.begin() + static_cast<std::ptrdiff_t>(40 * V));
  ASSERT_EQ(with_cache.size(), without.size());
  EXPECT_EQ(std::memcmp(with_cache.data(), without.data(), without.size() * sizeof(float)), 0)
      << "max relative difference " << max_relative_diff(with_cache, without);
  EXPECT_EQ(shared->stats().restored_tokens, 40);
}

INSTANTIATE_TEST_SUITE_P(KvTypes, PromptCacheKvTest,
                         ::testing::Values(GgmlType::kF16, GgmlType::kQ8_0),
                         [](const auto& info) { return std::string(ggml_type_name(info.param)); });

// A prefix that ends inside a block (the partial match of a longer block, or a finished sequence's
// tail) is restored too; the tokens after it then fall into other batches than a fresh run's, and
// row-blocked kernels may sum in another order (measured here: 1.8e-5 of the largest logit): equal
// within 1e-4 of it, the bound the batched and single-sequence paths are held to
// (context_test.cpp).
TEST_F(PromptCacheTest, APrefixEndingInsideABlockIsRestoredAndAgrees) {
  const std::vector<int32_t> first = tokens(53, 4);
  std::vector<int32_t> second(first.begin(), first.begin() + 43);  // 5 blocks and 3 tokens
  second = concat(second, tokens(11, 5));
  ASSERT_NE(second[43], first[43]);

  auto shared = cache(int64_t{64} << 20);
  auto cached = context(shared, 16);
  run(*cached, first, 0, 2);
  cached->clear_sequence(0);
  run(*cached, tokens(30, 6), 0, 0);  // another sequence overwrites the slot's rings
  cached->clear_sequence(0);
  const int32_t restored = cached->restore_prefix(0, second);
  ASSERT_EQ(restored, 43);
  const std::vector<float> with_cache = run(*cached, second, restored, 6);

  auto fresh = context(nullptr, 16);
  std::vector<float> without = run(*fresh, second, 0, 6);
  const size_t V = static_cast<size_t>(n_vocab());
  without.erase(without.begin(), without.begin() + static_cast<std::ptrdiff_t>(43 * V));
  EXPECT_LT(max_relative_diff(with_cache, without), 1e-4);
}

TEST_F(PromptCacheTest, TheLastPromptTokenIsAlwaysComputedAndFinishedTailsAreKept) {
  auto shared = cache(int64_t{64} << 20);
  auto ctx = context(shared, 16);
  const std::vector<int32_t> prompt = tokens(21, 6);  // 2 blocks and a tail of 5
  run(*ctx, prompt, 0, 0);
  ctx->clear_sequence(0);  // the tail goes to the cache now
  EXPECT_EQ(shared->stats().blocks, 3);
  // The same prompt again: everything but its last token comes from the cache.
  EXPECT_EQ(ctx->restore_prefix(0, prompt), 20);
  ctx->clear_sequence(0);
  // A longer one reuses all 21 positions; a one-token prompt reuses nothing.
  EXPECT_EQ(ctx->restore_prefix(0, concat(prompt, tokens(4, 7))), 21);
  ctx->clear_sequence(0);
  EXPECT_EQ(ctx->restore_prefix(0, std::vector<int32_t>{prompt[0]}), 0);
  // Without a cache nothing is restored.
  auto plain = context(nullptr, 16);
  EXPECT_EQ(plain->restore_prefix(0, prompt), 0);
}

TEST_F(PromptCacheTest, EvictsTheLeastRecentlyUsedPrefixFirstAndNeverExceedsItsBudget) {
  auto probe = cache(int64_t{1} << 30);
  auto ctx = context(probe, 16);
  run(*ctx, tokens(16, 8), 0, 0);
  ctx->clear_sequence(0);
  const int64_t per_block = probe->stats().bytes / 2;  // two blocks of 8
  ASSERT_GT(per_block, 0);

  // Room for 6 blocks: three prompts of 2 blocks fill it.
  auto shared = cache(6 * per_block);
  ctx = context(shared, 16);
  const std::vector<int32_t> a = tokens(16, 9), b = tokens(16, 10), c = tokens(16, 11),
                             d = tokens(16, 12);
  for (const auto& p : {a, b, c}) {
    run(*ctx, p, 0, 0);
    ctx->clear_sequence(0);
  }
  EXPECT_EQ(shared->stats().blocks, 6);
  EXPECT_EQ(shared->stats().evicted_blocks, 0);
  // a is used again, so b is now the least recently used; d's two blocks push b's out.
  EXPECT_EQ(ctx->restore_prefix(0, concat(a, {7})), 16);
  ctx->clear_sequence(0);
  run(*ctx, d, 0, 0);
  ctx->clear_sequence(0);
  const PromptCacheStats s = shared->stats();
  EXPECT_EQ(s.evicted_blocks, 2);
  EXPECT_LE(s.bytes, s.max_bytes);
  EXPECT_LE(s.peak_bytes, s.max_bytes);
  EXPECT_EQ(ctx->restore_prefix(0, concat(b, {7})), 0) << "b was the least recently used";
  ctx->clear_sequence(0);
  for (const auto& p : {a, c, d}) {
    EXPECT_EQ(ctx->restore_prefix(0, concat(p, {7})), 16);
    ctx->clear_sequence(0);
  }
  // A smaller budget evicts down to it.
  shared->set_max_bytes(2 * per_block);
  EXPECT_LE(shared->stats().bytes, 2 * per_block);
}

TEST_F(PromptCacheTest, BlocksRunningSequencesHangFromAreNotEvicted) {
  auto probe = cache(int64_t{1} << 30);
  auto ctx = context(probe, 8);
  run(*ctx, tokens(8, 13), 0, 0);
  const int64_t per_block = probe->stats().bytes;
  ctx->clear_sequence(0);

  // Room for two blocks and two sequences running: each pins its chain, so the second sequence's
  // second block finds no room and is skipped, and the first sequence keeps its blocks.
  auto shared = cache(2 * per_block);
  ctx = context(shared, 8, GgmlType::kF16, 2);
  const std::vector<int32_t> a = tokens(16, 14), b = tokens(8, 15);
  run(*ctx, std::vector<int32_t>(a.begin(), a.begin() + 8), 0, 0, 0);
  run(*ctx, b, 0, 0, 1);
  run(*ctx, a, 8, 0, 0);  // sequence 0 goes on
  EXPECT_EQ(shared->stats().blocks, 2);
  EXPECT_EQ(shared->stats().skipped_blocks, 1) << "a's second block: a's first was pinned";
  EXPECT_LE(shared->stats().peak_bytes, 2 * per_block);
  ctx->clear_sequence(0);
  ctx->clear_sequence(1);
  EXPECT_EQ(ctx->restore_prefix(0, concat(std::vector<int32_t>(a.begin(), a.begin() + 8), {7})), 8);
}

TEST_F(PromptCacheTest, TheBudgetHoldsOverTwoHundredSequencesWithRandomPrefixes) {
  auto probe = cache(int64_t{1} << 30);
  auto ctx = context(probe, 16);
  run(*ctx, tokens(8, 16), 0, 0);
  ctx->clear_sequence(0);
  const int64_t per_block = probe->stats().bytes;
  // Four sequences at once over a cache of 24 blocks: prefixes are drawn from a small pool so some
  // hit, tails are random so the cache keeps filling and evicting.
  const int64_t budget = 24 * per_block;
  auto shared = cache(budget);
  ctx = context(shared, 16, GgmlType::kF16, 4);
  auto fresh = context(nullptr, 16);
  std::mt19937 rng(7);
  std::vector<std::vector<int32_t>> pool;
  for (int i = 0; i < 6; ++i) pool.push_back(tokens(8 + 8 * (i % 4) + i, 20 + i));
  int64_t hits = 0;
  for (int i = 0; i < 200; ++i) {
    const int32_t seq = i % 4;
    std::vector<int32_t> prompt = pool[rng() % pool.size()];
    const int extra = 1 + static_cast<int>(rng() % 20);
    for (int k = 0; k < extra; ++k)
      prompt.push_back(5 + static_cast<int32_t>(rng() % static_cast<uint32_t>(n_vocab() - 5)));
    const int32_t restored = ctx->restore_prefix(seq, prompt);
    hits += restored > 0;
    const std::vector<float> got = run(*ctx, prompt, restored, 3, seq);
    if (i % 20 == 0) {  // every tenth sequence against the same prompt computed from scratch
      std::vector<float> want = run(*fresh, prompt, 0, 3);
      fresh->clear_sequence(0);
      want.erase(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(restored) * n_vocab());
      EXPECT_LT(max_relative_diff(got, want), 1e-4) << "sequence " << i;
    }
    if (seq == 3) {
      for (int32_t s = 0; s < 4; ++s) ctx->clear_sequence(s);
    }
    const PromptCacheStats s = shared->stats();
    ASSERT_LE(s.bytes, budget) << "after sequence " << i;
  }
  const PromptCacheStats s = shared->stats();
  EXPECT_LE(s.peak_bytes, budget);
  EXPECT_GT(s.evicted_blocks, 0);
  EXPECT_GT(hits, 50);
}

TEST_F(PromptCacheTest, SessionReusesThePreviousCallsPromptAndAnswer) {
  SessionOptions o;
  o.num_ctx = 256;
  o.num_batch = 32;
  o.num_thread = 2;
  o.prompt_cache = cache(int64_t{64} << 20);
  auto session = Session::create(model(), o);
  ASSERT_TRUE(session.ok());
  SessionOptions plain_options = o;
  plain_options.prompt_cache = nullptr;
  auto plain = Session::create(model(), plain_options);
  ASSERT_TRUE(plain.ok());

  GenerateRequest request;
  request.prompt_tokens = tokens(70, 17);
  request.sampling.temperature = 0.0f;
  request.num_predict = 12;
  request.ignore_eos = true;
  auto first = (*session)->generate(request, {});
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(first->prompt_cached_tokens, 0);
  EXPECT_EQ(first->timings.prompt_eval_count, 70);

  // The next turn: the previous prompt, its answer, and more.
  GenerateRequest next = request;
  next.prompt_tokens = concat(concat(request.prompt_tokens, first->tokens), tokens(9, 18));
  auto second = (*session)->generate(next, {});
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  // Everything the first call decoded is cached: its prompt and all but its last answer token.
  EXPECT_EQ(second->prompt_cached_tokens, 70 + 11);
  EXPECT_EQ(second->timings.prompt_eval_count,
            second->prompt_tokens - second->prompt_cached_tokens);
  auto reference = (*plain)->generate(next, {});
  ASSERT_TRUE(reference.ok());
  EXPECT_EQ(reference->prompt_cached_tokens, 0);
  EXPECT_EQ(second->tokens, reference->tokens);
}

TEST_F(PromptCacheTest, AContextRefusesACacheOfAnotherKvType) {
  ContextOptions o;
  o.n_ctx_per_seq = 64;
  o.kv_type = GgmlType::kQ8_0;
  o.prompt_cache = cache(1 << 20, GgmlType::kF16);
  auto ctx = Context::create(model(), o);
  ASSERT_FALSE(ctx.ok());
  EXPECT_THAT(ctx.status().message(), HasSubstr("prompt cache"));
  EXPECT_FALSE(PromptCache::create(model(), GgmlType::kQ4_0, {}).ok());
}

}  // namespace
}  // namespace chimera::engine
