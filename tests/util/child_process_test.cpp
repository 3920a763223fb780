// Child processes that never outlive their owner: output captured, exit reported, stop() escalating
// from SIGTERM to SIGKILL, and nothing left in /proc afterwards.
#include "util/child_process.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace chimera {
namespace {

bool eventually(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

bool in_proc(int pid) { return std::filesystem::exists("/proc/" + std::to_string(pid)); }

TEST(ChildProcess, CapturesStderrAndTheExitCode) {
  auto child = ChildProcess::start({"/bin/sh", "-c", "echo to-stderr >&2; echo to-stdout; exit 3"});
  ASSERT_TRUE(child.ok()) << child.status().message();
  ASSERT_TRUE(eventually([&] { return !(*child)->running(); }));
  EXPECT_EQ((*child)->exit_status(), "exited with code 3");
  ASSERT_TRUE(eventually([&] { return (*child)->output() == "to-stderr\n"; }))
      << (*child)->output();  // stdout goes nowhere
}

TEST(ChildProcess, StopEndsItAndLeavesNothingBehind) {
  auto child = ChildProcess::start({"/bin/sleep", "60"});
  ASSERT_TRUE(child.ok());
  int pid = (*child)->pid();
  EXPECT_TRUE((*child)->running());
  (*child)->stop();
  EXPECT_FALSE((*child)->running());
  EXPECT_NE((*child)->exit_status().find("killed by signal 15"), std::string::npos)
      << (*child)->exit_status();
  EXPECT_FALSE(in_proc(pid));
}

TEST(ChildProcess, AChildThatIgnoresSigtermIsKilled) {
  auto child =
      ChildProcess::start({"/bin/sh", "-c", "trap '' TERM; echo ready >&2; exec /bin/sleep 60"});
  ASSERT_TRUE(child.ok());
  int pid = (*child)->pid();
  ASSERT_TRUE(eventually([&] { return (*child)->output() == "ready\n"; }));  // the trap is set
  (*child)->stop(std::chrono::milliseconds(200));
  EXPECT_NE((*child)->exit_status().find("killed by signal 9"), std::string::npos)
      << (*child)->exit_status();
  EXPECT_FALSE(in_proc(pid));
}

TEST(ChildProcess, TheDestructorStopsItToo) {
  int pid = 0;
  {
    auto child = ChildProcess::start({"/bin/sleep", "60"});
    ASSERT_TRUE(child.ok());
    pid = (*child)->pid();
  }
  EXPECT_FALSE(in_proc(pid));
}

TEST(ChildProcess, AProgramThatCannotRunSaysSo) {
  auto child = ChildProcess::start({"/nonexistent/program"});
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(eventually([&] { return !(*child)->running(); }));
  EXPECT_EQ((*child)->exit_status(), "exited with code 127");
  EXPECT_TRUE(eventually([&] { return (*child)->output() == "exec failed\n"; }));
}

}  // namespace
}  // namespace chimera
