// EmbeddedBackend through the llm::Backend seam, as agent/ and lab/ use it: records comparable to
// the HTTP backends', option sources, load paid once, exact counts and per-token clocks,
// Ollama-store models with their params layer, and failures as records.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/model/synth.h"
#include "llm/backend.h"
#include "llm/embedded_backend.h"
#include "support/json_schema_check.h"
#include "support/test_support.h"
#include "util/hash.h"

namespace chimera::llm {
namespace {

using chimera::testing::TempDir;
using ::testing::HasSubstr;

class EmbeddedBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    engine::SynthOptions o;
    o.arch = "gemma3";
    o.size = "tiny";
    o.type = engine::SynthFileType::kQ8_0;
    o.vocab = "synthetic:512";
    auto plan = engine::synthesize_model(o, dir_->file("tiny.gguf"));
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string path() { return dir_->file("tiny.gguf"); }
  static Request greedy(int64_t num_predict) {
    Request r;
    r.prompt = "hello world";
    r.options.temperature = 0.0;
    r.options.num_predict = num_predict;
    r.ignore_eos = true;
    return r;
  }
  static inline TempDir* dir_ = nullptr;
};

TEST_F(EmbeddedBackendTest, MadeFromAnEmbeddedSpecWithItsCapabilities) {
  auto backend = make_backend("embedded:" + path());
  ASSERT_TRUE(backend.ok()) << backend.status().to_string();
  EXPECT_EQ((*backend)->name(), "embedded:" + path());
  BackendCapabilities c = (*backend)->capabilities();
  EXPECT_TRUE(c.server_timings && c.ignore_eos && c.exact_token_counts && c.seed);
}

TEST_F(EmbeddedBackendTest, AppliesTheOutputSchemaThroughTheEngine) {
  EmbeddedBackend backend(path());
  EXPECT_TRUE(backend.capabilities().structured_output);
  const std::string schema =
      R"({"type":"object","properties":{"section":{"type":"string","maxLength":20},"facts":{"type":"array",
      "items":{"type":"integer","minimum":1,"maximum":9},"minItems":1,"maxItems":3}},"required":["section","facts"],
      "additionalProperties":false})";
  std::vector<std::string> texts;
  for (int seed = 1; seed <= 5; ++seed) {
    Request r;
    r.prompt = "Write the section as JSON.";
    r.options.temperature = 1.0;
    r.options.seed = seed;
    r.options.num_predict = 120;
    r.output_schema = schema;
    CallRecord record = backend.generate(r);
    ASSERT_TRUE(record.ok) << record.error;
    texts.push_back(record.text);
  }
  testing::SchemaCheck check = testing::check_against_schema(schema, texts);
  if (!check.available) GTEST_SKIP() << check.unavailable_reason;
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(check.errors[i], "") << texts[i];

  Request unsupported = greedy(4);
  unsupported.output_schema = R"({"type":"string","pattern":"^a"})";
  CallRecord failed = backend.generate(unsupported);
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.error_code, ErrorCode::kUnsupported);
  EXPECT_THAT(failed.error, HasSubstr("output_schema"));
  EXPECT_THAT(failed.error, HasSubstr("pattern"));
}

TEST_F(EmbeddedBackendTest, ARecordCarriesTextCountsClocksAndServerTimings) {
  EmbeddedBackend backend(path());
  std::string streamed;
  CallRecord r = backend.generate(greedy(6), [&](std::string_view text) {
    streamed += text;
    return true;
  });
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.backend, "embedded:" + path());
  EXPECT_EQ(r.endpoint, "engine");
  EXPECT_TRUE(r.synthetic_model);
  EXPECT_EQ(r.done_reason, "length");
  EXPECT_EQ(r.text, streamed);
  EXPECT_EQ(r.token_count, 6);
  EXPECT_EQ(r.token_count_source, TokenCountSource::kEngine);
  ASSERT_EQ(r.chunk_times_ns.size(), 6u);
  EXPECT_EQ(r.chunk_token_counts, std::vector<int32_t>(6, 1));
  EXPECT_LE(r.t_request_ns, r.t_first_token_ns);
  EXPECT_EQ(r.t_first_token_ns, r.chunk_times_ns.front());
  EXPECT_LE(r.chunk_times_ns.back(), r.t_done_ns);
  EXPECT_EQ(r.server.eval_count, 6);
  EXPECT_EQ(r.server.prompt_eval_count, r.prompt_tokens);
  EXPECT_GT(*r.server.prompt_eval_ns, 0);
  EXPECT_EQ(*r.server.eval_ns, r.chunk_times_ns.back() - r.chunk_times_ns.front());
  EXPECT_GT(r.wall_start_unix_ms, 0);
}

TEST_F(EmbeddedBackendTest, TheFirstCallPaysTheLoadAndLaterOnesDoNot) {
  EmbeddedBackend backend(path());
  CallRecord first = backend.generate(greedy(2));
  CallRecord second = backend.generate(greedy(2));
  ASSERT_TRUE(first.ok && second.ok);
  EXPECT_TRUE(first.model_load_paid);
  EXPECT_GT(*first.server.load_ns, 0);
  EXPECT_FALSE(second.model_load_paid);
  EXPECT_EQ(*second.server.load_ns, 0);
  EXPECT_EQ(first.text, second.text);  // greedy, each call from a fresh context
}

TEST_F(EmbeddedBackendTest, OptionSourcesSayWhereEachValueCameFrom) {
  EmbeddedBackend backend(path());
  Request r = greedy(3);
  r.options.num_ctx = 1024;
  r.options.num_gpu = 99;
  CallRecord rec = backend.generate(r);
  ASSERT_TRUE(rec.ok) << rec.error;
  EXPECT_EQ(rec.option_sources["temperature"], "sent");
  EXPECT_EQ(rec.option_sources["num_ctx"], "sent");
  EXPECT_EQ(rec.option_sources["top_k"], "backend default");
  EXPECT_EQ(rec.option_sources["num_gpu"], "not applied");
  EXPECT_THAT(rec.warnings, ::testing::Contains(HasSubstr("num_gpu=99 not applied")));
  EXPECT_EQ(rec.options_applied.num_ctx, 1024);
  EXPECT_EQ(rec.options_applied.top_k, 40);  // the engine's (Ollama's) default, now known
  EXPECT_EQ(rec.options_applied.num_batch, 512);
  EXPECT_FALSE(rec.options_applied.num_gpu.has_value());
  EXPECT_EQ(rec.options_requested, r.options);
}

TEST_F(EmbeddedBackendTest, ATooLongPromptIsTruncatedAndReported) {
  EmbeddedBackend backend(path());
  Request r = greedy(2);
  r.options.num_ctx = 32;
  r.prompt.clear();
  for (int i = 0; i < 40; ++i) r.prompt += "the quick brown fox ";
  CallRecord rec = backend.generate(r);
  ASSERT_TRUE(rec.ok) << rec.error;
  EXPECT_TRUE(rec.prompt_truncated);
  EXPECT_THAT(rec.warnings, ::testing::Contains(HasSubstr("truncated")));
  EXPECT_LT(*rec.prompt_tokens, 32);
}

TEST_F(EmbeddedBackendTest, CountsPromptTokensAsGenerateDoes) {
  EmbeddedBackend backend(path());
  Request r = greedy(1);
  r.system = "be brief";
  std::optional<int64_t> counted = backend.count_prompt_tokens(r);
  ASSERT_TRUE(counted.has_value());
  CallRecord rec = backend.generate(r);
  ASSERT_TRUE(rec.ok);
  EXPECT_EQ(*counted, *rec.prompt_tokens);
  Request chat = greedy(1);
  chat.prompt.clear();
  chat.messages = {{"user", "hello"}, {"assistant", "hi"}, {"user", "hello world"}};
  EXPECT_GT(*backend.count_prompt_tokens(chat), *counted);
}

TEST_F(EmbeddedBackendTest, StoppingFromOnTextIsACancelledRecordWithItsPartialText) {
  EmbeddedBackend backend(path());
  int calls = 0;
  Request r = greedy(30);
  r.options.temperature = 1.5;
  r.options.top_k = 0;
  r.options.seed = 4;
  CallRecord rec = backend.generate(r, [&](std::string_view) { return ++calls < 2; });
  EXPECT_FALSE(rec.ok);
  EXPECT_EQ(rec.error_code, ErrorCode::kCancelled);
  EXPECT_EQ(rec.done_reason, "cancelled");
  EXPECT_FALSE(rec.text.empty());
  EXPECT_LT(rec.token_count, 30);
}

TEST_F(EmbeddedBackendTest, AMissingModelIsAFailedRecordNamingIt) {
  EmbeddedBackend backend(dir_->file("absent.gguf"));
  CallRecord rec = backend.generate(greedy(2));
  EXPECT_FALSE(rec.ok);
  EXPECT_THAT(rec.error, HasSubstr("absent.gguf"));
  EXPECT_EQ(rec.token_count_source, TokenCountSource::kNone);
  EXPECT_FALSE(backend.list_models().ok());
}

TEST_F(EmbeddedBackendTest, ListsAndDescribesItsModel) {
  EmbeddedBackend backend(path());
  auto models = backend.list_models();
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].family, "gemma3");
  EXPECT_EQ((*models)[0].quantization, "Q8_0");
  EXPECT_TRUE((*models)[0].synthetic);
  auto d = backend.describe("");
  ASSERT_TRUE(d.ok());
  EXPECT_GT(*d->context_length, 0);
  EXPECT_EQ(d->details["architecture"], "gemma3");
  EXPECT_FALSE(backend.describe("other-model").ok());
}

TEST_F(EmbeddedBackendTest, OllamaStoreModelsBringTheirParamsAsModelDefaults) {
  // A fake Ollama store holding the tiny GGUF with a params layer.
  TempDir store_dir;
  const std::string root = store_dir.path() + "/ollama";
  auto add_blob = [&](const std::string& contents) {
    const std::string hex = sha256_hex(contents);
    std::filesystem::create_directories(root + "/blobs");
    std::ofstream(root + "/blobs/sha256-" + hex, std::ios::binary) << contents;
    return "sha256:" + hex;
  };
  std::ifstream in(path(), std::ios::binary);
  const std::string gguf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string params = R"({"temperature":0,"top_k":5,"stop":["zzz"]})";
  const std::string manifest = fmt::format(
      R"({{"schemaVersion":2,"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"{}","size":{}}},)"
      R"({{"mediaType":"application/vnd.ollama.image.params","digest":"{}","size":{}}}]}})",
      add_blob(gguf), gguf.size(), add_blob(params), params.size());
  std::filesystem::create_directories(root + "/manifests/registry.ollama.ai/library/tiny");
  std::ofstream(root + "/manifests/registry.ollama.ai/library/tiny/latest") << manifest;

  EmbeddedBackend backend("ollama:tiny:latest",
                          engine::ModelStore(root, store_dir.path() + "/cache"));
  Request r;
  r.prompt = "hello";
  r.options.num_predict = 3;
  r.ignore_eos = true;
  CallRecord rec = backend.generate(r);
  ASSERT_TRUE(rec.ok) << rec.error;
  EXPECT_EQ(rec.option_sources["temperature"], "model default");
  EXPECT_EQ(rec.option_sources["top_k"], "model default");
  EXPECT_EQ(rec.option_sources["num_predict"], "sent");
  EXPECT_EQ(rec.options_applied.temperature, 0.0);
  EXPECT_EQ(rec.options_applied.top_k, 5);
  EXPECT_EQ(rec.options_applied.stop, std::vector<std::string>{"zzz"});
  EXPECT_EQ(backend.describe("")->defaults.top_k, 5);
}

}  // namespace
}  // namespace chimera::llm
