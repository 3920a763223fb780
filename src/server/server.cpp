// HTTP wiring: cpp-httplib's routing behind our connection front (http_front.h: an event loop reads
// whole requests, a worker pool sized for the requests that may wait answers them), bearer-token
// auth, JSON error bodies for every failure (unknown route, oversized body, exception), request
// counting for /metrics, and a drain that lets in-flight generations finish.
#include "server/server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <set>

#include "server/api.h"
#include "server/http_front.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strings.h"

namespace chimera::server {

struct Server::State {
  ServerState shared;
  RoutedServer http;                 // routes and handlers (cpp-httplib)
  std::unique_ptr<HttpFront> front;  // connections (accept, read whole requests, workers)
  int port = 0;
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

FrontLimits front_limits(const ServerConfig& config) {
  FrontLimits limits;
  limits.request_timeout_ms = config.request_timeout_ms;
  limits.max_connections = config.max_connections;
  limits.max_connections_per_client = config.max_connections_per_client;
  limits.max_body_bytes = config.max_body_bytes;
  // Every request waiting for a slot holds a worker; idle and slow connections hold none.
  limits.workers =
      config.http_threads > 0 ? config.http_threads : config.parallel + config.max_queue + 8;
  // Unfinished requests may hold this much in all: a few full bodies, or many small heads.
  limits.max_buffered_bytes = std::max<size_t>(64u << 20, 8 * config.max_body_bytes);
  return limits;
}

void configure(httplib::Server& http, ServerState& state) {
  const ServerConfig& config = state.config;
  http.set_payload_max_length(config.max_body_bytes);

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
  if (config.request_timeout_ms < 100) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--request-timeout {} s is too short for a request to arrive (at least 0.1)",
                      static_cast<double>(config.request_timeout_ms) / 1e3);
  }
  if (config.max_connections < 1 || config.max_connections_per_client < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--max-connections {} and --max-connections-per-client {} must be at least 1",
                      config.max_connections, config.max_connections_per_client);
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
  so.prompt_cache_bytes = config.cache_ram_bytes < 0 ? SchedulerOptions::kPromptCacheAuto : config.cache_ram_bytes;
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
  st.front = std::make_unique<HttpFront>(st.http, front_limits(config), &st.shared.metrics);
  CHIMERA_RETURN_IF_ERROR(st.front->bind(config.host, config.port));
  st.port = st.front->port();
  return st.front->start();  // listening already: a client may connect the moment this returns
}

int Server::port() const { return state_->port; }

std::string Server::base_url() const {
  const std::string& host = state_->shared.config.host;
  const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return fmt::format("http://{}:{}", shown == "0.0.0.0" ? "127.0.0.1" : shown, state_->port);
}

bool Server::running() const {
  return !state_->stopped.load() && state_->front != nullptr && state_->front->running();
}

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
  if (state_->front) state_->front->stop();  // the workers finish (or are cut off) first
  state_->shared.registry->shutdown();
}

}  // namespace chimera::server
