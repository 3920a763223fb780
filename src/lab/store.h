// The results store: one SQLite file (default data_dir()/results.db, `--db` overrides) in WAL mode,
// with a versioned schema and forward migrations (store_schema.cpp).
//
// Tables: schema_version, sessions (command, host, CPU, build, start/end, the self-describing header
// and the summary), configurations (backend, model, canonical options, by hash), calls (one row per
// CallRecord: every clock, server timings, token counts and their sources, ok/error, text) and
// hw_samples (one row per scope per sample: process, system, server, gpuN).
//
// Durability: every call is its own transaction, committed as soon as add_call returns, so a
// `kill -9` mid-run loses at most the call in flight. WAL with synchronous=NORMAL survives a process
// crash (not necessarily a power cut). Several processes may write at once: a busy timeout makes
// writers wait for each other instead of failing, and migrations run inside BEGIN IMMEDIATE.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lab/call_meta.h"
#include "lab/hwmon.h"
#include "llm/types.h"
#include "util/status.h"

namespace SQLite {
class Database;
}

namespace chimera::lab {

inline constexpr int kSchemaVersion = 2;
inline constexpr int kBusyTimeoutMs = 15'000;

struct SessionInfo {
  std::string command;       // "bench"
  std::string args;          // the command line as given
  std::string host;
  std::string cpu;           // model name
  std::string cpu_features;  // "AVX2 FMA ..."
  int64_t logical_cpus = 0;
  std::string build;         // "chimera 0.1.0 (abc1234, Release, GNU 12.2.0)"
  std::string backend;
  std::string model;
  int64_t started_unix_ms = 0;
  std::string header_json;   // the run's self-describing header (arms, options sent vs default)
};

struct SessionRow {
  int64_t id = 0;
  SessionInfo info;
  std::optional<int64_t> ended_unix_ms;
  std::string status;        // "running" (or interrupted), "completed", "failed"
  std::string summary_json;  // statistics written at the end
  int64_t calls = 0;         // measured calls (warm-up excluded)
  int64_t failed_calls = 0;
};

struct ConfigurationRow {
  int64_t id = 0;
  std::string hash;
  std::string backend, model;
  std::string options_json;  // canonical: sorted keys, Ollama's names
};

struct StoredCall {
  int64_t id = 0;
  int64_t configuration_id = 0;
  MeasuredCall call;
};

class ResultsStore {
 public:
  ~ResultsStore();
  ResultsStore(const ResultsStore&) = delete;
  ResultsStore& operator=(const ResultsStore&) = delete;

  // data_dir()/results.db
  static std::string default_path();
  // Opens (creating the file and its directory) and migrates to kSchemaVersion.
  static Result<std::unique_ptr<ResultsStore>> open(const std::string& path);
  // Migrates only up to target_version: how tests build an older database to migrate from.
  static Result<std::unique_ptr<ResultsStore>> open_at_version(const std::string& path,
                                                                int target_version);

  const std::string& path() const { return path_; }
  Result<int> schema_version();
  Result<std::string> journal_mode();
  Result<std::string> integrity_check();  // "ok" when the file is sound

  Result<int64_t> begin_session(const SessionInfo& info);
  Status end_session(int64_t session_id, std::string_view status, std::string_view summary_json);
  // The id of (backend, model, options), inserted on first use.
  Result<int64_t> configuration_id(const std::string& backend, const std::string& model,
                                   const llm::Options& options);
  Result<int64_t> add_call(int64_t session_id, int64_t configuration_id, const CallMeta& meta,
                           const llm::CallRecord& record);
  Status add_hw_samples(int64_t session_id, const std::vector<HwSample>& samples);

  // Newest first.
  Result<std::vector<SessionRow>> list_sessions(int64_t limit = 50);
  Result<SessionRow> session(int64_t session_id);
  Result<std::vector<StoredCall>> calls(int64_t session_id);
  Result<std::vector<HwSample>> hw_samples(int64_t session_id);
  Result<ConfigurationRow> configuration(int64_t configuration_id);

 private:
  ResultsStore(std::string path, std::unique_ptr<SQLite::Database> db);
  static Result<std::unique_ptr<ResultsStore>> open_impl(const std::string& path, int target);
  // One attempt; throws SQLite::Exception (open_impl retries the busy ones).
  static Result<std::unique_ptr<ResultsStore>> open_once(const std::string& path, int target);

  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  std::mutex mutex_;  // one connection shared by the bench workers
};

// The SQL of each schema version, applied in order (store_schema.cpp).
struct Migration {
  int version;
  const char* description;
  const char* sql;
};
const std::vector<Migration>& migrations();

}  // namespace chimera::lab
