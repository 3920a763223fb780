// HttpClient: the HTTP transport of the Ollama and OpenAI backends, on libcurl.
//  - One CURL easy handle inside one CURLM per client, reused for every call, so keep-alive
//    connections persist. A client serves one call at a time: use one per thread (HttpClientPool).
//  - Streaming POST hands body bytes to a callback as they arrive (2xx only; an error status's body
//    is collected so its message can be shown).
//  - Connect timeout, and a read timeout that is inactivity (longest silence between bytes), not a
//    total: a long generation that keeps streaming never times out.
//  - Cancellation from a callback or from the request's `cancelled` predicate (polled every 25 ms).
//  - Retries with backoff when the connection could not be made (refused, DNS): no byte of a
//    request reached a server, so nothing can run twice. Never re-runs a generation that started.
//  - Waits and retries, within a time budget, when a server answers "not now": HTTP 429, or 503
//    with Retry-After, or 503 while it loads its model (llama.cpp's "Loading model"). Retry-After
//    (seconds or an HTTP date) is honoured; otherwise the pause backs off from 250 ms to 2 s. The
//    retries are counted in the response's TransportTimings, never hidden. Other errors (500, 502,
//    a plain 503 "queue full", which a load test must count) are not retried.
//  - Bodies it collects (non-streamed, error bodies) are capped (HttpCallOptions::max_body_bytes);
//    an encoded body it did not ask for (Content-Encoding: gzip) is an error, not bytes to parse.
//  - An unreachable server is one line: the URL, the reason, and a hint for starting it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llm/types.h"
#include "util/status.h"

namespace chimera::llm {

struct HttpCallOptions {
  int64_t connect_timeout_ms = 5'000;
  int64_t read_timeout_ms = 600'000;  // longest silence tolerated between bytes
  int max_attempts = 3;               // connection attempts (retry only before any response byte)
  int64_t retry_backoff_ms = 100;     // first pause between attempts; doubles each time
  std::function<bool()> cancelled;    // polled; true aborts with kCancelled
  std::string accept = "application/json";
  int64_t retry_budget_ms = 120'000;  // longest total wait on 429/503 answers; 0: never retry
  size_t max_body_bytes = 64u << 20;  // cap on a collected (non-streamed) body
};

struct HttpResponse {
  // Transport outcome: ok when a complete response arrived (whatever its HTTP status), otherwise
  // why not (kUnavailable, kTimeout, kCancelled, kIoError for a connection cut mid-body).
  Status status;
  long http_status = 0;  // 0 when no status line arrived
  std::string content_type;
  std::string content_encoding;  // "" when the body is not encoded
  std::string location;          // a redirect's target
  std::string retry_after;       // the Retry-After header as sent
  int64_t body_bytes = 0;        // body bytes received (streamed or collected)
  std::string body;  // the whole body, except a streamed 2xx body (given to the callback)
  bool any_body_byte = false;
  int64_t t_start_ns = 0;       // monotonic, just before the request was handed to libcurl
  int64_t t_first_byte_ns = 0;  // first response byte (status line); 0 when none came
  int64_t t_done_ns = 0;
  TransportTimings timings;

  bool ok() const { return status.is_ok() && http_status >= 200 && http_status < 300; }
};

// "Not now" answers a client waited for, over all its requests since it was last asked: a call
// that needed any (a generation, or the metadata requests before it) is not a successful first try.
struct RetryLog {
  int retries = 0;
  int64_t wait_ns = 0;
  std::vector<std::string> reasons;  // "HTTP 503 (loading the model) on /api/show, waited 0.25 s"
};

// Receives a 2xx body as it arrives, with the arrival time; return false to stop (kCancelled).
using OnBodyBytes = std::function<bool(std::string_view bytes, int64_t now_ns)>;

class HttpClient {
 public:
  // base_url: "http://127.0.0.1:11434". unreachable_hint: what to tell a person when nothing
  // listens there ("is Ollama running? start it with: ollama serve").
  HttpClient(std::string base_url, std::string unreachable_hint,
             std::vector<std::string> extra_headers = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse get(std::string_view path, const HttpCallOptions& options = {});
  HttpResponse post_json(std::string_view path, std::string_view json_body,
                         const HttpCallOptions& options = {});
  HttpResponse post_stream(std::string_view path, std::string_view json_body,
                           const OnBodyBytes& on_body, const HttpCallOptions& options = {});

  const std::string& base_url() const { return base_url_; }
  // The retries made since the last call of take_retries() (and forgets them).
  RetryLog take_retries();

 private:
  struct Impl;
  HttpResponse perform(std::string_view method, std::string_view path, std::string_view body,
                       const OnBodyBytes* on_body, const HttpCallOptions& options);

  std::string base_url_;
  std::string unreachable_hint_;
  std::vector<std::string> extra_headers_;
  std::unique_ptr<Impl> impl_;
  RetryLog retry_log_;
};

// Clients for concurrent calls to one server: acquire() hands out an idle client (keeping its
// warm connection) or makes a new one; the lease returns it when it goes out of scope.
class HttpClientPool {
 public:
  HttpClientPool(std::string base_url, std::string unreachable_hint,
                 std::vector<std::string> extra_headers = {});
  ~HttpClientPool();

  class Lease {
   public:
    Lease(HttpClientPool* pool, std::unique_ptr<HttpClient> client)
        : pool_(pool), client_(std::move(client)) {}
    Lease(Lease&&) = default;
    ~Lease();
    HttpClient* operator->() { return client_.get(); }
    HttpClient& operator*() { return *client_; }

   private:
    HttpClientPool* pool_;
    std::unique_ptr<HttpClient> client_;
  };
  Lease acquire();
  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_, unreachable_hint_;
  std::vector<std::string> extra_headers_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<HttpClient>> idle_;
};

// The message of an HTTP error body in any of the shapes servers use: {"error":"..."} (Ollama,
// TGI),
// {"error":{"message":"..."}} (OpenAI, vLLM, llama.cpp), {"message":"..."} (older vLLM),
// {"detail":...} (FastAPI validation). Falls back to the body's start; empty for an empty body.
std::string error_message_from_body(std::string_view body);

// "HTTP 404 from http://h:1/api/generate: model 'x' not found" as a kRemoteError (kNotFound for
// 404, kUnavailable for 503); a redirect names its target, and retries already made are counted.
Status http_error_status(const HttpResponse& response, std::string_view url);

// How long to wait before retrying an answer that said "not now", or nullopt when it is not one
// to retry (http_client.h, first comment). `retry` counts retries made so far (the backoff step).
std::optional<int64_t> retry_wait_ms(const HttpResponse& response, int retry);

}  // namespace chimera::llm
