// A loopback LLM server that is broken on purpose (issue 21): every named fault of a misbehaving
// Ollama (NDJSON) or OpenAI-compatible (SSE, llama.cpp flavour) server, written byte for byte. It
// shares ProtocolServer's Reply vocabulary but owns its sockets, so it can also do what no HTTP
// library would: reset a connection mid-body, hold one open and silent, drip a body a byte at a
// time, send a 65 MiB line, or a gzip body nobody asked for.
//
// Generation requests (/api/generate, /api/chat, /v1/chat/completions, /v1/completions) take their
// replies from a script, one entry per request (a retry is a request of its own), then good
// answers; so a test runs "ok, fault, ok" and checks the calls on both sides of the fault. The
// metadata endpoints (/api/show, /api/ps, /api/tags, /api/version, /v1/models) answer correctly,
// except while the server "loads its model": then every request gets llama.cpp's 503.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "llm/support/protocol_server.h"

namespace chimera::testing {

enum class Wire { kOllama, kOpenAI };
std::string_view wire_name(Wire wire);

enum class Fault {
  kNone,                // a good answer: four chunks ~10 ms apart, consistent statistics
  kInvalidUtf8,         // text with bytes that are not UTF-8, and a character split across chunks
  kRandomBytesInText,   // random bytes >= 0x80 inside the text strings
  kRandomBytes,         // a line (an event) of random bytes mid-stream
  kTruncatedLine,       // a line cut short, then the stream goes on
  kTruncatedEnd,        // the body ends inside a line
  kOverlongLine,        // a line of 65 MiB without a newline
  kMissingStats,        // the final object carries no statistics
  kZeroStats,           // durations of 0
  kNegativeStats,       // durations of -1
  kNanStats,            // NaN literals (as Python's json.dumps writes them)
  kOverflowStats,       // 1e30, 99999999999999999999999, 1e300
  kWrongTypeStats,      // strings, booleans, objects, arrays where numbers belong
  kContradictoryStats,  // more tokens than bytes, a decode shorter than the client saw, 1 h prefill
  kNoDone,              // the stream ends without its final object
  kNoDoneHold,          // the stream goes silent without its final object, connection held open
  kReset,               // TCP reset mid-stream
  kStall,               // a pause of 3 s mid-stream (longer than the tests' 1 s timeout)
  kSlowDrip,            // a short, correct body, one byte per 100 ms
  k429RetryAfter,       // HTTP 429 with Retry-After: 1
  k500,                 // HTTP 500 with an error body
  k502,                 // HTTP 502 with a proxy's HTML page
  k503,                 // HTTP 503 "server busy" without Retry-After (a full queue: not retried)
  k503RetryAfter,       // HTTP 503 with Retry-After: 1
  kLoading,             // HTTP 503 "Loading model" (llama.cpp while it loads), no Retry-After
  kWrongContentType,    // HTTP 200 text/html (a captive portal's sign-in page)
  kGzip,                // Content-Encoding: gzip, not asked for
  kRedirectLoop,        // HTTP 302 to the same URL
  kDeepJson,            // a JSON document nested 100,000 deep
};
std::string_view fault_name(Fault fault);
const std::vector<Fault>& all_faults();
// Every fault in both wire formats, and a test-case name for one ("ollama_invalid_utf8").
std::vector<std::tuple<Wire, Fault>> every_wire_and_fault();
std::string fault_case_name(const std::tuple<Wire, Fault>& wire_and_fault);

// How a call that meets the fault ends: ok (maybe after retries), or failed with a reason that
// contains `reason` (and "body byte" where the fault sits inside a body).
struct FaultOutcome {
  bool ok = true;
  bool retried = false;         // the call succeeds after waiting for a "not now" answer
  bool stats_rejected = false;  // ok, but some server statistics are rejected, never used
  std::string reason;           // failures: a substring of the call's error
  bool names_body_offset = false;
};
FaultOutcome expected_outcome(Fault fault, Wire wire);

// The reply a generation request gets under `fault` (kNone: the good answer). `self_url` is the
// server's own base URL (a redirect loop points there).
Reply fault_reply(Fault fault, Wire wire, const std::string& self_url);

class FaultServer {
 public:
  explicit FaultServer(Wire wire);
  ~FaultServer();
  FaultServer(const FaultServer&) = delete;
  FaultServer& operator=(const FaultServer&) = delete;

  // Faults for the next generation requests, in order; after them, good answers.
  void script(std::vector<Fault> faults);
  // Every request answers 503 "Loading model" until `duration` from now.
  void loading_for(std::chrono::milliseconds duration);

  Wire wire() const { return wire_; }
  int port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:PORT"
  // "ollama://127.0.0.1:PORT/fault" or "openai://127.0.0.1:PORT/fault".
  std::string spec() const;
  std::vector<Received> received(std::string_view path = {}) const;
  int generation_requests() const;

 private:
  void accept_loop();
  void serve(int fd);
  Reply answer(const Received& request);
  bool write_reply(int fd, const Reply& reply);
  bool pause_ms(int ms) const;  // false when the server is stopping

  Wire wire_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<std::thread> connections_;
  std::deque<Fault> script_;
  std::vector<Received> received_;
  int generation_requests_ = 0;
  std::chrono::steady_clock::time_point loading_until_{};
};

}  // namespace chimera::testing
