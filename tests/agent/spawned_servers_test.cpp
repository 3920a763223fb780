// The pieces of --spawn that need no model: the port a server prints, and a server that cannot
// start is an error that quotes it and leaves no process behind.
#include "agent/spawned_servers.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"

namespace chimera::agent {
namespace {

TEST(SpawnedServers, PortFromTheStartLine) {
  EXPECT_EQ(parse_listening_port("chimera serve: listening on http://127.0.0.1:41234 (Ollama /api, "
                                 "OpenAI /v1, /metrics, /health; 4 parallel, ctx 4096)\n"),
            41234);
  EXPECT_EQ(parse_listening_port("loading...\n"), 0);
  EXPECT_EQ(parse_listening_port("listening on http://127.0.0.1:99999 (x)"), 0);
}

TEST(SpawnedServers, AServerThatExitsBeforeAnsweringIsAnErrorWithItsOutput) {
  SpawnOptions options;
  options.exe = "/bin/false";  // exits at once with code 1, as a server with a bad model would
  options.model = "m.gguf";
  options.count = 2;
  auto servers = SpawnedServers::start(options);
  ASSERT_FALSE(servers.ok());
  const std::string& message = servers.status().message();
  EXPECT_NE(message.find("spawned server 1"), std::string::npos) << message;
  EXPECT_NE(message.find("exited with code 1 before it answered"), std::string::npos) << message;
}

TEST(SpawnedServers, ReadinessHasADeadlineAndTheLateServerIsStopped) {
  chimera::testing::TempDir dir;
  // A "server" that runs but never prints a port nor answers; it writes its pid first.
  std::string script = dir.file("mute-server");
  std::ofstream(script) << "#!/bin/sh\necho $$ > " << dir.file("pid") << "\nexec sleep 60\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  SpawnOptions options;
  options.exe = script;
  options.model = "m.gguf";
  options.count = 1;
  options.ready_timeout = std::chrono::milliseconds(300);
  auto servers = SpawnedServers::start(options);
  ASSERT_FALSE(servers.ok());
  EXPECT_EQ(servers.status().code(), ErrorCode::kTimeout);
  EXPECT_NE(servers.status().message().find("did not answer GET /health"), std::string::npos)
      << servers.status().message();
  std::ifstream pid_file(dir.file("pid"));
  int pid = 0;
  pid_file >> pid;
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid)));
}

}  // namespace
}  // namespace chimera::agent
