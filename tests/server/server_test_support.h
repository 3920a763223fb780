// Helpers for the server suite: tiny dummy-weight models (synthesized once per test binary), servers
// on a free loopback port, a raw socket client (for disconnects and hand-made bodies), NDJSON / SSE
// splitting and Prometheus value lookup.
#pragma once

#include <httplib.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/server.h"

namespace chimera::testing {

using Json = nlohmann::json;

// A Gemma 3-shaped tiny model with a synthetic 512-token vocabulary (dummy weights).
const std::string& tiny_gemma_path();
// Bigger (6 layers, 512 wide, 8192 context): milliseconds per token, so a test can act mid-generation.
const std::string& slow_gemma_path();
// A Llama-shaped tiny model, for the several-models tests.
const std::string& tiny_llama_path();

// One tiny model, port 0 on 127.0.0.1, small context, one engine thread (CI has 2 cores).
server::ServerConfig tiny_config();
// Creates and starts the server; fails the test (and returns null) on error.
std::unique_ptr<server::Server> start_server(const server::ServerConfig& config);

httplib::Client client_for(const server::Server& server);
httplib::Headers json_headers();

// Lines of an NDJSON body, each parsed (a line that is not JSON fails the test).
std::vector<Json> parse_ndjson(const std::string& body);
// The data payloads of an SSE body, in order; `framing_ok` is false when an event is not
// "data: ...\n\n".
std::vector<std::string> sse_data(const std::string& body, bool* framing_ok = nullptr);

// Value of an unlabelled Prometheus sample ("chimera_active_sequences 0"); NaN when absent.
double metric_value(const std::string& metrics_text, const std::string& name);
// Value of a labelled sample, matched on the exact label text ("endpoint=\"/api/chat\",status=\"200\"").
double metric_value(const std::string& metrics_text, const std::string& name, const std::string& labels);
std::string scrape_metrics(const server::Server& server);

// Polls `condition` until it holds or `timeout` passes (no fixed sleeps).
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// A blocking TCP client for hand-made requests: chunked bodies, closing mid-response.
class RawClient {
 public:
  explicit RawClient(int port);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  bool connected() const { return fd_ >= 0; }
  bool send_all(const std::string& bytes);
  // Reads until `needle` appears in what was received (or the peer closes / timeout).
  bool read_until(const std::string& needle, std::chrono::milliseconds timeout);
  // Reads until the peer closes the connection or timeout.
  void read_to_end(std::chrono::milliseconds timeout);
  const std::string& received() const { return received_; }
  void close();

 private:
  int fd_ = -1;
  std::string received_;
};

// "POST path HTTP/1.1" with a JSON body and Content-Length.
std::string http_post(const std::string& path, const std::string& body, const std::string& extra_headers = "");

}  // namespace chimera::testing
