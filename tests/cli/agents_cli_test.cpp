// `chimera agents` as a user runs it, offline: the acceptance command (two agents, baseline vs
// Chimera, two spawned `chimera serve` on a dummy-weight model), a spawned server killed mid-run,
// Ctrl-C, a parent killed with SIGKILL and a server that cannot start (no process may be left
// behind in any of them), the OpenAI API, and usage errors. Small models, tiny output caps: CI has
// two cores.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "lab/store.h"
#include "llm/http_client.h"
#include "support/test_support.h"
#include "util/clock.h"

extern char** environ;

namespace chimera {
namespace {

using chimera::testing::contains;
using chimera::testing::read_file;
using chimera::testing::run_folder;

using testing::run_chimera;
using testing::TempDir;

bool poll_until(const std::function<bool()>& condition, int seconds) {
  int64_t deadline = monotonic_ns() + int64_t{seconds} * 1'000'000'000;
  while (monotonic_ns() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// A process is gone once /proc has no entry for it (reaped by us, or by init once orphaned).
bool process_gone(int pid) {
  return poll_until([pid] { return !std::filesystem::exists("/proc/" + std::to_string(pid)); }, 20);
}

// "spawned: pid 1234 serving on http://127.0.0.1:40001" lines of a run's output.
std::vector<std::pair<int, std::string>> spawned(const std::string& text) {
  std::vector<std::pair<int, std::string>> out;
  std::regex line("spawned: pid ([0-9]+) serving on (http://127\\.0\\.0\\.1:[0-9]+)");
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it) {
    out.emplace_back(std::stoi((*it)[1]), (*it)[2]);
  }
  return out;
}

// `chimera agents ...` in the background, its stdout and stderr in a log file.
class Background {
 public:
  Background(const std::vector<std::string>& args, const std::string& log) : log_(log) {
    std::vector<std::string> storage = {testing::chimera_exe()};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Background() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int pid() const { return pid_; }
  std::string log() const { return read_file(log_); }
  // The exit code (128 + signal when killed), or -1 when it did not end in time.
  int wait(int seconds) {
    int status = 0;
    bool done = poll_until([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, seconds);
    if (!done) return -1;
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

class AgentsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    model_ = dir_->file("gemma3-tiny.gguf");
    auto synth = run_chimera({"model", "synth", "--arch", "gemma3", "--size", "tiny", "--vocab",
                              "synthetic:512", "-o", model_});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
    std::filesystem::create_directories(dir_->file("data"));
    std::ofstream(dir_->file("data/sweep.csv")) << "model,num_ctx,tokens_per_second,ttft_ms,error\n"
                                                   "gemma3:latest,1024,100.5,120,\n"
                                                   "gemma3:latest,4096,0,,timeout\n"
                                                   "llama3.1:8b,1024,77.25,210,\n";
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  // Flags that keep a run short: tiny output caps, a small fact budget, one engine thread.
  std::vector<std::string> quick(const std::string& out, int repetitions = 2) {
    return {"agents",
            "--data",
            dir_->file("data"),
            "--out",
            out,
            "--repetitions",
            std::to_string(repetitions),
            "--num-predict",
            "8",
            "--fact-budget",
            "1200",
            "--spawn-threads",
            "1",
            "--db",
            out + "/results.db"};
  }
  static TempDir* dir_;
  static std::string model_;
};

TempDir* AgentsCli::dir_ = nullptr;
std::string AgentsCli::model_;

TEST_F(AgentsCli, OfflineTwoAgentsBaselineVsChimeraOnTwoSpawnedServers) {
  TempDir out, home;
  // No Ollama, an empty store: the model is chosen as chimera run chooses it (dummy weights).
  setenv("OLLAMA_HOST", "127.0.0.1:9", 1);
  setenv("OLLAMA_MODELS", home.path().c_str(), 1);
  setenv("CHIMERA_CACHE_DIR", home.file("cache").c_str(), 1);
  std::vector<std::string> args = quick(out.path());
  args.insert(args.end(), {"--agents", "2", "--scenario", "baseline_vs_chimera", "--spawn", "2",
                           "--dummy-size", "tiny"});
  auto r = run_chimera(args);
  unsetenv("OLLAMA_HOST");
  unsetenv("OLLAMA_MODELS");
  unsetenv("CHIMERA_CACHE_DIR");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto servers = spawned(r.out);
  ASSERT_EQ(servers.size(), 2u) << r.out;
  EXPECT_NE(servers[0].second, servers[1].second);
  for (const auto& [pid, url] : servers) EXPECT_TRUE(process_gone(pid)) << pid;
  EXPECT_TRUE(contains(r.out, "2 agents: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "balance ratio")) << r.out;
  EXPECT_TRUE(contains(r.out, "dummy weights")) << r.out;

  std::string folder = run_folder(out.path());
  ASSERT_FALSE(folder.empty());
  for (const char* f : {"combined_report.md", "agent1-data-collector_report.md",
                        "agent2-insight_report.md", "report.html", "metrics.json"}) {
    EXPECT_TRUE(std::filesystem::exists(folder + "/" + f)) << f;
  }
  std::string combined = read_file(folder + "/combined_report.md");
  for (const char* part :
       {"sequential wall (s)", "concurrent wall (s)", "speedup (95% CI)", "efficiency",
        "fairness (Jain)", "balance ratio (prior system)", "(dummy weights)", "## Failures",
        "No call failed.", "baseline_vs_chimera", "spawned chimera serve"}) {
    EXPECT_TRUE(contains(combined, part)) << part << "\n" << combined;
  }
  EXPECT_TRUE(
      std::regex_search(combined, std::regex("[0-9.]+\u00d7 \\(95% CI [0-9.]+\u2013[0-9.]+\\)")))
      << combined;
  // Agent 1 runs the baseline profile, agent 2 the Chimera profile.
  EXPECT_TRUE(std::regex_search(
      combined, std::regex("agent1-data-collector +\\| data-collector +\\| baseline ")))
      << combined;
  EXPECT_TRUE(
      std::regex_search(combined, std::regex("agent2-insight +\\| insight +\\| chimera-gemma3 ")))
      << combined;

  auto metrics = nlohmann::json::parse(read_file(folder + "/metrics.json"));
  ASSERT_EQ(metrics["levels"].size(), 1u);
  const auto& level = metrics["levels"][0];
  EXPECT_EQ(level["statistics"]["repetitions_complete"].get<int>(), 2);
  EXPECT_EQ(level["statistics"]["provenance"], "synthetic");
  // warm-ups + reps x (priming pass + solo + concurrent) x agents
  ASSERT_EQ(level["calls"].size(), 2u + 2u * 3u * 2u);
  for (const auto& c : level["calls"]) EXPECT_TRUE(c["record"]["ok"].get<bool>()) << c.dump();
  // Each agent pinned to its own server; each server's /metrics scraped.
  ASSERT_EQ(metrics["endpoints"].size(), 2u);
  for (const auto& e : metrics["endpoints"]) {
    EXPECT_EQ(e["calls"].get<int>(), 7);  // warm-up + 2 x (priming, solo, concurrent)
    EXPECT_TRUE(contains(e["metrics_status"].get<std::string>(), "chimera metrics")) << e.dump();
  }
  // chimera serve reports the queue wait in its final stats: it reaches the records.
  EXPECT_TRUE(level["calls"][0]["record"]["server"].contains("queue_ns"))
      << level["calls"][0].dump();

  // The timeline: a lane per agent, every call drawn, the server load under it.
  std::string html = read_file(folder + "/report.html");
  EXPECT_TRUE(contains(html, "data-name=\"agent1-data-collector\"")) << "timeline lane";
  EXPECT_TRUE(contains(html, "data-name=\"agent2-insight\""));
  EXPECT_TRUE(contains(html, "14 calls, 0 failed"));
  EXPECT_TRUE(contains(html, "class=\"panel\" data-name=\"requests\""));
  // It renders offline in headless Chromium (77: Chromium is absent).
  // (0: this page has no CI-bar charts; chimera run's has.)
  std::string command = testing::source_dir() + "/scripts/check-report-html.sh " + folder +
                        "/report.html " + out.file("shot.png") + " 0 > " + out.file("html.log") +
                        " 2>&1";
  int status = std::system(command.c_str());
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code != 77) {
    EXPECT_EQ(code, 0) << read_file(out.file("html.log"));
  }

  // Every call is in the results database with its agent's name, phase and clocks.
  auto store = lab::ResultsStore::open(out.path() + "/results.db");
  ASSERT_TRUE(store.ok());
  auto sessions = (*store)->list_sessions();
  ASSERT_TRUE(sessions.ok() && sessions->size() == 1u);
  EXPECT_EQ((*sessions)[0].info.command, "agents");
  EXPECT_EQ((*sessions)[0].status, "completed");
  auto calls = (*store)->calls((*sessions)[0].id);
  ASSERT_TRUE(calls.ok());
  ASSERT_EQ(calls->size(), 14u);
  int concurrent = 0, priming = 0;
  for (const auto& c : *calls) {
    EXPECT_TRUE(c.call.meta.arm == "agent1-data-collector" || c.call.meta.arm == "agent2-insight");
    EXPECT_GT(c.call.record.t_first_token_ns, c.call.record.t_request_ns);
    EXPECT_GE(c.call.record.t_done_ns, c.call.record.t_first_token_ns);
    EXPECT_TRUE(c.call.record.server.queue_ns.has_value());
    concurrent += c.call.meta.concurrency == 2 && !c.call.meta.warmup;
    priming += c.call.meta.concurrency == 2 && c.call.meta.warmup;
  }
  EXPECT_EQ(concurrent, 4);
  EXPECT_EQ(priming, 4);  // stored, and marked warm-up: outside every statistic
}

TEST_F(AgentsCli, ASpawnedServerKilledMidRunFailsOnlyItsAgentAndTheReportSaysWhen) {
  TempDir out;
  std::vector<std::string> args = quick(out.path(), 3);
  args.insert(args.end(), {"--agents", "2", "--spawn", "2", "--backend", "embedded:" + model_});
  Background run(args, out.file("agents.log"));
  ASSERT_GT(run.pid(), 0);
  // Once the second server has served its agent's warm-up, kill it as a crash would.
  ASSERT_TRUE(poll_until([&] { return spawned(run.log()).size() == 2; }, 120)) << run.log();
  auto servers = spawned(run.log());
  llm::HttpClient client(servers[1].second, "");
  ASSERT_TRUE(poll_until(
      [&] {
        llm::HttpResponse metrics = client.get("/metrics");
        return metrics.ok() && contains(metrics.body, "\nchimera_sequences_total{");
      },
      120))
      << run.log();
  ASSERT_EQ(kill(servers[1].first, SIGKILL), 0);
  int code = run.wait(300);
  ASSERT_EQ(code, 4) << run.log();  // finished, some calls failed
  EXPECT_TRUE(process_gone(servers[0].first));
  EXPECT_TRUE(process_gone(servers[1].first));

  std::string folder = run_folder(out.path());
  std::string combined = read_file(folder + "/combined_report.md");
  EXPECT_TRUE(contains(combined, "killed by signal 9")) << combined;
  // chimera serve says its model has dummy weights; the report says so too.
  EXPECT_TRUE(contains(combined, "(dummy weights)")) << combined;
  EXPECT_TRUE(contains(combined, "when (s after start)")) << combined;
  EXPECT_TRUE(contains(combined, "The first failure:")) << combined;
  auto metrics = nlohmann::json::parse(read_file(folder + "/metrics.json"));
  ASSERT_FALSE(metrics["failures"].empty());
  for (const auto& f : metrics["failures"]) {
    EXPECT_EQ(f["agent"], "agent2-insight") << f.dump();
    EXPECT_GT(f["at_s"].get<double>(), 0);
    EXPECT_FALSE(f["error"].get<std::string>().empty());
  }
  int agent1_ok = 0;
  for (const auto& c : metrics["levels"][0]["calls"]) {
    const auto& rec = c["record"];
    if (c["agent"] == "agent1-data-collector") {
      agent1_ok += rec["ok"].get<bool>();
    } else if (!rec["ok"].get<bool>()) {
      EXPECT_FALSE(rec["error"].get<std::string>().empty());  // a failure, never a zero
    }
  }
  // warm-up + every priming and measured call of the surviving agent (3 repetitions x 3 passes)
  EXPECT_EQ(agent1_ok, 1 + 3 * 3);
}

TEST_F(AgentsCli, CtrlCStopsTheRunAndTheSpawnedServers) {
  TempDir out;
  std::vector<std::string> args = quick(out.path(), 50);
  args.insert(args.end(), {"--agents", "2", "--spawn", "2", "--backend", "embedded:" + model_});
  Background run(args, out.file("agents.log"));
  ASSERT_TRUE(poll_until([&] { return spawned(run.log()).size() == 2; }, 120)) << run.log();
  auto servers = spawned(run.log());
  // Interrupt mid-run: once the first server has finished a generation.
  llm::HttpClient client(servers[0].second, "");
  ASSERT_TRUE(poll_until(
      [&] {
        llm::HttpResponse metrics = client.get("/metrics");
        return metrics.ok() && contains(metrics.body, "\nchimera_sequences_total{");
      },
      120))
      << run.log();
  ASSERT_EQ(kill(run.pid(), SIGINT), 0);
  EXPECT_EQ(run.wait(120), 130) << run.log();
  for (const auto& [pid, url] : servers) EXPECT_TRUE(process_gone(pid)) << pid;
  // What finished before Ctrl-C is still reported, marked as interrupted.
  std::string folder = run_folder(out.path());
  ASSERT_FALSE(folder.empty()) << run.log();
  EXPECT_TRUE(contains(read_file(folder + "/combined_report.md"), "Interrupted")) << run.log();
}

TEST_F(AgentsCli, SpawnedServersDieWithAParentKilledWithSigkill) {
  TempDir out;
  std::vector<std::string> args = quick(out.path(), 50);
  args.insert(args.end(), {"--agents", "2", "--spawn", "2", "--backend", "embedded:" + model_});
  Background run(args, out.file("agents.log"));
  ASSERT_TRUE(poll_until([&] { return spawned(run.log()).size() == 2; }, 120)) << run.log();
  auto servers = spawned(run.log());
  ASSERT_EQ(kill(run.pid(), SIGKILL), 0);
  EXPECT_EQ(run.wait(60), 128 + SIGKILL);
  for (const auto& [pid, url] : servers) EXPECT_TRUE(process_gone(pid)) << pid;
}

TEST_F(AgentsCli, AServerThatCannotStartIsAnErrorAndLeavesNothingBehind) {
  TempDir out;
  std::vector<std::string> args = quick(out.path());
  args.insert(args.end(),
              {"--agents", "2", "--spawn", "2", "--backend", "embedded:" + out.file("none.gguf")});
  auto r = run_chimera(args);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "before it answered")) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("pid ([0-9]+)"))) << r.err;
  EXPECT_TRUE(process_gone(std::stoi(m[1])));
}

TEST_F(AgentsCli, TheOpenAIApiWorksTheSame) {
  TempDir out;
  // One chimera serve of our own, spoken to as an OpenAI-compatible server (as vLLM would be).
  std::vector<std::string> serve = {"serve",      "-m", "dummy=" + model_, "--port", "0",
                                    "--parallel", "2",  "--threads",       "1"};
  Background server(serve, out.file("serve.log"));
  std::regex listening("listening on (http://127\\.0\\.0\\.1:[0-9]+)");
  std::smatch m;
  ASSERT_TRUE(poll_until(
      [&] {
        std::string log = server.log();
        return std::regex_search(log, m, listening);
      },
      60));
  std::string url = m[1];
  std::string spec = "openai://" + url.substr(7) + "/dummy";
  std::vector<std::string> args = quick(out.path());
  args.insert(args.end(), {"--agents", "2", "--backend", spec, "--json"});
  auto r = run_chimera(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto summary = nlohmann::json::parse(r.out);
  ASSERT_EQ(summary["levels"].size(), 1u);
  EXPECT_EQ(summary["levels"][0]["repetitions_complete"].get<int>(), 2);
  EXPECT_EQ(summary["levels"][0]["calls"]["concurrent_failed"].get<int>(), 0);
  kill(server.pid(), SIGTERM);
  server.wait(30);
}

TEST_F(AgentsCli, UsageErrorsNameTheFlagAndTheValue) {
  auto zero = run_chimera({"agents", "--agents", "0"});
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_TRUE(contains(zero.err, "--agents '0'")) << zero.err;
  auto big = run_chimera({"agents", "--agents", "1,65"});
  EXPECT_EQ(big.exit_code, 2);
  EXPECT_TRUE(contains(big.err, "'65' is not a whole number from 1 to 64")) << big.err;
  auto scenario = run_chimera({"agents", "--scenario", "chimera_homo"});
  EXPECT_EQ(scenario.exit_code, 2);
  EXPECT_TRUE(contains(scenario.err, "baseline_vs_chimera")) << scenario.err;
  auto hetero = run_chimera({"agents", "--scenario", "heterogeneous", "--profile", "baseline"});
  EXPECT_EQ(hetero.exit_code, 2);
  EXPECT_TRUE(contains(hetero.err, "at least two with --profile")) << hetero.err;
  auto role = run_chimera({"agents", "--role", "nobody", "--spawn", "2"});
  EXPECT_EQ(role.exit_code, 1);
  EXPECT_TRUE(contains(role.err, "no role named 'nobody'")) << role.err;
  EXPECT_FALSE(contains(role.out, "spawned")) << "roles are checked before servers start";
}

}  // namespace
}  // namespace chimera
