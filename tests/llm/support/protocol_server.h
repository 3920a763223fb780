// A loopback HTTP server for protocol tests: it replays scripted responses byte for byte (Ollama
// NDJSON, OpenAI SSE, error bodies) with the ways real servers and networks misbehave: a body cut
// into chunks mid-line, a pause before the first byte, a connection closed mid-body. It records
// every request so tests can assert what a client sent. Started on a free port of 127.0.0.1; the
// constructor returns once it accepts connections (polled with a deadline, no fixed sleep).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace chimera::testing {

struct Piece {
  std::string bytes;
  int delay_ms = 0;  // the server pauses before writing this piece, so it arrives in its own read
  int repeat = 1;    // written this many times (a 64 MiB line without holding 64 MiB)
};

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra: Retry-After, Location...
  std::vector<Piece> pieces;
  bool chunked = true;              // one HTTP chunk per piece; false: Content-Length
  bool cut = false;                 // close the connection after the pieces, mid-body
  int delay_ms_before_headers = 0;  // a slow first byte (a model being loaded)
  // FaultServer only (it owns its sockets): end with a TCP reset instead of a close, or go silent
  // and hold the connection open this long (or until the client leaves).
  bool reset = false;
  int hold_ms = 0;

  static Reply json(std::string body, int status = 200);
  // Each line (without "\n") is written as its own piece, "\n" appended.
  static Reply ndjson(const std::vector<std::string>& lines, int delay_ms_between = 0);
  // Each event's data as "data: ...\n\n", one piece per event.
  static Reply sse(const std::vector<std::string>& data, int delay_ms_between = 0);
  // The whole body as bytes, split into pieces every `piece_bytes` (mid-line, mid-UTF-8).
  static Reply split(std::string content_type, const std::string& body, size_t piece_bytes,
                     int delay_ms_between = 1);
};

struct Received {
  std::string method, path, body;
};
// The requests to `path` (all of them when it is empty), in order.
std::vector<Received> with_path(const std::vector<Received>& all, std::string_view path);

class ProtocolServer {
 public:
  using Handler = std::function<Reply(const Received&)>;

  ProtocolServer();
  ~ProtocolServer();
  ProtocolServer(const ProtocolServer&) = delete;
  ProtocolServer& operator=(const ProtocolServer&) = delete;

  // Replaces the route's handler; an unrouted path answers 404 with an Ollama-style error body.
  void route(const std::string& method, const std::string& path, Handler handler);
  void route(const std::string& method, const std::string& path, Reply reply);

  int port() const { return port_; }
  std::string base_url() const;   // "http://127.0.0.1:PORT"
  std::string host_port() const;  // "127.0.0.1:PORT"
  std::vector<Received> received(std::string_view path = {}) const;

 private:
  Reply dispatch(const Received& request);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, Handler>> routes_;  // "METHOD PATH" -> handler
  std::vector<Received> received_;
};

// A port on 127.0.0.1 with nothing listening (bound, then released).
int unused_local_port();

}  // namespace chimera::testing
