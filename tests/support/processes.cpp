#include "support/processes.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/test_support.h"
#include "util/clock.h"

extern char** environ;

namespace chimera::testing {

pid_t spawn_chimera(const std::vector<std::string>& args, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<std::string> storage = {chimera_exe()};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ServeProcess::ServeProcess(const std::vector<std::string>& args, const std::string& log_path)
    : log_(log_path) {
  std::vector<std::string> all = {"serve"};
  all.insert(all.end(), args.begin(), args.end());
  all.insert(all.end(), {"--port", "0"});
  pid_ = spawn_chimera(all, log_);
  static const std::regex kListening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
  const int64_t deadline = monotonic_ns() + 60'000'000'000;
  while (pid_ > 0 && port_ == 0 && monotonic_ns() < deadline) {
    std::smatch m;
    std::string text = read_file(log_);
    if (std::regex_search(text, m, kListening)) port_ = std::stoi(m[1]);
    if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

ServeProcess::~ServeProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  wait_child(pid_);
}

std::string ServeProcess::spec(const std::string& model, const std::string& scheme) const {
  return scheme + "://127.0.0.1:" + std::to_string(port_) + "/" + model;
}

}  // namespace chimera::testing
