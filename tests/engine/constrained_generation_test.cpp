// Session::generate with a grammar, on a tiny model with random weights (its unconstrained text is
// noise): every seed at temperature 1, and every sampler setting, gives text that validates against
// the schema under Python's jsonschema; a token limit that would cut the JSON closes it in time.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/grammar/grammar_mask.h"
#include "engine/grammar/json_schema_compiler.h"
#include "engine/tiny_model.h"
#include "support/json_schema_check.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

using chimera::testing::TempDir;

const char* kSchema = R"({"type":"object","properties":{
  "title":{"type":"string","maxLength":40},
  "findings":{"type":"array","items":{"type":"object","properties":{"fact":{"type":"integer","minimum":1,"maximum":99},
     "claim":{"type":"string"}},"required":["fact","claim"],"additionalProperties":false},"minItems":1,"maxItems":3},
  "confidence":{"enum":["low","medium","high"]},"score":{"type":"number"},"draft":{"type":"boolean"},
  "note":{"type":["string","null"]}},
  "required":["title","findings","confidence"],"additionalProperties":false})";

class ConstrainedGeneration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    testing::TinyModelSpec spec;
    spec.untied_output = true;
    model_ = new std::shared_ptr<const Model>(write_and_load_tiny_model(spec, dir_->file("m.gguf")));
    ASSERT_NE(*model_, nullptr);
  }
  static void TearDownTestSuite() {
    delete model_;
    delete dir_;
  }
  static GenerateResult generate(const std::shared_ptr<const Grammar>& grammar,
                                 SamplingOptions sampling, int num_predict, int num_ctx = 1024) {
    SessionOptions o;
    o.num_ctx = num_ctx;
    o.num_thread = 2;
    auto session = Session::create(*model_, o);
    EXPECT_TRUE(session.ok());
    GenerateRequest r;
    r.prompt = "Write the report as JSON.";
    r.sampling = sampling;
    r.num_predict = num_predict;
    r.grammar = grammar;
    auto result = (*session)->generate(r, {});
    EXPECT_TRUE(result.ok()) << result.status().message();
    return result.ok() ? *result : GenerateResult();
  }
  static void expect_valid(const std::string& schema, const std::vector<std::string>& texts) {
    testing::SchemaCheck check = testing::check_against_schema(schema, texts);
    if (!check.available) GTEST_SKIP() << "no independent validator: " << check.unavailable_reason;
    for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(check.errors[i], "") << texts[i];
  }
  static TempDir* dir_;
  static std::shared_ptr<const Model>* model_;
};
TempDir* ConstrainedGeneration::dir_ = nullptr;
std::shared_ptr<const Model>* ConstrainedGeneration::model_ = nullptr;

TEST_F(ConstrainedGeneration, TwentySeedsAtTemperatureOneAllValidateAgainstTheSchema) {
  auto grammar = compile_json_schema(kSchema);
  ASSERT_TRUE(grammar.ok()) << grammar.status().message();
  std::vector<std::string> texts;
  int ended_early = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SamplingOptions s;
    s.temperature = 1.0f;
    s.top_k = 0;
    s.top_p = 1.0f;
    s.seed = seed;
    GenerateResult r = generate(*grammar, s, 200);
    EXPECT_LE(r.tokens.size(), 200u);
    ended_early += r.tokens.size() < 200u;
    // Ended by the model or closed in time by the budget: a complete document either way.
    EXPECT_EQ(r.done_reason, "stop") << r.text;
    texts.push_back(r.text);
  }
  std::printf("[ info     ] %d of 20 ended before num_predict, the rest were closed within it\n",
              ended_early);
  expect_valid(kSchema, texts);
}

TEST_F(ConstrainedGeneration, EverySamplerSettingStaysInsideTheGrammar) {
  auto grammar = compile_json_schema(kSchema);
  ASSERT_TRUE(grammar.ok());
  std::vector<SamplingOptions> settings(6);
  settings[0].temperature = 0.0f;  // greedy
  settings[1].top_k = 5;
  settings[2].top_p = 0.5f;
  settings[3].min_p = 0.2f;
  settings[4].repeat_penalty = 1.8f;
  settings[5].temperature = 1.7f;
  settings[5].top_k = 0;
  std::vector<std::string> texts;
  for (size_t i = 0; i < settings.size(); ++i) {
    settings[i].seed = 100 + i;
    texts.push_back(generate(*grammar, settings[i], 200).text);
  }
  expect_valid(kSchema, texts);
}

TEST_F(ConstrainedGeneration, JsonModeAlwaysParsesEvenWhenTheLimitIsTight) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SamplingOptions s;
    s.temperature = 1.0f;
    s.seed = seed;
    GenerateResult r = generate(json_object_grammar(), s, static_cast<int>(8 + seed * 3));
    EXPECT_LE(r.tokens.size(), 8 + seed * 3);
    auto parsed = nlohmann::json::parse(r.text, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << r.text;
    EXPECT_TRUE(parsed.is_object()) << r.text;
  }
}

TEST_F(ConstrainedGeneration, TheContextLimitClosesTheOutputToo) {
  SamplingOptions s;
  s.temperature = 1.0f;
  s.seed = 3;
  GenerateResult r =
      generate(json_object_grammar(), s, -1, /*num_ctx=*/40);  // the prompt takes most of it
  auto parsed = nlohmann::json::parse(r.text, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << r.text;
}

TEST_F(ConstrainedGeneration, ALimitBelowTheSchemaMinimumStillStaysInsideTheGrammar) {
  // {"title":"","findings":[{"fact":1,"claim":""}],"confidence":"low"} needs 60 bytes: 10 tokens
  // cannot finish it; what is written is the shortest way there, never a token outside the grammar.
  auto grammar = compile_json_schema(kSchema);
  SamplingOptions s;
  s.seed = 1;
  GenerateResult r = generate(*grammar, s, 10);
  EXPECT_EQ(r.done_reason, "length");
  EXPECT_EQ(r.tokens.size(), 10u);
  EXPECT_EQ(r.text.rfind("{\"title\":\"", 0), 0u) << r.text;
}

}  // namespace
}  // namespace chimera::engine
