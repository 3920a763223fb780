// `chimera agents --spawn K`: K local `chimera serve` processes on free loopback ports, serving one
// model, so the prior system's two-server setup runs offline. Each is started with --port 0 (the
// kernel picks a free port, so no two runs race for one), its port read from the line it prints,
// and it is ready once GET /health answers 200 (polled with a deadline; a process that exits first
// is an error that quotes its last output). stop() (and the destructor) ends them all: SIGTERM,
// a grace period, SIGKILL. The children die with us even on kill -9 (util/child_process.h).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/child_process.h"
#include "util/status.h"

namespace chimera::agent {

struct SpawnOptions {
  std::string exe;    // the chimera binary (/proc/self/exe from the command line)
  std::string model;  // what `chimera serve --model` takes: PATH.gguf or ollama:NAME:TAG
  int count = 2;
  int parallel = 4;  // --parallel of each server
  int ctx = 4096;    // --ctx of each server
  int threads = 0;   // --threads (0: the server's default)
  std::chrono::milliseconds ready_timeout{120'000};
  std::function<bool()> cancelled;  // polled while waiting (Ctrl-C)
};

struct SpawnedServer {
  int pid = 0;
  int port = 0;
  std::string base_url;  // "http://127.0.0.1:PORT"
};

class SpawnedServers {
 public:
  static Result<std::unique_ptr<SpawnedServers>> start(const SpawnOptions& options);
  ~SpawnedServers();
  SpawnedServers(const SpawnedServers&) = delete;
  SpawnedServers& operator=(const SpawnedServers&) = delete;

  const std::vector<SpawnedServer>& servers() const { return servers_; }
  // Whether server i still runs, and how it ended when it does not.
  bool running(size_t i);
  std::string exit_status(size_t i);
  std::string output(size_t i) const;
  // Kills server i at once (fault injection in tests and demos).
  void kill(size_t i);
  void stop();

 private:
  SpawnedServers() = default;
  std::vector<std::unique_ptr<ChildProcess>> children_;
  std::vector<SpawnedServer> servers_;
};

// The port in a `chimera serve` start line ("listening on http://127.0.0.1:41234 (...)"), or 0.
int parse_listening_port(const std::string& output);

}  // namespace chimera::agent
