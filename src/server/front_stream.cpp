#include "server/front_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/clock.h"
#include "util/log.h"

namespace chimera::server {

std::string address_text(const sockaddr_storage& a, int* port) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    if (port != nullptr) *port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    if (port != nullptr) *port = ntohs(v6->sin6_port);
  }
  std::string ip = text;
  if (ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos) ip = ip.substr(7);
  return ip;
}

bool FrontStream::is_writable() const {
  pollfd p{fd_, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(write_timeout_ms_)) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return false;
  return alive();
}

ssize_t FrontStream::read(char* ptr, size_t size) {
  if (consumed_ >= request_.size()) return 0;  // the request was read whole: nothing follows
  size_t n = std::min(size, request_.size() - consumed_);
  std::memcpy(ptr, request_.data() + consumed_, n);
  consumed_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t FrontStream::write(const char* ptr, size_t size) {
  const int64_t deadline = monotonic_ns() + write_timeout_ms_ * 1'000'000;
  while (true) {
    ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    int64_t left_ms = (deadline - monotonic_ns()) / 1'000'000;
    pollfd p{fd_, POLLOUT, 0};
    if (left_ms <= 0 || ::poll(&p, 1, static_cast<int>(left_ms)) <= 0)
      return -1;  // too slow a reader
  }
}

void FrontStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = ip_;
  port = port_;
}

void FrontStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  port = 0;
  ip.clear();
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) ip = address_text(a, &port);
}

bool FrontStream::alive() const {
  pollfd p{fd_, POLLIN, 0};
  int ready = ::poll(&p, 1, 0);
  if (ready == 0) return true;
  if (ready < 0 || (p.revents & (POLLERR | POLLNVAL))) return false;
  char byte;
  ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

void RateLimitedLog::warn(const std::string& key, const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& e = entries_[key];
  int64_t now = monotonic_ns();
  if (e.last_ns != 0 && now - e.last_ns < 1'000'000'000) {
    ++e.suppressed;
    return;
  }
  log::warn(
      "{}{}", line,
      e.suppressed > 0 ? fmt::format(" ({} more since the last such line)", e.suppressed) : "");
  e.last_ns = now;
  e.suppressed = 0;
}

}  // namespace chimera::server
