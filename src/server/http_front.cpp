#include "server/http_front.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/front_stream.h"
#include "server/request_framing.h"
#include "util/clock.h"
#include "util/json_text.h"
#include "util/log.h"

namespace chimera::server {
namespace {

constexpr int kSweepMs = 100;  // deadlines are checked this often
constexpr size_t kReadSlice = 64u << 10;
constexpr size_t kMaxReadPerEvent = 1u << 20;  // then other connections get their turn
constexpr int64_t kLingerNs = 2'000'000'000;   // a refused client's time to read our answer
constexpr size_t kMaxLingering = 1024;
constexpr int kDescriptorReserve = 128;  // model files, epoll, pipes, the workers' needs

// A short answer written by the front itself (refusals, timeouts, malformed framing).
std::string canned(int status, std::string_view reason, const std::string& message,
                   bool retry_after) {
  std::string body = json_text(nlohmann::json{{"error", message}});
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: "
      "{}\r\nConnection: close\r\n{}\r\n{}",
      status, reason, body.size(), retry_after ? "Retry-After: 1\r\n" : "", body);
}

}  // namespace

struct HttpFront::Impl {
  struct Connection {
    enum class State { kReading, kIdle, kBusy, kLingering };
    int fd = -1;
    std::string ip;
    int port = 0;
    State state = State::kReading;
    std::string buffer;        // received, not yet handled
    size_t accounted = 0;      // bytes of `buffer` counted in buffered_bytes
    size_t request_bytes = 0;  // the complete request at the front of `buffer` (kBusy)
    int64_t deadline_ns = 0;
    int requests = 0;
    bool continue_sent = false;
    bool counted = true;       // in the open and per-client counts (lingering ones are not)
    bool peer_closed = false;  // the client shut its side after its request
    bool keep = false;         // set by the worker: the connection may serve another request
  };

  RoutedServer& routes;
  FrontLimits limits;
  Metrics* metrics;
  int listen_fd = -1, epoll_fd = -1, wake_fd = -1;
  int port = 0;
  std::atomic<bool> running{false}, stopping{false};
  std::thread loop_thread;
  std::vector<std::thread> workers;
  RateLimitedLog rate_log;

  // Event-loop state (the loop thread only).
  std::unordered_map<int, std::unique_ptr<Connection>> connections;
  std::map<std::string, int> per_client;
  std::atomic<int> open{0};
  size_t lingering = 0;
  size_t buffered_bytes = 0;
  int64_t accept_paused_until_ns = 0;

  // Complete requests waiting for a worker, and connections workers hand back.
  std::mutex queue_mutex;
  std::condition_variable queue_cv;
  std::deque<Connection*> ready;
  std::vector<Connection*> returned;

  Impl(RoutedServer& r, FrontLimits l, Metrics* m) : routes(r), limits(l), metrics(m) {}

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof one);
  }

  void watch(Connection& c) {
    epoll_event e{};
    e.events = EPOLLIN | EPOLLRDHUP;
    e.data.fd = c.fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c.fd, &e);
  }
  void unwatch(Connection& c) { ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr); }

  void account(Connection& c) {
    buffered_bytes = buffered_bytes - c.accounted + c.buffer.size();
    c.accounted = c.buffer.size();
  }

  void uncount(Connection& c) {
    if (!c.counted) return;
    c.counted = false;
    --open;
    if (auto it = per_client.find(c.ip); it != per_client.end() && --it->second <= 0) {
      per_client.erase(it);
    }
    if (metrics != nullptr) metrics->set_open_connections(open.load());
  }

  void close_connection(int fd) {
    auto it = connections.find(fd);
    if (it == connections.end()) return;
    Connection& c = *it->second;
    if (c.state != Connection::State::kBusy) unwatch(c);
    uncount(c);
    if (c.state == Connection::State::kLingering) --lingering;
    c.buffer.clear();
    account(c);
    ::close(fd);
    connections.erase(it);
  }

  // Answers (best effort, the socket is non-blocking) and closes gracefully: the write side shuts
  // at once, and whatever the client still sends is read and dropped for a moment, so the answer is
  // not lost to a reset.
  void answer_and_close(Connection& c, const std::string& response) {
    [[maybe_unused]] ssize_t n = ::send(c.fd, response.data(), response.size(), MSG_NOSIGNAL);
    ::shutdown(c.fd, SHUT_WR);
    uncount(c);
    c.buffer.clear();
    account(c);
    if (lingering >= kMaxLingering) return close_connection(c.fd);
    c.state = Connection::State::kLingering;
    c.deadline_ns = monotonic_ns() + kLingerNs;
    ++lingering;
  }

  void refuse_new(int fd, const std::string& ip, const std::string& reason,
                  const std::string& message) {
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    c->ip = ip;
    c->counted = false;
    Connection& ref = *c;
    connections[fd] = std::move(c);
    watch(ref);
    if (metrics != nullptr) metrics->count_connection_refused(reason);
    rate_log.warn("refused:" + reason,
                  fmt::format("refused a connection from {}: {}", ip, message));
    answer_and_close(ref, canned(503, "Service Unavailable", message, /*retry_after=*/true));
  }

  void accept_all() {
    while (true) {
      sockaddr_storage a{};
      socklen_t len = sizeof a;
      int fd =
          ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&a), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: stop accepting for a moment rather than spin on the error.
          rate_log.warn("accept", fmt::format("cannot accept connections: {} (raise ulimit -n, or "
                                              "lower --max-connections)",
                                              std::strerror(errno)));
          epoll_event e{};
          e.data.fd = listen_fd;
          ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &e);
          accept_paused_until_ns = monotonic_ns() + 100'000'000;
        }
        return;
      }
      int yes = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      int port = 0;
      std::string ip = address_text(a, &port);
      if (open >= limits.max_connections) {
        refuse_new(fd, ip, "total",
                   fmt::format("the server holds its limit of {} connections "
                               "(--max-connections); try again shortly",
                               limits.max_connections));
        continue;
      }
      auto from_ip = per_client.find(ip);
      if (from_ip != per_client.end() && from_ip->second >= limits.max_connections_per_client) {
        refuse_new(fd, ip, "per_client",
                   fmt::format("{} connections are open from {}, the limit per client address "
                               "(--max-connections-per-client); close some or try again shortly",
                               from_ip->second, ip));
        continue;
      }
      auto c = std::make_unique<Connection>();
      c->fd = fd;
      c->ip = ip;
      c->port = port;
      c->deadline_ns = monotonic_ns() + limits.request_timeout_ms * 1'000'000;
      ++per_client[ip];
      ++open;
      if (metrics != nullptr) metrics->set_open_connections(open.load());
      watch(*c);
      connections[fd] = std::move(c);
    }
  }

  void dispatch(Connection& c) {
    RequestFraming f = frame_request(c.buffer, limits.max_head_bytes, limits.max_body_bytes);
    if (f.state == RequestFraming::State::kIncomplete) {
      if (f.expects_continue && !c.continue_sent) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        [[maybe_unused]] ssize_t n = ::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
        c.continue_sent = true;
      }
      return;
    }
    if (f.state == RequestFraming::State::kError) {
      std::string_view reason = f.error_status == 413   ? "Payload Too Large"
                                : f.error_status == 431 ? "Request Header Fields Too Large"
                                                        : "Bad Request";
      return answer_and_close(c, canned(f.error_status, reason, f.error, false));
    }
    unwatch(c);
    c.state = Connection::State::kBusy;
    c.request_bytes = f.total_bytes;
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      ready.push_back(&c);
    }
    queue_cv.notify_one();
  }

  void on_readable(Connection& c) {
    const int fd = c.fd;
    char slice[kReadSlice];
    size_t taken = 0;
    bool eof = false;
    while (taken < kMaxReadPerEvent) {
      ssize_t n = ::recv(fd, slice, sizeof slice, 0);
      if (n == 0) {  // the client closed its side: it may still wait for an answer
        eof = true;
        break;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return close_connection(fd);
      }
      taken += static_cast<size_t>(n);
      if (c.state == Connection::State::kLingering) continue;  // read and dropped
      if (buffered_bytes + static_cast<size_t>(n) > limits.max_buffered_bytes) {
        if (metrics != nullptr) metrics->count_connection_refused("memory");
        rate_log.warn("memory", fmt::format("refused a request from {}: unfinished requests hold "
                                            "{} bytes, the server's limit",
                                            c.ip, limits.max_buffered_bytes));
        return answer_and_close(c, canned(503, "Service Unavailable",
                                          "the server holds too many unfinished requests; try "
                                          "again shortly",
                                          true));
      }
      if (c.state == Connection::State::kIdle) {  // a new request: its deadline starts now
        c.state = Connection::State::kReading;
        c.deadline_ns = monotonic_ns() + limits.request_timeout_ms * 1'000'000;
      }
      c.buffer.append(slice, static_cast<size_t>(n));
      account(c);
    }
    if (c.state == Connection::State::kReading) {
      c.peer_closed = eof;
      dispatch(c);  // may hand it to a worker, or answer and close it
    }
    if (!eof) return;
    auto it = connections.find(fd);
    if (it != connections.end() && it->second->state != Connection::State::kBusy) {
      close_connection(fd);  // nothing whole to answer, or lingering done
    }
  }

  void sweep() {
    const int64_t now = monotonic_ns();
    std::vector<int> expired;
    for (auto& [fd, c] : connections) {
      if (c->state != Connection::State::kBusy && now > c->deadline_ns) expired.push_back(fd);
    }
    for (int fd : expired) {
      Connection& c = *connections.at(fd);
      if (c.state != Connection::State::kReading) {
        close_connection(fd);  // idle keep-alive, or done lingering
        continue;
      }
      if (metrics != nullptr) metrics->count_request_timeout();
      rate_log.warn("timeout", fmt::format("closed a connection from {}: no whole request within "
                                           "{} ms (--request-timeout)",
                                           c.ip, limits.request_timeout_ms));
      answer_and_close(c, canned(408, "Request Timeout",
                                 fmt::format("the request did not arrive whole within {} ms",
                                             limits.request_timeout_ms),
                                 false));
    }
  }

  void adopt_returned() {
    std::vector<Connection*> back;
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      back.swap(returned);
    }
    for (Connection* c : back) {
      account(*c);
      if (!c->keep || stopping) {
        c->state = Connection::State::kIdle;
        close_connection(c->fd);
        continue;
      }
      c->state = c->buffer.empty() ? Connection::State::kIdle : Connection::State::kReading;
      c->deadline_ns =
          monotonic_ns() +
          (c->buffer.empty() ? limits.idle_timeout_ms : limits.request_timeout_ms) * 1'000'000;
      c->continue_sent = false;
      watch(*c);
      if (!c->buffer.empty()) dispatch(*c);  // a pipelined request
    }
  }

  void loop() {
    std::vector<epoll_event> events(256);
    int64_t next_sweep = monotonic_ns();
    while (!stopping) {
      int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), kSweepMs);
      for (int i = 0; i < n; ++i) {
        int fd = events[static_cast<size_t>(i)].data.fd;
        if (fd == listen_fd) {
          accept_all();
        } else if (fd == wake_fd) {
          uint64_t count;
          [[maybe_unused]] ssize_t r = ::read(wake_fd, &count, sizeof count);
          adopt_returned();
        } else if (auto it = connections.find(fd); it != connections.end()) {
          if (it->second->state != Connection::State::kBusy) on_readable(*it->second);
        }
      }
      const int64_t now = monotonic_ns();
      if (accept_paused_until_ns != 0 && now > accept_paused_until_ns) {
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.fd = listen_fd;
        ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &e);
        accept_paused_until_ns = 0;
      }
      if (now >= next_sweep) {
        sweep();
        next_sweep = now + int64_t{kSweepMs} * 1'000'000;
      }
    }
    // Stopping: responses still being written are cut (their writes fail at once), the rest close.
    std::vector<int> fds;
    for (auto& [fd, c] : connections) {
      if (c->state == Connection::State::kBusy) {
        ::shutdown(fd, SHUT_RDWR);
      } else {
        fds.push_back(fd);
      }
    }
    for (int fd : fds) close_connection(fd);
  }

  void work() {
    while (true) {
      Connection* c = nullptr;
      {
        std::unique_lock<std::mutex> lock(queue_mutex);
        queue_cv.wait(lock, [&] { return !ready.empty() || stopping; });
        if (ready.empty()) return;
        c = ready.front();
        ready.pop_front();
      }
      c->keep = false;
      if (!stopping) {
        FrontStream stream(c->fd, c->buffer, c->ip, c->port, limits.write_timeout_ms);
        const bool last = c->requests + 1 >= limits.keep_alive_max_requests;
        bool closed = false;
        bool ok = routes.handle(stream, last, closed);
        ++c->requests;
        // Keep the connection only when the request was consumed exactly as framed: anything else
        // leaves the next request's start unknown.
        c->keep =
            ok && !closed && !last && !c->peer_closed && stream.consumed() == c->request_bytes;
        c->buffer.erase(0, c->request_bytes);
      }
      {
        std::lock_guard<std::mutex> lock(queue_mutex);
        returned.push_back(c);
      }
      wake();
    }
  }
};

HttpFront::HttpFront(RoutedServer& routes, FrontLimits limits, Metrics* metrics)
    : impl_(std::make_unique<Impl>(routes, limits, metrics)) {}

HttpFront::~HttpFront() {
  stop();
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
  if (impl_->epoll_fd >= 0) ::close(impl_->epoll_fd);
  if (impl_->wake_fd >= 0) ::close(impl_->wake_fd);
}

Status HttpFront::bind(const std::string& host, int port) {
  Impl& s = *impl_;
  // Every connection is a descriptor: use what the hard limit allows (as Go's runtime does), and
  // hold no more connections than the descriptors can carry.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    if (files.rlim_cur < files.rlim_max) {
      files.rlim_cur = files.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &files);
      ::getrlimit(RLIMIT_NOFILE, &files);
    }
    const auto usable = static_cast<int64_t>(files.rlim_cur) - kDescriptorReserve;
    if (usable < s.limits.max_connections) {
      log::warn(
          "--max-connections {} lowered to {}: the file-descriptor limit is {} (raise it "
          "with ulimit -n)",
          s.limits.max_connections, std::max<int64_t>(usable, 16), files.rlim_cur);
      s.limits.max_connections = static_cast<int>(std::max<int64_t>(usable, 16));
    }
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int e = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); e != 0) {
    return make_error(ErrorCode::kInvalidArgument, "--host {}: {}", host, gai_strerror(e));
  }
  int error = 0;
  for (addrinfo* a = found; a != nullptr && s.listen_fd < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);  // not SO_REUSEPORT: a second
                                                                   // server on the port must fail
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      s.listen_fd = fd;
    } else {
      error = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (s.listen_fd < 0) {
    return make_error(ErrorCode::kUnavailable,
                      "could not bind {}:{} ({}; in use? another server, or Ollama itself on "
                      "11434); pick another --port",
                      host, port, std::strerror(error));
  }
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  ::getsockname(s.listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
  address_text(a, &s.port);
  return Status::ok();
}

int HttpFront::port() const { return impl_->port; }

Status HttpFront::start() {
  Impl& s = *impl_;
  if (s.listen_fd < 0) return Status(ErrorCode::kInternal, "HttpFront::start before bind");
  s.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  s.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s.epoll_fd < 0 || s.wake_fd < 0) {
    return make_error(ErrorCode::kIoError, "the connection loop could not start: {}",
                      std::strerror(errno));
  }
  for (int fd : {s.listen_fd, s.wake_fd}) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = fd;
    ::epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, fd, &e);
  }
  s.routes.set_listening_socket(s.listen_fd);
  for (int i = 0; i < std::max(1, s.limits.workers); ++i)
    s.workers.emplace_back([&s] { s.work(); });
  s.loop_thread = std::thread([&s] { s.loop(); });
  s.running = true;
  return Status::ok();
}

void HttpFront::stop() {
  Impl& s = *impl_;
  if (!s.running.exchange(false)) return;
  s.stopping = true;
  s.routes.set_listening_socket(INVALID_SOCKET);  // streamed responses end at their next write
  s.wake();
  if (s.loop_thread.joinable()) s.loop_thread.join();
  s.queue_cv.notify_all();
  for (std::thread& t : s.workers) t.join();
  s.workers.clear();
  // Connections still held (busy when the loop ended, or handed back after it) close now.
  for (auto& [fd, c] : s.connections) ::close(fd);
  s.connections.clear();
  s.returned.clear();
}

bool HttpFront::running() const { return impl_->running.load(); }

const FrontLimits& HttpFront::limits() const { return impl_->limits; }

int HttpFront::open_connections() const { return impl_->open.load(); }

}  // namespace chimera::server
