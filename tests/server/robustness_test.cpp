// What a client can get wrong, or do on purpose: malformed JSON, wrong types, impossible options,
// oversized bodies, wrong keys, more requests than the server holds, and many clients leaving at
// random. None of it may crash the server or leak a sequence.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "server/server_test_support.h"

namespace chimera::testing {
namespace {

class BadRequestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = start_server(tiny_config()).release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static server::Server* server_;

  // Posts `body` as is; expects `status` and an Ollama error naming `mention`.
  void expect_error(const std::string& path, const std::string& body, int status, const std::string& mention) {
    auto client = client_for(*server_);
    auto res = client.Post(path.c_str(), body, "application/json");
    ASSERT_TRUE(res) << path << " " << body;
    EXPECT_EQ(res->status, status) << body << " -> " << res->body;
    Json parsed = Json::parse(res->body, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << res->body;
    std::string message = parsed["error"].is_string() ? parsed["error"].get<std::string>()
                                                      : parsed["error"]["message"].get<std::string>();
    EXPECT_NE(message.find(mention), std::string::npos) << "error '" << message << "' does not mention " << mention;
  }
};
server::Server* BadRequestTest::server_ = nullptr;

TEST_F(BadRequestTest, MalformedJsonAndWrongTypesGet400) {
  ASSERT_NE(server_, nullptr);
  expect_error("/api/generate", "{\"model\": \"tiny\", \"prompt\": ", 400, "not valid JSON");
  expect_error("/api/generate", "", 400, "empty");
  expect_error("/api/generate", "[1, 2]", 400, "JSON object");
  expect_error("/api/generate", std::string(100, '[') + std::string(100, ']'), 400, "deeper");
  expect_error("/api/generate", R"({"prompt": "hi"})", 400, "model is required");
  expect_error("/api/generate", R"({"model": 5, "prompt": "hi"})", 400, "model must be a string");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": ["hi"]})", 400, "prompt must be a string");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "stream": "yes"})", 400, "stream");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "options": {"temperature": "hot"}})", 400,
               "options.temperature must be a number");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "options": {"num_ctx": 1.5}})", 400,
               "options.num_ctx must be an integer");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "options": []})", 400, "options must be an object");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "keep_alive": "soon"})", 400, "keep_alive");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "format": "xml"})", 400, "format");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "format": 7})", 400, "format");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "context": [1, "x"]})", 400, "context");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "context": [999999]})", 400, "vocabulary");
  expect_error("/api/chat", R"({"model": "tiny", "messages": "hi"})", 400, "messages must be an array");
  expect_error("/api/chat", R"({"model": "tiny", "messages": [{"role": "robot", "content": "x"}]})", 400, "role");
  expect_error("/api/chat", R"({"model": "tiny", "messages": [{"role": "user", "content": 7}]})", 400, "content");
  expect_error("/api/generate", R"({"model": "nope", "prompt": "hi"})", 404, "not found");
}

TEST_F(BadRequestTest, ImpossibleOptionsGet400) {
  ASSERT_NE(server_, nullptr);
  auto with = [](const std::string& options) {
    return R"({"model": "tiny", "prompt": "hi", "options": )" + options + "}";
  };
  expect_error("/api/generate", with(R"({"num_ctx": -5})"), 400, "num_ctx");
  expect_error("/api/generate", with(R"({"num_ctx": 0})"), 400, "num_ctx");
  expect_error("/api/generate", with(R"({"num_predict": -3})"), 400, "num_predict");
  expect_error("/api/generate", with(R"({"temperature": -1})"), 400, "temperature");
  expect_error("/api/generate", with(R"({"top_p": 1.5})"), 400, "top_p");
  expect_error("/api/generate", with(R"({"min_p": -0.1})"), 400, "min_p");
  expect_error("/api/generate", with(R"({"repeat_penalty": 0})"), 400, "repeat_penalty");
  expect_error("/api/generate", with(R"({"num_thread": 100000})"), 400, "num_thread");
  expect_error("/api/generate", with(R"({"num_batch": 0})"), 400, "num_batch");
  expect_error("/v1/chat/completions", R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0})",
               400, "max_tokens");
}

// Numbers a double cannot hold, or that the sampler's floats cannot, are the client's error: a 400
// naming the field, never a 500 (nlohmann throws out_of_range for 1e999 while parsing).
TEST_F(BadRequestTest, OutOfRangeNumbersGet400NamingTheField) {
  ASSERT_NE(server_, nullptr);
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "options": {"temperature": 1e999}})", 400,
               "options.temperature is out of range");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "options": {"top_p": -1e400}})", 400,
               "options.top_p is out of range");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "context": [1, 2, 1e999]})", 400, "context[2]");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "keep_alive": 1e999})", 400, "keep_alive");
  expect_error("/api/chat", R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "options": {"seed": 1e999}})",
               400, "options.seed");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "options": {"temperature": 1e300}})", 400,
               "temperature");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "options": {"repeat_penalty": 1e-300}})", 400,
               "repeat_penalty");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "options": {"num_ctx": 1e30}})", 400,
               "options.num_ctx must be an integer");
  expect_error("/api/generate", R"({"model": "tiny", "prompt": "hi", "options": {"seed": 18446744073709551616}})", 400,
               "options.seed");
  const std::string chat = R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}], )";
  expect_error("/v1/chat/completions", chat + R"("temperature": 1e999})", 400, "temperature is out of range");
  expect_error("/v1/chat/completions", chat + R"("max_tokens": 1e999})", 400, "max_tokens is out of range");
  expect_error("/v1/chat/completions", chat + R"("top_p": 1e300})", 400, "top_p");
  expect_error("/v1/chat/completions", chat + R"("seed": 99999999999999999999})", 400, "seed");
  expect_error("/v1/completions", R"({"model": "tiny", "prompt": [1, 1e999]})", 400, "prompt[1]");
  expect_error("/v1/chat/completions", chat + R"("response_format": {"type": "json_schema", "json_schema": {"name": "x",
      "schema": {"type": "integer", "maximum": 1e999}}})", 400, "response_format.json_schema.schema.maximum");
  // The server answers normally afterwards.
  auto client = client_for(*server_);
  auto ok = client.Get("/health");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(BadRequestTest, OversizedBodiesGet413) {
  ASSERT_NE(server_, nullptr);
  // 10 MiB with a Content-Length: refused before it is read into memory.
  std::string big = R"({"model": "tiny", "prompt": ")" + std::string(10u << 20, 'a') + "\"}";
  {
    auto client = client_for(*server_);
    auto res = client.Post("/api/generate", big, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);
    EXPECT_NE(Json::parse(res->body)["error"].get<std::string>().find("limit"), std::string::npos);
  }
  // The same without a Content-Length (chunked upload): cut off at the limit.
  RawClient raw(server_->port());
  std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n";
  ASSERT_TRUE(raw.send_all(head));
  const std::string chunk(1u << 20, 'b');
  for (int i = 0; i < 10; ++i) {
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
    if (!raw.send_all(size + chunk + "\r\n")) break;  // the server may close once over the limit
  }
  raw.send_all("0\r\n\r\n");
  ASSERT_TRUE(raw.read_until("\r\n\r\n", std::chrono::seconds(20))) << raw.received();
  EXPECT_EQ(raw.received().rfind("HTTP/1.1 413", 0), 0u) << raw.received().substr(0, 200);

  // The server is fine afterwards.
  auto client = client_for(*server_);
  auto ok = client.Get("/health");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(AuthTest, ApiKeyIsRequiredOnEveryRequest) {
  server::ServerConfig config = tiny_config();
  config.api_key = "s3cret";
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  auto client = client_for(*server);
  const std::string body = R"({"model": "tiny", "prompt": "hi", "stream": false, "options": {"num_predict": 2}})";
  for (const char* path : {"/api/tags", "/metrics", "/health", "/v1/models"}) {
    auto res = client.Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << path;
  }
  auto none = client.Post("/api/generate", body, "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_TRUE(Json::parse(none->body)["error"].is_string());

  httplib::Client wrong("127.0.0.1", server->port());
  wrong.set_bearer_token_auth("guess");
  auto bad = wrong.Post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}]})",
                        "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_EQ(Json::parse(bad->body)["error"]["type"], "authentication_error");

  httplib::Client right("127.0.0.1", server->port());
  right.set_bearer_token_auth("s3cret");
  auto good = right.Post("/api/generate", body, "application/json");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 200) << good->body;
  auto tags = right.Get("/api/tags");
  ASSERT_TRUE(tags);
  EXPECT_EQ(tags->status, 200);
}

TEST(CapacityTest, BeyondTheQueueRequestsGet503) {
  server::ServerConfig config = tiny_config();
  config.models = {"slow=" + slow_gemma_path()};
  config.parallel = 1;
  config.max_queue = 1;
  config.ctx = 8192;
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  const std::string long_run =
      R"({"model": "slow", "prompt": "x", "options": {"num_predict": 8000, "ignore_eos": true}})";
  RawClient running(server->port());
  ASSERT_TRUE(running.send_all(http_post("/api/generate", long_run)));
  ASSERT_TRUE(running.read_until("\"done\":false", std::chrono::seconds(30)));
  RawClient waiting(server->port());
  ASSERT_TRUE(waiting.send_all(http_post("/api/generate", long_run)));
  ASSERT_TRUE(wait_until([&] { return metric_value(scrape_metrics(*server), "chimera_queue_depth") == 1; },
                         std::chrono::seconds(10)));
  auto client = client_for(*server);
  auto refused = client.Post("/api/generate", long_run, "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(Json::parse(refused->body)["error"].get<std::string>().find("busy"), std::string::npos);
  auto refused_openai = client.Post("/v1/completions", R"({"prompt": "x", "max_tokens": 5})", "application/json");
  ASSERT_TRUE(refused_openai);
  EXPECT_EQ(refused_openai->status, 503);
  EXPECT_EQ(metric_value(scrape_metrics(*server), "chimera_rejected_requests_total", "reason=\"queue_full\""), 2);
}

// A port that a running server holds is refused with a message saying what to do, not shared.
TEST(BindTest, APortInUseIsAnErrorNotASecondServer) {
  auto first = start_server(tiny_config());
  ASSERT_NE(first, nullptr);
  server::ServerConfig config = tiny_config();
  config.port = first->port();
  auto second = server::Server::create(config);
  ASSERT_TRUE(second.ok()) << second.status().message();
  Status started = (*second)->start();
  ASSERT_FALSE(started.is_ok());
  EXPECT_NE(started.message().find("in use"), std::string::npos) << started.message();
  EXPECT_NE(started.message().find("--port"), std::string::npos) << started.message();
  EXPECT_EQ(client_for(*first).Get("/health")->status, 200);
}

// Many clients connecting in the same instant all get answers (the accept queue is wider than
// cpp-httplib's built-in 5).
TEST(BindTest, ABurstOfConnectionsIsAllAccepted) {
  auto server = start_server(tiny_config());
  ASSERT_NE(server, nullptr);
  constexpr int kClients = 64;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<RawClient>(server->port()));
  for (auto& c : clients) ASSERT_TRUE(c->send_all("GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  int answered = 0;
  for (auto& c : clients) answered += c->read_until("\"version\"", std::chrono::seconds(20)) ? 1 : 0;
  EXPECT_EQ(answered, kClients);
}

// 200 requests at concurrency 16; about a third of the clients leave at a random moment. Every
// request that stays gets a complete answer, and afterwards nothing is left running or queued.
TEST(StressTest, ManyClientsWithRandomDisconnects) {
  server::ServerConfig config = tiny_config();
  config.ctx = 1024;
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  constexpr int kRequests = 200, kConcurrency = 16;
  std::atomic<int> next{0}, completed{0}, left{0}, failures{0};
  std::vector<std::string> failure_notes(kRequests);
  auto worker = [&](int worker_index) {
    std::mt19937 rng(1234 + static_cast<unsigned>(worker_index));
    for (int i = next++; i < kRequests; i = next++) {
      const int kind = static_cast<int>(rng() % 6);
      const int num_predict = 4 + static_cast<int>(rng() % 60);
      Json options = {{"num_predict", num_predict}, {"seed", i}, {"ignore_eos", rng() % 2 == 0}};
      const bool openai = kind == 5;
      if (kind <= 1) {  // leaves: right after sending (0) or after the first token (1)
        RawClient raw(server->port());
        Json body = {{"model", "tiny"}, {"prompt", "leave " + std::to_string(i)}, {"options", options}};
        raw.send_all(http_post("/api/generate", body.dump()));
        if (kind == 1) raw.read_until("\"done\":false", std::chrono::seconds(30));
        raw.close();
        ++left;
        continue;
      }
      auto client = client_for(*server);
      httplib::Result res = [&] {
        if (openai) {
          Json body = {{"model", "tiny"}, {"messages", Json::array({{{"role", "user"}, {"content", "q"}}})},
                       {"max_tokens", num_predict}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
          return client.Post("/v1/chat/completions", body.dump(), "application/json");
        }
        if (kind == 3) {
          Json body = {{"model", "tiny"}, {"messages", Json::array({{{"role", "user"}, {"content", "c"}}})},
                       {"options", options}};
          return client.Post("/api/chat", body.dump(), "application/json");
        }
        Json body = {{"model", "tiny"}, {"prompt", "stay " + std::to_string(i)}, {"options", options},
                     {"stream", kind != 4}};
        return client.Post("/api/generate", body.dump(), "application/json");
      }();
      bool ok = res && res->status == 200;
      if (ok && openai) {
        std::vector<std::string> events = sse_data(res->body);
        ok = !events.empty() && events.back() == "[DONE]";
      } else if (ok) {
        std::vector<Json> lines = parse_ndjson(res->body);
        ok = !lines.empty() && lines.back().value("done", false) && lines.back().contains("eval_count") &&
             lines.back()["eval_count"].get<int>() <= num_predict;
      }
      if (ok) {
        ++completed;
      } else {
        failure_notes[static_cast<size_t>(i)] = res ? std::to_string(res->status) + " " + res->body.substr(0, 200)
                                                    : "no response (i=" + std::to_string(i) + " kind " + std::to_string(kind) + "): " + httplib::to_string(res.error());
        ++failures;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < kConcurrency; ++w) threads.emplace_back(worker, w);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (const std::string& note : failure_notes) {
    if (!note.empty()) ADD_FAILURE() << note;
  }
  EXPECT_EQ(completed.load() + left.load(), kRequests);
  EXPECT_TRUE(wait_until(
      [&] {
        std::string m = scrape_metrics(*server);
        return metric_value(m, "chimera_active_sequences") == 0 && metric_value(m, "chimera_queue_depth") == 0 &&
               metric_value(m, "chimera_kv_cache_used_cells") == 0;
      },
      std::chrono::seconds(30)))
      << scrape_metrics(*server);
  // Every request that reached the scheduler ended one way or another.
  std::string m = scrape_metrics(*server);
  double ended = 0;
  for (const char* outcome : {"stop", "length", "cancelled"}) {
    double v = metric_value(m, "chimera_sequences_total", std::string("outcome=\"") + outcome + "\"");
    if (!std::isnan(v)) ended += v;
  }
  EXPECT_GE(ended, completed.load());
  EXPECT_TRUE(std::isnan(metric_value(m, "chimera_sequences_total", "outcome=\"error\"")));
}

TEST(DrainTest, InFlightRequestsFinishAndNewOnesAreRefused) {
  server::ServerConfig config = tiny_config();
  config.models = {"slow=" + slow_gemma_path()};
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  RawClient running(server->port());
  Json body = {{"model", "slow"}, {"prompt", "x"}, {"options", {{"num_predict", 40}, {"ignore_eos", true}}}};
  ASSERT_TRUE(running.send_all(http_post("/api/generate", body.dump())));
  ASSERT_TRUE(running.read_until("\"done\":false", std::chrono::seconds(30)));
  const int port = server->port();
  std::thread drainer([&] { EXPECT_EQ(server->drain(std::chrono::seconds(60)), 0); });
  // While draining: /health says so and new generations are refused.
  EXPECT_TRUE(wait_until(
      [&] {
        httplib::Client c("127.0.0.1", port);
        auto res = c.Get("/health");
        return !res || res->status == 503;
      },
      std::chrono::seconds(10)));
  ASSERT_TRUE(running.read_until("\"done\":true", std::chrono::seconds(60)))
      << "the in-flight request was cut: " << running.received().substr(running.received().size() > 300 ? running.received().size() - 300 : 0);
  EXPECT_NE(running.received().find("\"eval_count\":40"), std::string::npos);
  drainer.join();
  EXPECT_FALSE(server->running());
}

}  // namespace
}  // namespace chimera::testing
