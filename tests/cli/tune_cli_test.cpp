// `chimera tune` as a user runs it: errors that name the item, a configuration that fails at run
// time, kill -9 in the middle of a study then --resume, the profile it writes read back by `chimera
// run`, and --analyze on an old sweep.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "lab/store.h"
#include "support/processes.h"
#include "support/test_support.h"
#include "util/clock.h"

namespace chimera {
namespace {

using chimera::testing::contains;

using testing::run_chimera;
using testing::TempDir;

class TuneCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    model_ = dir_->file("gemma3-tiny.gguf");
    auto synth = run_chimera({"model", "synth", "--arch", "gemma3", "--size", "tiny", "--vocab",
                              "synthetic:512", "-o", model_});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  std::string backend() const { return "embedded:" + model_; }
  // A short study: one short prompt, few tokens, no hardware sampling.
  std::vector<std::string> quick(const std::string& out, std::vector<std::string> params) {
    std::vector<std::string> args = {
        "tune", "-b",    backend(), "-p",   "hi there",          "--num-predict",
        "8",    "--out", out,       "--db", out + "/results.db", "--no-hwmon"};
    for (const auto& p : params) args.insert(args.end(), {"--param", p});
    return args;
  }
  static TempDir* dir_;
  static std::string model_;
};

TempDir* TuneCli::dir_ = nullptr;
std::string TuneCli::model_;

TEST_F(TuneCli, BadInputIsAUsageErrorNamingTheItem) {
  TempDir out;
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  std::vector<Case> cases = {
      {quick(out.path(), {"num_ctxx=512,1024"}),
       "unknown option 'num_ctxx' (did you mean num_ctx?)"},
      {quick(out.path(), {"num_ctx="}), "the list of values is empty"},
      {quick(out.path(), {"temperature=0.2..1.0+0"}), "the step is 0"},
      {quick(out.path(), {"top_p=0.5,2"}), "top_p must be a number between 0 and 1, got 2"},
      {quick(out.path(), {}), "nothing to tune"},
  };
  auto with_constraint = quick(out.path(), {"num_thread=1,2"});
  with_constraint.insert(with_constraint.end(), {"--constraint", "ttft_p95 500ms"});
  cases.push_back({with_constraint, "--constraint \"ttft_p95 500ms\": no '<' or '>'"});
  auto bad_strategy = quick(out.path(), {"num_thread=1,2"});
  bad_strategy.insert(bad_strategy.end(), {"--strategy", "annealing"});
  cases.push_back({bad_strategy, "expected grid, random or race"});
  auto random_no_budget = quick(out.path(), {"num_thread=1,2"});
  random_no_budget.insert(random_no_budget.end(), {"--strategy", "random"});
  cases.push_back({random_no_budget, "--strategy random needs --budget N"});
  // An OpenAI-compatible server fixes num_ctx when it starts: refused before any call.
  cases.push_back({{"tune", "-b", "openai://127.0.0.1:9/m", "--param", "num_ctx=1024,2048",
                    "--param", "temperature=0.2,0.8", "--no-store", "--no-hwmon"},
                   "cannot apply num_ctx (an OpenAI-compatible server fixes it when it starts"});
  cases.push_back(
      {{"tune", "-b", backend(), "--param", "typical_p=0.5,0.9", "--no-store", "--no-hwmon"},
       "cannot apply typical_p (the embedded engine has no such setting"});
  for (const Case& c : cases) {
    auto r = run_chimera(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.expected << "\n" << r.out << r.err;
    EXPECT_TRUE(contains(r.err, c.expected)) << "expected: " << c.expected << "\ngot: " << r.err;
    EXPECT_FALSE(contains(r.err, "terminate called")) << r.err;
  }
}

TEST_F(TuneCli, AConfigurationTheServerRefusesIsFailedAndTheStudyGoesOn) {
  TempDir out;
  testing::ServeProcess serve(
      {"-m", "tiny=" + model_, "--parallel", "1", "--ctx", "512", "--threads", "1"},
      out.file("serve.log"));
  ASSERT_GT(serve.port(), 0) << serve.log();
  // chimera serve answers 400 to num_thread beyond its limit: every call of that configuration
  // fails.
  auto r = run_chimera({"tune", "-b", serve.spec("tiny"), "--param", "num_thread=1,100000", "-p",
                        "hi", "--num-predict", "4", "--repeat", "2", "--out", out.path(), "--db",
                        out.file("results.db"), "--no-hwmon", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["configurations"].size(), 2u);
  EXPECT_EQ(j["best"], "c01");
  const auto& failed = j["configurations"][1];
  EXPECT_EQ(failed["label"], "c02");
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_EQ(failed["rank"], 0);
  EXPECT_TRUE(contains(failed["failure"].get<std::string>(), "num_thread")) << failed["failure"];
  EXPECT_EQ(failed["objectives"][0]["mean"], nullptr) << "a failed call is never a zero";
  EXPECT_EQ(j["configurations"][0]["samples_ok"], 2);
}

TEST_F(TuneCli, KillNineThenResumeRepeatsNoCallAndLosesNone) {
  TempDir out;
  const std::string db = out.file("results.db");
  // 4 configurations x 8 samples x 2 prompts = 64 measured calls of 400 tokens: half a second here,
  // long enough for the kill to land mid-study on a faster machine too.
  std::vector<std::string> args = {"tune",
                                   "-b",
                                   backend(),
                                   "--param",
                                   "temperature=0.2,0.4,0.6,0.8",
                                   "-p",
                                   "first prompt",
                                   "-p",
                                   "second prompt",
                                   "--num-predict",
                                   "400",
                                   "--repeat",
                                   "8",
                                   "--out",
                                   out.path(),
                                   "--db",
                                   db,
                                   "--no-hwmon"};
  pid_t pid = testing::spawn_chimera(args, out.file("tune.log"));
  ASSERT_GT(pid, 0);
  int64_t committed = 0, study = 0;
  const int64_t deadline = monotonic_ns() + 120'000'000'000;
  while (monotonic_ns() < deadline && committed < 11) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto store = lab::ResultsStore::open(db);
    if (!store.ok()) continue;
    auto sessions = (*store)->list_sessions();
    if (sessions.ok() && !sessions->empty()) {
      committed = (*sessions)[0].calls;
      study = (*sessions)[0].id;
    }
  }
  kill(pid, SIGKILL);
  int status = testing::wait_child(pid);
  ASSERT_TRUE(WIFSIGNALED(status))
      << "the study ended before the kill: " << testing::read_file(out.file("tune.log"));
  ASSERT_GE(committed, 11);

  auto resumed = run_chimera({"tune", "--resume", std::to_string(study), "--db", db, "--out",
                              out.path(), "--no-hwmon", "--json"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_TRUE(contains(resumed.err, "resuming study " + std::to_string(study))) << resumed.err;

  auto store = lab::ResultsStore::open(db);
  ASSERT_TRUE(store.ok());
  auto calls = (*store)->calls(study);
  ASSERT_TRUE(calls.ok());
  std::set<std::tuple<std::string, int64_t, int64_t>> seen;
  int64_t measured = 0;
  for (const auto& c : *calls) {
    if (c.call.meta.warmup) continue;
    ++measured;
    EXPECT_TRUE(c.call.record.ok) << c.call.record.error;
    EXPECT_TRUE(
        seen.insert({c.call.meta.arm, c.call.meta.repetition, c.call.meta.prompt_index}).second)
        << "repeated: " << c.call.meta.arm << " sample " << c.call.meta.repetition << " call "
        << c.call.meta.prompt_index;
  }
  EXPECT_EQ(measured, 64) << "none lost, none repeated";
  auto j = nlohmann::json::parse(resumed.out);
  EXPECT_EQ(j["calls"]["measured"], 64);
  for (const auto& c : j["configurations"]) EXPECT_EQ(c["samples_ok"], 8) << c["label"];
  auto session = (*store)->session(study);
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(session->status, "completed");
}

TEST_F(TuneCli, TheWrittenProfileShowsItsMeasuredFiguresInChimeraRun) {
  TempDir out;
  const std::string profile = out.file("tuned.toml");
  auto args = quick(out.path(), {"temperature=0.2,0.8"});
  args.insert(args.end(), {"--repeat", "3", "--write-profile", profile});
  auto tune = run_chimera(args);
  ASSERT_EQ(tune.exit_code, 0) << tune.out << tune.err;
  // The study reads back from the store as the same ranking, without a call.
  auto show = run_chimera({"results", "show", "1", "--db", out.path() + "/results.db"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  const std::string ranking = tune.out.substr(tune.out.find("rank  config"));
  EXPECT_EQ(show.out.substr(0, show.out.find("\n\n")), ranking.substr(0, ranking.find("\n\n")))
      << show.out;
  auto csv = run_chimera({"results", "export", "1", "--csv", "--db", out.path() + "/results.db"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_TRUE(contains(csv.out, "label,options,status,rank")) << csv.out;
  EXPECT_TRUE(contains(csv.out, ",synthetic\n")) << csv.out;
  std::string toml = testing::read_file(profile);
  ASSERT_TRUE(contains(toml, "[expected]")) << toml;
  EXPECT_TRUE(contains(toml, "source = \"measured by chimera tune, study 1,")) << toml;
  EXPECT_TRUE(contains(toml, "(dummy weights: synthetic)")) << toml;
  EXPECT_TRUE(contains(toml, "[expected.ci95]")) << toml;
  EXPECT_TRUE(contains(toml, "decode_tps = [")) << toml;

  std::filesystem::create_directories(out.file("data"));
  std::ofstream(out.file("data/sweep.csv"))
      << "model,num_ctx,tokens_per_second\ngemma3,1024,100.5\n";
  auto run =
      run_chimera({"run", "--backend", backend(), "--chimera", profile, "--data", out.file("data"),
                   "--out", out.file("reports"), "--runs", "2", "--analysis-num-predict", "8",
                   "--report-num-predict", "8", "--db", out.file("run.db"), "--no-hwmon"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::string report;
  for (const auto& e : std::filesystem::recursive_directory_iterator(out.file("reports"))) {
    if (e.path().filename() == "chimera_report.md") report = testing::read_file(e.path().string());
  }
  ASSERT_FALSE(report.empty());
  EXPECT_TRUE(contains(report, "measured by chimera tune, study 1")) << report;
  // The achieved figure beside the expected one, read as this machine's own measurement.
  EXPECT_TRUE(std::regex_search(
      report,
      std::regex("report calls: decode_tps [0-9.]+ tok/s \\[M[0-9]+\\] on this machine .* "
                 "against the profile's \\*\\*expected\\*\\* [0-9.]+ tok/s \\(95% CI [0-9.]+ "
                 "to [0-9.]+\\) \\(measured by chimera tune, study 1,")))
      << report;
  EXPECT_TRUE(contains(report, "like-for-like check of the decode rate")) << report;
}

TEST_F(TuneCli, AnalyzeSaysWhatAnOldSweepCannotSupport) {
  auto r = run_chimera(
      {"tune", "--analyze",
       testing::source_dir() + "/examples/data/ollama_sweep/gemma3_latest_param_sweep.csv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "36 rows")) << r.out;
  EXPECT_TRUE(contains(r.out, "every configuration was measured once")) << r.out;
  EXPECT_TRUE(contains(r.out, "\"rank 1\" is one draw")) << r.out;
  EXPECT_TRUE(contains(r.out, "assuming no interactions")) << r.out;
  auto json = run_chimera(
      {"tune", "--analyze",
       testing::source_dir() + "/examples/data/ollama_sweep/llama3.1_quantization.csv", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto j = nlohmann::json::parse(json.out);
  EXPECT_GE(j["samples_per_configuration"][1].get<int>(), 2)
      << "that file has replicates (run 1, 2, ...)";
  auto missing = run_chimera({"tune", "--analyze", "/nonexistent.csv"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.err, "/nonexistent.csv")) << missing.err;
}

}  // namespace
}  // namespace chimera
