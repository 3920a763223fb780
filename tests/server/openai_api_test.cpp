// OpenAI API over real HTTP: SSE framing with data: [DONE], include_usage, non-streaming objects,
// /v1/models and errors in OpenAI's shape.
#include <gtest/gtest.h>

#include "server/server_test_support.h"

namespace chimera::testing {
namespace {

class OpenAIApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = start_server(tiny_config()).release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static server::Server* server_;

  httplib::Result post(const std::string& path, const Json& body) {
    auto client = client_for(*server_);
    return client.Post(path.c_str(), body.dump(), "application/json");
  }
};
server::Server* OpenAIApiTest::server_ = nullptr;

Json chat_body(bool stream) {
  return {{"model", "tiny"},
          {"messages", Json::array({{{"role", "user"}, {"content", "hello"}}})},
          {"max_tokens", 10},
          {"temperature", 0},
          {"ignore_eos", true},
          {"stream", stream}};
}

void expect_openai_error(const httplib::Result& res, int status) {
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, status) << res->body;
  Json body = Json::parse(res->body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << res->body;
  ASSERT_TRUE(body["error"].is_object()) << res->body;
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_TRUE(body["error"]["type"].is_string());
  EXPECT_TRUE(body["error"].contains("code"));
}

TEST_F(OpenAIApiTest, ChatStreamIsSseEndingWithDoneAndUsage) {
  ASSERT_NE(server_, nullptr);
  Json body = chat_body(true);
  body["stream_options"] = {{"include_usage", true}};
  auto res = post("/v1/chat/completions", body);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  bool framing_ok = false;
  std::vector<std::string> events = sse_data(res->body, &framing_ok);
  EXPECT_TRUE(framing_ok) << res->body;
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");

  std::vector<Json> chunks;
  for (size_t i = 0; i + 1 < events.size(); ++i) chunks.push_back(Json::parse(events[i]));
  const std::string id = chunks.front()["id"];
  EXPECT_EQ(id.rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  int finish_chunks = 0;
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {  // all but the usage chunk
    const Json& c = chunks[i];
    EXPECT_EQ(c["id"], id);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["model"], "tiny");
    EXPECT_TRUE(c["created"].is_number_integer());
    EXPECT_TRUE(c.contains("usage") && c["usage"].is_null()) << "include_usage puts usage: null on every chunk";
    const Json& choice = c["choices"][0];
    EXPECT_EQ(choice["index"], 0);
    if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) {
      ++finish_chunks;
      EXPECT_EQ(choice["finish_reason"], "length");
    }
  }
  EXPECT_EQ(finish_chunks, 1);
  const Json& usage = chunks.back();
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 10);
  EXPECT_GT(usage["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(usage["usage"]["total_tokens"].get<int>(),
            usage["usage"]["prompt_tokens"].get<int>() + usage["usage"]["completion_tokens"].get<int>());

  // Unstreamed: one chat.completion object with the same text.
  auto whole = post("/v1/chat/completions", chat_body(false));
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  Json object = Json::parse(whole->body);
  EXPECT_EQ(object["object"], "chat.completion");
  EXPECT_EQ(object["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(object["choices"][0]["message"]["content"], text);
  EXPECT_EQ(object["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(object["usage"]["completion_tokens"], 10);
}

TEST_F(OpenAIApiTest, StreamWithoutIncludeUsageHasNoUsage) {
  ASSERT_NE(server_, nullptr);
  auto res = post("/v1/chat/completions", chat_body(true));
  ASSERT_TRUE(res);
  std::vector<std::string> events = sse_data(res->body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  for (size_t i = 0; i + 1 < events.size(); ++i) EXPECT_FALSE(Json::parse(events[i]).contains("usage"));
}

TEST_F(OpenAIApiTest, CompletionsDefaultToSixteenTokens) {
  ASSERT_NE(server_, nullptr);
  auto res = post("/v1/completions", {{"model", "tiny"}, {"prompt", "once upon"}, {"temperature", 0},
                                      {"ignore_eos", true}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  Json object = Json::parse(res->body);
  EXPECT_EQ(object["object"], "text_completion");
  EXPECT_EQ(object["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_TRUE(object["choices"][0]["text"].is_string());
  EXPECT_EQ(object["usage"]["completion_tokens"], 16);  // OpenAI's documented default max_tokens

  auto stream = post("/v1/completions", {{"model", "tiny"}, {"prompt", {1, 2, 3}}, {"max_tokens", 5},
                                         {"temperature", 0}, {"ignore_eos", true}, {"stream", true}});
  ASSERT_TRUE(stream);
  ASSERT_EQ(stream->status, 200) << stream->body;
  std::vector<std::string> events = sse_data(stream->body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  Json last = Json::parse(events[events.size() - 2]);
  EXPECT_EQ(last["object"], "text_completion");
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
}

TEST_F(OpenAIApiTest, ModelsListsTheServedModel) {
  ASSERT_NE(server_, nullptr);
  auto client = client_for(*server_);
  auto res = client.Get("/v1/models");
  ASSERT_TRUE(res);
  Json body = Json::parse(res->body);
  EXPECT_EQ(body["object"], "list");
  ASSERT_EQ(body["data"].size(), 1u);
  // name:tag, as /api/tags lists it (Ollama names a model the same way in both lists).
  EXPECT_EQ(body["data"][0]["id"], "tiny:latest");
  auto tags = client.Get("/api/tags");
  ASSERT_TRUE(tags);
  EXPECT_EQ(Json::parse(tags->body)["models"][0]["name"], body["data"][0]["id"]);
  // The id as listed works in a request on either API.
  auto chat = post("/v1/chat/completions", {{"model", body["data"][0]["id"]}, {"max_tokens", 2},
                                            {"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})}});
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 200) << chat->body;
  EXPECT_EQ(body["data"][0]["object"], "model");
  EXPECT_EQ(body["data"][0]["meta"]["n_ctx_train"], 4096);
}

TEST_F(OpenAIApiTest, ErrorsUseOpenAIShape) {
  ASSERT_NE(server_, nullptr);
  Json unknown = chat_body(false);
  unknown["model"] = "gpt-9";
  auto res = post("/v1/chat/completions", unknown);
  expect_openai_error(res, 404);
  EXPECT_EQ(Json::parse(res->body)["error"]["code"], "model_not_found");

  auto client = client_for(*server_);
  expect_openai_error(client.Post("/v1/chat/completions", "{\"model\": ", "application/json"), 400);
  Json two = chat_body(false);
  two["n"] = 2;
  expect_openai_error(post("/v1/chat/completions", two), 400);
  Json hot = chat_body(false);
  hot["temperature"] = 3.5;
  expect_openai_error(post("/v1/chat/completions", hot), 400);
  Json no_messages = chat_body(false);
  no_messages.erase("messages");
  expect_openai_error(post("/v1/chat/completions", no_messages), 400);
  Json tools = chat_body(false);
  tools["tools"] = Json::array({{{"type", "function"}}});
  expect_openai_error(post("/v1/chat/completions", tools), 400);

  // A prompt over the context is refused (OpenAI servers do not truncate).
  std::string long_prompt;
  for (int i = 0; i < 700; ++i) long_prompt += "a b ";
  auto too_long = post("/v1/completions", {{"model", "tiny"}, {"prompt", long_prompt}});
  expect_openai_error(too_long, 400);
  EXPECT_EQ(Json::parse(too_long->body)["error"]["code"], "context_length_exceeded");
}

TEST_F(OpenAIApiTest, ModelMayBeOmittedWhenOneIsServed) {
  ASSERT_NE(server_, nullptr);
  Json body = chat_body(false);
  body.erase("model");
  auto res = post("/v1/chat/completions", body);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Json::parse(res->body)["model"], "tiny:latest");  // the only model, named as /v1/models lists it
}

}  // namespace
}  // namespace chimera::testing
