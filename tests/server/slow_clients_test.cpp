// Slow and hostile clients against the server's connection front (server/http_front.h): a thousand
// slowloris connections held open do not stop a normal request from being answered in under a
// second, nor grow the server's memory or threads; a request that drips in is cut at its deadline
// however often a byte arrives; the per-client and total caps answer 503 at once; keep-alive,
// pipelining, 100-continue and chunked bodies still work behind the front.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "server/server_test_support.h"
#include "util/clock.h"

namespace chimera::testing {
namespace {

// A blocking TCP connection from `source` (any 127.0.0.0/8 address is loopback) to the server.
int connect_from(const char* source, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source, &local.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_text(int fd, const std::string& text) {
  return ::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
}

// What arrives on fd within `timeout`, until the peer closes.
std::string read_for(int fd, std::chrono::milliseconds timeout) {
  std::string got;
  const int64_t deadline = monotonic_ns() + timeout.count() * 1'000'000;
  while (monotonic_ns() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char buffer[4096];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<size_t>(n));
  }
  return got;
}

int64_t status_field_kb(const char* field) {  // "VmRSS:", "Threads:" from /proc/self/status
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(std::string(field).size()));
  }
  return -1;
}

// Each connection is a descriptor on both ends here (the server runs in this process).
bool raise_descriptor_limit(rlim_t wanted) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return false;
  if (files.rlim_cur >= wanted) return true;
  if (files.rlim_max < wanted) return false;
  files.rlim_cur = wanted;
  return ::setrlimit(RLIMIT_NOFILE, &files) == 0;
}

double gauge(const server::Server& server, const char* name) {
  return metric_value(server.metrics().render(), name);
}

const std::string kGenerate =
    Json{{"model", "tiny"}, {"prompt", "hi"}, {"stream", false}, {"options", {{"num_predict", 4}}}}
        .dump();

TEST(SlowClients, AThousandSlowlorisConnectionsDoNotStallANormalRequest) {
  constexpr int kSlow = 1000;
  if (!raise_descriptor_limit(2 * kSlow + 512)) {
    GTEST_SKIP() << "the hard descriptor limit is below " << 2 * kSlow + 512 << " (ulimit -Hn)";
  }
  server::ServerConfig config = tiny_config();
  config.max_connections = 4 * kSlow;
  config.max_connections_per_client = 4 * kSlow;  // all from 127.0.0.1: the server holds them all
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  {  // warm: the model loaded, one request answered
    httplib::Client warm = client_for(*server);
    ASSERT_TRUE(warm.Post("/api/generate", kGenerate, "application/json"));
  }
  const int64_t rss_before_kb = status_field_kb("VmRSS:");
  const int64_t threads_before = status_field_kb("Threads:");

  std::vector<int> slow;
  for (int i = 0; i < kSlow; ++i) {
    int fd = connect_from("127.0.0.1", server->port());
    ASSERT_GE(fd, 0) << "connection " << i;
    ASSERT_TRUE(send_text(fd, "POST /api/generate HTTP/1.1\r\nHost: chimera\r\n"));
    slow.push_back(fd);
  }
  ASSERT_TRUE(wait_until([&] { return gauge(*server, "chimera_open_connections") >= kSlow; },
                         std::chrono::seconds(30)))
      << gauge(*server, "chimera_open_connections");
  // The slowloris drip: one more header line a second on every connection, while we measure.
  std::atomic<bool> dripping{true};
  std::thread dripper([&] {
    for (int line = 0; dripping; ++line) {
      for (int fd : slow) send_text(fd, "X-Drip-" + std::to_string(line) + ": 1\r\n");
      for (int k = 0; k < 50 && dripping; ++k)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  httplib::Client client = client_for(*server);
  for (int i = 0; i < 3; ++i) {
    const int64_t start = monotonic_ns();
    auto res = client.Post("/api/generate", kGenerate, "application/json");
    const double seconds = ns_to_s(monotonic_ns() - start);
    ASSERT_TRUE(res) << "request " << i;
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_LT(seconds, 1.0) << "request " << i << " took " << seconds << " s";
    std::printf("normal request %d with %d slowloris connections held: %.1f ms\n", i, kSlow,
                seconds * 1e3);
  }
  const int64_t rss_held_kb = status_field_kb("VmRSS:");
  const int64_t threads_held = status_field_kb("Threads:");
  dripping = false;
  dripper.join();
  // Still held (not dropped to make room), bounded in memory, and no thread per connection.
  EXPECT_GE(gauge(*server, "chimera_open_connections"), kSlow);
  EXPECT_LT(rss_held_kb - rss_before_kb, 64 * 1024)
      << "RSS grew by " << rss_held_kb - rss_before_kb << " kB";
  EXPECT_LT(threads_held - threads_before, 4) << threads_before << " -> " << threads_held;
  std::printf("holding %d slowloris connections: RSS %+lld kB, threads %+lld\n", kSlow,
              static_cast<long long>(rss_held_kb - rss_before_kb),
              static_cast<long long>(threads_held - threads_before));
  for (int fd : slow) ::close(fd);
  EXPECT_TRUE(wait_until([&] { return gauge(*server, "chimera_open_connections") <= 1; },
                         std::chrono::seconds(20)));
}

TEST(SlowClients, ARequestThatDripsInIsCutAtItsDeadlineWhateverItSends) {
  server::ServerConfig config = tiny_config();
  config.request_timeout_ms = 1'500;
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  std::vector<int> slow;
  for (int i = 0; i < 20; ++i) {
    int fd = connect_from("127.0.0.1", server->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_text(fd, "POST /api/generate HTTP/1.1\r\n"));
    slow.push_back(fd);
  }
  const int64_t start = monotonic_ns();
  // A byte every 100 ms on every connection: a per-read timeout would never fire.
  std::vector<std::string> answers(slow.size());
  while (monotonic_ns() - start < 4'000'000'000) {
    for (size_t i = 0; i < slow.size(); ++i) {
      send_text(slow[i], "X");
      answers[i] += read_for(slow[i], std::chrono::milliseconds(0));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (size_t i = 0; i < slow.size(); ++i) {
    answers[i] += read_for(slow[i], std::chrono::milliseconds(200));
    EXPECT_EQ(answers[i].rfind("HTTP/1.1 408", 0), 0u) << i << ": " << answers[i];
    EXPECT_NE(answers[i].find("did not arrive whole within 1500 ms"), std::string::npos);
    ::close(slow[i]);
  }
  EXPECT_GE(server->metrics().request_timeouts(), 20u);
  // A request that arrives whole is still answered.
  httplib::Client client = client_for(*server);
  auto res = client.Post("/api/generate", kGenerate, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(SlowClients, ConnectionCapsAnswer503AtOnceAndOthersAreStillServed) {
  server::ServerConfig config = tiny_config();
  config.max_connections_per_client = 8;
  config.max_connections = 12;
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  std::vector<int> held;
  for (int i = 0; i < 8; ++i) held.push_back(connect_from("127.0.0.1", server->port()));
  ASSERT_TRUE(wait_until([&] { return gauge(*server, "chimera_open_connections") >= 8; },
                         std::chrono::seconds(10)));
  int over = connect_from("127.0.0.1", server->port());
  std::string refused = read_for(over, std::chrono::seconds(3));
  EXPECT_EQ(refused.rfind("HTTP/1.1 503", 0), 0u) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  EXPECT_NE(refused.find("8 connections are open from 127.0.0.1"), std::string::npos) << refused;
  ::close(over);
  EXPECT_EQ(server->metrics().connections_refused("per_client"), 1u);

  for (int i = 0; i < 4; ++i) held.push_back(connect_from("127.0.0.2", server->port()));
  ASSERT_TRUE(wait_until([&] { return gauge(*server, "chimera_open_connections") >= 12; },
                         std::chrono::seconds(10)));
  int beyond = connect_from("127.0.0.3", server->port());
  std::string total = read_for(beyond, std::chrono::seconds(3));
  EXPECT_NE(total.find("its limit of 12 connections"), std::string::npos) << total;
  ::close(beyond);
  EXPECT_EQ(server->metrics().connections_refused("total"), 1u);

  // Once the first client lets go, others are answered.
  for (int i = 0; i < 8; ++i) ::close(held[static_cast<size_t>(i)]);
  ASSERT_TRUE(wait_until([&] { return gauge(*server, "chimera_open_connections") <= 4; },
                         std::chrono::seconds(10)));
  int fresh = connect_from("127.0.0.4", server->port());
  ASSERT_TRUE(send_text(fresh, http_post("/api/generate", kGenerate)));
  std::string answer = read_for(fresh, std::chrono::seconds(10));
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  ::close(fresh);
  for (size_t i = 8; i < held.size(); ++i) ::close(held[i]);
}

TEST(SlowClients, KeepAlivePipeliningContinueAndChunkedBodiesStillWork) {
  auto server = start_server(tiny_config());
  ASSERT_NE(server, nullptr);
  const std::string get = "GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n";
  // Two requests in one write (pipelined), then a third later on the same connection.
  RawClient client(server->port());
  ASSERT_TRUE(client.send_all(get + get));
  ASSERT_TRUE(client.read_until("\"version\"", std::chrono::seconds(10)));
  const int64_t deadline = monotonic_ns() + 10'000'000'000;
  auto count = [&](const std::string& text) {
    size_t n = 0;
    for (size_t at = 0; (at = client.received().find(text, at)) != std::string::npos; ++at) ++n;
    return n;
  };
  while (count("HTTP/1.1 200") < 2 && monotonic_ns() < deadline)
    client.read_until("\n\n", std::chrono::milliseconds(50));
  EXPECT_EQ(count("HTTP/1.1 200"), 2u) << client.received();
  ASSERT_TRUE(client.send_all(get));
  while (count("HTTP/1.1 200") < 3 && monotonic_ns() < deadline)
    client.read_until("\n\n", std::chrono::milliseconds(50));
  EXPECT_EQ(count("HTTP/1.1 200"), 3u) << client.received();

  // Expect: 100-continue: the front says "go on" before the body comes.
  RawClient expecting(server->port());
  ASSERT_TRUE(expecting.send_all(
      "POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(kGenerate.size()) + "\r\n\r\n"));
  ASSERT_TRUE(expecting.read_until("100 Continue", std::chrono::seconds(5)))
      << expecting.received();
  ASSERT_TRUE(expecting.send_all(kGenerate));
  ASSERT_TRUE(expecting.read_until("\"done\":true", std::chrono::seconds(10)))
      << expecting.received();

  // A chunked request body, in two chunks.
  RawClient chunked(server->port());
  const std::string half = kGenerate.substr(0, 10), rest = kGenerate.substr(10);
  char sizes[64];
  std::snprintf(sizes, sizeof sizes, "%zx\r\n", half.size());
  std::string body = sizes + half + "\r\n";
  std::snprintf(sizes, sizeof sizes, "%zx\r\n", rest.size());
  body += sizes + rest + "\r\n0\r\n\r\n";
  ASSERT_TRUE(chunked.send_all(
      "POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n" +
      body));
  ASSERT_TRUE(chunked.read_until("\"done\":true", std::chrono::seconds(10))) << chunked.received();

  // Limits answered at once: a head too large, a body announced beyond the cap.
  RawClient huge(server->port());
  ASSERT_TRUE(huge.send_all("GET / HTTP/1.1\r\nX-Big: " + std::string(70'000, 'a') + "\r\n\r\n"));
  ASSERT_TRUE(huge.read_until("HTTP/1.1 431", std::chrono::seconds(5)))
      << huge.received().substr(0, 200);
  RawClient large(server->port());
  ASSERT_TRUE(large.send_all("POST /api/generate HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n"));
  ASSERT_TRUE(large.read_until("HTTP/1.1 413", std::chrono::seconds(5))) << large.received();
}

}  // namespace
}  // namespace chimera::testing
