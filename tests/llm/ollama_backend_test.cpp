// OllamaBackend over real HTTP on loopback, against replayed Ollama wire formats.
#include "llm/ollama_backend.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "llm/support/protocol_server.h"
#include "wire_fixtures.h"

namespace chimera::llm {
namespace {

using testing::json;
using testing::ProtocolServer;
using testing::Reply;

class OllamaBackendTest : public ::testing::Test {
 public:
  static Request prompt(std::string text = "Why is the sky blue?") {
    Request request;
    request.prompt = std::move(text);
    return request;
  }

 protected:
  void SetUp() override {
    server.route("POST", "/api/show",
                 Reply::json(testing::ollama_show("num_ctx                        4096\n"
                                                  "stop                           \"<|eot_id|>\"\n"
                                                  "num_keep                       24")));
    server.route("GET", "/api/ps", Reply::json(testing::ollama_ps({"llama3.2:latest"})));
    server.route("GET", "/api/tags",
                 Reply::json(testing::ollama_tags({"llama3.2:latest", "gemma3:latest"})));
    server.route("GET", "/api/version", Reply::json(R"({"version":"0.6.2"})"));
    OllamaBackendConfig config;
    config.base_url = server.base_url();
    config.model = "llama3.2";
    backend = std::make_unique<OllamaBackend>(config);
  }

  json last_body(std::string_view path) {
    auto received = server.received(path);
    EXPECT_FALSE(received.empty()) << path;
    return received.empty() ? json() : json::parse(received.back().body);
  }

  ProtocolServer server;  // declared first: it outlives the backend's connections
  std::unique_ptr<OllamaBackend> backend;
};

TEST_F(OllamaBackendTest, StreamsGenerateAndKeepsTheServersStatistics) {
  testing::OllamaFinal final;
  final.eval_count = 3;
  server.route("POST", "/api/generate",
               Reply::ndjson({testing::ollama_token("The"), testing::ollama_token(" sky"),
                              testing::ollama_token(" is"), testing::ollama_final(final)}));
  std::vector<std::string> pieces;
  CallRecord r = backend->generate(prompt(), [&](std::string_view text) {
    pieces.emplace_back(text);
    return true;
  });
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "The sky is");
  EXPECT_EQ(pieces, (std::vector<std::string>{"The", " sky", " is"}));
  EXPECT_EQ(r.token_count, 3);
  EXPECT_EQ(r.token_count_source, TokenCountSource::kServer);
  EXPECT_EQ(r.chunk_count, 3);
  EXPECT_EQ(r.chunk_token_counts, (std::vector<int32_t>{1, 1, 1}));
  EXPECT_EQ(r.done_reason, "stop");
  EXPECT_EQ(r.server.total_ns, 4935886);
  EXPECT_EQ(r.server.load_ns, 534);
  EXPECT_EQ(r.server.prompt_eval_count, 26);
  EXPECT_EQ(r.server.prompt_eval_ns, 107345);
  EXPECT_EQ(r.server.eval_count, 3);
  EXPECT_EQ(r.server.eval_ns, 4289432);
  EXPECT_EQ(r.prompt_tokens, 26);
  EXPECT_EQ(r.backend, "ollama://" + server.host_port());
  EXPECT_EQ(r.model, "llama3.2");
  EXPECT_EQ(r.endpoint, "/api/generate");
  EXPECT_FALSE(r.model_load_paid);
  EXPECT_FALSE(r.prompt_truncated);
  testing::expect_clocks_ordered(r);
}

TEST_F(OllamaBackendTest, SendsOptionsExactlyAsSetAndNothingUnset) {
  testing::OllamaFinal final;
  final.eval_count = 0;
  server.route("POST", "/api/generate", Reply::ndjson({testing::ollama_final(final)}));
  Request request = prompt("hi");
  request.options = *Options::parse("temperature=0.2,num_ctx=1024,stop=User:");
  request.keep_alive = "0";
  ASSERT_TRUE(backend->generate(request).ok);
  json body = last_body("/api/generate");
  EXPECT_EQ(body["model"], "llama3.2");
  EXPECT_EQ(body["prompt"], "hi");
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["keep_alive"], 0);  // a number: unload at once
  EXPECT_EQ(body["options"],
            (json{{"num_ctx", 1024}, {"temperature", 0.2}, {"stop", json::array({"User:"})}}));

  ASSERT_TRUE(backend->generate(prompt("hi")).ok);
  json bare = last_body("/api/generate");
  EXPECT_FALSE(bare.contains("options"));  // unset means the backend's default: nothing is sent
  EXPECT_FALSE(bare.contains("keep_alive"));
  EXPECT_FALSE(bare.contains("system"));
  EXPECT_FALSE(bare.contains("raw"));
}

TEST_F(OllamaBackendTest, SendsTheOutputSchemaAsFormatWithItsKeysInOrder) {
  testing::OllamaFinal final;
  server.route("POST", "/api/generate", Reply::ndjson({testing::ollama_token("{}"), testing::ollama_final(final)}));
  server.route("POST", "/api/chat", Reply::ndjson({testing::ollama_final(final)}));
  EXPECT_TRUE(backend->capabilities().structured_output);
  Request request = prompt("report");
  request.output_schema = R"({"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},"required":["zeta"]})";
  CallRecord r = backend->generate(request);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.warnings.empty() || r.warnings.front().find("structured") == std::string::npos);
  const std::string raw = server.received("/api/generate").back().body;
  json body = json::parse(raw);
  EXPECT_EQ(body["format"]["required"], json::array({"zeta"}));
  // Ollama generates properties in the order the schema lists them: the body keeps it.
  EXPECT_LT(raw.find("\"zeta\""), raw.find("\"alpha\"")) << raw;

  Request chat;
  chat.messages = {{"user", "hi"}};
  chat.output_schema = "json";
  ASSERT_TRUE(backend->generate(chat).ok);
  EXPECT_EQ(last_body("/api/chat")["format"], "json");

  ASSERT_TRUE(backend->generate(prompt("free")).ok);
  EXPECT_FALSE(last_body("/api/generate").contains("format"));

  const size_t sent = server.received("/api/generate").size();
  Request broken = prompt("x");
  broken.output_schema = "{not json";
  CallRecord failed = backend->generate(broken);
  EXPECT_FALSE(failed.ok);
  EXPECT_NE(failed.error.find("output_schema"), std::string::npos) << failed.error;
  EXPECT_EQ(server.received("/api/generate").size(), sent);  // nothing was sent
}

TEST_F(OllamaBackendTest, RecordsWhereEachOptionInForceCameFrom) {
  testing::OllamaFinal final;
  final.eval_count = 1;
  server.route("POST", "/api/generate",
               Reply::ndjson({testing::ollama_token("x"), testing::ollama_final(final)}));
  Request request = prompt();
  request.options = *Options::parse("temperature=0.2");
  CallRecord r = backend->generate(request);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.option_sources["temperature"], "sent");
  EXPECT_EQ(r.option_sources["num_ctx"], "model default");  // from /api/show "parameters"
  EXPECT_EQ(r.option_sources["stop"], "model default");
  EXPECT_EQ(r.option_sources["top_k"], "backend default");
  EXPECT_EQ(r.options_applied.num_ctx, 4096);
  EXPECT_EQ(r.options_applied.temperature, 0.2);
  EXPECT_EQ(r.options_applied.stop, (std::vector<std::string>{"<|eot_id|>"}));
  EXPECT_FALSE(r.options_applied.top_k.has_value());
  EXPECT_EQ(r.options_requested.to_string(), "temperature=0.2");
  // /api/show is asked once per model, not per call.
  ASSERT_TRUE(backend->generate(request).ok);
  EXPECT_EQ(server.received("/api/show").size(), 1u);
}

TEST_F(OllamaBackendTest, ChatSendsMessagesWithTheSystemFirst) {
  testing::OllamaFinal final;
  final.chat = true;
  final.eval_count = 2;
  server.route("POST", "/api/chat",
               Reply::ndjson({testing::ollama_chat_token("Hello"), testing::ollama_chat_token("!"),
                              testing::ollama_final(final)}));
  Request request;
  request.system = "Be brief.";
  request.messages = {{"user", "why is the sky blue?"},
                      {"assistant", "due to rayleigh scattering."},
                      {"user", "how is that different than mie scattering?"}};
  CallRecord r = backend->generate(request);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.endpoint, "/api/chat");
  EXPECT_EQ(r.text, "Hello!");
  EXPECT_EQ(r.token_count, 2);
  json body = last_body("/api/chat");
  ASSERT_EQ(body["messages"].size(), 4u);
  EXPECT_EQ(body["messages"][0], (json{{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(body["messages"][3]["content"], "how is that different than mie scattering?");
}

TEST_F(OllamaBackendTest, NonStreamingAnswerIsOneObject) {
  testing::OllamaFinal final;
  final.eval_count = 13;
  final.response = "The sky is blue because it is the color of the sky.";
  server.route("POST", "/api/generate", Reply::json(testing::ollama_final(final)));
  Request request = prompt();
  request.stream = false;
  CallRecord r = backend->generate(request);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, final.response);
  EXPECT_EQ(r.token_count, 13);
  EXPECT_EQ(r.token_count_source, TokenCountSource::kServer);
  EXPECT_EQ(r.chunk_count, 1);
  EXPECT_TRUE(r.chunk_token_counts.empty());  // 13 tokens in one chunk: per-chunk counts unknown
  EXPECT_EQ(last_body("/api/generate")["stream"], false);
}

TEST_F(OllamaBackendTest, LinesSplitMidLineAndMidCharacterAcrossReads) {
  testing::OllamaFinal final;
  final.eval_count = 3;
  std::string body =
      testing::ollama_token("caf\xC3\xA9") + "\n" + testing::ollama_token(" \xF0\x9F\xA4\x96") +
      "\n" + testing::ollama_token(" na\xC3\xAFve") + "\r\n" + testing::ollama_final(final) + "\n";
  // 7-byte pieces with a pause between them: every line arrives in several reads.
  server.route("POST", "/api/generate", Reply::split("application/x-ndjson", body, 7, 1));
  CallRecord r = backend->generate(prompt());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "caf\xC3\xA9 \xF0\x9F\xA4\x96 na\xC3\xAFve");
  EXPECT_EQ(r.chunk_count, 3);
  EXPECT_EQ(r.token_count, 3);
  testing::expect_clocks_ordered(r);
}

TEST_F(OllamaBackendTest, SeveralLinesInOneReadAndALineCarryingTwoTokens) {
  testing::OllamaFinal final;
  final.eval_count = 4;  // one line held a token whose text needed the next one
  std::string lines = testing::ollama_token("a") + "\n" + testing::ollama_token("bc") + "\n" +
                      testing::ollama_token("d") + "\n" + testing::ollama_final(final) + "\n";
  Reply reply;
  reply.content_type = "application/x-ndjson";
  reply.pieces = {{lines, 0}};
  server.route("POST", "/api/generate", reply);
  CallRecord r = backend->generate(prompt());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "abcd");
  EXPECT_EQ(r.chunk_count, 3);
  EXPECT_EQ(r.token_count, 4);
  EXPECT_EQ(r.token_count_source, TokenCountSource::kServer);
  EXPECT_TRUE(r.chunk_token_counts.empty());  // which chunk held two is unknown: not guessed
}

TEST_F(OllamaBackendTest, ErrorObjectMidStreamFailsWithPartialTextAndTheServersMessage) {
  server.route("POST", "/api/generate",
               Reply::ndjson({testing::ollama_token(" Yes"), testing::ollama_token("."),
                              R"({"error":"an error was encountered while running the model"})"}));
  CallRecord r = backend->generate(prompt());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kRemoteError);
  EXPECT_NE(r.error.find("an error was encountered while running the model"), std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("mid-stream"), std::string::npos);
  EXPECT_EQ(r.text, " Yes.");
  EXPECT_EQ(r.token_count, 2);  // what did arrive, as chunks, never a zero
  EXPECT_EQ(r.token_count_source, TokenCountSource::kChunks);
  EXPECT_FALSE(r.server.eval_count.has_value());
}

TEST_F(OllamaBackendTest, MalformedLineFailsWithTheLineShown) {
  server.route("POST", "/api/generate",
               Reply::ndjson({testing::ollama_token("ok"), "{\"response\": \"half",
                              testing::ollama_token("x")}));
  CallRecord r = backend->generate(prompt());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kParseError);
  EXPECT_NE(r.error.find("line 2"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("{\"response\": \"half"), std::string::npos) << r.error;
  EXPECT_EQ(r.text, "ok");
}

TEST_F(OllamaBackendTest, AbruptCloseFailsWithPartialText) {
  Reply reply = Reply::ndjson({testing::ollama_token("one"), testing::ollama_token(" two")});
  reply.cut = true;
  server.route("POST", "/api/generate", reply);
  CallRecord r = backend->generate(prompt());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error.find("before the response was complete"), std::string::npos) << r.error;
  EXPECT_EQ(r.text, "one two");
  EXPECT_EQ(r.token_count_source, TokenCountSource::kChunks);
}

TEST_F(OllamaBackendTest, StreamWithoutFinalStatisticsIsAFailureNotZeros) {
  server.route("POST", "/api/generate",
               Reply::ndjson({testing::ollama_token("a"), testing::ollama_token("b")}));
  CallRecord r = backend->generate(prompt());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("final object"), std::string::npos) << r.error;
  EXPECT_EQ(r.text, "ab");
  EXPECT_FALSE(r.server.eval_count.has_value());
  EXPECT_FALSE(r.server.eval_ns.has_value());
  EXPECT_FALSE(r.prompt_tokens.has_value());
}

TEST_F(OllamaBackendTest, SlowFirstByteShowsInTheClocks) {
  testing::OllamaFinal final;
  final.eval_count = 1;
  Reply reply = Reply::ndjson({testing::ollama_token("late"), testing::ollama_final(final)});
  reply.delay_ms_before_headers = 150;
  server.route("POST", "/api/generate", reply);
  CallRecord r = backend->generate(prompt());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GE(r.t_first_byte_ns - r.t_request_ns, 150'000'000);
  EXPECT_GE(r.t_first_token_ns - r.t_request_ns, 150'000'000);
  ASSERT_TRUE(r.transport.first_byte_ns.has_value());
  EXPECT_GE(*r.transport.first_byte_ns, 150'000'000);
  testing::expect_clocks_ordered(r);
}

TEST_F(OllamaBackendTest, SilenceLongerThanTheReadTimeoutFails) {
  Reply reply = Reply::ndjson({testing::ollama_token("late")});
  reply.delay_ms_before_headers = 1000;
  server.route("POST", "/api/generate", reply);
  Request request = prompt();
  request.read_timeout_ms = 200;
  CallRecord r = backend->generate(request);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kTimeout);
  EXPECT_NE(r.error.find("read timeout 200 ms"), std::string::npos) << r.error;
  EXPECT_LT(r.t_done_ns - r.t_request_ns, 900'000'000);
}

TEST_F(OllamaBackendTest, HttpErrorShowsTheServersOwnMessage) {
  server.route(
      "POST", "/api/generate",
      Reply::json(R"({"error":"llama runner process has terminated: exit status 2"})", 500));
  CallRecord r = backend->generate(prompt());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kRemoteError);
  EXPECT_NE(r.error.find("HTTP 500"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("llama runner process has terminated: exit status 2"), std::string::npos);
  EXPECT_EQ(r.token_count_source, TokenCountSource::kNone);
}

TEST_F(OllamaBackendTest, UnknownModelListsTheServersModels) {
  server.route("POST", "/api/show", Reply::json(R"({"error":"model 'nope' not found"})", 404));
  Request request = prompt();
  request.model = "nope";
  CallRecord r = backend->generate(request);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kNotFound);
  EXPECT_NE(r.error.find("model 'nope' not found"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("this server has: llama3.2:latest, gemma3:latest"), std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("ollama pull nope"), std::string::npos);
  EXPECT_TRUE(server.received("/api/generate").empty());  // no generation was attempted
}

TEST_F(OllamaBackendTest, FlagsACallThatLoadedTheModel) {
  testing::OllamaFinal final;
  final.eval_count = 1;
  final.load_duration = 320'000'000;
  // The load happens before the first byte: the replay waits as long, or the figure is impossible.
  Reply loading = Reply::ndjson({testing::ollama_token("x"), testing::ollama_final(final)});
  loading.delay_ms_before_headers = 330;
  server.route("POST", "/api/generate", loading);
  server.route("GET", "/api/ps",
               Reply::json(testing::ollama_ps({})));  // not loaded before the call
  CallRecord cold = backend->generate(prompt());
  ASSERT_TRUE(cold.ok) << cold.error;
  EXPECT_TRUE(cold.model_load_paid);
  ASSERT_FALSE(cold.warnings.empty());
  EXPECT_NE(cold.warnings[0].find("320 ms"), std::string::npos) << cold.warnings[0];

  // Loaded per /api/ps, yet a large load_duration (a reload after an option change) still counts.
  server.route("GET", "/api/ps", Reply::json(testing::ollama_ps({"llama3.2:latest"})));
  EXPECT_TRUE(backend->generate(prompt()).model_load_paid);

  final.load_duration = 5'000'000;
  server.route("POST", "/api/generate",
               Reply::ndjson({testing::ollama_token("x"), testing::ollama_final(final)}));
  EXPECT_FALSE(backend->generate(prompt()).model_load_paid);
}

TEST_F(OllamaBackendTest, FlagsATruncatedPrompt) {
  testing::OllamaFinal final;
  final.eval_count = 1;
  final.prompt_eval_count = 256;
  server.route("POST", "/api/generate",
               Reply::ndjson({testing::ollama_token("x"), testing::ollama_final(final)}));
  Request request = prompt(std::string(3000, 'a'));
  request.options = *Options::parse("num_ctx=256");
  CallRecord by_ctx = backend->generate(request);
  ASSERT_TRUE(by_ctx.ok) << by_ctx.error;
  EXPECT_TRUE(by_ctx.prompt_truncated);

  // No num_ctx sent, and the model default (4096) not reached, but 8000 bytes in 40 tokens.
  final.prompt_eval_count = 40;
  server.route("POST", "/api/generate",
               Reply::ndjson({testing::ollama_token("x"), testing::ollama_final(final)}));
  CallRecord by_length = backend->generate(prompt(std::string(8000, 'b')));
  EXPECT_TRUE(by_length.prompt_truncated);

  final.prompt_eval_count = 26;
  server.route("POST", "/api/generate",
               Reply::ndjson({testing::ollama_token("x"), testing::ollama_final(final)}));
  EXPECT_FALSE(backend->generate(prompt()).prompt_truncated);
}

TEST_F(OllamaBackendTest, MissingPromptCountIsUnknownNotZero) {
  testing::OllamaFinal final;
  final.eval_count = 1;
  final.prompt_eval_count.reset();  // ollama/ollama#2068: absent on a cached prompt
  final.prompt_eval_duration.reset();
  server.route("POST", "/api/generate",
               Reply::ndjson({testing::ollama_token("x"), testing::ollama_final(final)}));
  CallRecord r = backend->generate(prompt());
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.prompt_tokens.has_value());
  EXPECT_FALSE(r.server.prompt_eval_ns.has_value());
  EXPECT_FALSE(r.prompt_truncated);
}

TEST_F(OllamaBackendTest, TextCallbackCanStopTheCall) {
  std::vector<std::string> lines;
  for (int i = 0; i < 20; ++i) lines.push_back(testing::ollama_token("t" + std::to_string(i)));
  server.route("POST", "/api/generate", Reply::ndjson(lines, 5));
  int seen = 0;
  CallRecord r = backend->generate(prompt(), [&](std::string_view) { return ++seen < 2; });
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kCancelled);
  EXPECT_EQ(r.done_reason, "cancelled");
  EXPECT_EQ(r.text, "t0t1");
}

TEST_F(OllamaBackendTest, CancelledPredicateStopsAStalledCall) {
  Reply reply = Reply::ndjson({testing::ollama_token("x")});
  reply.delay_ms_before_headers = 1000;
  server.route("POST", "/api/generate", reply);
  Request request = prompt();
  auto start = std::chrono::steady_clock::now();
  request.cancelled = [start] {
    return std::chrono::steady_clock::now() - start > std::chrono::milliseconds(100);
  };
  CallRecord r = backend->generate(request);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(800));
}

TEST_F(OllamaBackendTest, ListsDescribesAndReportsTheVersion) {
  auto models = backend->list_models();
  ASSERT_TRUE(models.ok()) << models.status().message();
  ASSERT_EQ(models->size(), 2u);
  EXPECT_EQ((*models)[1].name, "gemma3:latest");
  EXPECT_EQ((*models)[0].family, "llama");
  EXPECT_EQ((*models)[0].parameter_size, "8B");
  EXPECT_EQ((*models)[0].quantization, "Q4_0");
  EXPECT_EQ((*models)[0].size_bytes, 3825819519u);

  auto description = backend->describe("llama3.2");
  ASSERT_TRUE(description.ok()) << description.status().message();
  EXPECT_EQ(description->context_length, 131072);
  EXPECT_EQ(description->defaults.to_string(), "num_ctx=4096 stop=[\"<|eot_id|>\"]");
  EXPECT_EQ(description->details["parameter.num_keep"], "24");
  EXPECT_EQ(description->details["quantization_level"], "Q4_K_M");
  EXPECT_EQ(description->template_text, "{{ .Prompt }}");
  EXPECT_FALSE(description->entry.synthetic);  // only chimera serve marks dummy weights

  auto version = backend->version();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, "0.6.2");
  auto loaded = backend->loaded_models();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, (std::vector<std::string>{"llama3.2:latest"}));
}

TEST_F(OllamaBackendTest, ManyConcurrentStreams) {
  server.route("POST", "/api/generate", [](const testing::Received& request) {
    std::string prompt = json::parse(request.body)["prompt"];
    std::vector<std::string> lines;
    for (int i = 0; i < 20; ++i)
      lines.push_back(testing::ollama_token(prompt + ":" + std::to_string(i) + " "));
    testing::OllamaFinal final;
    final.eval_count = 20;
    lines.push_back(testing::ollama_final(final));
    return Reply::ndjson(lines, 1);
  });
  constexpr int kThreads = 8;
  std::vector<CallRecord> records(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(
        [&, t] { records[t] = backend->generate(prompt("p" + std::to_string(t))); });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(records[t].ok) << records[t].error;
    std::string expected;
    for (int i = 0; i < 20; ++i)
      expected += "p" + std::to_string(t) + ":" + std::to_string(i) + " ";
    EXPECT_EQ(records[t].text, expected);  // no stream crossed into another
    EXPECT_EQ(records[t].token_count, 20);
  }
}

TEST(OllamaBackendUnreachable, OneLineWithTheUrlAndAHint) {
  int port = testing::unused_local_port();
  OllamaBackendConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(port);
  config.model = "gemma3";
  OllamaBackend backend(config);
  CallRecord r = backend.generate(OllamaBackendTest::prompt("hi"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("http://127.0.0.1:" + std::to_string(port)), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("is Ollama running? start it with: ollama serve"), std::string::npos)
      << r.error;
  auto models = backend.list_models();
  ASSERT_FALSE(models.ok());
  EXPECT_NE(models.status().message().find("ollama serve"), std::string::npos);
}

TEST(OllamaParameters, ParsesTheShowTextFormat) {
  std::map<std::string, std::string> other;
  Options options = parse_ollama_parameters(
      "num_keep                       24\nstop                           \"<|start_header_id|>\"\n"
      "stop                           \"<|end_header_id|>\"\ntemperature                    0.6\n"
      "top_p                          0.9\nmirostat 1\n",
      &other);
  EXPECT_EQ(options.temperature, 0.6);
  EXPECT_EQ(options.top_p, 0.9);
  EXPECT_EQ(options.stop, (std::vector<std::string>{"<|start_header_id|>", "<|end_header_id|>"}));
  EXPECT_EQ(other["num_keep"], "24");
  EXPECT_EQ(other["mirostat"], "1");
  EXPECT_TRUE(same_ollama_model("gemma3", "gemma3:latest"));
  EXPECT_FALSE(same_ollama_model("gemma3:1b", "gemma3:latest"));
}

}  // namespace
}  // namespace chimera::llm
