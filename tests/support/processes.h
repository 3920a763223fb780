// Child processes of the chimera binary for tests that need a real one running beside them: a
// `chimera serve` on a free port (found in its log, polled with a deadline, stopped with SIGTERM
// when the object dies), or any command started without waiting (to kill -9 it mid-run).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "support/test_support.h"

namespace chimera::testing {

// Starts `chimera ARGS...` with stdout and stderr to `log_path`; -1 when it could not start.
pid_t spawn_chimera(const std::vector<std::string>& args, const std::string& log_path);

// Waits for a child and returns its waitpid status.
int wait_child(pid_t pid);

class ServeProcess {
 public:
  // `args` after "serve" (models, --parallel, --ctx, ...); "--port 0" is added.
  ServeProcess(const std::vector<std::string>& args, const std::string& log_path);
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // "ollama://127.0.0.1:PORT/MODEL"
  std::string spec(const std::string& model, const std::string& scheme = "ollama") const;
  std::string log() const { return read_file(log_); }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace chimera::testing
