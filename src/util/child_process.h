// A child process that cannot outlive us: started with fork + exec in its own process group (so a
// terminal's Ctrl-C reaches only the parent, which stops it in order), with PR_SET_PDEATHSIG so the
// kernel sends it SIGTERM if the parent dies without cleaning up (kill -9 included), its stderr
// read into a bounded buffer by a thread (a full pipe would block the child), and stop() =
// SIGTERM, a grace period, SIGKILL, reaped. The destructor stops it.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/status.h"

namespace chimera {

class ChildProcess {
 public:
  // argv[0] is the program path (not searched in PATH). stdout goes to /dev/null, or to the file
  // `stdout_path` (created or truncated) when one is given: a tool whose result is its stdout.
  static Result<std::unique_ptr<ChildProcess>> start(const std::vector<std::string>& argv,
                                                     const std::string& stdout_path = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  // False once it has exited (reaped here); exit_status() then says how.
  bool running();
  // "exited with code 1", "killed by signal 9", or "running".
  std::string exit_status();
  // Blocks until it exits (and its stderr is read to the end); true when it exited with code 0.
  bool wait_succeeded();
  // Its stderr so far (the last 64 KiB).
  std::string output() const;
  // SIGTERM to its process group, then SIGKILL after `grace`; waits until reaped. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  // SIGKILL to its process group now, reaped (a fault injected on purpose, or a child that
  // ignores SIGTERM).
  void kill_now();

 private:
  ChildProcess(int pid, int stderr_fd);
  void reap(bool block);

  int pid_ = -1;
  int stderr_fd_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  mutable std::mutex mutex_;
  std::string output_;
  std::thread reader_;
};

}  // namespace chimera
