#include "llm/support/fault_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace chimera::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 302:
      return "Found";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// Reads one request (head and a Content-Length body) within 5 s; false when the client left.
bool read_request(int fd, Received& request) {
  std::string data;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  size_t head_end = std::string::npos;
  size_t body_length = 0;
  while (true) {
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::string head = data.substr(0, head_end);
        size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
        if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
        request.method = head.substr(0, sp1);
        request.path = head.substr(sp1 + 1, sp2 - sp1 - 1);
        for (size_t at = head.find("\r\n"); at != std::string::npos;
             at = head.find("\r\n", at + 2)) {
          std::string line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
          for (auto& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (line.rfind("content-length:", 0) == 0) body_length = std::stoul(line.substr(15));
        }
      }
    }
    if (head_end != std::string::npos && data.size() >= head_end + 4 + body_length) {
      request.body = data.substr(head_end + 4, body_length);
      return true;
    }
    pollfd p{fd, POLLIN, 0};
    int left_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left_ms <= 0 || ::poll(&p, 1, left_ms) <= 0) return false;
    char buffer[16384];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    data.append(buffer, static_cast<size_t>(n));
  }
}

bool is_generation(std::string_view path) {
  return path == "/api/generate" || path == "/api/chat" || path == "/v1/chat/completions" ||
         path == "/v1/completions";
}

}  // namespace

FaultServer::FaultServer(Wire wire) : wire_(wire) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int yes = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, SOMAXCONN) != 0) {
    throw std::runtime_error("fault server: cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });  // listening already: no wait needed
}

FaultServer::~FaultServer() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> connections;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
}

void FaultServer::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;  // wakes to see stopping_
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    connections_.emplace_back([this, fd] { serve(fd); });
  }
}

bool FaultServer::pause_ms(int ms) const {
  const auto until = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < until) {
    if (stopping_) return false;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(10)));
  }
  return !stopping_;
}

void FaultServer::serve(int fd) {
  Received request;
  if (read_request(fd, request)) {
    Reply reply = answer(request);
    if (write_reply(fd, reply)) {
      if (reply.reset) {
        linger hard{1, 0};  // close() now sends RST, not FIN
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      } else if (reply.hold_ms > 0) {
        // Silent, but open: until the client gives up, or the hold ends.
        const auto until = Clock::now() + std::chrono::milliseconds(reply.hold_ms);
        while (!stopping_ && Clock::now() < until) {
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 20) > 0) {
            char byte;
            if (::recv(fd, &byte, 1, MSG_PEEK) <= 0) break;
          }
        }
      } else {
        ::shutdown(fd, SHUT_WR);
      }
    }
  }
  ::close(fd);
}

Reply FaultServer::answer(const Received& request) {
  Fault fault = Fault::kNone;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    received_.push_back(request);
    if (Clock::now() < loading_until_) fault = Fault::kLoading;
    if (fault == Fault::kNone && is_generation(request.path)) {
      ++generation_requests_;
      if (!script_.empty()) {
        fault = script_.front();
        script_.pop_front();
      }
    }
  }
  if (fault != Fault::kNone || is_generation(request.path)) {
    return fault_reply(fault, wire_, base_url());
  }
  const std::string& path = request.path;
  if (wire_ == Wire::kOllama) {
    if (path == "/api/version") return Reply::json(R"({"version":"0.9.9-fault"})");
    if (path == "/api/ps")
      return Reply::json(R"({"models":[{"name":"fault:latest","model":"fault:latest"}]})");
    if (path == "/api/tags")
      return Reply::json(R"({"models":[{"name":"fault:latest","size":1000}]})");
    if (path == "/api/show") {
      return Reply::json(
          R"({"parameters":"temperature 0.8","template":"{{ .Prompt }}",)"
          R"("details":{"family":"fault","parameter_size":"1M","quantization_level":"Q4_0"},)"
          R"("model_info":{"general.architecture":"fault","fault.context_length":4096}})");
    }
    return Reply::json(R"({"error":"404 page not found"})", 404);
  }
  if (path == "/v1/models") {
    return Reply::json(
        R"({"object":"list","data":[{"id":"fault","object":"model","owned_by":"llamacpp"}]})");
  }
  return Reply::json(R"({"error":{"message":"not found","type":"not_found_error"}})", 404);
}

bool FaultServer::write_reply(int fd, const Reply& reply) {
  if (reply.delay_ms_before_headers > 0 && !pause_ms(reply.delay_ms_before_headers)) return false;
  size_t total = 0;
  for (const Piece& piece : reply.pieces)
    total += piece.bytes.size() * static_cast<size_t>(piece.repeat);
  std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                     std::string(reason_phrase(reply.status)) + "\r\n";
  if (!reply.content_type.empty()) head += "Content-Type: " + reply.content_type + "\r\n";
  for (const auto& [name, value] : reply.headers) head += name + ": " + value + "\r\n";
  head += "Connection: close\r\n";
  head += reply.chunked
              ? std::string("Transfer-Encoding: chunked\r\n")
              : "Content-Length: " + std::to_string(reply.cut ? total + 100 : total) + "\r\n";
  head += "\r\n";
  if (!send_all(fd, head)) return false;
  for (const Piece& piece : reply.pieces) {
    for (int i = 0; i < piece.repeat; ++i) {
      if (piece.delay_ms > 0 && !pause_ms(piece.delay_ms)) return false;
      if (piece.bytes.empty()) continue;
      std::string framed = piece.bytes;
      if (reply.chunked) {
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.bytes.size());
        framed = size + piece.bytes + "\r\n";
      }
      if (!send_all(fd, framed)) return false;
    }
  }
  // A cut, a reset or a hold leaves the body unfinished; otherwise it ends properly.
  if (reply.chunked && !reply.cut && !reply.reset && reply.hold_ms == 0)
    return send_all(fd, "0\r\n\r\n");
  return true;
}

void FaultServer::script(std::vector<Fault> faults) {
  std::lock_guard<std::mutex> lock(mutex_);
  script_.assign(faults.begin(), faults.end());
}

void FaultServer::loading_for(std::chrono::milliseconds duration) {
  std::lock_guard<std::mutex> lock(mutex_);
  loading_until_ = Clock::now() + duration;
}

std::string FaultServer::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string FaultServer::spec() const {
  return std::string(wire_name(wire_)) + "://127.0.0.1:" + std::to_string(port_) + "/fault";
}

std::vector<Received> FaultServer::received(std::string_view path) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return with_path(received_, path);
}

int FaultServer::generation_requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return generation_requests_;
}

}  // namespace chimera::testing
