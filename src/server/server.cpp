// HTTP wiring: cpp-httplib with a thread pool sized for the requests that may wait, bearer-token
// auth, JSON error bodies for every failure (unknown route, oversized body, exception), request
// counting for /metrics, and a drain that lets in-flight generations finish.
#include "server/server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <set>

#include "server/api.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strings.h"

namespace chimera::server {

struct Server::State {
  ServerState shared;
  httplib::Server http;
  std::thread listener;
  int port = 0;
  int listen_fd = -1;  // the socket cpp-httplib binds, seen through its socket-options hook
  std::atomic<bool> stopped{false};
};

namespace {

const std::set<std::string>& known_endpoints() {
  static const std::set<std::string> kEndpoints = {
      "/", "/api/generate", "/api/chat", "/api/tags", "/api/show", "/api/ps", "/api/version",
      "/v1/chat/completions", "/v1/completions", "/v1/models", "/metrics", "/health"};
  return kEndpoints;
}

bool is_openai_path(const std::string& path) { return starts_with(path, "/v1/"); }

void send_error_for(const httplib::Request& req, httplib::Response& res, int status, const std::string& message) {
  if (is_openai_path(req.path)) {
    send_openai_error(res, status, message);
  } else {
    send_ollama_error(res, status, message);
  }
}

// Compares in time independent of where the first difference is (the length is not secret).
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

void register_operations(httplib::Server& http, ServerState& state) {
  http.Get("/metrics", [&state](const httplib::Request&, httplib::Response& res) {
    res.set_content(state.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/health", [&state](const httplib::Request&, httplib::Response& res) {
    if (state.draining.load()) {
      send_json(res, 503, Json{{"status", "draining"}});
      return;
    }
    SchedulerGauges g = state.registry->gauges();
    send_json(res, 200, Json{{"status", "ok"}, {"models_loaded", g.models_loaded}, {"active_sequences", g.active},
                             {"queued", g.queued}});
  });
}

// cpp-httplib 0.11 listens with a backlog of 5, fixed when the library was built. When more
// clients than that connect at once, Linux drops their handshakes; a client whose request bytes
// are then retransmitted late is closed by the server's idle timeout with no response (seen as
// about 1 run in 12 of the 16-client stress test). listen() again on the bound socket widens the
// queue to the system's limit.
void widen_accept_queue(int fd, int port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (fd < 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
  const int bound_port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                                     : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (bound_port != port) return;  // not the socket that was bound
  if (::listen(fd, SOMAXCONN) != 0) log::warn("could not widen the accept queue of port {}: {}", port, errno);
}

void configure(httplib::Server& http, ServerState& state) {
  const ServerConfig& config = state.config;
  const int threads = config.http_threads > 0 ? config.http_threads : config.parallel + config.max_queue + 8;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_payload_max_length(config.max_body_bytes);
  http.set_tcp_nodelay(true);  // token-sized writes must not wait for Nagle
  http.set_read_timeout(60, 0);
  http.set_write_timeout(30, 0);
  http.set_keep_alive_max_count(1000);
  // An idle keep-alive connection holds a pool thread, and stop() waits for it: keep the wait short.
  http.set_keep_alive_timeout(2);

  if (!config.api_key.empty()) {
    const std::string expected = "Bearer " + config.api_key;
    http.set_pre_routing_handler([expected](const httplib::Request& req, httplib::Response& res) {
      if (same_secret(req.get_header_value("Authorization"), expected)) return httplib::Server::HandlerResponse::Unhandled;
      res.set_header("WWW-Authenticate", "Bearer");
      res.set_header("Connection", "close");  // the body, if any, is not read
      send_error_for(req, res, 401,
                     req.has_header("Authorization") ? "the API key is wrong (Authorization: Bearer KEY)"
                                                     : "this server needs an API key: send Authorization: Bearer KEY");
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    const int status = res.status;
    std::string message = status == 404   ? fmt::format("no endpoint {} {}", req.method, req.path)
                          : status == 413 ? "the request body is larger than the server's limit"
                          : status == 405 ? fmt::format("{} is not allowed on {}", req.method, req.path)
                                          : fmt::format("the request could not be handled (HTTP {})", status);
    send_error_for(req, res, status, message);
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::error("{} {}: internal error: {}", req.method, req.path, what);
    send_error_for(req, res, 500, "internal server error: " + what);
  });
  http.set_logger([&state](const httplib::Request& req, const httplib::Response& res) {
    const std::string endpoint = known_endpoints().count(req.path) ? req.path : "other";
    state.metrics.count_request(endpoint, res.status);
    log::debug("{} {} -> {}", req.method, req.path, res.status);
  });
}

}  // namespace

Result<std::unique_ptr<Server>> Server::create(ServerConfig config) {
  if (config.models.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "no model to serve: give -m PATH.gguf or -m ollama:NAME:TAG");
  }
  if (config.parallel <= 0 || config.parallel > 256) {
    return make_error(ErrorCode::kInvalidArgument, "--parallel {} must be from 1 to 256", config.parallel);
  }
  if (config.port < 0 || config.port > 65535) {
    return make_error(ErrorCode::kInvalidArgument, "--port {} must be from 0 (any free port) to 65535", config.port);
  }
  if (config.max_body_bytes == 0) {
    return make_error(ErrorCode::kInvalidArgument, "the body limit must be positive");
  }
  std::vector<ModelSource> sources;
  std::set<std::string> names;
  for (const std::string& argument : config.models) {
    CHIMERA_ASSIGN_OR_RETURN(ModelSource source, resolve_model_source(argument));
    if (!names.insert(normalized_model_name(source.name)).second) {
      return make_error(ErrorCode::kInvalidArgument,
                        "two models are named '{}'; name them apart with -m NAME=MODEL", source.name);
    }
    sources.push_back(std::move(source));
  }
  auto state = std::make_unique<State>();
  ServerState& s = state->shared;
  s.config = config;
  s.defaults.num_ctx = config.ctx;
  RegistryOptions registry_options;
  registry_options.default_keep_alive_ns = config.keep_alive_ns;
  SchedulerOptions& so = registry_options.scheduler;
  so.n_seq = config.parallel;
  so.n_ctx = config.ctx;
  so.n_batch = config.batch;
  so.prefill_chunk = config.prefill_chunk;
  so.num_thread = config.threads;
  so.max_queue = config.max_queue;
  so.kv_cells = config.kv_cells;
  s.registry = std::make_unique<ModelRegistry>(std::move(sources), registry_options, &s.metrics);
  CHIMERA_RETURN_IF_ERROR(s.registry->start());
  ModelRegistry* registry = s.registry.get();
  s.metrics.set_gauge_source([registry] { return registry->gauges(); });
  configure(state->http, s);
  register_ollama_api(state->http, s);
  register_openai_api(state->http, s);
  register_operations(state->http, s);
  return std::unique_ptr<Server>(new Server(std::move(state)));
}

Server::Server(std::unique_ptr<State> state) : state_(std::move(state)) {}

Server::~Server() { stop(); }

Status Server::start() {
  State& st = *state_;
  const ServerConfig& config = st.shared.config;
  // Only SO_REUSEADDR (cpp-httplib's default adds SO_REUSEPORT, which would let a second server bind
  // the same port without an error).
  st.http.set_socket_options([&st](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    st.listen_fd = sock;
  });
  if (config.port == 0) {
    st.port = st.http.bind_to_any_port(config.host);
    if (st.port <= 0) {
      return make_error(ErrorCode::kUnavailable, "could not bind {}: no free port", config.host);
    }
  } else {
    if (!st.http.bind_to_port(config.host, config.port)) {
      return make_error(ErrorCode::kUnavailable,
                        "could not bind {}:{} (in use? another server, or Ollama itself on 11434); pick another "
                        "--port", config.host, config.port);
    }
    st.port = config.port;
  }
  widen_accept_queue(st.listen_fd, st.port);
  st.listener = std::thread([&st] { st.http.listen_after_bind(); });
  // cpp-httplib 0.11 has no wait_until_ready(): poll until the accept loop runs.
  const int64_t deadline = monotonic_ns() + 10'000'000'000;
  while (!st.http.is_running()) {
    if (monotonic_ns() > deadline) return make_error(ErrorCode::kTimeout, "the HTTP server did not start in 10 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::ok();
}

int Server::port() const { return state_->port; }

std::string Server::base_url() const {
  const std::string& host = state_->shared.config.host;
  const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return fmt::format("http://{}:{}", shown == "0.0.0.0" ? "127.0.0.1" : shown, state_->port);
}

bool Server::running() const { return !state_->stopped.load() && state_->http.is_running(); }

const Metrics& Server::metrics() const { return state_->shared.metrics; }

int Server::drain(std::chrono::milliseconds timeout) {
  ServerState& s = state_->shared;
  s.draining.store(true);
  int left = 0;
  {
    std::unique_lock<std::mutex> lock(s.jobs_mutex);
    s.jobs_cv.wait_for(lock, timeout, [&] { return s.jobs_in_flight == 0; });
    left = s.jobs_in_flight;
  }
  if (left > 0) log::warn("drain: {} requests still running after {} ms; cutting them", left, timeout.count());
  stop();
  return left;
}

void Server::stop() {
  if (state_->stopped.exchange(true)) return;
  state_->shared.draining.store(true);
  state_->http.stop();
  if (state_->listener.joinable()) state_->listener.join();  // the pool finishes every handler first
  state_->shared.registry->shutdown();
}

}  // namespace chimera::server
