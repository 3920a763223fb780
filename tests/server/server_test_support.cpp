#include "server/server_test_support.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <thread>

#include "engine/model/synth.h"
#include "support/test_support.h"
#include "util/clock.h"

namespace chimera::testing {
namespace {

std::string synthesize(const std::string& arch, const std::string& file, bool slow = false) {
  static TempDir dir;  // lives for the whole test binary
  engine::SynthOptions options;
  options.arch = arch;
  options.size = "tiny";
  options.type = engine::SynthFileType::kQ8_0;
  options.vocab = "synthetic:512";
  options.n_threads = 1;
  if (slow) {  // a few ms per token: long enough for a client to leave mid-generation
    options.n_layers = 6;
    options.d_model = 512;
    options.d_ff = 2048;
    options.n_heads = 4;
    options.n_kv_heads = 1;
    options.head_dim = 128;
    options.context_length = 8192;
  }
  std::string path = dir.file(file);
  auto plan = engine::synthesize_model(options, path);
  if (!plan.ok()) {
    ADD_FAILURE() << "synthesizing " << arch << ": " << plan.status().message();
    return "";
  }
  return path;
}

}  // namespace

const std::string& tiny_gemma_path() {
  static const std::string path = synthesize("gemma3", "tiny-gemma.gguf");
  return path;
}

const std::string& slow_gemma_path() {
  static const std::string path = synthesize("gemma3", "slow-gemma.gguf", /*slow=*/true);
  return path;
}

const std::string& tiny_llama_path() {
  static const std::string path = synthesize("llama", "tiny-llama.gguf");
  return path;
}

server::ServerConfig tiny_config() {
  server::ServerConfig config;
  config.models = {"tiny=" + tiny_gemma_path()};
  config.port = 0;
  config.parallel = 4;
  config.ctx = 512;
  config.threads = 1;
  config.max_queue = 32;
  return config;
}

std::unique_ptr<server::Server> start_server(const server::ServerConfig& config) {
  auto created = server::Server::create(config);
  if (!created.ok()) {
    ADD_FAILURE() << "Server::create: " << created.status().message();
    return nullptr;
  }
  Status started = (*created)->start();
  if (!started.is_ok()) {
    ADD_FAILURE() << "Server::start: " << started.message();
    return nullptr;
  }
  return std::move(*created);
}

httplib::Client client_for(const server::Server& server) {
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(60, 0);
  client.set_connection_timeout(5, 0);
  return client;
}

httplib::Headers json_headers() { return {{"Accept", "*/*"}}; }

std::vector<Json> parse_ndjson(const std::string& body) {
  std::vector<Json> out;
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    Json parsed = Json::parse(line, nullptr, false);
    if (parsed.is_discarded()) {
      ADD_FAILURE() << "not a JSON line: " << line;
      continue;
    }
    out.push_back(std::move(parsed));
  }
  return out;
}

std::vector<std::string> sse_data(const std::string& body, bool* framing_ok) {
  std::vector<std::string> out;
  bool ok = true;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      ok = false;
      break;
    }
    std::string event = body.substr(pos, end - pos);
    pos = end + 2;
    if (event.rfind("data: ", 0) != 0 || event.find('\n') != std::string::npos) {
      ok = false;
      continue;
    }
    out.push_back(event.substr(6));
  }
  if (framing_ok != nullptr) *framing_ok = ok;
  return out;
}

double metric_value(const std::string& text, const std::string& name) { return metric_value(text, name, ""); }

double metric_value(const std::string& text, const std::string& name, const std::string& labels) {
  const std::string prefix = labels.empty() ? name + " " : name + "{" + labels + "} ";
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size()));
  }
  return std::numeric_limits<double>::quiet_NaN();
}

std::string scrape_metrics(const server::Server& server) {
  auto client = client_for(server);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) {
    ADD_FAILURE() << "GET /metrics failed";
    return "";
  }
  return res->body;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const int64_t deadline = monotonic_ns() + static_cast<int64_t>(timeout.count()) * 1'000'000;
  while (!condition()) {
    if (monotonic_ns() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

RawClient::RawClient(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) close();
}

RawClient::~RawClient() { close(); }

void RawClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawClient::send_all(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

bool RawClient::read_until(const std::string& needle, std::chrono::milliseconds timeout) {
  const int64_t deadline = monotonic_ns() + static_cast<int64_t>(timeout.count()) * 1'000'000;
  char buffer[4096];
  while (received_.find(needle) == std::string::npos) {
    int64_t left_ms = (deadline - monotonic_ns()) / 1'000'000;
    if (left_ms <= 0 || fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left_ms)) <= 0) return false;
    ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) return received_.find(needle) != std::string::npos;
    received_.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

void RawClient::read_to_end(std::chrono::milliseconds timeout) {
  read_until(std::string("\x01\x02\x03never", 9), timeout);
}

std::string http_post(const std::string& path, const std::string& body, const std::string& extra_headers) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace chimera::testing
