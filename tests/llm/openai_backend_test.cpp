// OpenAIBackend over real HTTP on loopback, against replayed OpenAI-style SSE as vLLM, llama.cpp's
// server and Ollama's /v1 send it.
#include "llm/openai_backend.h"

#include <gtest/gtest.h>

#include "llm/support/protocol_server.h"
#include "wire_fixtures.h"

namespace chimera::llm {
namespace {

using testing::json;
using testing::openai_chunk;
using testing::ProtocolServer;
using testing::Reply;
using testing::usage;

class OpenAIBackendTest : public ::testing::Test {
 protected:
  void serve_as(std::string_view owned_by, std::vector<std::string> models = {"m"}) {
    server.route("GET", "/v1/models", Reply::json(testing::openai_models(models, owned_by)));
    OpenAIBackendConfig config;
    config.base_url = server.base_url();
    backend = std::make_unique<OpenAIBackend>(config);
  }
  static Request prompt(std::string text = "Why is the sky blue?") {
    Request request;
    request.prompt = std::move(text);
    return request;
  }
  json last_body(std::string_view path) {
    auto received = server.received(path);
    EXPECT_FALSE(received.empty()) << path;
    return received.empty() ? json() : json::parse(received.back().body);
  }

  ProtocolServer server;
  std::unique_ptr<OpenAIBackend> backend;
};

TEST_F(OpenAIBackendTest, VllmContinuousUsageGivesExactTokensPerChunk) {
  serve_as("vllm");
  server.route(
      "POST", "/v1/chat/completions",
      Reply::sse({openai_chunk({}, {}, usage(5, 0)), openai_chunk("Hello", {}, usage(5, 1)),
                  openai_chunk(" world, how", {}, usage(5, 4)),
                  openai_chunk(" are", {}, usage(5, 5)), openai_chunk("", "length", usage(5, 5)),
                  testing::openai_usage_chunk(5, 5), "[DONE]"}));
  Request request = prompt();
  request.options =
      *Options::parse("num_predict=5,temperature=0,top_k=1,repeat_penalty=1.1,num_ctx=2048");
  request.ignore_eos = true;
  CallRecord r = backend->generate(request);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(backend->flavor(), OpenAIFlavor::kVllm);
  EXPECT_EQ(r.text, "Hello world, how are");
  EXPECT_EQ(r.token_count, 5);
  EXPECT_EQ(r.token_count_source, TokenCountSource::kServer);
  EXPECT_EQ(r.chunk_count, 3);
  EXPECT_EQ(r.chunk_token_counts, (std::vector<int32_t>{1, 3, 1}));
  EXPECT_EQ(r.prompt_tokens, 5);
  EXPECT_EQ(r.done_reason, "length");
  EXPECT_EQ(r.model, "m");  // the server's only model
  EXPECT_EQ(r.endpoint, "/v1/chat/completions");
  testing::expect_clocks_ordered(r);

  json body = last_body("/v1/chat/completions");
  EXPECT_EQ(body["model"], "m");
  EXPECT_EQ(body["messages"],
            json::array({{{"role", "user"}, {"content", "Why is the sky blue?"}}}));
  EXPECT_EQ(body["stream_options"],
            (json{{"include_usage", true}, {"continuous_usage_stats", true}}));
  EXPECT_EQ(body["max_tokens"], 5);
  EXPECT_EQ(body["temperature"], 0.0);
  EXPECT_EQ(body["top_k"], 1);
  EXPECT_EQ(body["repetition_penalty"], 1.1);  // vLLM's name for it
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_FALSE(body.contains("num_ctx"));
  EXPECT_EQ(r.option_sources["num_ctx"], "not applied");
  EXPECT_EQ(r.option_sources["repeat_penalty"], "sent");
  EXPECT_EQ(r.option_sources["seed"], "backend default");
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("num_ctx=2048"), std::string::npos) << r.warnings[0];
}

TEST_F(OpenAIBackendTest, LlamaCppChunksCarryingSeveralTokensAreNotCountedAsOneEach) {
  serve_as("llamacpp");
  json last = json::parse(openai_chunk("", "stop", usage(7, 4)));
  last["timings"] = {
      {"prompt_n", 7}, {"prompt_ms", 12.5}, {"predicted_n", 4}, {"predicted_ms", 40.0}};
  server.route("POST", "/v1/chat/completions",
               Reply::sse({openai_chunk({}), openai_chunk("Hello world"), openai_chunk("!"),
                           last.dump(), "[DONE]"},
                          /*delay_ms_between=*/15));  // paced as the timings say it took
  Request request = prompt();
  request.options = *Options::parse("repeat_penalty=1.2,repeat_last_n=64,min_p=0.05");
  CallRecord r = backend->generate(request);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "Hello world!");  // the role chunk's null content is not the text "null"
  EXPECT_EQ(r.chunk_count, 2);
  EXPECT_EQ(r.token_count, 4);
  EXPECT_EQ(r.token_count_source, TokenCountSource::kServer);
  EXPECT_TRUE(r.chunk_token_counts.empty());  // 4 tokens in 2 chunks: unknown per chunk, not 1 each
  EXPECT_EQ(r.server.prompt_eval_count, 7);
  EXPECT_EQ(r.server.prompt_eval_ns, 12'500'000);
  EXPECT_EQ(r.server.eval_count, 4);
  EXPECT_EQ(r.server.eval_ns, 40'000'000);
  json body = last_body("/v1/chat/completions");
  EXPECT_EQ(body["repeat_penalty"], 1.2);  // llama.cpp's name
  EXPECT_EQ(body["repeat_last_n"], 64);
  EXPECT_EQ(body["min_p"], 0.05);
  EXPECT_FALSE(body["stream_options"].contains("continuous_usage_stats"));
}

TEST_F(OpenAIBackendTest, OllamaV1WithoutUsageCountsChunksAndSaysSo) {
  serve_as("library");
  server.route("GET", "/api/version", Reply::json(R"({"version":"0.5.1"})"));
  server.route("POST", "/v1/chat/completions",
               Reply::sse({openai_chunk("The"), openai_chunk(" sky is"), openai_chunk(" blue"),
                           openai_chunk("", "stop"), "[DONE]"}));
  Request request = prompt();
  request.options = *Options::parse("temperature=0.4,top_k=40,seed=3");
  CallRecord r = backend->generate(request);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(backend->flavor(), OpenAIFlavor::kOllama);
  EXPECT_EQ(r.text, "The sky is blue");
  EXPECT_EQ(r.token_count, 3);
  EXPECT_EQ(r.token_count_source, TokenCountSource::kChunks);
  EXPECT_TRUE(r.chunk_token_counts.empty());
  json body = last_body("/v1/chat/completions");
  EXPECT_FALSE(body.contains("top_k"));  // Ollama's /v1 would ignore it: not sent, and said so
  EXPECT_EQ(body["seed"], 3);
  EXPECT_EQ(r.option_sources["top_k"], "not applied");
  EXPECT_EQ(r.option_sources["temperature"], "sent");
  bool warned_top_k = false, warned_usage = false;
  for (const std::string& warning : r.warnings) {
    warned_top_k |= warning.find("top_k=40") != std::string::npos;
    warned_usage |= warning.find("no token usage") != std::string::npos;
  }
  EXPECT_TRUE(warned_top_k);
  EXPECT_TRUE(warned_usage);
}

TEST_F(OpenAIBackendTest, LlamaCppErrorFieldMidStreamFails) {
  serve_as("llamacpp");
  Reply reply;
  reply.content_type = "text/event-stream";
  reply.pieces = {
      {"data: " + openai_chunk("partial") + "\n\n", 0},
      {"error: {\"code\":500,\"message\":\"the request exceeds the available context size\","
       "\"type\":\"server_error\"}\n\n",
       1},
      {"data: [DONE]\n\n", 1}};
  server.route("POST", "/v1/chat/completions", reply);
  CallRecord r = backend->generate(prompt());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kRemoteError);
  EXPECT_NE(r.error.find("the request exceeds the available context size"), std::string::npos)
      << r.error;
  EXPECT_EQ(r.text, "partial");
}

TEST_F(OpenAIBackendTest, ErrorObjectInAData200StreamFails) {
  serve_as("vllm");
  server.route(
      "POST", "/v1/chat/completions",
      Reply::sse(
          {openai_chunk("a", {}, usage(1, 1)),
           R"({"error":{"message":"quota exceeded","type":"server_error","code":"internal_error"}})",
           "[DONE]"}));
  CallRecord r = backend->generate(prompt());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("quota exceeded"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("mid-stream"), std::string::npos);
  EXPECT_EQ(r.text, "a");
}

TEST_F(OpenAIBackendTest, HttpErrorBodyMessageIsShown) {
  serve_as("vllm");
  server.route(
      "POST", "/v1/chat/completions",
      Reply::json(
          R"({"object":"error","message":"This model's maximum context length is 8192 tokens. )"
          R"(However, you requested 9000 tokens.","type":"BadRequestError","param":null,"code":400})",
          400));
  CallRecord r = backend->generate(prompt());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kRemoteError);
  EXPECT_NE(r.error.find("HTTP 400"), std::string::npos);
  EXPECT_NE(r.error.find("maximum context length is 8192 tokens"), std::string::npos) << r.error;
}

TEST_F(OpenAIBackendTest, UnknownModelListsTheServersModels) {
  serve_as("vllm", {"meta-llama/Llama-3.1-8B-Instruct"});
  server.route(
      "POST", "/v1/chat/completions",
      Reply::json(
          R"({"error":{"message":"The model `nope` does not exist.","type":"NotFoundError",)"
          R"("param":null,"code":404}})",
          404));
  Request request = prompt();
  request.model = "nope";
  CallRecord r = backend->generate(request);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kNotFound);
  EXPECT_NE(r.error.find("The model `nope` does not exist."), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("this server has: meta-llama/Llama-3.1-8B-Instruct"), std::string::npos)
      << r.error;
}

TEST_F(OpenAIBackendTest, RawPromptGoesToCompletions) {
  serve_as("vllm");
  server.route("POST", "/v1/completions",
               Reply::sse({openai_chunk("Par", {}, usage(3, 1), false),
                           openai_chunk("is", {}, usage(3, 2), false),
                           openai_chunk("", "stop", usage(3, 2), false), "[DONE]"}));
  Request request = prompt("The capital of France is ");
  request.raw = true;
  CallRecord r = backend->generate(request);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.endpoint, "/v1/completions");
  EXPECT_EQ(r.text, "Paris");
  EXPECT_EQ(r.token_count, 2);
  EXPECT_EQ(last_body("/v1/completions")["prompt"], "The capital of France is ");
}

TEST_F(OpenAIBackendTest, NonStreamingAnswer) {
  serve_as("sglang");
  server.route(
      "POST", "/v1/chat/completions",
      Reply::json(
          json{{"id", "x"},
               {"object", "chat.completion"},
               {"choices", json::array({{{"index", 0},
                                         {"message", {{"role", "assistant"}, {"content", "Blue."}}},
                                         {"finish_reason", "stop"}}})},
               {"usage", usage(9, 2)}}
              .dump()));
  Request request = prompt();
  request.stream = false;
  CallRecord r = backend->generate(request);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "Blue.");
  EXPECT_EQ(r.token_count, 2);
  EXPECT_EQ(r.prompt_tokens, 9);
  EXPECT_EQ(r.done_reason, "stop");
  EXPECT_FALSE(last_body("/v1/chat/completions").contains("stream_options"));
}

TEST_F(OpenAIBackendTest, StreamCutBeforeAnyFinishIsAFailure) {
  serve_as("vllm");
  server.route("POST", "/v1/chat/completions", Reply::sse({openai_chunk("a"), openai_chunk("b")}));
  CallRecord r = backend->generate(prompt());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("without a finish_reason or [DONE]"), std::string::npos) << r.error;
  EXPECT_EQ(r.text, "ab");
  EXPECT_EQ(r.token_count_source, TokenCountSource::kChunks);
}

TEST_F(OpenAIBackendTest, DoneWithoutTrailingBlankLineAndSplitBytes) {
  serve_as("llamacpp");
  std::string body = ": ping\n\ndata: " + openai_chunk("caf\xC3\xA9") +
                     "\r\n\r\ndata: " + openai_chunk(" ok") +
                     "\n\ndata: " + openai_chunk("", "stop", usage(2, 2)) + "\n\ndata: [DONE]";
  server.route("POST", "/v1/chat/completions", Reply::split("text/event-stream", body, 3, 0));
  CallRecord r = backend->generate(prompt());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "caf\xC3\xA9 ok");
  EXPECT_EQ(r.token_count, 2);
  EXPECT_EQ(r.chunk_token_counts,
            (std::vector<int32_t>{1, 1}));  // total == chunks: 1 each is known
}

TEST_F(OpenAIBackendTest, ReasoningIsKeptApartFromTheAnswer) {
  serve_as("vllm");
  json thinking = json::parse(openai_chunk("x"));
  thinking["choices"][0]["delta"] = {{"reasoning_content", "Let me think."}};
  server.route(
      "POST", "/v1/chat/completions",
      Reply::sse({thinking.dump(), openai_chunk("Blue."), openai_chunk("", "stop"), "[DONE]"}));
  CallRecord r = backend->generate(prompt());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "Blue.");
  EXPECT_EQ(r.thinking, "Let me think.");
  EXPECT_EQ(r.chunk_count, 2);  // reasoning tokens are generated tokens: they count for TTFT
  EXPECT_EQ(r.t_first_token_ns, r.chunk_times_ns[0]);
}

TEST_F(OpenAIBackendTest, SeveralModelsNeedAName) {
  serve_as("vllm", {"a", "b"});
  CallRecord r = backend->generate(prompt());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error.find("serves 2 models (a, b)"), std::string::npos) << r.error;
  auto description = backend->describe("b");
  ASSERT_TRUE(description.ok());
  EXPECT_EQ(description->context_length, 8192);
}

TEST(OpenAIRequestPlan, ServersWithoutExtensionsGetStandardFieldsOnly) {
  Request request;
  request.prompt = "p";
  request.options = *Options::parse("num_predict=-1,top_p=0.9,min_p=0.1,stop=END");
  request.ignore_eos = true;
  OpenAIRequestPlan plan = plan_openai_request(request, "m", true, OpenAIFlavor::kTgi);
  json body = json::parse(plan.body);
  EXPECT_EQ(body["top_p"], 0.9);
  EXPECT_EQ(body["stop"], json::array({"END"}));
  EXPECT_FALSE(body.contains("min_p"));
  EXPECT_FALSE(body.contains("ignore_eos"));
  EXPECT_FALSE(body.contains("max_tokens"));  // -1 (no limit) has no OpenAI spelling
  EXPECT_EQ(plan.option_sources["num_predict"], "not applied");
  EXPECT_EQ(plan.option_sources["min_p"], "not applied");
  EXPECT_EQ(plan.applied.to_string(), "top_p=0.9 stop=[\"END\"]");
  EXPECT_EQ(plan.warnings.size(), 2u);  // ignore_eos, and the options not applied
}

TEST(OpenAIRequestPlan, OutputSchemaBecomesResponseFormatWhereTheServerTakesIt) {
  Request request;
  request.prompt = "p";
  request.output_schema = R"({"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}}})";
  for (OpenAIFlavor flavor : {OpenAIFlavor::kVllm, OpenAIFlavor::kLlamaCpp, OpenAIFlavor::kOllama, OpenAIFlavor::kUnknown}) {
    OpenAIRequestPlan plan = plan_openai_request(request, "m", true, flavor);
    ASSERT_TRUE(plan.error.is_ok());
    json body = json::parse(plan.body);
    EXPECT_EQ(body["response_format"]["type"], "json_schema");
    EXPECT_EQ(body["response_format"]["json_schema"]["schema"], json::parse(*request.output_schema));
    EXPECT_LT(plan.body.find("\"zeta\""), plan.body.find("\"alpha\"")) << plan.body;  // the caller's order
    EXPECT_TRUE(plan.warnings.empty());
  }
  request.output_schema = "json";
  EXPECT_EQ(json::parse(plan_openai_request(request, "m", true, OpenAIFlavor::kVllm).body)["response_format"],
            (json{{"type", "json_object"}}));
  // TGI spells it differently: not sent, and the record says the answer is free text.
  OpenAIRequestPlan tgi = plan_openai_request(request, "m", true, OpenAIFlavor::kTgi);
  EXPECT_FALSE(json::parse(tgi.body).contains("response_format"));
  ASSERT_EQ(tgi.warnings.size(), 1u);
  EXPECT_NE(tgi.warnings[0].find("structured output not applied"), std::string::npos);
  request.output_schema = "[1,";
  EXPECT_FALSE(plan_openai_request(request, "m", true, OpenAIFlavor::kVllm).error.is_ok());
}

TEST_F(OpenAIBackendTest, CapabilitiesSayWhetherTheServerTakesResponseFormat) {
  serve_as("vllm");
  (void)backend->generate(prompt());  // detects the flavor
  EXPECT_TRUE(backend->capabilities().structured_output);
  ProtocolServer tgi;
  tgi.route("GET", "/v1/models", Reply::json(testing::openai_models({"m"}, "tgi")));
  tgi.route("GET", "/info", Reply::json(R"({"router":"text-generation-router"})"));
  OpenAIBackendConfig config;
  config.base_url = tgi.base_url();
  OpenAIBackend tgi_backend(config);
  (void)tgi_backend.generate(prompt());
  EXPECT_FALSE(tgi_backend.capabilities().structured_output);
}

TEST(OpenAIBackendUnreachable, OneLineWithTheUrlAndAHint) {
  int port = testing::unused_local_port();
  OpenAIBackendConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(port);
  config.model = "m";
  OpenAIBackend backend(config);
  Request request;
  request.prompt = "hi";
  CallRecord r = backend.generate(request);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error.find('\n'), std::string::npos);
  EXPECT_NE(r.error.find("http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions"),
            std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("is the server running?"), std::string::npos);
}

}  // namespace
}  // namespace chimera::llm
