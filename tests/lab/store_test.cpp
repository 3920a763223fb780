// Results store: round trip of every CallRecord field, WAL mode, a migration from schema version 1,
// several writer processes at once, and a writer killed with SIGKILL mid-run.
#include "lab/store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

#include "lab/record_json.h"
#include "support/test_support.h"
#include "util/clock.h"

namespace chimera::lab {
namespace {

using chimera::testing::TempDir;

CallMeta meta(std::string arm, int64_t seq) {
  CallMeta m;
  m.arm = std::move(arm);
  m.seq = seq;
  return m;
}

SessionInfo session_info(std::string args = "") {
  SessionInfo info;
  info.command = "bench";
  info.args = std::move(args);
  return info;
}

llm::CallRecord full_record() {
  llm::CallRecord r;
  r.backend = "ollama://127.0.0.1:11434";
  r.model = "gemma3:4b";
  r.endpoint = "/api/generate";
  r.options_requested.temperature = 0.2;
  r.options_requested.num_predict = 64;
  r.options_requested.stop = std::vector<std::string>{"\n\n", "END"};
  r.options_applied = r.options_requested;
  r.options_applied.num_ctx = 4096;
  r.option_sources = {{"temperature", "sent"}, {"num_ctx", "model default"}};
  r.text = "Hello, \"world\" \xe2\x9c\x93";
  r.thinking = "hmm";
  r.done_reason = "length";
  r.token_count = 3;
  r.token_count_source = llm::TokenCountSource::kServer;
  r.prompt_tokens = 17;
  r.chunk_count = 3;
  r.wall_start_unix_ms = 1'760'000'000'000;
  r.t_request_ns = 10;
  r.t_first_byte_ns = 20;
  r.t_first_token_ns = 30;
  r.t_done_ns = 60;
  r.chunk_times_ns = {30, 40, 50};
  r.chunk_token_counts = {1, 1, 1};
  r.server.load_ns = 5;
  r.server.prompt_eval_ns = 7;
  r.server.prompt_eval_count = 17;
  r.server.eval_ns = 11;
  r.server.eval_count = 3;
  r.server.total_ns = 25;
  r.transport.connect_ns = 3;
  r.transport.attempts = 1;
  r.model_load_paid = true;
  r.warnings = {"prompt near num_ctx"};
  r.ok = true;
  return r;
}

llm::CallRecord failed_record() {
  llm::CallRecord r;
  r.backend = "ollama://127.0.0.1:11434";
  r.ok = false;
  r.error_code = ErrorCode::kTimeout;
  r.error = "read timed out after 600 s";
  r.text = "partial";
  return r;
}

TEST(ResultsStore, OpensInWalModeAtTheCurrentSchema) {
  TempDir dir;
  auto store = ResultsStore::open(dir.file("sub/dir/results.db"));  // creates directories
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ((*store)->journal_mode().value_or(""), "wal");
  EXPECT_EQ((*store)->schema_version().value_or(0), kSchemaVersion);
  EXPECT_EQ((*store)->integrity_check().value_or(""), "ok");
}

TEST(ResultsStore, RoundTripsEveryCallRecordField) {
  TempDir dir;
  auto opened = ResultsStore::open(dir.file("results.db"));
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  ResultsStore& store = **opened;
  SessionInfo info;
  info.command = "bench";
  info.args = "chimera bench -b ollama://127.0.0.1:11434/gemma3:4b --runs 2";
  info.host = "box";
  info.backend = "ollama://127.0.0.1:11434";
  info.model = "gemma3:4b";
  info.header_json = R"({"arms":["A"]})";
  auto session = store.begin_session(info);
  ASSERT_TRUE(session.ok()) << session.status().message();

  llm::Options a, b;
  b.temperature = 0.2;
  auto config_a = store.configuration_id(info.backend, info.model, a);
  auto config_a_again = store.configuration_id(info.backend, info.model, a);
  auto config_b = store.configuration_id(info.backend, info.model, b);
  ASSERT_TRUE(config_a.ok() && config_a_again.ok() && config_b.ok());
  EXPECT_EQ(*config_a, *config_a_again);
  EXPECT_NE(*config_a, *config_b);
  EXPECT_EQ(store.configuration(*config_b)->options_json, R"({"temperature":0.2})");

  CallMeta warm = meta("A", 0);
  warm.warmup = true;
  CallMeta first = meta("A", 1);
  first.pair_index = 0;
  CallMeta second = meta("B", 2);
  second.pair_index = 0;
  second.concurrency = 4;
  second.rate_rps = 2.5;
  ASSERT_TRUE(store.add_call(*session, *config_a, warm, full_record()).ok());
  ASSERT_TRUE(store.add_call(*session, *config_a, first, full_record()).ok());
  ASSERT_TRUE(store.add_call(*session, *config_b, second, failed_record()).ok());

  auto calls = store.calls(*session);
  ASSERT_TRUE(calls.ok()) << calls.status().message();
  ASSERT_EQ(calls->size(), 3u);
  const StoredCall& got = (*calls)[1];
  EXPECT_EQ(got.configuration_id, *config_a);
  EXPECT_EQ(got.call.meta.arm, "A");
  EXPECT_EQ(got.call.meta.pair_index, 0);
  EXPECT_FALSE(got.call.meta.warmup);
  EXPECT_TRUE((*calls)[0].call.meta.warmup);
  const llm::CallRecord& r = got.call.record;
  EXPECT_EQ(r.text, full_record().text);
  EXPECT_EQ(r.options_requested, full_record().options_requested);
  EXPECT_EQ(r.options_applied.num_ctx, 4096);
  EXPECT_EQ(r.chunk_times_ns, (std::vector<int64_t>{30, 40, 50}));
  EXPECT_EQ(r.server.eval_count, 3);
  EXPECT_EQ(r.token_count_source, llm::TokenCountSource::kServer);
  EXPECT_EQ(r.option_sources.at("num_ctx"), "model default");
  EXPECT_EQ(r.transport.connect_ns, 3);
  EXPECT_TRUE(r.model_load_paid);
  // Everything else too: the stored record's JSON equals the original's.
  EXPECT_EQ(call_record_to_json(r).dump(), call_record_to_json(full_record()).dump());

  const StoredCall& failed = (*calls)[2];
  EXPECT_FALSE(failed.call.record.ok);
  EXPECT_EQ(failed.call.record.error_code, ErrorCode::kTimeout);
  EXPECT_EQ(failed.call.record.error, "read timed out after 600 s");
  EXPECT_EQ(failed.call.meta.concurrency, 4);
  EXPECT_EQ(failed.call.meta.rate_rps, 2.5);
  EXPECT_FALSE(failed.call.record.server.eval_count.has_value());  // unset stays unset, not 0

  ASSERT_TRUE(store.end_session(*session, "completed", R"({"ok":1})").is_ok());
  auto sessions = store.list_sessions();
  ASSERT_TRUE(sessions.ok());
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].status, "completed");
  EXPECT_EQ((*sessions)[0].calls, 2);         // warm-up excluded
  EXPECT_EQ((*sessions)[0].failed_calls, 1);
  EXPECT_TRUE((*sessions)[0].ended_unix_ms.has_value());
  EXPECT_EQ((*sessions)[0].info.header_json, info.header_json);
  EXPECT_EQ(store.session(*session)->summary_json, R"({"ok":1})");
  EXPECT_EQ(store.session(999).status().code(), ErrorCode::kNotFound);
}

TEST(ResultsStore, RoundTripsHardwareSamples) {
  TempDir dir;
  auto store = ResultsStore::open(dir.file("results.db"));
  ASSERT_TRUE(store.ok());
  auto session = (*store)->begin_session(session_info());
  std::vector<HwSample> samples(2);
  for (int i = 0; i < 2; ++i) {
    samples[i].t_ns = 1000 + i;
    samples[i].t_unix_ms = 5;
    samples[i].process = {.pid = 42, .cpu_percent = 50.0 + i, .rss_bytes = 1000u + i,
                          .peak_rss_bytes = 2000};
    samples[i].system_cpu_percent = 12.5;
    samples[i].memory_total_bytes = 1 << 30;
    samples[i].memory_used_bytes = 1 << 29;
    samples[i].memory_available_bytes = 1 << 29;
    samples[i].server = ProcessSample{.pid = 77, .cpu_percent = 180.0, .rss_bytes = 5u << 20};
    GpuSample g;
    g.index = 1;
    g.name = "NVIDIA H100";
    g.util_percent = 90;
    g.memory_used_bytes = 3u << 30;
    g.power_w = 350.5;
    samples[i].gpus.push_back(g);
  }
  samples[0].process.cpu_percent.reset();
  ASSERT_TRUE((*store)->add_hw_samples(*session, samples).is_ok());
  auto back = (*store)->hw_samples(*session);
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_FALSE((*back)[0].process.cpu_percent.has_value());
  EXPECT_EQ((*back)[1].process.cpu_percent, 51.0);
  EXPECT_EQ((*back)[1].process.rss_bytes, 1001u);
  EXPECT_EQ((*back)[1].memory_used_bytes, 1u << 29);
  ASSERT_TRUE((*back)[1].server.has_value());
  EXPECT_EQ((*back)[1].server->pid, 77);
  ASSERT_EQ((*back)[1].gpus.size(), 1u);
  EXPECT_EQ((*back)[1].gpus[0].index, 1);
  EXPECT_EQ((*back)[1].gpus[0].name, "NVIDIA H100");
  EXPECT_EQ((*back)[1].gpus[0].power_w, 350.5);
  EXPECT_FALSE((*back)[1].gpus[0].temperature_c.has_value());
}

TEST(ResultsStore, MigratesAVersion1DatabaseKeepingItsData) {
  TempDir dir;
  std::string path = dir.file("old.db");
  {
    auto old = ResultsStore::open_at_version(path, 1);
    ASSERT_TRUE(old.ok()) << old.status().message();
    EXPECT_EQ((*old)->schema_version().value_or(0), 1);
  }
  {
    // Write rows the way a version-1 build did: no hw_samples table, no concurrency column.
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    EXPECT_FALSE(db.tableExists("hw_samples"));
    db.exec("INSERT INTO sessions (id, command, started_unix_ms, status) "
            "VALUES (1, 'bench', 1700000000000, 'completed')");
    db.exec("INSERT INTO calls (session_id, arm, seq, ok, text, token_count, token_count_source, "
            "t_request_ns, t_first_token_ns, t_done_ns, chunk_times_ns, eval_count) "
            "VALUES (1, 'A', 0, 1, 'old text', 5, 'server', 100, 200, 900, '[200,300]', 5)");
  }
  auto store = ResultsStore::open(path);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ((*store)->schema_version().value_or(0), kSchemaVersion);
  auto calls = (*store)->calls(1);
  ASSERT_TRUE(calls.ok()) << calls.status().message();
  ASSERT_EQ(calls->size(), 1u);
  EXPECT_EQ((*calls)[0].call.record.text, "old text");
  EXPECT_EQ((*calls)[0].call.record.server.eval_count, 5);
  EXPECT_EQ((*calls)[0].call.record.chunk_times_ns, (std::vector<int64_t>{200, 300}));
  EXPECT_EQ((*calls)[0].call.meta.concurrency, 1);  // the column's default for old rows
  // The new table works on the migrated file.
  EXPECT_TRUE((*store)->add_hw_samples(1, {HwSample{}}).is_ok());
  EXPECT_EQ((*store)->session(1)->summary_json, "");
}

TEST(ResultsStore, RefusesADatabaseFromANewerBuild) {
  TempDir dir;
  std::string path = dir.file("future.db");
  { ASSERT_TRUE(ResultsStore::open(path).ok()); }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO schema_version VALUES (99, 0, 'from the future')");
  }
  auto store = ResultsStore::open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(store.status().message().find("99"), std::string::npos);
}

// Children write through their own connections, then _exit without running atexit handlers.
void write_calls_and_exit(const std::string& path, int count, int worker) {
  auto store = ResultsStore::open(path);
  if (!store.ok()) _exit(10);
  auto session = (*store)->begin_session(session_info(std::to_string(worker)));
  if (!session.ok()) _exit(11);
  for (int i = 0; i < count; ++i) {
    if (!(*store)->add_call(*session, 0, meta("A", i), full_record()).ok()) _exit(12);
  }
  _exit(0);
}

TEST(ResultsStore, SeveralWriterProcessesDoNotCorruptIt) {
  TempDir dir;
  std::string path = dir.file("shared.db");
  constexpr int kWorkers = 4, kCallsEach = 40;
  std::vector<pid_t> children;
  for (int w = 0; w < kWorkers; ++w) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) write_calls_and_exit(path, kCallsEach, w);  // includes the first open + migrate
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  auto store = ResultsStore::open(path);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->integrity_check().value_or(""), "ok");
  auto sessions = (*store)->list_sessions();
  ASSERT_EQ(sessions->size(), static_cast<size_t>(kWorkers));
  for (const SessionRow& s : *sessions) EXPECT_EQ(s.calls, kCallsEach);
  EXPECT_EQ((*store)->schema_version().value_or(0), kSchemaVersion);
}

TEST(ResultsStore, SigkillMidRunLosesAtMostTheCallInFlight) {
  TempDir dir;
  std::string path = dir.file("killed.db");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) write_calls_and_exit(path, 1'000'000, 0);  // runs until killed
  // Poll (with a deadline) until the child has committed some calls, then kill it mid-stream.
  int64_t seen = 0;
  int64_t deadline = monotonic_ns() + 30'000'000'000;
  while (monotonic_ns() < deadline && seen < 25) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto store = ResultsStore::open(path);
    if (!store.ok()) continue;
    auto sessions = (*store)->list_sessions();
    if (sessions.ok() && !sessions->empty()) seen = (*sessions)[0].calls;
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_GE(seen, 25);
  auto store = ResultsStore::open(path);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ((*store)->integrity_check().value_or(""), "ok");
  auto sessions = (*store)->list_sessions();
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].status, "running");  // never ended: shown as interrupted
  EXPECT_FALSE((*sessions)[0].ended_unix_ms.has_value());
  // Every call committed before the kill is there, whole.
  auto calls = (*store)->calls((*sessions)[0].id);
  ASSERT_TRUE(calls.ok()) << calls.status().message();
  EXPECT_GE(static_cast<int64_t>(calls->size()), seen);
  for (size_t i = 0; i < calls->size(); ++i) {
    EXPECT_EQ((*calls)[i].call.meta.seq, static_cast<int64_t>(i));  // no gaps
    EXPECT_EQ((*calls)[i].call.record.chunk_times_ns.size(), 3u);
  }
}

}  // namespace
}  // namespace chimera::lab
