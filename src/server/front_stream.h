// Pieces of the connection front (http_front.h) kept apart from its event loop: the Stream through
// which cpp-httplib reads a request already read whole and writes its answer to the socket, a log
// line limiter for refusals, and the text of a socket address.
#pragma once

#include <httplib.h>
#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace chimera::server {

// "127.0.0.1", "::1" (an IPv4-mapped IPv6 address as its IPv4 form); the port into *port.
std::string address_text(const sockaddr_storage& address, int* port);

// The request as it was read, to cpp-httplib: reads come from the buffer (the request is already
// whole), writes go to the socket with a deadline, and "writable" also means "the client is still
// there" (cpp-httplib's is_socket_alive), so a generation stops when its client leaves.
class FrontStream : public httplib::Stream {
 public:
  FrontStream(int fd, const std::string& request, const std::string& ip, int port,
              int64_t write_timeout_ms)
      : fd_(fd), request_(request), ip_(ip), port_(port), write_timeout_ms_(write_timeout_ms) {}

  bool is_readable() const override { return consumed_ < request_.size(); }
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }
  size_t consumed() const { return consumed_; }

 private:
  bool alive() const;

  int fd_;
  const std::string& request_;
  std::string ip_;
  int port_;
  int64_t write_timeout_ms_;
  size_t consumed_ = 0;
};

// One warning line per key per second at most, saying how many were folded into it: a flood of
// refusals must not become a flood of log lines.
class RateLimitedLog {
 public:
  void warn(const std::string& key, const std::string& line);

 private:
  struct Entry {
    int64_t last_ns = 0;
    int64_t suppressed = 0;
  };
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace chimera::server
