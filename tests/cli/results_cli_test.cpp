// `chimera results list | show | export` on a database written through the lab API, as a previous
// bench run would have left it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lab/bench_report.h"
#include "lab/store.h"
#include "support/test_support.h"
#include "util/mapped_file.h"

namespace chimera {
namespace {

using chimera::testing::contains;

using testing::run_chimera;
using testing::TempDir;

llm::CallRecord call(double ttft_ms, bool ok) {
  llm::CallRecord r;
  r.backend = "ollama://127.0.0.1:11434";
  r.model = "gemma3:1b";
  r.ok = ok;
  if (!ok) {
    r.error_code = ErrorCode::kTimeout;
    r.error = "read timed out after 600 s";
    return r;
  }
  const int64_t ms = 1'000'000;
  r.t_request_ns = 1000 * ms;
  r.t_first_token_ns = r.t_request_ns + static_cast<int64_t>(ttft_ms * ms);
  r.chunk_times_ns = {r.t_first_token_ns, r.t_first_token_ns + 10 * ms,
                      r.t_first_token_ns + 20 * ms};
  r.t_done_ns = r.t_first_token_ns + 25 * ms;
  r.token_count = 3;
  r.token_count_source = llm::TokenCountSource::kServer;
  r.server.eval_count = 3;
  r.server.eval_ns = 30 * ms;
  r.text = "a, \"quoted\" answer";
  return r;
}

// Two sessions: #1 a finished single-arm run (TTFT 100, 110, 120 ms and one timeout), #2 started
// and never ended.
std::string make_db(const TempDir& dir) {
  std::string path = dir.file("results.db");
  auto store = lab::ResultsStore::open(path);
  EXPECT_TRUE(store.ok());
  lab::BenchHeader header;
  header.backend = "ollama://127.0.0.1:11434/gemma3:1b";
  header.model = "gemma3:1b";
  header.arms = {lab::ArmSpec{"A", {}, {}}};
  header.runs = 4;
  header.mode = "sequential";
  lab::SessionInfo info;
  info.command = "bench";
  info.backend = header.backend;
  info.model = header.model;
  info.header_json = lab::header_to_json(header).dump();
  int64_t first = *(*store)->begin_session(info);
  int64_t seq = 0;
  for (double ttft : {100.0, 110.0, 120.0}) {
    lab::CallMeta meta;
    meta.seq = seq++;
    EXPECT_TRUE((*store)->add_call(first, 0, meta, call(ttft, true)).ok());
  }
  lab::CallMeta failed;
  failed.seq = seq++;
  EXPECT_TRUE((*store)->add_call(first, 0, failed, call(0, false)).ok());
  EXPECT_TRUE((*store)->end_session(first, "completed", "{}").is_ok());
  info.model = "llama3.2:1b";
  info.backend = "ollama://127.0.0.1:11434/llama3.2:1b";
  (void)*(*store)->begin_session(info);
  return path;
}

TEST(ResultsCli, ListShowsSessionsNewestFirstWithCounts) {
  TempDir dir;
  std::string db = make_db(dir);
  auto r = run_chimera({"results", "list", "--db", db});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t second = r.out.find("llama3.2:1b"), first = r.out.find("gemma3:1b");
  ASSERT_NE(second, std::string::npos) << r.out;
  ASSERT_NE(first, std::string::npos) << r.out;
  EXPECT_LT(second, first);  // newest first
  EXPECT_TRUE(contains(r.out, "running/interrupted")) << r.out;
  EXPECT_TRUE(contains(r.out, "completed")) << r.out;

  auto j = run_chimera({"results", "list", "--db", db, "--json"});
  ASSERT_EQ(j.exit_code, 0);
  auto parsed = nlohmann::json::parse(j.out);
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[1]["calls"], 4);
  EXPECT_EQ(parsed[1]["failed_calls"], 1);
}

TEST(ResultsCli, ShowRebuildsTheStatisticsFromStoredCalls) {
  TempDir dir;
  std::string db = make_db(dir);
  auto r = run_chimera({"results", "show", "1", "--db", db});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "arm A: 4 measured calls, 3 ok, 1 failed")) << r.out;
  EXPECT_TRUE(contains(r.out, "timeout x1: read timed out after 600 s")) << r.out;
  // TTFT 100, 110, 120 ms: mean 110, sd 10 (by hand), p50 110.
  EXPECT_TRUE(contains(r.out, "110.0 ± 10.00")) << r.out;
  auto missing = run_chimera({"results", "show", "42", "--db", db});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.err, "no session 42")) << missing.err;
}

TEST(ResultsCli, ExportWritesCsvOrJson) {
  TempDir dir;
  std::string db = make_db(dir);
  auto csv = run_chimera({"results", "export", "1", "--csv", "--db", db});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("record,session_id,", 0), 0u);
  EXPECT_TRUE(contains(csv.out, "\ncall,1,A,3,")) << csv.out;  // the failed call is a row too
  EXPECT_TRUE(contains(csv.out, "\nstat,1,A,")) << csv.out;

  std::string out = dir.file("s1.json");
  auto json = run_chimera({"results", "export", "1", "--json", "--db", db, "-o", out});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto text = read_text_file(out);
  ASSERT_TRUE(text.ok());
  auto parsed = nlohmann::json::parse(*text);
  EXPECT_EQ(parsed["calls"].size(), 4u);
  EXPECT_EQ(parsed["calls"][0]["record"]["text"], "a, \"quoted\" answer");
  EXPECT_EQ(parsed["summary"]["arms"][0]["metrics"]["ttft_ms"]["mean"], 110.0);

  auto neither = run_chimera({"results", "export", "1", "--db", db});
  EXPECT_EQ(neither.exit_code, 2);
}

TEST(ResultsCli, AMissingDatabaseSaysHowToMakeOne) {
  TempDir dir;
  auto r = run_chimera({"results", "list", "--db", dir.file("none.db")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "run `chimera bench` first")) << r.err;
}

}  // namespace
}  // namespace chimera
