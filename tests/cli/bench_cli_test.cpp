// `chimera bench` as a user runs it: usage errors, an unreachable server, A/B runs against a local
// Ollama imitation (checked on what the server received), JSON/CSV output, a concurrency sweep, and
// a `kill -9` in the middle of a run that loses at most the call in flight.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "lab/store.h"
#include "support/test_support.h"
#include "util/clock.h"

extern char** environ;

namespace chimera {
namespace {

using chimera::testing::contains;

// A minimal Ollama imitation for running `chimera bench` end to end: /api/show, /api/ps,
// /api/version and a streaming /api/generate that writes one NDJSON line per token, `token_ms`
// apart, with Ollama's final timing fields. It records every generate body it receives. Started on
// a free loopback port; the constructor returns once it accepts connections (polled with a
// deadline).
class FakeOllama {
 public:
  int tokens = 6;
  std::atomic<int> token_ms{2};
  std::atomic<int> ttft_ms{5};

  FakeOllama() {
    server_.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"version":"0.0.0-fake"})", "application/json");
    });
    server_.Get("/api/ps", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"models":[{"name":"fake:latest","model":"fake:latest"}]})",
                      "application/json");
    });
    server_.Post("/api/show", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(
          R"({"parameters":"temperature 0.8","template":"{{ .Prompt }}",)"
          R"("details":{"family":"fake","parameter_size":"1M","quantization_level":"Q4_0"},)"
          R"("model_info":{"general.architecture":"fake","fake.context_length":4096}})",
          "application/json");
    });
    server_.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mutex_);
        bodies_.push_back(nlohmann::json::parse(req.body, nullptr, false));
      }
      int n = tokens, per_token = token_ms.load(), first = ttft_ms.load();
      res.set_chunked_content_provider(
          "application/x-ndjson", [n, per_token, first](size_t, httplib::DataSink& sink) {
            std::this_thread::sleep_for(std::chrono::milliseconds(first));  // simulated prefill
            for (int i = 0; i < n; ++i) {
              if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(per_token));
              std::string line =
                  nlohmann::json{{"model", "fake"}, {"response", "tok "}, {"done", false}}.dump() +
                  "\n";
              if (!sink.write(line.data(), line.size())) return false;
            }
            nlohmann::json done = {{"model", "fake"},
                                   {"response", ""},
                                   {"done", true},
                                   {"done_reason", "length"},
                                   {"total_duration", (first + n * per_token) * 1'000'000LL},
                                   {"load_duration", 1'000'000},
                                   {"prompt_eval_count", 9},
                                   {"prompt_eval_duration", first * 1'000'000LL},
                                   {"eval_count", n},
                                   {"eval_duration", n * per_token * 1'000'000LL}};
            std::string line = done.dump() + "\n";
            sink.write(line.data(), line.size());
            sink.done();
            return true;
          });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("fake ollama: cannot bind");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running()) {
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("fake ollama: not up");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  ~FakeOllama() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return port_; }
  std::string spec(const std::string& model = "fake") const {
    return "ollama://127.0.0.1:" + std::to_string(port_) + "/" + model;
  }
  std::vector<nlohmann::json> bodies() const {
    std::lock_guard lock(mutex_);
    return bodies_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<nlohmann::json> bodies_;
};

using testing::run_chimera;
using testing::TempDir;

TEST(BenchCli, UsageErrorsExitWithTwoAndSayWhatToDo) {
  auto none = run_chimera({"bench"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_TRUE(contains(none.err, "-b ollama://host:port/MODEL")) << none.err;

  auto bad_value =
      run_chimera({"bench", "-b", "ollama://127.0.0.1:1/m", "--temperature", "hot", "--no-store"});
  EXPECT_EQ(bad_value.exit_code, 2);
  EXPECT_TRUE(contains(bad_value.err, "--temperature")) << bad_value.err;
  EXPECT_TRUE(contains(bad_value.err, "hot")) << bad_value.err;

  auto bad_vs = run_chimera(
      {"bench", "-b", "ollama://127.0.0.1:1/m", "--vs", "temprature=0.2", "--no-store"});
  EXPECT_EQ(bad_vs.exit_code, 2);
  EXPECT_TRUE(contains(bad_vs.err, "temperature")) << bad_vs.err;  // the suggestion

  auto embedded_load = run_chimera(
      {"bench", "-b", "embedded:/nonexistent.gguf", "--concurrency", "2", "--no-store"});
  EXPECT_EQ(embedded_load.exit_code, 2);
  EXPECT_TRUE(contains(embedded_load.err, "chimera serve")) << embedded_load.err;

  auto bad_list =
      run_chimera({"bench", "-b", "ollama://127.0.0.1:1/m", "--concurrency", "1,x", "--no-store"});
  EXPECT_EQ(bad_list.exit_code, 2);
  EXPECT_TRUE(contains(bad_list.err, "'x'")) << bad_list.err;

  auto both =
      run_chimera({"bench", "-b", "ollama://127.0.0.1:1/m", "--json", "--csv", "--no-store"});
  EXPECT_EQ(both.exit_code, 2);
}

TEST(BenchCli, AnUnreachableServerIsCountedAsFailuresNotZeros) {
  TempDir dir;
  std::string db = dir.file("results.db");
  auto r = run_chimera({"bench", "-b", "ollama://127.0.0.1:1/m", "--runs", "2", "--warmup", "0",
                        "--db", db, "--no-gpu"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "every measured call failed")) << r.err;
  EXPECT_TRUE(contains(r.out, "0 ok, 2 failed")) << r.out;
  EXPECT_FALSE(contains(r.out, "ttft_ms")) << r.out;  // no statistics made of failures
  auto store = lab::ResultsStore::open(db);
  ASSERT_TRUE(store.ok());
  auto sessions = (*store)->list_sessions();
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].status, "failed");
  EXPECT_EQ((*sessions)[0].failed_calls, 2);
}

TEST(BenchCli, AbRunAgainstAServerInterleavesPairsAndPrintsTheVerdict) {
  FakeOllama server;
  TempDir dir;
  std::string db = dir.file("results.db");
  auto r =
      run_chimera({"bench", "-b", server.spec(), "--runs", "3", "--warmup", "1", "-p", "one", "-p",
                   "two", "--vs", "temperature=0.2", "--num-ctx", "2048", "--db", db, "--no-gpu"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  for (const char* part :
       {"arm A: 6 measured calls, 6 ok, 0 failed", "arm B:", "ttft_ms", "decode_tps", "mean ± sd",
        "provenance", "A/B comparison", "B = A with temperature=0.2", "verdict",
        "(server 0.0.0-fake)", "num_ctx", "2048  sent (flag)", "0.2  sent (--vs)", "session 1 in",
        "0.8  model default"}) {
    EXPECT_TRUE(contains(r.out, part)) << "missing '" << part << "' in\n" << r.out;
  }
  // What the server received: warm-up pair, then AB BA AB BA AB BA; one seed per pair.
  auto bodies = server.bodies();
  ASSERT_EQ(bodies.size(), 14u);
  std::string order;
  for (const auto& b : bodies) order += b["options"].contains("temperature") ? 'B' : 'A';
  EXPECT_EQ(order, "ABABBAABBAABBA");
  for (size_t i = 0; i < bodies.size(); i += 2) {
    EXPECT_EQ(bodies[i]["options"]["seed"], bodies[i + 1]["options"]["seed"]) << i;
    EXPECT_EQ(bodies[i]["prompt"], bodies[i + 1]["prompt"]) << i;
    EXPECT_EQ(bodies[i]["options"]["num_predict"], 128);
    EXPECT_EQ(bodies[i]["options"]["num_ctx"], 2048);
  }
  // `chimera results` reads the same session back.
  auto list = run_chimera({"results", "list", "--db", db});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_TRUE(contains(list.out, server.spec())) << list.out;
  EXPECT_TRUE(contains(list.out, "completed")) << list.out;
}

TEST(BenchCli, JsonAndCsvCarryEveryCall) {
  FakeOllama server;
  TempDir dir;
  auto json_run = run_chimera({"bench", "-b", server.spec(), "--runs", "3", "--warmup", "1",
                               "--json", "--db", dir.file("r.db"), "--no-gpu"});
  ASSERT_EQ(json_run.exit_code, 0) << json_run.err;
  auto j = nlohmann::json::parse(json_run.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json_run.out;
  EXPECT_EQ(j["calls"].size(), 4u);
  EXPECT_EQ(j["header"]["backend_version"], "0.0.0-fake");
  const auto& ttft = j["summary"]["arms"][0]["metrics"]["ttft_ms"];
  EXPECT_EQ(ttft["n"], 3);
  EXPECT_EQ(ttft["provenance"], "measured");
  // The server's fields give decode_tps: 6 tokens / (6 x 2 ms) = 500 tok/s, measured.
  const auto& decode = j["summary"]["arms"][0]["metrics"]["decode_tps"];
  EXPECT_EQ(decode["provenance"], "measured");
  EXPECT_NEAR(decode["mean"].get<double>(), 500.0, 1e-6);

  auto csv_run = run_chimera({"bench", "-b", server.spec(), "--runs", "2", "--warmup", "0", "--csv",
                              "--no-store", "--no-hwmon"});
  ASSERT_EQ(csv_run.exit_code, 0) << csv_run.err;
  EXPECT_EQ(csv_run.out.rfind("record,session_id,arm,", 0), 0u) << csv_run.out;
  size_t call_rows = 0;
  for (size_t pos = 0; (pos = csv_run.out.find("\ncall,", pos)) != std::string::npos; ++pos)
    ++call_rows;
  EXPECT_EQ(call_rows, 2u);
}

TEST(BenchCli, ConcurrencySweepReportsThroughputPerLevel) {
  FakeOllama server;
  auto r = run_chimera({"bench", "-b", server.spec(), "--concurrency", "1,2", "--requests", "4",
                        "--warmup", "1", "--no-store", "--no-gpu"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "throughput under load")) << r.out;
  EXPECT_TRUE(contains(r.out, "concurrency 1")) << r.out;
  EXPECT_TRUE(contains(r.out, "concurrency 2")) << r.out;
  EXPECT_EQ(server.bodies().size(), 1u + 4 + 4);
}

// Acceptance for the bench issue: an A/B run on the embedded engine with a dummy-weight model
// prints the per-arm tables, the comparison and a verdict, and says the figures are synthetic.
TEST(BenchCli, EmbeddedAbRunPrintsTablesAndVerdict) {
  TempDir dir;
  std::string model = dir.file("tiny.gguf");
  auto synth = run_chimera({"model", "synth", "--arch", "gemma3", "--size", "tiny", "-o", model});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  auto r =
      run_chimera({"bench", "-b", "embedded:" + model, "--runs", "5", "--vs", "temperature=0.2",
                   "--num-predict", "16", "--db", dir.file("results.db"), "--no-gpu"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  for (const char* part :
       {"[dummy weights: timings real, text meaningless]",
        "arm A: 5 measured calls, 5 ok, 0 failed", "arm B: 5 measured calls, 5 ok, 0 failed",
        "ttft_ms", "decode_tps", "itl_ms", "synthetic",
        "A/B comparison, B - A (B = A with temperature=0.2)", "verdict", "Holm p", "Hedges g",
        "ignore_eos yes", "0.2  sent (--vs)", "16  sent (flag)"}) {
    EXPECT_TRUE(contains(r.out, part)) << "missing '" << part << "' in\n" << r.out;
  }
  // A verdict line for the headline metrics, whichever way the numbers fell.
  for (const char* metric : {"ttft_ms", "decode_tps"}) {
    bool verdict = contains(r.out, std::string("no significant difference in ") + metric) ||
                   contains(r.out, std::string("B's ") + metric + " is ");
    EXPECT_TRUE(verdict) << metric << "\n" << r.out;
  }
  // Every figure of a dummy-weight model is tagged synthetic, never measured.
  EXPECT_FALSE(contains(r.out, " measured    ")) << r.out;

  // --vs "" compares the configuration with itself: an A/A check of the noise floor.
  auto aa =
      run_chimera({"bench", "-b", "embedded:" + model, "--runs", "3", "--vs", "", "--num-predict",
                   "8", "--no-store", "--no-hwmon", "--json", "--equivalence", "5%"});
  ASSERT_EQ(aa.exit_code, 0) << aa.err;
  auto j = nlohmann::json::parse(aa.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  ASSERT_EQ(j["header"]["arms"].size(), 2u);
  EXPECT_EQ(j["header"]["arms"][0]["options"], j["header"]["arms"][1]["options"]);
  EXPECT_EQ(j["calls"].size(), 2u * (3 + 1));
  EXPECT_EQ(j["summary"]["arms"][0]["metrics"]["decode_tps"]["provenance"], "synthetic");
  // --equivalence 5%: a TOST verdict per compared metric, and the detectable difference beside it.
  EXPECT_DOUBLE_EQ(j["header"]["equivalence_margin"].get<double>(), 0.05);
  ASSERT_FALSE(j["summary"]["comparisons"].empty());
  for (const auto& c : j["summary"]["comparisons"]) {
    // TOST needs a positive reference mean (load_ms of a loaded engine is 0 in both arms).
    if (!c.contains("welch") || !(c["mean_a"].get<double>() > 0)) continue;
    ASSERT_TRUE(c.contains("equivalence")) << c.dump();
    EXPECT_DOUBLE_EQ(c["equivalence"]["margin"].get<double>(), 0.05) << c.dump();
    EXPECT_TRUE(c["equivalence"]["equivalent"].is_boolean()) << c.dump();
    EXPECT_EQ(c["relative_change_ci_method"], "fieller");
    std::string verdict = c["verdict"];
    EXPECT_NE(verdict.find("equivalent within \u00b15%"), std::string::npos) << verdict;
  }
  auto bad = run_chimera({"bench", "-b", "embedded:" + model, "--equivalence", "0%"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, "--equivalence 0%")) << bad.err;
}

// Starts chimera without waiting for it.
pid_t spawn_chimera(const std::vector<std::string>& args, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  std::vector<std::string> storage = {testing::chimera_exe()};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

TEST(BenchCli, KillNineMidRunLosesAtMostTheCallInFlight) {
  FakeOllama server;
  server.token_ms = 10;  // ~70 ms a call: the run lasts seconds, so the kill lands mid-run
  TempDir dir;
  std::string db = dir.file("results.db");
  pid_t pid = spawn_chimera({"bench", "-b", server.spec(), "--runs", "200", "--warmup", "0", "--vs",
                             "temperature=0.2", "--db", db, "--no-gpu"},
                            dir.file("log"));
  ASSERT_GT(pid, 0);
  // Poll the database (with a deadline) until some calls are committed, then SIGKILL.
  int64_t committed = 0;
  int64_t deadline = monotonic_ns() + 60'000'000'000;
  while (monotonic_ns() < deadline && committed < 6) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto store = lab::ResultsStore::open(db);
    if (!store.ok()) continue;
    auto sessions = (*store)->list_sessions();
    if (sessions.ok() && !sessions->empty()) committed = (*sessions)[0].calls;
  }
  size_t requests_before_kill = server.bodies().size();
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "chimera exited by itself with " << status;
  ASSERT_GE(committed, 6);

  auto store = lab::ResultsStore::open(db);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ((*store)->integrity_check().value_or(""), "ok");
  auto sessions = (*store)->list_sessions();
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_FALSE((*sessions)[0].ended_unix_ms.has_value());
  auto calls = (*store)->calls((*sessions)[0].id);
  ASSERT_TRUE(calls.ok());
  size_t requests_sent = server.bodies().size();
  // Every call the server answered before the kill was stored, except at most the one in flight.
  EXPECT_GE(calls->size() + 1, requests_before_kill);
  EXPECT_LE(calls->size(), requests_sent);
  for (size_t i = 0; i < calls->size(); ++i) {
    const auto& c = (*calls)[i];
    EXPECT_EQ(c.call.meta.seq, static_cast<int64_t>(i));
    EXPECT_TRUE(c.call.record.ok);
    EXPECT_EQ(c.call.record.server.eval_count, 6);
  }
  // The interrupted session still reads back as a report.
  auto show = run_chimera({"results", "show", std::to_string((*sessions)[0].id), "--db", db});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_TRUE(contains(show.out, "stopped early")) << show.out;
  EXPECT_TRUE(contains(show.out, "ttft_ms")) << show.out;
}

}  // namespace
}  // namespace chimera
