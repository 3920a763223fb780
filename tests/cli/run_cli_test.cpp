// `chimera run` as a user runs it: against `chimera serve` through the Ollama API (a real engine on
// a small dummy-weight model), an A/A run, --strict, the embedded engine with the automatic backend
// choice, report.html in headless Chromium, and usage errors.
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

#include "agent/validator.h"
#include "lab/store.h"
#include "support/test_support.h"
#include "util/clock.h"
#include "util/strings.h"

extern char** environ;

namespace chimera {
namespace {

using chimera::testing::contains;
using chimera::testing::read_file;
using chimera::testing::run_folder;

using testing::run_chimera;
using testing::TempDir;

// A small data folder: prompts stay short enough for a tiny model's context.
void write_data(const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/sweep.csv") << "model,num_ctx,tokens_per_second,ttft_ms,error\n"
                                       "gemma3:latest,1024,100.5,120,\n"
                                       "gemma3:latest,4096,0,,timeout\n"
                                       "llama3.1:8b,1024,77.25,210,\n";
}

// `chimera serve` on a free port, stopped (SIGTERM) when the object dies.
class ServeProcess {
 public:
  ServeProcess(const std::string& model_path, const std::string& log) : log_(log) {
    std::vector<std::string> storage = {testing::chimera_exe(),
                                        "serve",
                                        "-m",
                                        "dummy=" + model_path,
                                        "--port",
                                        "0",
                                        "--parallel",
                                        "1",
                                        "--ctx",
                                        "8192"};
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    // Poll the log (with a deadline) for the address it listens on.
    std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    int64_t deadline = monotonic_ns() + 60'000'000'000;
    while (pid_ > 0 && port_ == 0 && monotonic_ns() < deadline) {
      std::smatch m;
      std::string text = read_file(log_);
      if (std::regex_search(text, m, listening)) port_ = std::stoi(m[1]);
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~ServeProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  int port() const { return port_; }
  std::string spec() const { return "ollama://127.0.0.1:" + std::to_string(port_) + "/dummy"; }
  std::string openai_spec() const {
    return "openai://127.0.0.1:" + std::to_string(port_) + "/dummy";
  }
  std::string log() const { return read_file(log_); }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Every report of a run says the model has dummy weights, and every call is tagged synthetic.
void expect_dummy_weights_everywhere(const std::string& folder) {
  for (const char* f : {"baseline_report.md", "chimera_report.md", "comparison_report.md"}) {
    std::string md = read_file(folder + "/" + f);
    EXPECT_TRUE(contains(md, "(dummy weights)")) << f;
    EXPECT_TRUE(contains(md, "not meaningful")) << f;
  }
  EXPECT_TRUE(contains(read_file(folder + "/report.html"), "(dummy weights)"));
  auto metrics = nlohmann::json::parse(read_file(folder + "/metrics.json"));
  EXPECT_TRUE(metrics["backend"]["synthetic"].get<bool>());
  for (const auto& c : metrics["calls"]) EXPECT_TRUE(c["record"]["synthetic_model"].get<bool>());
}

// The README's acceptance: every section, each with the program's content, in both agents' reports;
// no repetition loop or foreign-script text before the Appendix; failed model text quoted there.
void expect_reports_stand_on_their_own(const std::string& folder) {
  for (const char* f : {"baseline_report.md", "chimera_report.md"}) {
    std::string md = read_file(folder + "/" + f);
    size_t at = 0;
    for (const char* title :
         {"Executive Summary", "Chimera Configuration Analysis", "Data Ingestion Summary",
          "Performance Analysis", "Key Findings", "Recommendations", "Appendix"}) {
      size_t found = md.find(std::string("\n## ") + title + "\n", at);
      ASSERT_NE(found, std::string::npos) << f << ": " << title;
      at = found + 1;
    }
    std::string body = md.substr(0, md.find("\n## Appendix\n"));
    // Prose only: table rows of figures ("0.0 | 0.0 | 0.0") repeat by nature.
    std::string prose;
    for (const auto& line : split(body, '\n')) {
      if (!starts_with(line, "|")) prose += line + "\n";
    }
    for (const auto& loop : agent::find_repetition(prose)) {
      ADD_FAILURE() << f << ": " << loop.detail << ": " << loop.excerpt;
    }
    EXPECT_TRUE(agent::find_foreign_script(body).empty()) << f;
    EXPECT_TRUE(contains(body, "### Measured Performance of This Run")) << f;
    EXPECT_TRUE(contains(body, "[S")) << f;  // program-written findings cite facts
    auto metrics = nlohmann::json::parse(read_file(folder + "/metrics.json"));
    for (const auto& e : metrics["executions"]) {
      for (const auto& s : e["sections"]) {
        if (s["passed"].get<bool>() || s["text"].get<std::string>().empty()) continue;
        // A failed section's text stays out of the body; the last execution's is quoted.
        EXPECT_TRUE(contains(md, "Failed text of **")) << f;
      }
    }
  }
}

class RunCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    model_ = dir_->file("gemma3-tiny.gguf");
    auto synth = run_chimera({"model", "synth", "--arch", "gemma3", "--size", "tiny", "--vocab",
                              "synthetic:512", "-o", model_});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
    write_data(dir_->file("data"));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  // Flags that keep a run short: two or three pairs, small output caps, a small fact budget.
  std::vector<std::string> quick(const std::string& backend, const std::string& out, int runs = 2) {
    return {"run",
            "--backend",
            backend,
            "--data",
            dir_->file("data"),
            "--out",
            out,
            "--runs",
            std::to_string(runs),
            "--analysis-num-predict",
            "16",
            "--report-num-predict",
            "32",
            "--fact-budget",
            "1500",
            "--db",
            out + "/results.db"};
  }
  static TempDir* dir_;
  static std::string model_;
};

TempDir* RunCli::dir_ = nullptr;
std::string RunCli::model_;

TEST_F(RunCli, AgainstChimeraServeThroughTheOllamaApi) {
  TempDir out;
  ServeProcess serve(model_, out.file("serve.log"));
  ASSERT_GT(serve.port(), 0) << serve.log();
  auto r = run_chimera(quick(serve.spec(), out.path()));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "backend: " + serve.spec() + " (named with --backend)")) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("report call: .*decode_tps"))) << r.out;
  std::string folder = run_folder(out.path());
  ASSERT_FALSE(folder.empty());
  for (const char* f : {"baseline_report.md", "chimera_report.md", "comparison_report.md",
                        "report.html", "metrics.json"}) {
    EXPECT_TRUE(std::filesystem::exists(folder + "/" + f)) << f;
  }
  std::string chimera = read_file(folder + "/chimera_report.md");
  EXPECT_TRUE(contains(chimera, "**Date:** " + today_iso_date()));
  EXPECT_TRUE(contains(chimera, "| num_ctx        | 4096 "));
  EXPECT_TRUE(contains(chimera, "102.31 tok/s \u2014 **expected**"));
  EXPECT_TRUE(contains(chimera, "## Measured Performance of This Run"));
  EXPECT_TRUE(contains(chimera, "| sweep.csv "));
  EXPECT_TRUE(contains(chimera, "## Validation"));
  std::string baseline = read_file(folder + "/baseline_report.md");
  EXPECT_TRUE(contains(baseline, "This agent sends no sampling or context options"));
  // The server serves dummy weights: every report says so, though the model was named by URL.
  expect_dummy_weights_everywhere(folder);

  auto metrics = nlohmann::json::parse(read_file(folder + "/metrics.json"));
  ASSERT_EQ(metrics["calls"].size(), 2u + 2u * 2u * 2u);
  for (const auto& c : metrics["calls"]) {
    EXPECT_TRUE(c["record"]["ok"].get<bool>()) << c.dump();
    EXPECT_GT(c["record"]["token_count"].get<int64_t>(), 0);
  }
  EXPECT_EQ(metrics["executions"].size(), 4u);
  // Every call is in the results database too.
  auto store = lab::ResultsStore::open(out.path() + "/results.db");
  ASSERT_TRUE(store.ok());
  auto sessions = (*store)->list_sessions();
  ASSERT_TRUE(sessions.ok());
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].info.command, "run");
  EXPECT_EQ((*sessions)[0].status, "completed");
  auto calls = (*store)->calls((*sessions)[0].id);
  ASSERT_TRUE(calls.ok());
  EXPECT_EQ(calls->size(), 10u);

  // report.html renders offline in headless Chromium, charts included (77: Chromium is absent).
  std::string command = testing::source_dir() + "/scripts/check-report-html.sh " + folder +
                        "/report.html " + out.file("shot.png") + " > " + out.file("html.log") +
                        " 2>&1";
  int status = std::system(command.c_str());
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 77)
    GTEST_SKIP() << "Chromium is not installed (scripts/setup.sh --tests installs it)";
  EXPECT_EQ(code, 0) << read_file(out.file("html.log"));
}

TEST_F(RunCli, StrictExitsWithThreeExactlyWhenTheValidatorFindsSomething) {
  TempDir out;
  ServeProcess serve(model_, out.file("serve.log"));
  ASSERT_GT(serve.port(), 0) << serve.log();
  std::vector<std::string> args = quick(serve.spec(), out.path());
  args.push_back("--strict");
  auto r = run_chimera(args);
  std::string folder = run_folder(out.path());
  ASSERT_FALSE(folder.empty()) << r.err;
  auto metrics = nlohmann::json::parse(read_file(folder + "/metrics.json"));
  size_t findings = 0;
  for (const auto& e : metrics["executions"]) findings += e["validation"]["findings"].size();
  if (findings > 0) {
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_TRUE(contains(r.err, "--strict")) << r.err;
  } else {
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
}

TEST_F(RunCli, AnAARunReportsNoSignificantDifference) {
  TempDir out;
  ServeProcess serve(model_, out.file("serve.log"));
  ASSERT_GT(serve.port(), 0) << serve.log();
  std::vector<std::string> args = quick(serve.spec(), out.path(), 3);
  args.insert(args.end(), {"--chimera", "baseline"});  // the same profile on both arms
  auto r = run_chimera(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "report call: no significant difference in decode_tps")) << r.out;
  EXPECT_FALSE(contains(r.out, "better")) << r.out;
  EXPECT_FALSE(contains(r.out, "worse")) << r.out;
}

TEST_F(RunCli, DefaultsFallBackToDummyWeightsOnTheEmbeddedEngine) {
  TempDir out, home;
  // No Ollama server (a closed port), an empty Ollama store, a fresh cache for the dummy model.
  setenv("OLLAMA_HOST", "127.0.0.1:9", 1);
  setenv("OLLAMA_MODELS", home.path().c_str(), 1);
  setenv("CHIMERA_CACHE_DIR", home.file("cache").c_str(), 1);
  std::vector<std::string> args = quick("auto", out.path());
  args.insert(args.end(), {"--dummy-size", "tiny"});
  auto r = run_chimera(args);
  unsetenv("OLLAMA_HOST");
  unsetenv("OLLAMA_MODELS");
  unsetenv("CHIMERA_CACHE_DIR");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "backend: tried Ollama at 127.0.0.1:9: not answering")) << r.out;
  EXPECT_TRUE(contains(r.out, "backend: embedded:")) << r.out;
  EXPECT_TRUE(contains(r.out, "dummy weights")) << r.out;
  std::string folder = run_folder(out.path());
  for (const char* f : {"baseline_report.md", "chimera_report.md", "comparison_report.md"}) {
    std::string md = read_file(folder + "/" + f);
    EXPECT_TRUE(contains(md, "timings are real for that architecture on this machine")) << f;
  }
  expect_dummy_weights_everywhere(folder);
  expect_reports_stand_on_their_own(folder);
}

TEST_F(RunCli, ThroughTheOpenAiApiTheDummyWeightsAreNamedToo) {
  TempDir out;
  // The OpenAI API refuses (rather than truncates) a prompt over the tiny model's 4096-token
  // context, and a 512-token vocabulary spends about a token per character: a larger vocabulary
  // (about 0.6 tokens per character) keeps the prompt inside.
  std::string model = out.file("gemma3-tiny-8k.gguf");
  auto synth = run_chimera({"model", "synth", "--arch", "gemma3", "--size", "tiny", "--vocab",
                            "synthetic:8192", "-o", model});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  ServeProcess serve(model, out.file("serve.log"));
  ASSERT_GT(serve.port(), 0) << serve.log();
  std::vector<std::string> args = quick(serve.openai_spec(), out.path());
  auto r = run_chimera(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "dummy weights")) << r.out;
  std::string folder = run_folder(out.path());
  ASSERT_FALSE(folder.empty());
  expect_dummy_weights_everywhere(folder);
}

TEST(RunCliUsage, EquivalenceAndProseCallsAreChecked) {
  auto bad_margin = run_chimera({"run", "--equivalence", "lots"});
  EXPECT_EQ(bad_margin.exit_code, 2) << bad_margin.err;
  EXPECT_TRUE(contains(bad_margin.err, "--equivalence lots")) << bad_margin.err;
  auto bad_calls = run_chimera({"run", "--prose-calls", "many"});
  EXPECT_EQ(bad_calls.exit_code, 2) << bad_calls.err;
  EXPECT_TRUE(contains(bad_calls.err, "--prose-calls many")) << bad_calls.err;
}

TEST(RunCliUsage, ErrorsSayWhatToDo) {
  auto one_run = run_chimera({"run", "--runs", "1"});
  EXPECT_EQ(one_run.exit_code, 2);
  EXPECT_TRUE(contains(one_run.err, "--runs 1 is too few")) << one_run.err;
  auto no_data = run_chimera({"run", "--data", "/nonexistent/chimera-data"});
  EXPECT_EQ(no_data.exit_code, 1);
  EXPECT_TRUE(contains(no_data.err, "--data")) << no_data.err;
  auto no_profile = run_chimera(
      {"run", "--data", testing::source_dir() + "/examples/data", "--chimera", "no-such-profile"});
  EXPECT_EQ(no_profile.exit_code, 1);
  EXPECT_TRUE(contains(no_profile.err, "no profile named 'no-such-profile'")) << no_profile.err;
}

}  // namespace
}  // namespace chimera
