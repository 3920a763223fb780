// The measurement layer's own clients (llm::OllamaBackend, llm::OpenAIBackend) against this server:
// what `chimera bench ollama://...` and `openai://...` will see.
#include <gtest/gtest.h>

#include "llm/ollama_backend.h"
#include "llm/openai_backend.h"
#include "server/server_test_support.h"

namespace chimera::testing {
namespace {

class BackendsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = start_server(tiny_config()).release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static server::Server* server_;
};
server::Server* BackendsTest::server_ = nullptr;

llm::Request greedy_request(int num_predict) {
  llm::Request request;
  request.prompt = "tell me something";
  request.options.temperature = 0.0;
  request.options.num_predict = num_predict;
  request.options.seed = 3;
  return request;
}

TEST_F(BackendsTest, OllamaBackendStreamsAndReadsServerTimings) {
  ASSERT_NE(server_, nullptr);
  llm::OllamaBackendConfig config;
  config.base_url = server_->base_url();
  config.model = "tiny";
  llm::OllamaBackend backend(config);
  std::string streamed;
  llm::CallRecord record = backend.generate(greedy_request(8), [&](std::string_view text) {
    streamed += text;
    return true;
  });
  ASSERT_TRUE(record.ok) << record.error;
  EXPECT_EQ(record.text, streamed);
  EXPECT_TRUE(record.synthetic_model) << "the server marks its dummy-weight model in /api/show";
  ASSERT_TRUE(record.server.eval_count.has_value());
  EXPECT_LE(*record.server.eval_count, 8);
  EXPECT_GE(*record.server.eval_count, 1);
  EXPECT_EQ(record.token_count, *record.server.eval_count);
  EXPECT_EQ(record.token_count_source, llm::TokenCountSource::kServer);
  ASSERT_TRUE(record.server.prompt_eval_count.has_value());
  EXPECT_GT(*record.server.prompt_eval_count, 0);
  EXPECT_TRUE(record.server.total_ns && record.server.prompt_eval_ns && record.server.eval_ns &&
              record.server.load_ns);
  EXPECT_TRUE(record.done_reason == "stop" || record.done_reason == "length") << record.done_reason;
  EXPECT_GT(record.t_first_token_ns, 0);
  EXPECT_FALSE(record.model_load_paid);  // loaded at start, and /api/ps says so

  // Non-streaming and chat go through the same server.
  llm::Request whole = greedy_request(8);
  whole.stream = false;
  llm::CallRecord unstreamed = backend.generate(whole);
  ASSERT_TRUE(unstreamed.ok) << unstreamed.error;
  EXPECT_EQ(unstreamed.text, record.text) << "greedy output must not depend on streaming";

  llm::Request chat = greedy_request(6);
  chat.prompt.clear();
  chat.messages = {{"user", "hi"}};
  llm::CallRecord chatted = backend.generate(chat);
  ASSERT_TRUE(chatted.ok) << chatted.error;
  EXPECT_EQ(chatted.endpoint, "/api/chat");
}

TEST_F(BackendsTest, OllamaBackendMetadata) {
  ASSERT_NE(server_, nullptr);
  llm::OllamaBackendConfig config;
  config.base_url = server_->base_url();
  llm::OllamaBackend backend(config);
  auto models = backend.list_models();
  ASSERT_TRUE(models.ok()) << models.status().message();
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].name, "tiny:latest");
  EXPECT_EQ((*models)[0].family, "gemma3");
  EXPECT_EQ((*models)[0].quantization, "Q8_0");
  auto description = backend.describe("tiny");
  ASSERT_TRUE(description.ok()) << description.status().message();
  EXPECT_EQ(description->context_length, 4096);
  auto version = backend.version();
  ASSERT_TRUE(version.ok());
  EXPECT_FALSE(version->empty());
  auto loaded = backend.loaded_models();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->size(), 1u);

  llm::Request unknown = greedy_request(2);
  unknown.model = "missing";
  llm::CallRecord failed = backend.generate(unknown);
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.error_code, ErrorCode::kNotFound);
}

TEST_F(BackendsTest, OpenAIBackendStreamsWithUsage) {
  ASSERT_NE(server_, nullptr);
  for (auto flavor :
       {std::optional<llm::OpenAIFlavor>(), std::optional(llm::OpenAIFlavor::kLlamaCpp)}) {
    llm::OpenAIBackendConfig config;
    config.base_url = server_->base_url();
    config.flavor = flavor;
    llm::OpenAIBackend backend(config);  // no model named: the server's only one is used
    llm::Request request = greedy_request(7);
    request.ignore_eos = true;
    std::string streamed;
    llm::CallRecord record = backend.generate(request, [&](std::string_view text) {
      streamed += text;
      return true;
    });
    ASSERT_TRUE(record.ok) << record.error;
    EXPECT_EQ(record.text, streamed);
    EXPECT_EQ(record.model, "tiny:latest");  // as /v1/models lists it (name:tag, as Ollama does)
    EXPECT_TRUE(record.synthetic_model) << "the server marks its dummy-weight model in /v1/models";
    EXPECT_EQ(record.token_count_source, llm::TokenCountSource::kServer);
    ASSERT_TRUE(record.prompt_tokens.has_value());
    EXPECT_GT(*record.prompt_tokens, 0);
    if (flavor == llm::OpenAIFlavor::kLlamaCpp) {
      // llama.cpp's field names reach the sampler here: exactly 7 tokens with ignore_eos.
      EXPECT_EQ(record.token_count, 7);
      EXPECT_EQ(record.done_reason, "length");
    }
  }
  llm::OpenAIBackendConfig config;
  config.base_url = server_->base_url();
  llm::OpenAIBackend backend(config);
  auto models = backend.list_models();
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].name, "tiny:latest");
  auto description = backend.describe("tiny:latest");
  ASSERT_TRUE(description.ok());
  EXPECT_EQ(description->context_length, 4096);
}

}  // namespace
}  // namespace chimera::testing
