// `chimera serve`: an Ollama- and OpenAI-compatible HTTP server over the embedded engine.
//   Ollama: POST /api/generate, /api/chat, /api/show; GET /api/tags, /api/ps, /api/version;
//   GET|HEAD / OpenAI: POST /v1/chat/completions, /v1/completions; GET /v1/models Operations: GET
//   /metrics (Prometheus text), GET /health
// Requests for one model are continuously batched by its Scheduler. Bodies are capped, every input
// is validated (400 with a message naming the field), a full queue answers 503, a client that goes
// away cancels its sequence, and drain() lets in-flight requests finish before stopping. Slow and
// idle clients cannot stall it: connections are read by an event loop, not a thread each
// (http_front.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics.h"
#include "util/status.h"

namespace chimera::server {

struct ServerConfig {
  std::vector<std::string> models;  // -m: GGUF path, ollama:NAME:TAG, or NAME=either
  std::string host = "127.0.0.1";   // loopback unless asked otherwise
  int port = 11434;                 // 0: any free port (see Server::port())
  int parallel = 4;                 // sequences decoded together per model
  int ctx = 4096;                   // default context per sequence (num_ctx)
  int batch = 512;                  // most tokens per forward step
  int prefill_chunk = 128;          // most prompt tokens per step while others decode
  int threads = 0;                  // engine threads; 0: physical cores
  int max_queue = 64;               // requests waiting for a slot before 503
  int64_t kv_cells = 0;             // KV admission budget in token positions; 0: parallel x ctx
  // Prompt cache budget per model in bytes (--cache-ram): -1 auto (the K/V of parallel x ctx
  // positions, at most a quarter of memory), 0 off.
  int64_t cache_ram_bytes = -1;
  std::string api_key;              // non-empty: every request needs Authorization: Bearer KEY
  size_t max_body_bytes = 8u << 20;
  int64_t keep_alive_ns = 300'000'000'000;  // Ollama's default 5m; < 0: forever
  int http_threads = 0;             // 0: parallel + max_queue + 8 (every waiting request holds one)
  // Slow and idle clients (http_front.h): a request must arrive whole within request_timeout_ms
  // of its first byte; connections are capped per client address and in total (503 beyond).
  int64_t request_timeout_ms = 30'000;
  int max_connections = 1024;
  int max_connections_per_client = 256;
};

class Server {
 public:
  // Resolves and loads every model (a bad file fails here, before anything listens).
  static Result<std::unique_ptr<Server>> create(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and serves on a background thread; returns once the socket is listening.
  Status start();
  int port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT"
  // Refuses new generation requests (503), waits up to `timeout` for in-flight ones to finish, then
  // stops listening (cutting whatever still streams) and unloads the models. Returns how many
  // requests were still running when the timeout hit.
  int drain(std::chrono::milliseconds timeout);
  // Stops at once (in-flight streams are cut).
  void stop();
  bool running() const;
  const Metrics& metrics() const;

 private:
  struct State;
  explicit Server(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace chimera::server
