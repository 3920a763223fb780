// The commands a user runs, against a server that is broken on purpose (tests/llm/support/
// fault_server.h), every named fault in both wire formats: `chimera bench` (sequential, under load,
// A/B; --json, --csv, the console and the results store) and `chimera run`. None crashes, aborts
// or hangs; the faulted call fails with the reason the fault deserves (or succeeds, after retries
// or with its server statistics rejected); the calls before and after it are in every output.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "lab/store.h"
#include "llm/support/fault_server.h"
#include "support/test_support.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera {
namespace {

using chimera::testing::contains;
using chimera::testing::read_file;

using nlohmann::json;
using testing::Fault;
using testing::FaultServer;
using testing::run_chimera;
using testing::TempDir;
using testing::Wire;

// Runs chimera and checks it neither crashed nor hung: the slowest fault (a 7 s drip) ends well
// within the bound.
testing::CommandResult run_bounded(const std::vector<std::string>& args) {
  const int64_t start = monotonic_ns();
  testing::CommandResult r = run_chimera(args);
  EXPECT_LT(ns_to_s(monotonic_ns() - start), 60.0) << join(args, " ");
  EXPECT_LT(r.exit_code, 128) << "killed by a signal: " << r.err;  // no abort, no segfault
  EXPECT_FALSE(contains(r.err, "terminate called")) << r.err;
  return r;
}

std::vector<std::string> bench_args(const FaultServer& server, const std::string& db) {
  return {"bench",    "-b",        server.spec(), "-p", "Say hello.",     "--runs", "3",
          "--warmup", "0",         "--timeout",   "1",  "--retry-budget", "10",     "--db",
          db,         "--no-hwmon"};
}

// `chimera bench --json` against the server (checked: exit 0, one JSON document).
json bench_json(const FaultServer& server, const TempDir& dir) {
  std::vector<std::string> args = bench_args(server, dir.file("r.db"));
  args.push_back("--json");
  auto r = run_bounded(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(out.is_discarded()) << r.out.substr(0, 2000);
  return out.is_discarded() ? json::object() : out;
}

// Stored calls of the only session in `db`, in issue order.
std::vector<lab::StoredCall> stored_calls(const std::string& db) {
  auto store = lab::ResultsStore::open(db);
  EXPECT_TRUE(store.ok()) << store.status().message();
  if (!store.ok()) return {};
  auto sessions = (*store)->list_sessions();
  EXPECT_TRUE(sessions.ok() && sessions->size() == 1u);
  if (!sessions.ok() || sessions->empty()) return {};
  auto calls = (*store)->calls((*sessions)[0].id);
  EXPECT_TRUE(calls.ok());
  return calls.ok() ? *calls : std::vector<lab::StoredCall>{};
}

// The faulted call's own figures: none is zero (ttft_residual_ms may be negative by nature).
void expect_no_zero_metric(const json& metrics, const std::string& what) {
  for (const auto& [name, value] : metrics.items()) {
    if (!value.is_object() || !value.contains("value") || name == "ttft_residual_ms") continue;
    EXPECT_GT(value["value"].get<double>(), 0) << what << " " << name;
  }
}

class BenchFaults : public ::testing::TestWithParam<std::tuple<Wire, Fault>> {};

TEST_P(BenchFaults, JsonAndTheStoreHoldEveryCallAndTheFaultsReason) {
  const auto [wire, fault] = GetParam();
  const testing::FaultOutcome expected = testing::expected_outcome(fault, wire);
  FaultServer server(wire);
  server.script({Fault::kNone, fault, Fault::kNone});
  TempDir dir;
  json out = bench_json(server, dir);
  ASSERT_EQ(out["calls"].size(), 3u);
  for (size_t i : {0u, 2u}) {
    const json& record = out["calls"][i]["record"];
    EXPECT_TRUE(record["ok"].get<bool>()) << i << ": " << record["error"];
    EXPECT_EQ(record["text"], "Hello, world.");
    EXPECT_GT(out["calls"][i]["metrics"]["ttft_ms"]["value"].get<double>(), 0);
  }
  const json& faulted = out["calls"][1];
  EXPECT_EQ(faulted["record"]["ok"].get<bool>(), expected.ok) << faulted["record"]["error"];
  if (!expected.ok) {
    std::string error = faulted["record"]["error"].get<std::string>();
    EXPECT_TRUE(contains(error, expected.reason)) << error;
    if (expected.names_body_offset) {
      EXPECT_TRUE(contains(error, "body byte")) << error;
    }
    EXPECT_TRUE(faulted["metrics"].empty()) << faulted["metrics"].dump();  // no figures, no zeros
    EXPECT_EQ(out["summary"]["arms"][0]["failed"], 1);
  } else {
    expect_no_zero_metric(faulted["metrics"], std::string(fault_name(fault)));
    EXPECT_EQ(out["summary"]["arms"][0]["ok"], 3);
  }
  if (expected.retried) {
    EXPECT_GE(faulted["record"]["transport"]["retries"].get<int>(), 1);
    EXPECT_EQ(out["summary"]["arms"][0]["retried_calls"], 1);
  }
  if (expected.stats_rejected) {
    EXPECT_FALSE(faulted["record"]["server"]["rejected"].empty());
    EXPECT_EQ(out["summary"]["arms"][0]["invalid_server_timing_calls"], 1);
    // The arm's statistics are made of real figures only.
    for (const auto& [name, metric] : out["summary"]["arms"][0]["metrics"].items()) {
      if (name == "ttft_residual_ms") continue;
      for (const auto& v : metric["per_call"]) EXPECT_GT(v.get<double>(), 0) << name;
    }
  }

  std::vector<lab::StoredCall> stored = stored_calls(dir.file("r.db"));
  ASSERT_EQ(stored.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(stored[i].call.record.ok, out["calls"][i]["record"]["ok"].get<bool>()) << i;
    EXPECT_EQ(stored[i].call.record.error, out["calls"][i]["record"]["error"].get<std::string>());
  }
  EXPECT_EQ(stored[0].call.record.text, "Hello, world.");
  EXPECT_EQ(stored[2].call.record.text, "Hello, world.");
  if (fault == Fault::kInvalidUtf8) {
    EXPECT_EQ(stored[1].call.record.text, "caf\xC3\xA9 bad \x80 bytecut \xE2\x82");  // as sent
    EXPECT_TRUE(contains(faulted["record"]["text"].get<std::string>(), "bad \xEF\xBF\xBD byte"));
  }
}

INSTANTIATE_TEST_SUITE_P(EveryFault, BenchFaults,
                         ::testing::ValuesIn(testing::every_wire_and_fault()),
                         [](const auto& info) { return testing::fault_case_name(info.param); });

// A script that mixes faults, for the load modes (where the order of calls is not fixed).
std::vector<Fault> mixed_faults() {
  return {Fault::kNone,        Fault::kRandomBytes, Fault::kZeroStats, Fault::kReset,
          Fault::kInvalidUtf8, Fault::k500,         Fault::kNone,      Fault::kNanStats};
}

TEST(BenchFaultModes, ConcurrencyRateAndAbRunsCountEveryFaultAndFinish) {
  for (Wire wire : {Wire::kOllama, Wire::kOpenAI}) {
    for (const std::vector<std::string>& mode :
         {std::vector<std::string>{"--concurrency", "2", "--requests", "8"},
          std::vector<std::string>{"--rate", "40", "--requests", "8"},
          std::vector<std::string>{"--vs", "temperature=0.2", "--runs", "4"}}) {
      FaultServer server(wire);
      server.script(mixed_faults());
      TempDir dir;
      std::vector<std::string> args = {
          "bench",     "-b", server.spec(), "-p",   "Say hello.",     "--warmup",  "0",
          "--timeout", "1",  "--json",      "--db", dir.file("r.db"), "--no-hwmon"};
      args.insert(args.end(), mode.begin(), mode.end());
      auto r = run_bounded(args);
      ASSERT_EQ(r.exit_code, 0) << join(mode, " ") << ": " << r.err;
      json out = json::parse(r.out, nullptr, false);
      ASSERT_FALSE(out.is_discarded()) << join(mode, " ");
      ASSERT_EQ(out["calls"].size(), 8u) << join(mode, " ");
      int failed = 0, ok = 0;
      for (const json& c : out["calls"]) (c["record"]["ok"].get<bool>() ? ok : failed) += 1;
      EXPECT_EQ(failed, 3) << join(mode, " ");  // random bytes, reset, HTTP 500
      EXPECT_EQ(ok, 5) << join(mode, " ");
      EXPECT_EQ(stored_calls(dir.file("r.db")).size(), 8u) << join(mode, " ");
    }
  }
}

TEST(BenchFaultModes, CsvAndTheConsoleSayWhatHappened) {
  FaultServer server(Wire::kOllama);
  server.script({Fault::kNone, Fault::kZeroStats, Fault::kRandomBytes, Fault::kInvalidUtf8,
                 Fault::k429RetryAfter});
  TempDir dir;
  std::vector<std::string> args = bench_args(server, dir.file("r.db"));
  args[6] = "4";  // --runs 4
  auto csv_args = args;
  csv_args.push_back("--csv");
  auto csv = run_bounded(csv_args);
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_TRUE(is_valid_utf8(csv.out));
  std::vector<std::string> lines = split(csv.out, '\n');
  std::vector<std::string> header = split(lines[0], ',');
  auto column = [&](const std::string& name) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  // Row 2 is the call with zero timings: prefill_ms empty (not 0), decode_ms from the client.
  std::vector<std::string> zero = split(lines[2], ',');
  EXPECT_EQ(zero[column("ok")], "1");
  EXPECT_EQ(zero[column("prefill_ms")], "") << lines[2];
  EXPECT_NE(zero[column("decode_ms")], "") << lines[2];
  EXPECT_NE(std::stod(zero[column("decode_ms")]), 0.0) << lines[2];
  EXPECT_TRUE(contains(lines[2], "prefill_ms unavailable")) << lines[2];
  EXPECT_TRUE(contains(lines[3], "body byte")) << lines[3];  // the random bytes: failed, and where

  server.script({Fault::kNone, Fault::kZeroStats, Fault::kRandomBytes, Fault::k429RetryAfter});
  auto console = run_bounded(args);
  ASSERT_EQ(console.exit_code, 0) << console.err;
  for (const char* part : {"4 measured calls, 3 ok, 1 failed", "parse error x1",
                           "invalid server timings in 1 call", "prefill_ms unavailable in 1",
                           "decode_ms from client clocks in 1", "retries: 1 call answered"}) {
    EXPECT_TRUE(contains(console.out, part)) << part << " in\n" << console.out;
  }
  // `chimera results` shows and exports the stored session, bytes that are not UTF-8 included.
  auto shown = run_bounded({"results", "show", "2", "--db", dir.file("r.db"), "--json"});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_FALSE(json::parse(shown.out, nullptr, false).is_discarded());
  auto first = run_bounded({"results", "show", "1", "--db", dir.file("r.db"), "--json"});
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(is_valid_utf8(first.out));
}

TEST(BenchFaultModes, AServerStillLoadingItsModelIsWaitedForAndTheWaitIsReported) {
  for (Wire wire : {Wire::kOllama, Wire::kOpenAI}) {
    FaultServer server(wire);
    server.loading_for(std::chrono::milliseconds(800));  // llama.cpp: 503 "Loading model"
    TempDir dir;
    json out = bench_json(server, dir);
    ASSERT_TRUE(out.contains("summary"));
    const json& arm = out["summary"]["arms"][0];
    EXPECT_EQ(arm["ok"], 3) << arm.dump();
    EXPECT_EQ(arm["failed"], 0);
    // It was asked again while it loaded (bench's first requests, before any call is measured,
    // met the 503s; a call that meets them is counted as retried: fault_backend_test.cpp).
    // Unhindered, bench asks Ollama 8 times (version, show, 3 x ps + generate), OpenAI 4 times.
    EXPECT_GT(server.received().size(), wire == Wire::kOllama ? 8u : 4u);
  }
}

// `chimera run` against every fault: the run goes on, writes its reports, metrics.json and the
// store, and the faulted call is there with its reason.
class RunFaults : public ::testing::TestWithParam<std::tuple<Wire, Fault>> {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir();
    std::ofstream(data_->file("sweep.csv")) << "model,num_ctx,tokens_per_second,ttft_ms\n"
                                               "gemma3:latest,1024,100.5,120\n"
                                               "gemma3:latest,4096,96.25,131\n";
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  static TempDir* data_;
};
TempDir* RunFaults::data_ = nullptr;

TEST_P(RunFaults, TheRunGoesOnAndWritesEverythingItMeasured) {
  const auto [wire, fault] = GetParam();
  const testing::FaultOutcome expected = testing::expected_outcome(fault, wire);
  FaultServer server(wire);
  // Two warm-ups, then the first measured call meets the fault.
  server.script({Fault::kNone, Fault::kNone, fault});
  TempDir out;
  auto r = run_bounded({"run",
                        "--backend",
                        server.spec(),
                        "--data",
                        data_->path(),
                        "--out",
                        out.path(),
                        "--runs",
                        "2",
                        "--analysis-num-predict",
                        "8",
                        "--report-num-predict",
                        "8",
                        "--timeout",
                        "1",
                        "--retry-budget",
                        "10",
                        "--db",
                        out.file("r.db"),
                        "--no-hwmon"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string folder;
  for (const auto& e : std::filesystem::directory_iterator(out.path())) {
    if (e.is_directory()) folder = e.path().string();
  }
  ASSERT_FALSE(folder.empty());
  for (const char* f : {"baseline_report.md", "chimera_report.md", "report.html", "metrics.json"}) {
    EXPECT_TRUE(std::filesystem::exists(folder + "/" + f)) << f;
  }
  json metrics = json::parse(read_file(folder + "/metrics.json"), nullptr, false);
  ASSERT_FALSE(metrics.is_discarded());
  int failed = 0, measured = 0;
  std::string error;
  for (const json& c : metrics["calls"]) {
    if (c["warmup"].get<bool>()) continue;
    ++measured;
    if (!c["record"]["ok"].get<bool>()) {
      ++failed;
      error = c["record"]["error"].get<std::string>();
    }
  }
  EXPECT_EQ(failed, expected.ok ? 0 : 1) << error;
  if (!expected.ok) {
    EXPECT_TRUE(contains(error, expected.reason)) << error;
  }
  EXPECT_GE(measured, 6);  // the faulted execution stops at its analysis call; the rest run
  EXPECT_EQ(stored_calls(out.file("r.db")).size(), metrics["calls"].size());
}

INSTANTIATE_TEST_SUITE_P(EveryFault, RunFaults,
                         ::testing::ValuesIn(testing::every_wire_and_fault()),
                         [](const auto& info) { return testing::fault_case_name(info.param); });

}  // namespace
}  // namespace chimera

namespace chimera {
namespace {

// `chimera tune`: a study of one configuration (a warm-up, then three samples of one prompt) with
// the fault in its second sample. The study finishes, ranks what succeeded, and stores every call;
// a faulted call is a failed sample, never a zero among the figures.
class TuneFaults : public ::testing::TestWithParam<std::tuple<Wire, Fault>> {};

TEST_P(TuneFaults, TheStudyFinishesRanksWhatSucceededAndStoresEveryCall) {
  const auto [wire, fault] = GetParam();
  const testing::FaultOutcome expected = testing::expected_outcome(fault, wire);
  FaultServer server(wire);
  server.script({Fault::kNone, Fault::kNone, fault, Fault::kNone});
  TempDir dir;
  auto r = run_bounded({"tune",
                        "-b",
                        server.spec(),
                        "--param",
                        "temperature=0.2",
                        "-p",
                        "Say hello.",
                        "--repeat",
                        "3",
                        "--num-predict",
                        "4",
                        "--timeout",
                        "1",
                        "--retry-budget",
                        "10",
                        "--db",
                        dir.file("r.db"),
                        "--out",
                        dir.path(),
                        "--no-hwmon",
                        "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(out.is_discarded()) << r.out.substr(0, 2000);
  EXPECT_EQ(out["calls"]["measured"], 3);
  EXPECT_EQ(out["calls"]["failed"], expected.ok ? 0 : 1);
  const json& config = out["configurations"][0];
  EXPECT_EQ(config["samples_ok"], expected.ok ? 3 : 2) << config.dump();
  EXPECT_EQ(config["rank"], 1);
  for (const json& v : config["objectives"][0]["values"]) EXPECT_GT(v.get<double>(), 0);
  std::vector<lab::StoredCall> stored = stored_calls(dir.file("r.db"));
  ASSERT_EQ(stored.size(), 4u);  // the warm-up and the three measured calls
  const llm::CallRecord& faulted = stored[2].call.record;
  EXPECT_EQ(faulted.ok, expected.ok) << faulted.error;
  if (!expected.ok) {
    EXPECT_TRUE(contains(faulted.error, expected.reason)) << faulted.error;
  }
  EXPECT_TRUE(stored[1].call.record.ok && stored[3].call.record.ok);
}

INSTANTIATE_TEST_SUITE_P(EveryFault, TuneFaults,
                         ::testing::ValuesIn(testing::every_wire_and_fault()),
                         [](const auto& info) { return testing::fault_case_name(info.param); });

// `chimera agents`: one agent (alone, so each repetition is one call; no priming pass, as this
// server keeps no prompt cache), three repetitions after a warm-up, the fault in the second
// repetition. It finishes (exit 4 when a call failed), writes its reports and stores every call;
// the failed call is named with its reason.
class AgentsFaults : public ::testing::TestWithParam<std::tuple<Wire, Fault>> {};

TEST_P(AgentsFaults, TheRunFinishesAndKeepsEveryCall) {
  const auto [wire, fault] = GetParam();
  const testing::FaultOutcome expected = testing::expected_outcome(fault, wire);
  FaultServer server(wire);
  server.script({Fault::kNone, Fault::kNone, fault, Fault::kNone});
  TempDir dir;
  std::filesystem::create_directories(dir.file("data"));
  std::ofstream(dir.file("data/sweep.csv")) << "model,num_ctx,tokens_per_second\ng,1024,100.5\n";
  auto r = run_bounded({"agents",
                        "--agents",
                        "1",
                        "--backend",
                        server.spec(),
                        "--role",
                        "data-collector",
                        "--repetitions",
                        "3",
                        "--num-predict",
                        "4",
                        "--no-prime",
                        "--fact-budget",
                        "600",
                        "--timeout",
                        "1",
                        "--retry-budget",
                        "10",
                        "--data",
                        dir.file("data"),
                        "--out",
                        dir.file("out"),
                        "--db",
                        dir.file("r.db"),
                        "--no-scrape",
                        "--json"});
  EXPECT_EQ(r.exit_code, expected.ok ? 0 : 4) << r.err;
  std::vector<lab::StoredCall> stored;
  auto store = lab::ResultsStore::open(dir.file("r.db"));
  ASSERT_TRUE(store.ok());
  auto sessions = (*store)->list_sessions();
  ASSERT_TRUE(sessions.ok() && !sessions->empty());
  auto calls = (*store)->calls((*sessions)[0].id);
  ASSERT_TRUE(calls.ok());
  ASSERT_EQ(calls->size(), 4u);
  const llm::CallRecord& faulted = (*calls)[2].call.record;
  EXPECT_EQ(faulted.ok, expected.ok) << faulted.error;
  if (!expected.ok) {
    EXPECT_TRUE(contains(faulted.error, expected.reason)) << faulted.error;
  }
  for (size_t i : {1u, 3u})
    EXPECT_TRUE((*calls)[i].call.record.ok) << i << (*calls)[i].call.record.error;
  bool report = false;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.file("out"))) {
    report = report || e.path().filename() == "combined_report.md";
  }
  EXPECT_TRUE(report) << "the reports are written whatever failed";
}

INSTANTIATE_TEST_SUITE_P(EveryFault, AgentsFaults,
                         ::testing::ValuesIn(testing::every_wire_and_fault()),
                         [](const auto& info) { return testing::fault_case_name(info.param); });

}  // namespace
}  // namespace chimera
