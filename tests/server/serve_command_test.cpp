// `chimera serve` as a user runs it: flags, the "listening on" line, SIGTERM/SIGINT draining the
// in-flight request and exiting 0, several -m models served by name, and errors for bad flags.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>

#include "server/server_test_support.h"
#include "support/test_support.h"
#include "util/clock.h"

extern char** environ;

namespace chimera::testing {
namespace {

// A `chimera serve` child whose stderr is read to find its port.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args) {
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<std::string> storage = {chimera_exe(), "serve"};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    err_fd_ = fds[0];
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (err_fd_ >= 0) ::close(err_fd_);
  }

  // Reads stderr until the "listening on http://HOST:PORT" line; 0 when it never came.
  int wait_for_port(std::chrono::seconds timeout) {
    const int64_t deadline = monotonic_ns() + timeout.count() * 1'000'000'000;
    static const std::regex kListening(R"(listening on http://[^:]+:(\d+))");
    while (monotonic_ns() < deadline) {
      std::smatch match;
      if (std::regex_search(err_, match, kListening)) return std::stoi(match[1]);
      if (!read_some(100)) {
        if (exited()) return 0;
      }
    }
    return 0;
  }
  // Waits for the exit; the exit code, or -1 on timeout or a signal.
  int wait_exit(std::chrono::seconds timeout) {
    const int64_t deadline = monotonic_ns() + timeout.count() * 1'000'000'000;
    while (monotonic_ns() < deadline) {
      read_some(20);
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        while (read_some(0)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
    }
    return -1;
  }
  void signal(int sig) { kill(pid_, sig); }
  const std::string& err() const { return err_; }

 private:
  bool read_some(int timeout_ms) {
    pollfd p{err_fd_, POLLIN, 0};
    if (err_fd_ < 0 || ::poll(&p, 1, timeout_ms) <= 0) return false;
    char buffer[4096];
    ssize_t n = ::read(err_fd_, buffer, sizeof(buffer));
    if (n <= 0) return false;
    err_.append(buffer, static_cast<size_t>(n));
    return true;
  }
  bool exited() {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string err_;
};

TEST(ServeCommandTest, SigtermDrainsTheInFlightRequestThenExitsZero) {
  ServeProcess serve({"-m", "slow=" + slow_gemma_path(), "--port", "0", "--threads", "1", "--ctx", "1024"});
  const int port = serve.wait_for_port(std::chrono::seconds(60));
  ASSERT_GT(port, 0) << serve.err();
  RawClient client(port);
  Json body = {{"model", "slow"}, {"prompt", "x"}, {"options", {{"num_predict", 60}, {"ignore_eos", true}}}};
  ASSERT_TRUE(client.send_all(http_post("/api/generate", body.dump())));
  ASSERT_TRUE(client.read_until("\"done\":false", std::chrono::seconds(30)));
  serve.signal(SIGTERM);
  ASSERT_TRUE(client.read_until("0\r\n\r\n", std::chrono::seconds(60))) << "the stream was cut";
  EXPECT_NE(client.received().find("\"done\":true"), std::string::npos);
  EXPECT_NE(client.received().find("\"eval_count\":60"), std::string::npos);
  EXPECT_EQ(serve.wait_exit(std::chrono::seconds(30)), 0) << serve.err();
  EXPECT_NE(serve.err().find("SIGTERM"), std::string::npos) << serve.err();
}

TEST(ServeCommandTest, SigintWithNothingRunningExitsZero) {
  ServeProcess serve({"-m", tiny_gemma_path(), "-m", "other=" + tiny_llama_path(), "--port", "0", "--threads", "1"});
  const int port = serve.wait_for_port(std::chrono::seconds(60));
  ASSERT_GT(port, 0) << serve.err();
  // Both models are served, by name (the first by its file stem).
  httplib::Client client("127.0.0.1", port);
  auto tags = client.Get("/api/tags");
  ASSERT_TRUE(tags);
  Json models = Json::parse(tags->body)["models"];
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0]["name"], "tiny-gemma:latest");
  EXPECT_EQ(models[1]["name"], "other:latest");
  EXPECT_EQ(models[1]["details"]["family"], "llama");
  for (const char* name : {"tiny-gemma", "other"}) {
    Json body = {{"model", name}, {"prompt", "hi"}, {"stream", false}, {"options", {{"num_predict", 3}}}};
    auto res = client.Post("/api/generate", body.dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << name << ": " << res->body;
  }
  serve.signal(SIGINT);
  EXPECT_EQ(serve.wait_exit(std::chrono::seconds(30)), 0) << serve.err();
}

TEST(ServeCommandTest, TheSlowClientLimitsAreFlagsWithTheirDefaultsShown) {
  CommandResult help = run_chimera({"serve", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* flag :
       {"--request-timeout", "--max-connections", "--max-connections-per-client"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag << " in\n" << help.out;
  }
  for (const char* shown : {"--request-timeout FLOAT=30 ", "--max-connections INT=1024 ",
                            "--max-connections-per-client INT=256"}) {
    EXPECT_NE(help.out.find(shown), std::string::npos) << shown << " in\n" << help.out;
  }
  CommandResult bad =
      run_chimera({"serve", "-m", tiny_gemma_path(), "--request-timeout", "0", "--port", "0"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--request-timeout"), std::string::npos) << bad.err;
}

TEST(ServeCommandTest, AClientOverItsConnectionCapGetsA503AndTheServerLogsIt) {
  ServeProcess serve({"-m", "tiny=" + tiny_gemma_path(), "--port", "0", "--threads", "1",
                      "--max-connections-per-client", "2"});
  const int port = serve.wait_for_port(std::chrono::seconds(60));
  ASSERT_GT(port, 0) << serve.err();
  RawClient first(port), second(port);
  ASSERT_TRUE(first.connected() && second.connected());
  // The two idle connections are held; give the server a moment's proof by a request on one.
  ASSERT_TRUE(first.send_all("GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(first.read_until("version", std::chrono::seconds(10)));
  RawClient third(port);
  third.read_to_end(std::chrono::seconds(5));
  EXPECT_EQ(third.received().rfind("HTTP/1.1 503", 0), 0u) << third.received();
  EXPECT_NE(third.received().find("--max-connections-per-client"), std::string::npos);
  serve.signal(SIGINT);
  EXPECT_EQ(serve.wait_exit(std::chrono::seconds(30)), 0) << serve.err();
  EXPECT_NE(serve.err().find(
                "refused a connection from 127.0.0.1: 2 connections are open from 127.0.0.1"),
            std::string::npos)
      << serve.err();
}

TEST(ServeCommandTest, BadModelOrFlagsFailWithAMessage) {
  CommandResult missing = run_chimera({"serve", "-m", "/nonexistent/model.gguf", "--port", "0"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("/nonexistent/model.gguf"), std::string::npos) << missing.err;
  CommandResult no_model = run_chimera({"serve", "--port", "0"});
  EXPECT_EQ(no_model.exit_code, 2);
  CommandResult bad_parallel = run_chimera({"serve", "-m", tiny_gemma_path(), "--parallel", "0", "--port", "0"});
  EXPECT_EQ(bad_parallel.exit_code, 2) << bad_parallel.err;
  EXPECT_NE(bad_parallel.err.find("--parallel"), std::string::npos) << bad_parallel.err;
}

}  // namespace
}  // namespace chimera::testing
