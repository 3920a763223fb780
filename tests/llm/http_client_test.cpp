#include "llm/http_client.h"

#include <gtest/gtest.h>

#include "llm/support/protocol_server.h"
#include "util/clock.h"

namespace chimera::llm {
namespace {

using testing::ProtocolServer;
using testing::Reply;

TEST(HttpClient, ReusesItsConnectionForTheNextCall) {
  ProtocolServer server;
  server.route("GET", "/a", Reply::json(R"({"n":1})"));
  HttpClient client(server.base_url(), "hint");
  HttpResponse first = client.get("/a");
  ASSERT_TRUE(first.ok()) << first.status.message();
  EXPECT_EQ(first.body, R"({"n":1})");
  EXPECT_EQ(first.http_status, 200);
  EXPECT_EQ(first.content_type, "application/json");
  EXPECT_FALSE(first.timings.connection_reused);
  ASSERT_TRUE(first.timings.connect_ns.has_value());
  HttpResponse second = client.get("/a");
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second.timings.connection_reused);  // keep-alive: no new TCP connection
}

TEST(HttpClient, AServerSayingRetryNowForeverCannotHoldACallPastItsBudget) {
  ProtocolServer server;
  Reply busy = Reply::json(R"({"error":"slow down"})", 429);
  busy.headers = {{"Retry-After", "0"}};
  server.route("GET", "/busy", busy);
  HttpClient client(server.base_url(), "hint");
  HttpCallOptions options;
  options.retry_budget_ms = 600;
  const int64_t start = monotonic_ns();
  HttpResponse response = client.get("/busy", options);
  const double seconds = ns_to_s(monotonic_ns() - start);
  EXPECT_EQ(response.http_status, 429);
  EXPECT_LT(seconds, 2.0);
  EXPECT_GE(response.timings.retries, 2);
  EXPECT_LE(response.timings.retries, 13);  // a pause of at least 50 ms each
  RetryLog log = client.take_retries();
  EXPECT_EQ(log.retries, response.timings.retries);
  EXPECT_EQ(client.take_retries().retries, 0);  // taken once
  Status status = http_error_status(response, server.base_url() + "/busy");
  EXPECT_NE(status.message().find("the retry budget is spent"), std::string::npos)
      << status.message();
  EXPECT_EQ(status.code(), ErrorCode::kUnavailable);
}

TEST(HttpClient, CollectedBodiesAreCappedAndUnaskedEncodingsRefused) {
  ProtocolServer server;
  Reply big = Reply::json(std::string(5000, 'x'));
  server.route("GET", "/big", big);
  Reply zipped = Reply::json("\x1f\x8b not really");
  zipped.headers = {{"Content-Encoding", "gzip"}};
  server.route("GET", "/zipped", zipped);
  HttpClient client(server.base_url(), "hint");
  HttpCallOptions options;
  options.max_body_bytes = 1000;
  HttpResponse response = client.get("/big", options);
  EXPECT_EQ(response.status.code(), ErrorCode::kOutOfRange);
  EXPECT_NE(response.status.message().find("larger than 1000 bytes"), std::string::npos);
  HttpResponse encoded = client.get("/zipped");
  EXPECT_EQ(encoded.status.code(), ErrorCode::kParseError);
  EXPECT_NE(encoded.status.message().find("Content-Encoding: gzip"), std::string::npos);
}

TEST(HttpClient, StreamsTheBodyInPiecesAsTheyArrive) {
  ProtocolServer server;
  Reply reply;
  reply.content_type = "application/x-ndjson";
  reply.pieces = {{"ab", 0}, {"cd", 30}, {"ef", 30}};
  server.route("POST", "/s", reply);
  HttpClient client(server.base_url(), "hint");
  std::vector<std::pair<std::string, int64_t>> pieces;
  HttpResponse response = client.post_stream("/s", "{}", [&](std::string_view bytes, int64_t now) {
    pieces.emplace_back(std::string(bytes), now);
    return true;
  });
  ASSERT_TRUE(response.ok()) << response.status.message();
  std::string joined;
  for (const auto& piece : pieces) joined += piece.first;
  EXPECT_EQ(joined, "abcdef");
  EXPECT_TRUE(response.body.empty());  // a streamed 2xx body goes to the callback only
  ASSERT_GE(pieces.size(), 3u);        // 30 ms apart: separate reads
  EXPECT_GE(pieces.back().second - pieces.front().second, 50'000'000);
  EXPECT_LE(response.t_start_ns, response.t_first_byte_ns);
  EXPECT_LE(pieces.back().second, response.t_done_ns);
}

TEST(HttpClient, ErrorStatusBodyIsCollectedNotStreamed) {
  ProtocolServer server;
  server.route("POST", "/s", Reply::json(R"({"error":"model 'x' not found"})", 404));
  HttpClient client(server.base_url(), "hint");
  bool called = false;
  HttpResponse response = client.post_stream("/s", "{}", [&](std::string_view, int64_t) {
    called = true;
    return true;
  });
  EXPECT_TRUE(response.status.is_ok());  // the exchange completed
  EXPECT_FALSE(response.ok());
  EXPECT_EQ(response.http_status, 404);
  EXPECT_FALSE(called);
  Status status = http_error_status(response, "http://h/s");
  EXPECT_EQ(status.code(), ErrorCode::kNotFound);
  EXPECT_EQ(status.message(), "HTTP 404 from http://h/s: model 'x' not found");
}

TEST(HttpClient, RetriesOnlyWhenNothingReachedTheServer) {
  int port = testing::unused_local_port();
  HttpClient refused("http://127.0.0.1:" + std::to_string(port), "is it running?");
  HttpCallOptions options;
  options.max_attempts = 3;
  options.retry_backoff_ms = 10;
  HttpResponse response = refused.get("/x", options);
  EXPECT_EQ(response.status.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(response.timings.attempts, 3);
  EXPECT_NE(response.status.message().find("is it running?"), std::string::npos);

  // A connection cut mid-body is never retried: the server may have started generating.
  ProtocolServer server;
  Reply cut = Reply::ndjson({"{\"response\":\"a\"}"});
  cut.cut = true;
  server.route("POST", "/api/generate", cut);
  HttpClient client(server.base_url(), "hint");
  HttpResponse partial = client.post_stream(
      "/api/generate", "{}", [](std::string_view, int64_t) { return true; }, options);
  EXPECT_EQ(partial.status.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(partial.timings.attempts, 1);
  EXPECT_EQ(server.received("/api/generate").size(), 1u);
}

TEST(HttpClient, CallbackCanCancel) {
  ProtocolServer server;
  server.route("POST", "/s", Reply::ndjson({"1", "2", "3"}, 10));
  HttpClient client(server.base_url(), "hint");
  HttpResponse response =
      client.post_stream("/s", "{}", [](std::string_view, int64_t) { return false; });
  EXPECT_EQ(response.status.code(), ErrorCode::kCancelled);
  // The same client works afterwards.
  server.route("GET", "/ok", Reply::json("{}"));
  EXPECT_TRUE(client.get("/ok").ok());
}

TEST(HttpClientPool, ReturnsClientsForReuse) {
  ProtocolServer server;
  server.route("GET", "/a", Reply::json("{}"));
  HttpClientPool pool(server.base_url(), "hint");
  HttpClient* first = nullptr;
  {
    auto lease = pool.acquire();
    first = &*lease;
    EXPECT_TRUE(lease->get("/a").ok());
  }
  auto again = pool.acquire();
  EXPECT_EQ(&*again, first);
  EXPECT_TRUE(again->get("/a").timings.connection_reused);
  auto other = pool.acquire();  // the first is leased: a second client
  EXPECT_NE(&*other, first);
}

TEST(ErrorMessageFromBody, EveryShapeServersUse) {
  EXPECT_EQ(error_message_from_body(R"({"error":"model 'x' not found"})"), "model 'x' not found");
  EXPECT_EQ(
      error_message_from_body(R"({"error":{"message":"bad","type":"invalid_request_error"}})"),
      "bad");
  EXPECT_EQ(error_message_from_body(R"({"object":"error","message":"too long","code":400})"),
            "too long");
  EXPECT_EQ(
      error_message_from_body(R"({"detail":[{"loc":["body","model"],"msg":"field required"}]})"),
      "field required");
  EXPECT_EQ(
      error_message_from_body(R"({"error":"Input validation error","error_type":"validation"})"),
      "Input validation error");
  EXPECT_EQ(error_message_from_body("404 page not found\n"), "404 page not found");
  EXPECT_EQ(error_message_from_body(""), "");
}

}  // namespace
}  // namespace chimera::llm
