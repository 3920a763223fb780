// Session::generate as the CLI and EmbeddedBackend use it: prompt rendering, the context check (an
// error or reported truncation, never silent), num_predict, stop strings, end-of-generation tokens,
// ignore_eos, cancellation, timings and prompt logits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/engine.h"
#include "engine/model/model_config.h"
#include "engine/tiny_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "support/test_support.h"
#include "util/strings.h"

namespace chimera::engine {
namespace {

using chimera::testing::TempDir;
using chimera::testing::TinyModelSpec;
using ::testing::HasSubstr;

// An untied LM head keeps the tiny model from simply repeating its input token (a tied head scores
// the token whose embedding dominates the residual), so sampled continuations vary.
TinyModelSpec suite_spec() {
  TinyModelSpec spec;
  spec.untied_output = true;
  return spec;
}

class SessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    model_ = new std::shared_ptr<const Model>(write_and_load_tiny_model(suite_spec(), dir_->file("m.gguf")));
    ASSERT_NE(*model_, nullptr);
  }
  static void TearDownTestSuite() {
    delete model_;
    delete dir_;
  }
  static std::unique_ptr<Session> make(int num_ctx = 64, int num_batch = 16) {
    SessionOptions o;
    o.num_ctx = num_ctx;
    o.num_batch = num_batch;
    o.num_thread = 2;
    auto s = Session::create(*model_, o);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return std::move(*s);
  }
  static GenerateRequest greedy(int num_predict) {
    GenerateRequest r;
    r.prompt = "hello world";
    r.sampling.temperature = 0.0f;
    r.num_predict = num_predict;
    r.ignore_eos = true;
    return r;
  }
  static inline TempDir* dir_ = nullptr;
  static inline std::shared_ptr<const Model>* model_ = nullptr;
};

TEST_F(SessionTest, PromptIsRenderedWithTheChatTemplateUnlessRaw) {
  auto session = make();
  const Tokenizer& tok = (*model_)->tokenizer();
  GenerateRequest r;
  r.prompt = "hello";
  auto templated = session->render_prompt(r);
  ASSERT_TRUE(templated.ok());
  const int32_t start_of_turn = *tok.find_token("<start_of_turn>");
  EXPECT_EQ(templated->front(), tok.bos_id());
  EXPECT_EQ(std::count(templated->begin(), templated->end(), start_of_turn),
            2);  // user turn + model turn
  r.raw = true;
  auto raw = session->render_prompt(r);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->front(), tok.bos_id());
  EXPECT_EQ(std::count(raw->begin(), raw->end(), start_of_turn), 0);
  EXPECT_EQ(tok.decode(*raw), "hello");
  r.prompt_tokens = {5, 6, 7};
  EXPECT_EQ(session->render_prompt(r).status().code(), ErrorCode::kInvalidArgument);  // two sources
  r.prompt.clear();
  EXPECT_EQ(*session->render_prompt(r), (std::vector<int32_t>{5, 6, 7}));
}

TEST_F(SessionTest, NumPredictBoundsTheTokensAndEventsCarryTheText) {
  auto session = make();
  std::vector<TokenEvent> events;
  std::string streamed;
  auto result = session->generate(greedy(7), [&](const TokenEvent& e) {
    events.push_back(e);
    streamed += std::string(e.text);
    return true;
  });
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(result->tokens.size(), 7u);
  EXPECT_EQ(result->done_reason, "length");
  ASSERT_EQ(events.size(), 7u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].index, static_cast<int32_t>(i));
    EXPECT_EQ(events[i].token, result->tokens[i]);
    if (i > 0) {
      EXPECT_GE(events[i].time_ns, events[i - 1].time_ns);
    }
  }
  EXPECT_EQ(streamed, result->text);
  EXPECT_TRUE(
      is_valid_utf8(result->text));  // random tokens include lone bytes: replaced, never passed on
  const std::string decoded = (*model_)->tokenizer().decode(result->tokens);
  if (is_valid_utf8(decoded)) {
    EXPECT_EQ(result->text, decoded);
  }
}

TEST_F(SessionTest, TimingsFollowOllamasFields) {
  auto session = make();
  auto first = session->generate(greedy(5), {});
  ASSERT_TRUE(first.ok());
  const Timings& t = first->timings;
  EXPECT_EQ(t.prompt_eval_count, first->prompt_tokens);
  EXPECT_EQ(t.eval_count, 5);
  EXPECT_GT(t.prompt_eval_ns, 0);
  EXPECT_GT(t.eval_ns, 0);
  EXPECT_GT(t.load_ns, 0);  // the first call of a session pays the load
  EXPECT_GE(t.total_ns, t.load_ns + t.prompt_eval_ns + t.eval_ns);
  auto second = session->generate(greedy(5), {});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->timings.load_ns, 0);
  EXPECT_EQ(second->tokens, first->tokens);  // each call starts afresh
}

TEST_F(SessionTest, APromptLongerThanTheContextIsAnErrorOrReportedTruncation) {
  auto session = make(/*num_ctx=*/16);
  GenerateRequest r = greedy(4);
  r.prompt_tokens.clear();
  for (int i = 0; i < 40; ++i) r.prompt_tokens.push_back(10 + i);
  r.prompt.clear();
  auto refused = session->generate(r, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kOutOfRange);
  EXPECT_THAT(refused.status().message(), HasSubstr("40 tokens"));
  EXPECT_THAT(refused.status().message(), HasSubstr("num_ctx is 16"));

  r.truncate_prompt = true;
  auto truncated = session->generate(r, {});
  ASSERT_TRUE(truncated.ok()) << truncated.status().to_string();
  EXPECT_TRUE(truncated->prompt_truncated);
  EXPECT_EQ(truncated->prompt_tokens + truncated->prompt_tokens_dropped, 40);
  EXPECT_EQ(truncated->prompt_tokens, 12);  // room kept for num_predict 4
  EXPECT_EQ(truncated->tokens.size(), 4u);
}

TEST_F(SessionTest, GenerationStopsWhenTheContextIsFull) {
  auto session = make(/*num_ctx=*/24);
  GenerateRequest r = greedy(-1);
  r.prompt_tokens = {2, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  r.prompt.clear();
  auto result = session->generate(r, {});
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  // 10 prompt tokens + 14 decoded = 24 cells; the 15th sampled token needs no cell.
  EXPECT_EQ(result->tokens.size(), 15u);
  EXPECT_EQ(result->done_reason, "length");
}

TEST_F(SessionTest, AStopStringEndsGenerationAndIsCutFromTheText) {
  auto session = make();
  auto full = session->generate(greedy(24), {});
  ASSERT_TRUE(full.ok());
  // Use a piece of the greedy output as the stop string: generation must end exactly before it.
  const std::string text = full->text;
  ASSERT_GE(text.size(), 8u);
  const std::string stop = text.substr(text.size() / 2, 3);
  GenerateRequest r = greedy(24);
  r.stop = {stop};
  std::string streamed;
  auto cut = session->generate(r, [&](const TokenEvent& e) {
    streamed += std::string(e.text);
    return true;
  });
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->done_reason, "stop");
  EXPECT_EQ(cut->text, text.substr(0, text.find(stop)));
  EXPECT_EQ(streamed, cut->text);
}

TEST_F(SessionTest, AnEndOfGenerationTokenStopsUnlessIgnored) {
  // The same weights with the first greedy token declared EOS: generation ends there.
  auto session = make();
  auto reference = session->generate(greedy(4), {});
  ASSERT_TRUE(reference.ok());
  const int32_t first = reference->tokens[0];
  TempDir dir;
  TinyModelSpec spec = suite_spec();
  spec.edit_vocab = [&](VocabData& v) { v.eos_ids.push_back(first); };
  ASSERT_TRUE(write_tiny_model(spec, dir.file("eos.gguf")).is_ok());
  auto model = Model::load(dir.file("eos.gguf"));
  ASSERT_TRUE(model.ok());
  SessionOptions o;
  o.num_ctx = 64;
  auto eos_session = Session::create(*model, o);
  ASSERT_TRUE(eos_session.ok());
  GenerateRequest r = greedy(4);
  r.ignore_eos = false;
  auto stopped = (*eos_session)->generate(r, {});
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->done_reason, "stop");
  EXPECT_EQ(stopped->tokens, std::vector<int32_t>{first});
  EXPECT_EQ(stopped->text, "");
  r.ignore_eos = true;
  auto ignored = (*eos_session)->generate(r, {});
  ASSERT_TRUE(ignored.ok());
  EXPECT_EQ(ignored->tokens, reference->tokens);
  EXPECT_EQ(ignored->done_reason, "length");
}

TEST_F(SessionTest, ReturningFalseFromTheCallbackCancels) {
  auto session = make();
  int calls = 0;
  auto result = session->generate(greedy(20), [&](const TokenEvent&) { return ++calls < 3; });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->done_reason, "cancelled");
  EXPECT_EQ(result->tokens.size(), 3u);
  GenerateRequest r = greedy(20);
  r.cancelled = [] { return true; };
  auto before = session->generate(r, {});
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->done_reason, "cancelled");
  EXPECT_TRUE(before->tokens.empty());
}

TEST_F(SessionTest, SeededSamplingRepeats) {
  auto session = make();
  GenerateRequest r = greedy(12);
  r.sampling.temperature = 1.0f;
  r.sampling.top_k = 0;
  r.sampling.seed = 1234;
  auto a = session->generate(r, {});
  auto b = session->generate(r, {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
  r.sampling.seed = 99;
  auto c = session->generate(r, {});
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->tokens, c->tokens);
}

TEST_F(SessionTest, PromptLogitsCoverEveryPosition) {
  auto session = make(64, /*num_batch=*/4);
  GenerateRequest r = greedy(1);
  std::vector<float> logits;
  r.prompt_logits = &logits;
  auto result = session->generate(r, {});
  ASSERT_TRUE(result.ok());
  const size_t V = static_cast<size_t>((*model_)->config().n_vocab);
  ASSERT_EQ(logits.size(), static_cast<size_t>(result->prompt_tokens) * V);
  // The greedy token is the argmax of the last row; every row holds real values.
  auto last = logits.begin() + static_cast<ptrdiff_t>((result->prompt_tokens - 1) * V);
  EXPECT_EQ(std::max_element(last, logits.end()) - last, result->tokens[0]);
  for (int32_t t = 0; t < result->prompt_tokens; ++t) {
    auto row = logits.begin() + static_cast<ptrdiff_t>(t * V);
    EXPECT_NE(*std::max_element(row, row + static_cast<ptrdiff_t>(V)), 0.0f) << "row " << t;
  }
}

TEST_F(SessionTest, BadOptionsAreRefused) {
  SessionOptions o;
  o.num_ctx = 0;
  EXPECT_EQ(Session::create(*model_, o).status().code(), ErrorCode::kInvalidArgument);
  o.num_ctx = 64;
  o.num_batch = -1;
  EXPECT_EQ(Session::create(*model_, o).status().code(), ErrorCode::kInvalidArgument);
  GenerateRequest empty;
  auto session = make();
  EXPECT_EQ(session->generate(empty, {}).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace chimera::engine
