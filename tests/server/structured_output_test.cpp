// Structured output through chimera serve, as clients ask for it: Ollama's "format" (a schema or
// "json") on /api/generate and /api/chat, OpenAI's response_format (json_schema or json_object) on
// /v1/chat/completions and /v1/completions. The model has random weights, so without the grammar
// its text is noise: every answer validating (Python's jsonschema judges, not the compiler) shows
// the constraint at work, for 20 seeds at temperature 1 on each endpoint, streamed and not, and
// with 8 constrained sequences decoded in one batch.
#include <gtest/gtest.h>

#include <future>

#include "llm/backend.h"
#include "server/server_test_support.h"
#include "support/json_schema_check.h"

namespace chimera::testing {
namespace {

const char* kSchema = R"({"type":"object","properties":{
  "section":{"type":"string","maxLength":24},
  "facts":{"type":"array","items":{"type":"integer","minimum":1,"maximum":40},"minItems":1,"maxItems":4},
  "verdict":{"enum":["faster","slower","no difference"]},
  "delta_pct":{"type":"number"},
  "caveat":{"type":["string","null"]}},
  "required":["section","facts","verdict"],"additionalProperties":false})";

class StructuredOutputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerConfig config = tiny_config();
    config.parallel = 8;
    server_ = start_server(config).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static httplib::Result post(const std::string& path, const Json& body) {
    auto client = client_for(*server_);
    client.set_read_timeout(120, 0);
    return client.Post(path.c_str(), body.dump(), "application/json");
  }
  // The answer text of one call, by endpoint, streamed or not.
  static std::string answer(const std::string& path, const Json& body) {
    auto res = post(path, body);
    if (!res || res->status != 200) {
      ADD_FAILURE() << path << " -> "
                    << (res ? std::to_string(res->status) + " " + res->body : "no response");
      return "";
    }
    const bool stream = body.value("stream", path.rfind("/api/", 0) == 0);
    std::string text;
    if (path.rfind("/api/", 0) == 0) {
      for (const Json& line : parse_ndjson(res->body)) {
        if (line.contains("message")) text += line["message"]["content"].get<std::string>();
        if (line.contains("response")) text += line["response"].get<std::string>();
      }
      return text;
    }
    if (!stream) {
      Json o = Json::parse(res->body);
      const Json& choice = o["choices"][0];
      return choice.contains("message") ? choice["message"]["content"].get<std::string>()
                                        : choice["text"].get<std::string>();
    }
    for (const std::string& data : sse_data(res->body)) {
      if (data == "[DONE]") continue;
      Json chunk = Json::parse(data);
      if (chunk["choices"].empty()) continue;
      const Json& choice = chunk["choices"][0];
      if (choice.contains("delta") && choice["delta"].contains("content"))
        text += choice["delta"]["content"].get<std::string>();
      if (choice.contains("text")) text += choice["text"].get<std::string>();
    }
    return text;
  }
  static void expect_valid(const std::string& schema, const std::vector<std::string>& texts,
                           const std::string& what) {
    SchemaCheck check = check_against_schema(schema, texts);
    if (!check.available) GTEST_SKIP() << "no independent validator: " << check.unavailable_reason;
    int valid = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      EXPECT_EQ(check.errors[i], "") << what << " seed " << i + 1 << ": " << texts[i];
      valid += check.errors[i].empty();
    }
    std::printf("[ info     ] %s: %d of %zu answers validate\n", what.c_str(), valid, texts.size());
  }
  static Json messages() {
    return Json::array({{{"role", "user"}, {"content", "Summarize the benchmark as JSON."}}});
  }
  static server::Server* server_;
};
server::Server* StructuredOutputTest::server_ = nullptr;

TEST_F(StructuredOutputTest, OllamaGenerateWithASchemaValidatesForTwentySeeds) {
  ASSERT_NE(server_, nullptr);
  std::vector<std::string> texts;
  for (int seed = 1; seed <= 20; ++seed) {
    texts.push_back(
        answer("/api/generate",
               {{"model", "tiny"},
                {"prompt", "Summarize as JSON."},
                {"stream", seed % 2 == 0},
                {"format", Json::parse(kSchema)},
                {"options", {{"temperature", 1.0}, {"seed", seed}, {"num_predict", 160}}}}));
  }
  expect_valid(kSchema, texts, "/api/generate format=schema");
}

TEST_F(StructuredOutputTest, OllamaChatWithASchemaValidatesForTwentySeeds) {
  ASSERT_NE(server_, nullptr);
  std::vector<std::string> texts;
  for (int seed = 1; seed <= 20; ++seed) {
    texts.push_back(answer(
        "/api/chat", {{"model", "tiny"},
                      {"messages", messages()},
                      {"stream", seed % 2 == 1},
                      {"format", Json::parse(kSchema)},
                      {"options", {{"temperature", 1.0}, {"seed", seed}, {"num_predict", 160}}}}));
  }
  expect_valid(kSchema, texts, "/api/chat format=schema");
}

TEST_F(StructuredOutputTest, OpenAIChatWithAJsonSchemaValidatesForTwentySeeds) {
  ASSERT_NE(server_, nullptr);
  std::vector<std::string> texts;
  for (int seed = 1; seed <= 20; ++seed) {
    Json format = {
        {"type", "json_schema"},
        {"json_schema", {{"name", "summary"}, {"strict", true}, {"schema", Json::parse(kSchema)}}}};
    texts.push_back(answer("/v1/chat/completions", {{"model", "tiny"},
                                                    {"messages", messages()},
                                                    {"stream", seed % 2 == 0},
                                                    {"temperature", 1.0},
                                                    {"seed", seed},
                                                    {"max_tokens", 160},
                                                    {"response_format", format}}));
  }
  expect_valid(kSchema, texts, "/v1/chat/completions json_schema");
}

TEST_F(StructuredOutputTest, JsonModeAlwaysParsesOnEveryEndpoint) {
  ASSERT_NE(server_, nullptr);
  std::vector<std::string> texts;
  for (int seed = 1; seed <= 20; ++seed) {
    const Json options = {{"temperature", 1.0}, {"seed", seed}, {"num_predict", 12 + seed * 4}};
    texts.push_back(answer(
        "/api/generate",
        {{"model", "tiny"}, {"prompt", "JSON please"}, {"format", "json"}, {"options", options}}));
    texts.push_back(answer(
        "/api/chat",
        {{"model", "tiny"}, {"messages", messages()}, {"format", "json"}, {"options", options}}));
    texts.push_back(
        answer("/v1/chat/completions", {{"model", "tiny"},
                                        {"messages", messages()},
                                        {"seed", seed},
                                        {"max_tokens", 12 + seed * 4},
                                        {"response_format", {{"type", "json_object"}}}}));
    texts.push_back(answer("/v1/completions", {{"model", "tiny"},
                                               {"prompt", "{"},
                                               {"seed", seed},
                                               {"max_tokens", 12 + seed * 4},
                                               {"stream", true},
                                               {"response_format", {{"type", "json_object"}}}}));
  }
  for (const std::string& text : texts) {
    Json parsed = Json::parse(text, nullptr, false);
    EXPECT_TRUE(!parsed.is_discarded() && parsed.is_object()) << text;
  }
}

TEST_F(StructuredOutputTest, EightConstrainedSequencesInOneBatchEachFollowTheirOwnSchema) {
  ASSERT_NE(server_, nullptr);
  const std::vector<std::string> schemas = {
      kSchema, R"({"type":"array","items":{"type":"boolean"},"minItems":2,"maxItems":5})",
      R"({"type":"object","properties":{"n":{"type":"integer","minimum":100,"maximum":999}},"required":["n"]})",
      R"({"enum":["alpha","beta","gamma"]})"};
  std::vector<std::future<std::string>> futures;
  for (int i = 0; i < 8; ++i) {
    const std::string& schema = schemas[static_cast<size_t>(i) % schemas.size()];
    futures.push_back(std::async(std::launch::async, [schema, i] {
      return answer("/v1/chat/completions",
                    {{"model", "tiny"},
                     {"messages", messages()},
                     {"seed", 50 + i},
                     {"temperature", 1.0},
                     {"max_tokens", 120},
                     {"response_format",
                      {{"type", "json_schema"},
                       {"json_schema", {{"name", "x"}, {"schema", Json::parse(schema)}}}}}});
    }));
  }
  for (size_t s = 0; s < schemas.size(); ++s) {
    std::vector<std::string> texts;
    for (size_t i = s; i < futures.size(); i += schemas.size()) texts.push_back(futures[i].get());
    expect_valid(schemas[s], texts, "batched schema " + std::to_string(s));
  }
  auto health = client_for(*server_).Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(StructuredOutputTest, PropertiesComeInTheOrderTheClientWroteThem) {
  ASSERT_NE(server_, nullptr);
  // nlohmann's default object sorts keys; the schema must be read from the raw body instead.
  const std::string body =
      R"({"model":"tiny","prompt":"x","stream":false,"options":{"seed":1,"num_predict":80},
    "format":{"type":"object","properties":{"zebra":{"const":1},"apple":{"const":2}},"required":["zebra","apple"]}})";
  auto client = client_for(*server_);
  auto res = client.Post("/api/generate", body, "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const std::string text = Json::parse(res->body)["response"];
  EXPECT_LT(text.find("zebra"), text.find("apple")) << text;
}

// The seam end to end: Request::output_schema through the Ollama and OpenAI backends to chimera
// serve.
TEST_F(StructuredOutputTest, TheHttpBackendsSendTheOutputSchemaAndGetValidJson) {
  ASSERT_NE(server_, nullptr);
  const std::string where = "127.0.0.1:" + std::to_string(server_->port());
  for (const std::string& spec :
       {"ollama://" + where + "/tiny", "openai://" + where + "/tiny:latest"}) {
    auto backend = llm::make_backend(spec);
    ASSERT_TRUE(backend.ok()) << backend.status().message();
    std::vector<std::string> texts;
    for (int seed = 1; seed <= 5; ++seed) {
      llm::Request request;
      request.messages = {{"user", "Summarize the benchmark as JSON."}};
      request.options.temperature = 1.0;
      request.options.seed = seed;
      request.options.num_predict = 160;
      request.output_schema = kSchema;
      llm::CallRecord record = (*backend)->generate(request);
      ASSERT_TRUE(record.ok) << spec << ": " << record.error;
      for (const std::string& w : record.warnings)
        EXPECT_EQ(w.find("structured output not applied"), std::string::npos) << w;
      texts.push_back(record.text);
    }
    EXPECT_TRUE((*backend)->capabilities().structured_output) << spec;
    expect_valid(kSchema, texts, spec);
  }
}

TEST_F(StructuredOutputTest, UnsupportedSchemaFeaturesAre400NamingThem) {
  ASSERT_NE(server_, nullptr);
  const Json pattern = Json::parse(
      R"({"type":"object","properties":{"id":{"type":"string","pattern":"^[a-z]+$"}}})");
  auto ollama =
      post("/api/chat", {{"model", "tiny"}, {"messages", messages()}, {"format", pattern}});
  ASSERT_TRUE(ollama);
  EXPECT_EQ(ollama->status, 400);
  const std::string ollama_error = Json::parse(ollama->body)["error"];
  EXPECT_NE(ollama_error.find("\"pattern\""), std::string::npos) << ollama_error;
  EXPECT_NE(ollama_error.find("#/properties/id"), std::string::npos) << ollama_error;

  auto openai = post(
      "/v1/chat/completions",
      {{"model", "tiny"},
       {"messages", messages()},
       {"response_format",
        {{"type", "json_schema"},
         {"json_schema", {{"name", "x"}, {"schema", {{"type", "number"}, {"multipleOf", 5}}}}}}}});
  ASSERT_TRUE(openai);
  EXPECT_EQ(openai->status, 400);
  Json error = Json::parse(openai->body)["error"];
  EXPECT_EQ(error["type"], "invalid_request_error");
  EXPECT_NE(error["message"].get<std::string>().find("multipleOf"), std::string::npos) << error;

  for (const Json& bad : {Json{{"type", "xml"}}, Json("json"), Json{{"type", "json_schema"}}}) {
    auto res = post("/v1/chat/completions",
                    {{"model", "tiny"}, {"messages", messages()}, {"response_format", bad}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad << " -> " << res->body;
    EXPECT_NE(res->body.find("response_format"), std::string::npos) << res->body;
  }
  auto text = post("/v1/chat/completions", {{"model", "tiny"},
                                            {"messages", messages()},
                                            {"max_tokens", 3},
                                            {"response_format", {{"type", "text"}}}});
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 200);
}

}  // namespace
}  // namespace chimera::testing
