#include "agent/spawned_servers.h"

#include <signal.h>

#include <fmt/format.h>

#include <thread>

#include "llm/http_client.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

constexpr std::chrono::milliseconds kPollInterval{20};

bool health_ok(const std::string& base_url) {
  llm::HttpClient client(base_url, "");
  llm::HttpCallOptions options;
  options.connect_timeout_ms = 500;
  options.read_timeout_ms = 2000;
  options.max_attempts = 1;
  return client.get("/health", options).ok();
}

}  // namespace

int parse_listening_port(const std::string& output) {
  const std::string marker = "listening on http://";
  size_t at = output.find(marker);
  if (at == std::string::npos) return 0;
  size_t host_end = output.find_first_of(" \n", at + marker.size());
  std::string host_port = output.substr(at + marker.size(), host_end - at - marker.size());
  size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return 0;
  auto port = parse_int(host_port.substr(colon + 1));
  return port && *port > 0 && *port < 65536 ? static_cast<int>(*port) : 0;
}

Result<std::unique_ptr<SpawnedServers>> SpawnedServers::start(const SpawnOptions& options) {
  if (options.count < 1) {
    return make_error(ErrorCode::kInvalidArgument, "--spawn {} must be at least 1", options.count);
  }
  std::unique_ptr<SpawnedServers> set(new SpawnedServers());
  for (int i = 0; i < options.count; ++i) {
    std::vector<std::string> argv = {options.exe,       "serve",
                                     "--model",         options.model,
                                     "--host",          "127.0.0.1",
                                     "--port",          "0",
                                     "--parallel",      std::to_string(options.parallel),
                                     "--ctx",           std::to_string(options.ctx),
                                     "--drain-timeout", "5"};
    if (options.threads > 0) {
      argv.push_back("--threads");
      argv.push_back(std::to_string(options.threads));
    }
    CHIMERA_ASSIGN_OR_RETURN(auto child, ChildProcess::start(argv));
    set->servers_.push_back({child->pid(), 0, ""});
    set->children_.push_back(std::move(child));
  }
  // All K start at once; each is then waited for: its port, then its /health.
  auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
  for (size_t i = 0; i < set->children_.size(); ++i) {
    ChildProcess& child = *set->children_[i];
    SpawnedServer& server = set->servers_[i];
    for (;;) {
      if (options.cancelled && options.cancelled()) {
        return make_error(ErrorCode::kCancelled, "interrupted while the spawned servers started");
      }
      if (server.port == 0) {
        server.port = parse_listening_port(child.output());
        if (server.port) server.base_url = fmt::format("http://127.0.0.1:{}", server.port);
      }
      if (server.port && health_ok(server.base_url)) break;
      if (!child.running()) {
        return make_error(ErrorCode::kUnavailable,
                          "spawned server {} (chimera serve --model {}, pid {}) {} before it "
                          "answered: {}",
                          i + 1, options.model, server.pid, child.exit_status(),
                          last_lines(child.output(), 3));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return make_error(ErrorCode::kTimeout,
                          "spawned server {} (pid {}) did not answer GET /health within {} s; its "
                          "last output: {}",
                          i + 1, server.pid, options.ready_timeout.count() / 1000,
                          last_lines(child.output(), 3));
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  }
  return set;
}

SpawnedServers::~SpawnedServers() { stop(); }

bool SpawnedServers::running(size_t i) { return children_[i]->running(); }
std::string SpawnedServers::exit_status(size_t i) { return children_[i]->exit_status(); }
std::string SpawnedServers::output(size_t i) const { return children_[i]->output(); }
void SpawnedServers::kill(size_t i) { children_[i]->kill_now(); }

void SpawnedServers::stop() {
  // SIGTERM to all first, so they drain in parallel; then wait for each.
  for (auto& c : children_) {
    if (c->running()) ::kill(-c->pid(), SIGTERM);  // each leads its own process group
  }
  for (auto& c : children_) c->stop();
}

}  // namespace chimera::agent
