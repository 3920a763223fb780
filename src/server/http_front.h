// The connection side of `chimera serve`, in front of cpp-httplib's request handling, so that slow
// or idle clients cannot stall the server (slowloris):
//  - One thread with epoll accepts every connection and reads each request whole, head and body,
//    before a worker sees it. An idle keep-alive socket, or one dripping a header a second, costs a
//    buffer and a file descriptor, never a worker thread.
//  - A request must arrive whole within a deadline that counts from its first byte (from accept on
//    a new connection): a dripped byte does not reset it. Past it: 408 and the connection closes.
//  - Caps on connections per client address and in total: one over is answered 503 with
//    Retry-After and a log line (rate-limited), never left hanging. The bytes held for unfinished
//    requests are capped in all, too, so memory stays bounded however many clients send slowly.
//  - Workers (a fixed pool) run cpp-httplib's routing on the buffered request through a Stream of
//    our own, write the response straight to the socket, and hand a keep-alive connection back to
//    the event loop.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "server/metrics.h"
#include "util/status.h"

namespace chimera::server {

struct FrontLimits {
  int64_t request_timeout_ms = 30'000;  // a whole request (head and body)
  int64_t idle_timeout_ms = 30'000;     // a keep-alive connection between requests
  int max_connections = 1024;
  int max_connections_per_client = 256;
  size_t max_head_bytes = 64u << 10;
  size_t max_body_bytes = 8u << 20;
  size_t max_buffered_bytes = 256u << 20;  // unfinished requests, all connections together
  int workers = 16;
  int keep_alive_max_requests = 1000;
  int64_t write_timeout_ms = 30'000;
};

// cpp-httplib's server with its per-request entry point opened up: the routes, handlers, logger
// and error handlers are registered on it as usual; the front calls handle() for each request.
class RoutedServer : public httplib::Server {
 public:
  bool handle(httplib::Stream& stream, bool close_connection, bool& connection_closed) {
    return process_request(stream, close_connection, connection_closed, {});
  }
  // cpp-httplib writes a streamed (chunked) response only while its listening socket is valid, and
  // stops every such stream when it is not: the front sets it when it listens, and unsets it to
  // cut the streams still running when it stops.
  void set_listening_socket(socket_t fd) { svr_sock_ = fd; }
};

class HttpFront {
 public:
  HttpFront(RoutedServer& routes, FrontLimits limits, Metrics* metrics);
  ~HttpFront();
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;

  // Binds host:port (0: any free port) and listens.
  Status bind(const std::string& host, int port);
  int port() const;
  // Starts the event loop and the workers.
  Status start();
  // Stops accepting, closes every connection (cutting responses still being written) and waits
  // for the workers to finish what they hold.
  void stop();
  bool running() const;
  // The limits in force (max_connections lowered to what the descriptor limit allows).
  const FrontLimits& limits() const;
  int open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chimera::server
