#include "llm/support/protocol_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace chimera::testing {
namespace {

void pause_ms(int ms) {
  // Server-side pacing of a scripted reply (not a test waiting for something).
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace

Reply Reply::json(std::string body, int status) {
  Reply reply;
  reply.status = status;
  reply.chunked = false;
  reply.pieces.push_back({std::move(body), 0});
  return reply;
}

Reply Reply::ndjson(const std::vector<std::string>& lines, int delay_ms_between) {
  Reply reply;
  reply.content_type = "application/x-ndjson";
  for (const std::string& line : lines) reply.pieces.push_back({line + "\n", delay_ms_between});
  return reply;
}

Reply Reply::sse(const std::vector<std::string>& data, int delay_ms_between) {
  Reply reply;
  reply.content_type = "text/event-stream";
  for (const std::string& item : data)
    reply.pieces.push_back({"data: " + item + "\n\n", delay_ms_between});
  return reply;
}

Reply Reply::split(std::string content_type, const std::string& body, size_t piece_bytes,
                   int delay_ms_between) {
  Reply reply;
  reply.content_type = std::move(content_type);
  for (size_t at = 0; at < body.size(); at += piece_bytes) {
    reply.pieces.push_back({body.substr(at, piece_bytes), delay_ms_between});
  }
  return reply;
}

ProtocolServer::ProtocolServer() : server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->set_keep_alive_timeout(1);
  // Real servers (Go's net/http for Ollama, uvicorn for vLLM) disable Nagle; httplib does not by
  // default, and then every body waits ~40 ms for the client's delayed ACK.
  server_->set_tcp_nodelay(true);
  auto handle = [this](const httplib::Request& req, httplib::Response& res) {
    Reply reply = dispatch(Received{req.method, req.path, req.body});
    pause_ms(reply.delay_ms_before_headers);
    res.status = reply.status;
    for (const auto& [name, value] : reply.headers) res.set_header(name, value);
    auto shared = std::make_shared<Reply>(std::move(reply));
    if (shared->chunked) {
      res.set_chunked_content_provider(
          shared->content_type, [shared](size_t, httplib::DataSink& sink) {
            for (const Piece& piece : shared->pieces) {
              for (int i = 0; i < piece.repeat; ++i) {
                pause_ms(piece.delay_ms);
                if (!sink.write(piece.bytes.data(), piece.bytes.size())) return false;
              }
            }
            if (shared->cut) return false;  // abort: no terminating chunk, the connection closes
            sink.done();
            return true;
          });
      return;
    }
    size_t total = 0;
    for (const Piece& piece : shared->pieces)
      total += piece.bytes.size() * static_cast<size_t>(piece.repeat);
    size_t declared = shared->cut ? total + 100 : total;  // promise more than will come
    res.set_content_provider(declared, shared->content_type,
                             [shared](size_t offset, size_t, httplib::DataSink& sink) {
                               if (offset > 0) return false;  // everything went in the first call
                               for (const Piece& piece : shared->pieces) {
                                 for (int i = 0; i < piece.repeat; ++i) {
                                   pause_ms(piece.delay_ms);
                                   if (!sink.write(piece.bytes.data(), piece.bytes.size()))
                                     return false;
                                 }
                               }
                               return !shared->cut;
                             });
  };
  server_->Get(".*", handle);
  server_->Post(".*", handle);
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("protocol server: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server_->is_running()) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("protocol server did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // poll interval
  }
}

ProtocolServer::~ProtocolServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void ProtocolServer::route(const std::string& method, const std::string& path, Handler handler) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string key = method + " " + path;
  for (auto& [name, existing] : routes_) {
    if (name == key) {
      existing = std::move(handler);
      return;
    }
  }
  routes_.emplace_back(key, std::move(handler));
}

void ProtocolServer::route(const std::string& method, const std::string& path, Reply reply) {
  route(method, path, [reply](const Received&) { return reply; });
}

Reply ProtocolServer::dispatch(const Received& request) {
  Handler handler;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    received_.push_back(request);
    for (const auto& [name, candidate] : routes_) {
      if (name == request.method + " " + request.path) handler = candidate;
    }
  }
  if (!handler) return Reply::json("404 page not found", 404);  // what Go's mux says
  return handler(request);
}

std::string ProtocolServer::base_url() const { return "http://" + host_port(); }
std::string ProtocolServer::host_port() const { return "127.0.0.1:" + std::to_string(port_); }

std::vector<Received> with_path(const std::vector<Received>& all, std::string_view path) {
  if (path.empty()) return all;
  std::vector<Received> out;
  for (const Received& request : all) {
    if (request.path == path) out.push_back(request);
  }
  return out;
}

std::vector<Received> ProtocolServer::received(std::string_view path) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return with_path(received_, path);
}

int unused_local_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);  // never listened on: connecting is refused
  return port;
}

}  // namespace chimera::testing
